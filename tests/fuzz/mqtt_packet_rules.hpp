// What every packet the decoder returns must satisfy, restated from the MQTT
// specifications (3.1.1 and 5.0) and the list of refusals at the top of
// src/mqtt/codec.hpp, independently of the decoder's own code.
//
// The fuzzer's round trip (decode, encode, decode again) cannot see a check
// the decoder skips: the same decoder reads both times and accepts its own
// mistake twice. These rules can: a decoded PUBLISH at QoS 1 with packet
// identifier 0, a property in a packet that may not carry it, a reason code
// outside its packet's table, a string that is not MQTT UTF-8.
//
// first_broken_rule() returns nullptr when the packet keeps every rule, else
// a description of the first rule it breaks.
#pragma once

#include "mqtt/codec.hpp"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace airfleet::mqtt::fuzz {

// Well-formed UTF-8 by the lead-byte ranges of Unicode's table 3-7 (which
// excludes overlong forms, surrogates and code points above U+10FFFF by
// construction), and no U+0000.
inline bool is_mqtt_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead == 0) return false;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char second_low = 0x80, second_high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) second_low = 0xA0;   // no overlong 3-byte forms
      if (lead == 0xED) second_high = 0x9F;  // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) second_low = 0x90;   // no overlong 4-byte forms
      if (lead == 0xF4) second_high = 0x8F;  // nothing above U+10FFFF
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    const auto second = static_cast<unsigned char>(text[i + 1]);
    if (second < second_low || second > second_high) return false;
    for (std::size_t k = 2; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF) return false;
    }
    i += length;
  }
  return true;
}

namespace rules_detail {

inline bool one_of(std::uint8_t value, std::initializer_list<std::uint8_t> allowed) {
  return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

inline bool has_wildcard(std::string_view topic) { return topic.find_first_of("+#") != std::string_view::npos; }

// The identifiers of the properties that are set.
inline std::vector<std::uint8_t> present_ids(const properties& p) {
  std::vector<std::uint8_t> ids;
  auto add = [&](bool present, std::uint8_t id) {
    if (present) ids.push_back(id);
  };
  add(p.payload_format_indicator.has_value(), 0x01);
  add(p.message_expiry_interval.has_value(), 0x02);
  add(p.content_type.has_value(), 0x03);
  add(p.response_topic.has_value(), 0x08);
  add(p.correlation_data.has_value(), 0x09);
  add(!p.subscription_identifiers.empty(), 0x0B);
  add(p.session_expiry_interval.has_value(), 0x11);
  add(p.assigned_client_identifier.has_value(), 0x12);
  add(p.server_keep_alive.has_value(), 0x13);
  add(p.authentication_method.has_value(), 0x15);
  add(p.authentication_data.has_value(), 0x16);
  add(p.request_problem_information.has_value(), 0x17);
  add(p.will_delay_interval.has_value(), 0x18);
  add(p.request_response_information.has_value(), 0x19);
  add(p.response_information.has_value(), 0x1A);
  add(p.server_reference.has_value(), 0x1C);
  add(p.reason_string.has_value(), 0x1F);
  add(p.receive_maximum.has_value(), 0x21);
  add(p.topic_alias_maximum.has_value(), 0x22);
  add(p.topic_alias.has_value(), 0x23);
  add(p.maximum_qos.has_value(), 0x24);
  add(p.retain_available.has_value(), 0x25);
  add(!p.user_properties.empty(), 0x26);
  add(p.maximum_packet_size.has_value(), 0x27);
  add(p.wildcard_subscription_available.has_value(), 0x28);
  add(p.subscription_identifier_available.has_value(), 0x29);
  add(p.shared_subscription_available.has_value(), 0x2A);
  return ids;
}

// Checks one property block that may carry the properties `allowed` (MQTT 5
// section 2.2.2.2); at level 4 there are none.
inline const char* broken_property_rule(const properties& p, bool v5, std::initializer_list<std::uint8_t> allowed,
                                        const codec_limits& limits) {
  if (!v5) return p.empty() ? nullptr : "an MQTT 3.1.1 packet carries properties";
  for (std::uint8_t id : present_ids(p)) {
    if (!one_of(id, allowed)) return "a property the packet may not carry";
  }
  auto flag = [](const std::optional<std::uint8_t>& value) { return !value || *value <= 1; };
  if (!flag(p.payload_format_indicator) || !flag(p.request_problem_information) ||
      !flag(p.request_response_information) || !flag(p.maximum_qos) || !flag(p.retain_available) ||
      !flag(p.wildcard_subscription_available) || !flag(p.subscription_identifier_available) ||
      !flag(p.shared_subscription_available)) {
    return "a 0/1 property holds another value";
  }
  if (p.receive_maximum == 0 || p.maximum_packet_size == 0u || p.topic_alias == 0) {
    return "Receive Maximum, Maximum Packet Size or Topic Alias is 0";
  }
  for (std::uint32_t id : p.subscription_identifiers) {
    if (id == 0 || id > max_remaining_length) return "a Subscription Identifier out of range";
  }
  if (p.response_topic && (p.response_topic->empty() || has_wildcard(*p.response_topic))) {
    return "a Response Topic that is not a topic name";
  }
  if (p.authentication_data && !p.authentication_method) return "Authentication Data without a Method";
  if (p.user_properties.size() > limits.max_user_properties) return "more user properties than the limit";
  // Each set property and each repetition counts once against max_properties.
  std::size_t count = present_ids(p).size();
  if (!p.subscription_identifiers.empty()) count += p.subscription_identifiers.size() - 1;
  if (!p.user_properties.empty()) count += p.user_properties.size() - 1;
  if (count > limits.max_properties) return "more properties than the limit";

  for (const std::optional<std::string>* text : {&p.content_type, &p.response_topic, &p.assigned_client_identifier,
                                                 &p.authentication_method, &p.response_information,
                                                 &p.server_reference, &p.reason_string}) {
    if (*text && !is_mqtt_utf8(**text)) return "a string property that is not MQTT UTF-8";
  }
  for (const auto& [name, value] : p.user_properties) {
    if (!is_mqtt_utf8(name) || !is_mqtt_utf8(value)) return "a User Property that is not MQTT UTF-8";
  }
  return nullptr;
}

inline bool topic_name_ok(std::string_view topic, const codec_limits& limits) {
  return is_mqtt_utf8(topic) && !has_wildcard(topic) && topic.size() <= limits.max_topic_length;
}

inline bool topic_filter_ok(std::string_view filter, const codec_limits& limits) {
  return is_mqtt_utf8(filter) && !filter.empty() && filter.size() <= limits.max_topic_length;
}

struct rule_checker {
  bool v5;
  const codec_limits& limits;

  const char* operator()(const connect_packet& p) const {
    if (p.protocol_level != protocol_level_3_1_1 && p.protocol_level != protocol_level_5) {
      return "CONNECT with a protocol level other than 4 or 5";
    }
    const bool own_v5 = p.protocol_level == protocol_level_5;  // a CONNECT is read at its own level
    if (!is_mqtt_utf8(p.client_id)) return "a client identifier that is not MQTT UTF-8";
    if (!own_v5 && p.client_id.empty() && !p.clean_start) return "3.1.1: empty client id without Clean Session";
    if (!own_v5 && p.password && !p.username) return "3.1.1: a password without a user name";
    if (p.username && !is_mqtt_utf8(*p.username)) return "a user name that is not MQTT UTF-8";
    if (p.will) {
      if (p.will->topic.empty() || !topic_name_ok(p.will->topic, limits)) return "an invalid Will Topic";
      if (const char* broken = broken_property_rule(p.will->props, own_v5,
                                                    {0x01, 0x02, 0x03, 0x08, 0x09, 0x18, 0x26}, limits)) {
        return broken;
      }
    }
    return broken_property_rule(p.props, own_v5, {0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27}, limits);
  }
  const char* operator()(const connack_packet& p) const {
    const auto reason = static_cast<std::uint8_t>(p.reason);
    if (v5 ? !one_of(reason, {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                               0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F})
           : !one_of(reason, {0x00, 0x84, 0x85, 0x86, 0x87, 0x88})) {
      return "a CONNACK reason code outside its table";
    }
    return broken_property_rule(p.props, v5,
                                {0x11, 0x12, 0x13, 0x15, 0x16, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x24, 0x25, 0x26, 0x27,
                                 0x28, 0x29, 0x2A},
                                limits);
  }
  const char* operator()(const publish_packet& p) const {
    if (p.qos == qos::at_most_once && (p.packet_id != 0 || p.dup)) return "PUBLISH QoS 0 with a packet id or DUP";
    if (p.qos != qos::at_most_once && p.packet_id == 0) return "PUBLISH QoS 1 or 2 with packet identifier 0";
    if (static_cast<unsigned>(p.qos) > 2) return "PUBLISH QoS 3";
    if (!topic_name_ok(p.topic, limits)) return "an invalid PUBLISH topic name";
    if (p.topic.empty() && !(v5 && p.props.topic_alias)) return "an empty topic name without a Topic Alias";
    return broken_property_rule(p.props, v5, {0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x23, 0x26}, limits);
  }
  template <class Ack>
  const char* ack(const Ack& p, std::initializer_list<std::uint8_t> reasons) const {
    if (p.packet_id == 0) return "an acknowledgement with packet identifier 0";
    if (!v5 && p.reason != reason_code::success) return "3.1.1: an acknowledgement with a reason code";
    if (!one_of(static_cast<std::uint8_t>(p.reason), reasons)) return "an acknowledgement reason outside its table";
    return broken_property_rule(p.props, v5, {0x1F, 0x26}, limits);
  }
  const char* operator()(const puback_packet& p) const {
    return ack(p, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
  }
  const char* operator()(const pubrec_packet& p) const {
    return ack(p, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
  }
  const char* operator()(const pubrel_packet& p) const { return ack(p, {0x00, 0x92}); }
  const char* operator()(const pubcomp_packet& p) const { return ack(p, {0x00, 0x92}); }
  const char* operator()(const subscribe_packet& p) const {
    if (p.packet_id == 0) return "SUBSCRIBE with packet identifier 0";
    if (p.subscriptions.empty()) return "SUBSCRIBE without a filter";
    if (p.subscriptions.size() > limits.max_subscriptions_per_packet) return "more filters than the limit";
    for (const subscription& s : p.subscriptions) {
      if (!topic_filter_ok(s.filter, limits)) return "an invalid SUBSCRIBE filter";
      if (static_cast<unsigned>(s.qos) > 2) return "a subscription at QoS 3";
      if (static_cast<unsigned>(s.retain_handling) > 2) return "Retain Handling 3";
      if (!v5 && (s.no_local || s.retain_as_published || s.retain_handling != retain_handling::send_on_subscribe)) {
        return "3.1.1: subscription options beyond QoS";
      }
    }
    if (p.props.subscription_identifiers.size() > 1) return "SUBSCRIBE with two Subscription Identifiers";
    return broken_property_rule(p.props, v5, {0x0B, 0x26}, limits);
  }
  const char* operator()(const suback_packet& p) const {
    if (p.packet_id == 0) return "SUBACK with packet identifier 0";
    if (p.reasons.empty()) return "SUBACK without a return code";
    for (reason_code reason : p.reasons) {
      if (v5 ? !one_of(static_cast<std::uint8_t>(reason),
                       {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2})
             : !one_of(static_cast<std::uint8_t>(reason), {0x00, 0x01, 0x02, 0x80})) {
        return "a SUBACK reason outside its table";
      }
    }
    return broken_property_rule(p.props, v5, {0x1F, 0x26}, limits);
  }
  const char* operator()(const unsubscribe_packet& p) const {
    if (p.packet_id == 0) return "UNSUBSCRIBE with packet identifier 0";
    if (p.filters.empty()) return "UNSUBSCRIBE without a filter";
    for (const std::string& filter : p.filters) {
      if (!topic_filter_ok(filter, limits)) return "an invalid UNSUBSCRIBE filter";
    }
    return broken_property_rule(p.props, v5, {0x26}, limits);
  }
  const char* operator()(const unsuback_packet& p) const {
    if (p.packet_id == 0) return "UNSUBACK with packet identifier 0";
    if (v5 == p.reasons.empty()) return "UNSUBACK reason codes: one or more in 5.0, none in 3.1.1";
    for (reason_code reason : p.reasons) {
      if (!one_of(static_cast<std::uint8_t>(reason), {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91})) {
        return "an UNSUBACK reason outside its table";
      }
    }
    return broken_property_rule(p.props, v5, {0x1F, 0x26}, limits);
  }
  const char* operator()(const pingreq_packet&) const { return nullptr; }
  const char* operator()(const pingresp_packet&) const { return nullptr; }
  const char* operator()(const disconnect_packet& p) const {
    if (!v5 && p.reason != reason_code::normal_disconnection) return "3.1.1: DISCONNECT with a reason code";
    if (!one_of(static_cast<std::uint8_t>(p.reason),
                {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
                 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2})) {
      return "a DISCONNECT reason outside its table";
    }
    return broken_property_rule(p.props, v5, {0x11, 0x1C, 0x1F, 0x26}, limits);
  }
  const char* operator()(const auth_packet& p) const {
    if (!v5) return "AUTH in MQTT 3.1.1";
    if (!one_of(static_cast<std::uint8_t>(p.reason), {0x00, 0x18, 0x19})) return "an AUTH reason outside its table";
    return broken_property_rule(p.props, v5, {0x15, 0x16, 0x1F, 0x26}, limits);
  }
};

}  // namespace rules_detail

// For a packet decoded on a connection at `protocol_level` with `limits`.
inline const char* first_broken_rule(const packet& p, std::uint8_t protocol_level, const codec_limits& limits) {
  return std::visit(rules_detail::rule_checker{protocol_level == protocol_level_5, limits}, p);
}

}  // namespace airfleet::mqtt::fuzz
