#include "mqtt/codec.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <string_view>
#include <utility>

namespace airfleet::mqtt {

// ---------------------------------------------------------------------------
// Reason codes (declared in reason_codes.hpp; defined here because the module
// has one translation unit for the codec).

std::string_view to_string(reason_code code) {
  switch (static_cast<std::uint8_t>(code)) {
    case 0x00: return "Success";
    case 0x01: return "Granted QoS 1";
    case 0x02: return "Granted QoS 2";
    case 0x04: return "Disconnect with Will Message";
    case 0x10: return "No matching subscribers";
    case 0x11: return "No subscription existed";
    case 0x18: return "Continue authentication";
    case 0x19: return "Re-authenticate";
    case 0x80: return "Unspecified error";
    case 0x81: return "Malformed Packet";
    case 0x82: return "Protocol Error";
    case 0x83: return "Implementation specific error";
    case 0x84: return "Unsupported Protocol Version";
    case 0x85: return "Client Identifier not valid";
    case 0x86: return "Bad User Name or Password";
    case 0x87: return "Not authorized";
    case 0x88: return "Server unavailable";
    case 0x89: return "Server busy";
    case 0x8A: return "Banned";
    case 0x8B: return "Server shutting down";
    case 0x8C: return "Bad authentication method";
    case 0x8D: return "Keep Alive timeout";
    case 0x8E: return "Session taken over";
    case 0x8F: return "Topic Filter invalid";
    case 0x90: return "Topic Name invalid";
    case 0x91: return "Packet Identifier in use";
    case 0x92: return "Packet Identifier not found";
    case 0x93: return "Receive Maximum exceeded";
    case 0x94: return "Topic Alias invalid";
    case 0x95: return "Packet too large";
    case 0x96: return "Message rate too high";
    case 0x97: return "Quota exceeded";
    case 0x98: return "Administrative action";
    case 0x99: return "Payload format invalid";
    case 0x9A: return "Retain not supported";
    case 0x9B: return "QoS not supported";
    case 0x9C: return "Use another server";
    case 0x9D: return "Server moved";
    case 0x9E: return "Shared Subscriptions not supported";
    case 0x9F: return "Connection rate exceeded";
    case 0xA0: return "Maximum connect time";
    case 0xA1: return "Subscription Identifiers not supported";
    case 0xA2: return "Wildcard Subscriptions not supported";
  }
  return "Unknown reason code";
}

namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.mqtt"; }
  std::string message(int ev) const override {
    return std::string(to_string(static_cast<reason_code>(static_cast<std::uint8_t>(ev))));
  }
};

}  // namespace

const std::error_category& mqtt_category() {
  static const category instance;
  return instance;
}

std::error_code make_error_code(reason_code code) { return {static_cast<int>(code), mqtt_category()}; }

reason_code reason_of(const std::error_code& code) {
  if (code.category() != mqtt_category()) return reason_code::unspecified_error;
  return static_cast<reason_code>(static_cast<std::uint8_t>(code.value()));
}

namespace {

// ---------------------------------------------------------------------------
// Reading

// Well-formed UTF-8 as MQTT wants it (section 1.5.3 of 3.1.1, 1.5.4 of 5.0):
// shortest forms only, no surrogate code points, nothing above U+10FFFF, and
// no U+0000.
bool valid_mqtt_utf8(std::span<const std::uint8_t> text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::uint8_t lead = text[i];
    if (lead < 0x80) {
      if (lead == 0) return false;
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code_point = 0;
    if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code_point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code_point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code_point = lead & 0x07;
    } else {
      return false;  // a continuation byte where a sequence should start, or 0xF8..0xFF
    }
    if (text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const std::uint8_t next = text[i + k];
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    constexpr std::array<std::uint32_t, 5> smallest = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < smallest[length]) return false;  // overlong
    if (code_point > 0x10FFFF) return false;
    if (code_point >= 0xD800 && code_point <= 0xDFFF) return false;
    i += length;
  }
  return true;
}

bool has_wildcard(std::string_view topic) { return topic.find_first_of("+#") != std::string_view::npos; }

// A cursor over a frame's body that records the first failure. After a
// failure every read returns a default value and remaining() is 0, so loops
// "while bytes remain" end by themselves; callers check ok() before they
// trust what they read.
class wire_reader {
 public:
  explicit wire_reader(std::span<const std::uint8_t> data) : data_(data), end_(data.size()) {}

  bool ok() const { return !error_.has_value(); }
  const core::error& error() const { return *error_; }
  std::size_t remaining() const { return error_ ? 0 : end_ - position_; }

  void fail(reason_code code, std::string message) {
    if (!error_) error_ = core::make_error(code, std::move(message));
  }

  // Narrows the readable range to the next `length` bytes (a property
  // block); returns the end to restore with widen().
  std::size_t narrow(std::size_t length) {
    const std::size_t old_end = end_;
    end_ = position_ + length;
    return old_end;
  }
  void widen(std::size_t old_end) { end_ = old_end; }

  std::uint8_t u8() {
    if (!need(1)) return 0;
    return data_[position_++];
  }
  std::uint16_t u16() {
    if (!need(2)) return 0;
    const auto value = static_cast<std::uint16_t>((data_[position_] << 8) | data_[position_ + 1]);
    position_ += 2;
    return value;
  }
  std::uint32_t u32() {
    if (!need(4)) return 0;
    std::uint32_t value = 0;
    for (int k = 0; k < 4; ++k) value = (value << 8) | data_[position_++];
    return value;
  }
  // Variable Byte Integer (section 1.5.5 of 5.0): at most 4 bytes, shortest form.
  std::uint32_t variable_integer() {
    std::uint32_t value = 0;
    for (int k = 0; k < 4; ++k) {
      const std::uint8_t byte = u8();
      if (!ok()) return 0;
      value |= static_cast<std::uint32_t>(byte & 0x7F) << (7 * k);
      if ((byte & 0x80) == 0) {
        if (byte == 0 && k > 0) fail(reason_code::malformed_packet, "variable byte integer not in its shortest form");
        return value;
      }
    }
    fail(reason_code::malformed_packet, "variable byte integer longer than 4 bytes");
    return 0;
  }
  std::span<const std::uint8_t> take(std::size_t length) {
    if (!need(length)) return {};
    auto span = data_.subspan(position_, length);
    position_ += length;
    return span;
  }
  bytes binary() {
    const std::size_t length = u16();
    auto span = take(length);
    return bytes(span.begin(), span.end());
  }
  std::string utf8(std::string_view what) {
    const std::size_t length = u16();
    auto span = take(length);
    if (!ok()) return {};
    if (!valid_mqtt_utf8(span)) {
      fail(reason_code::malformed_packet, std::string(what) + " is not valid MQTT UTF-8");
      return {};
    }
    return std::string(span.begin(), span.end());
  }
  bytes rest() {
    auto span = take(remaining());
    return bytes(span.begin(), span.end());
  }

 private:
  bool need(std::size_t count) {
    if (remaining() >= count) return true;
    fail(reason_code::malformed_packet, "packet ends inside a field");
    return false;
  }

  std::span<const std::uint8_t> data_;
  std::size_t position_ = 0;
  std::size_t end_;
  std::optional<core::error> error_;
};

// Where a property block stands; each property identifier is allowed in some.
enum place : unsigned {
  in_connect = 1u << 0,
  in_connack = 1u << 1,
  in_publish = 1u << 2,
  in_will = 1u << 3,
  in_puback = 1u << 4,  // PUBACK, PUBREC, PUBREL, PUBCOMP
  in_subscribe = 1u << 5,
  in_suback = 1u << 6,
  in_unsubscribe = 1u << 7,
  in_unsuback = 1u << 8,
  in_disconnect = 1u << 9,
  in_auth = 1u << 10,
  anywhere = (1u << 11) - 1,
};

// MQTT 5 section 2.2.2.2, table "Properties".
unsigned allowed_places(std::uint8_t id) {
  switch (id) {
    case 0x01:  // payload format indicator
    case 0x02:  // message expiry interval
    case 0x03:  // content type
    case 0x08:  // response topic
    case 0x09:  // correlation data
      return in_publish | in_will;
    case 0x0B: return in_publish | in_subscribe;                // subscription identifier
    case 0x11: return in_connect | in_connack | in_disconnect;  // session expiry interval
    case 0x12:                                                  // assigned client identifier
    case 0x13:                                                  // server keep alive
    case 0x1A:                                                  // response information
    case 0x24:                                                  // maximum qos
    case 0x25:                                                  // retain available
    case 0x28:                                                  // wildcard subscription available
    case 0x29:                                                  // subscription identifier available
    case 0x2A:                                                  // shared subscription available
      return in_connack;
    case 0x15:  // authentication method
    case 0x16:  // authentication data
      return in_connect | in_connack | in_auth;
    case 0x17:  // request problem information
    case 0x19:  // request response information
      return in_connect;
    case 0x18: return in_will;                     // will delay interval
    case 0x1C: return in_connack | in_disconnect;  // server reference
    case 0x1F:                                     // reason string
      return in_connack | in_puback | in_suback | in_unsuback | in_disconnect | in_auth;
    case 0x21:  // receive maximum
    case 0x22:  // topic alias maximum
    case 0x27:  // maximum packet size
      return in_connect | in_connack;
    case 0x23: return in_publish;  // topic alias
    case 0x26: return anywhere;    // user property
    default: return 0;
  }
}

template <class T>
void set_once(wire_reader& in, std::optional<T>& field, T value, std::uint8_t id) {
  if (!in.ok()) return;
  if (field.has_value()) {
    in.fail(reason_code::protocol_error, "property " + std::to_string(id) + " given more than once");
    return;
  }
  field = std::move(value);
}

void set_flag_once(wire_reader& in, std::optional<std::uint8_t>& field, std::uint8_t id) {
  const std::uint8_t value = in.u8();
  if (in.ok() && value > 1) {
    in.fail(reason_code::protocol_error, "property " + std::to_string(id) + " must be 0 or 1");
  }
  set_once(in, field, value, id);
}

template <class T>
void set_nonzero_once(wire_reader& in, std::optional<T>& field, T value, std::uint8_t id) {
  if (in.ok() && value == 0) in.fail(reason_code::protocol_error, "property " + std::to_string(id) + " must not be 0");
  set_once(in, field, value, id);
}

void read_one_property(wire_reader& in, properties& props, std::uint8_t id, unsigned where) {
  switch (id) {
    case 0x01: set_flag_once(in, props.payload_format_indicator, id); break;
    case 0x02: set_once(in, props.message_expiry_interval, in.u32(), id); break;
    case 0x03: set_once(in, props.content_type, in.utf8("Content Type"), id); break;
    case 0x08: {
      std::string topic = in.utf8("Response Topic");
      if (in.ok() && (topic.empty() || has_wildcard(topic))) {
        in.fail(reason_code::protocol_error, "Response Topic must be a topic name");
      }
      set_once(in, props.response_topic, std::move(topic), id);
      break;
    }
    case 0x09: set_once(in, props.correlation_data, in.binary(), id); break;
    case 0x0B: {
      const std::uint32_t value = in.variable_integer();
      if (!in.ok()) break;
      if (value == 0) in.fail(reason_code::protocol_error, "Subscription Identifier must not be 0");
      if ((where & in_subscribe) && !props.subscription_identifiers.empty()) {
        in.fail(reason_code::protocol_error, "SUBSCRIBE carries more than one Subscription Identifier");
      }
      props.subscription_identifiers.push_back(value);
      break;
    }
    case 0x11: set_once(in, props.session_expiry_interval, in.u32(), id); break;
    case 0x12: set_once(in, props.assigned_client_identifier, in.utf8("Assigned Client Identifier"), id); break;
    case 0x13: set_once(in, props.server_keep_alive, in.u16(), id); break;
    case 0x15: set_once(in, props.authentication_method, in.utf8("Authentication Method"), id); break;
    case 0x16: set_once(in, props.authentication_data, in.binary(), id); break;
    case 0x17: set_flag_once(in, props.request_problem_information, id); break;
    case 0x18: set_once(in, props.will_delay_interval, in.u32(), id); break;
    case 0x19: set_flag_once(in, props.request_response_information, id); break;
    case 0x1A: set_once(in, props.response_information, in.utf8("Response Information"), id); break;
    case 0x1C: set_once(in, props.server_reference, in.utf8("Server Reference"), id); break;
    case 0x1F: set_once(in, props.reason_string, in.utf8("Reason String"), id); break;
    case 0x21: set_nonzero_once(in, props.receive_maximum, in.u16(), id); break;
    case 0x22: set_once(in, props.topic_alias_maximum, in.u16(), id); break;
    case 0x23: set_nonzero_once(in, props.topic_alias, in.u16(), id); break;
    case 0x24: set_flag_once(in, props.maximum_qos, id); break;
    case 0x25: set_flag_once(in, props.retain_available, id); break;
    case 0x26: {
      std::string name = in.utf8("User Property name");
      std::string value = in.utf8("User Property value");
      if (in.ok()) props.user_properties.emplace_back(std::move(name), std::move(value));
      break;
    }
    case 0x27: set_nonzero_once(in, props.maximum_packet_size, in.u32(), id); break;
    case 0x28: set_flag_once(in, props.wildcard_subscription_available, id); break;
    case 0x29: set_flag_once(in, props.subscription_identifier_available, id); break;
    case 0x2A: set_flag_once(in, props.shared_subscription_available, id); break;
    default: assert(false && "allowed_places() admitted an identifier read_one_property does not know");
  }
}

// A property block: its length, then properties until that length is used
// up exactly.
properties read_properties(wire_reader& in, unsigned where, const codec_limits& limits) {
  properties props;
  const std::uint32_t length = in.variable_integer();
  if (!in.ok()) return props;
  if (length > in.remaining()) {
    in.fail(reason_code::malformed_packet, "property length runs past the end of the packet");
    return props;
  }
  const std::size_t outer_end = in.narrow(length);
  std::size_t count = 0;
  while (in.remaining() > 0) {
    // The identifier is a Variable Byte Integer; every defined one fits in a
    // single byte, so a continuation bit means an unknown identifier.
    const std::uint8_t id = in.u8();
    if (id & 0x80 || (allowed_places(id) & where) == 0) {
      in.fail(reason_code::malformed_packet, "property " + std::to_string(id) + " is not allowed here");
      break;
    }
    if (++count > limits.max_properties) {
      in.fail(reason_code::quota_exceeded, "more than " + std::to_string(limits.max_properties) + " properties");
      break;
    }
    read_one_property(in, props, id, where);
    if (props.user_properties.size() > limits.max_user_properties) {
      in.fail(reason_code::quota_exceeded,
              "more than " + std::to_string(limits.max_user_properties) + " user properties");
    }
  }
  in.widen(outer_end);
  if (in.ok() && props.authentication_data && !props.authentication_method) {
    in.fail(reason_code::protocol_error, "Authentication Data without an Authentication Method");
  }
  return props;
}

std::uint16_t read_packet_id(wire_reader& in) {
  const std::uint16_t id = in.u16();
  if (in.ok() && id == 0) in.fail(reason_code::protocol_error, "packet identifier 0");
  return id;
}

mqtt::qos read_qos(wire_reader& in, unsigned bits, std::string_view what) {
  if (bits > 2) {
    in.fail(reason_code::malformed_packet, std::string(what) + " QoS 3");
    return qos::at_most_once;
  }
  return static_cast<mqtt::qos>(bits);
}

// A topic name (PUBLISH, Will Topic). Emptiness is checked by the caller: a
// v5 PUBLISH may send an empty name with a Topic Alias.
std::string read_topic_name(wire_reader& in, const codec_limits& limits, std::string_view what) {
  std::string topic = in.utf8(what);
  if (!in.ok()) return topic;
  if (has_wildcard(topic)) {
    in.fail(reason_code::topic_name_invalid, std::string(what) + " contains a wildcard");
  } else if (topic.size() > limits.max_topic_length) {
    in.fail(reason_code::topic_name_invalid, std::string(what) + " is longer than " +
                                                 std::to_string(limits.max_topic_length) + " bytes");
  }
  return topic;
}

std::string read_topic_filter(wire_reader& in, const codec_limits& limits) {
  std::string filter = in.utf8("topic filter");
  if (!in.ok()) return filter;
  if (filter.empty()) {
    in.fail(reason_code::protocol_error, "empty topic filter");
  } else if (filter.size() > limits.max_topic_length) {
    in.fail(reason_code::topic_filter_invalid,
            "topic filter is longer than " + std::to_string(limits.max_topic_length) + " bytes");
  }
  return filter;
}

// Which reason codes each packet type may carry (MQTT 5 section 3, the
// "Reason Code" table of each packet).
bool reason_allowed(packet_type type, std::uint8_t code) {
  auto in = [code](std::initializer_list<std::uint8_t> codes) {
    return std::find(codes.begin(), codes.end(), code) != codes.end();
  };
  switch (type) {
    case packet_type::connack:
      return in({0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
    case packet_type::puback:
    case packet_type::pubrec: return in({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
    case packet_type::pubrel:
    case packet_type::pubcomp: return in({0x00, 0x92});
    case packet_type::suback: return in({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
    case packet_type::unsuback: return in({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
    case packet_type::disconnect:
      return in({0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
                 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
    case packet_type::auth: return in({0x00, 0x18, 0x19});
    default: return false;
  }
}

reason_code read_reason(wire_reader& in, packet_type type) {
  const std::uint8_t code = in.u8();
  if (in.ok() && !reason_allowed(type, code)) {
    in.fail(reason_code::malformed_packet, "reason code " + std::to_string(code) + " is not allowed in this packet");
  }
  return static_cast<reason_code>(code);
}

connect_packet read_connect(wire_reader& in, const codec_limits& limits) {
  connect_packet p;
  const std::string name = in.utf8("protocol name");
  if (!in.ok()) return p;
  if (name != "MQTT") {
    in.fail(name == "MQIsdp" ? reason_code::unsupported_protocol_version : reason_code::malformed_packet,
            "protocol name \"" + name + "\" is not MQTT");
    return p;
  }
  p.protocol_level = in.u8();
  if (in.ok() && p.protocol_level != protocol_level_3_1_1 && p.protocol_level != protocol_level_5) {
    in.fail(reason_code::unsupported_protocol_version,
            "protocol level " + std::to_string(p.protocol_level) + " (only 4 and 5 are supported)");
    return p;
  }
  const bool v5 = p.protocol_level == protocol_level_5;
  const std::uint8_t flags = in.u8();
  p.keep_alive = in.u16();
  if (!in.ok()) return p;
  const bool has_user = flags & 0x80;
  const bool has_password = flags & 0x40;
  const bool will_retain = flags & 0x20;
  const unsigned will_qos = (flags >> 3) & 0x03;
  const bool has_will = flags & 0x04;
  p.clean_start = flags & 0x02;
  if (flags & 0x01) {
    in.fail(reason_code::malformed_packet, "CONNECT reserved flag is set");
    return p;
  }
  if (!has_will && (will_qos != 0 || will_retain)) {
    in.fail(reason_code::malformed_packet, "CONNECT sets Will QoS or Will Retain without a Will");
    return p;
  }
  if (!v5 && has_password && !has_user) {
    in.fail(reason_code::malformed_packet, "CONNECT has a password without a user name");
    return p;
  }
  if (v5) p.props = read_properties(in, in_connect, limits);

  p.client_id = in.utf8("client identifier");
  if (in.ok() && !v5 && p.client_id.empty() && !p.clean_start) {
    in.fail(reason_code::client_identifier_not_valid, "empty client identifier without Clean Session");
  }
  if (has_will && in.ok()) {
    will_message will;
    will.qos = read_qos(in, will_qos, "Will");
    will.retain = will_retain;
    if (v5) will.props = read_properties(in, in_will, limits);
    will.topic = read_topic_name(in, limits, "Will Topic");
    if (in.ok() && will.topic.empty()) in.fail(reason_code::protocol_error, "empty Will Topic");
    will.payload = in.binary();
    p.will = std::move(will);
  }
  if (has_user) p.username = in.utf8("user name");
  if (has_password) p.password = in.binary();
  return p;
}

connack_packet read_connack(wire_reader& in, bool v5, const codec_limits& limits) {
  connack_packet p;
  const std::uint8_t flags = in.u8();
  if (in.ok() && (flags & 0xFE)) in.fail(reason_code::malformed_packet, "CONNACK reserved flags are set");
  p.session_present = flags & 0x01;
  if (v5) {
    p.reason = read_reason(in, packet_type::connack);
    p.props = read_properties(in, in_connack, limits);
  } else {
    const std::uint8_t code = in.u8();
    if (in.ok() && code > 5) in.fail(reason_code::malformed_packet, "CONNACK return code above 5");
    p.reason = from_connect_return_code(static_cast<connect_return_code>(code));
  }
  return p;
}

publish_packet read_publish(wire_reader& in, std::uint8_t flags, bool v5, const codec_limits& limits) {
  publish_packet p;
  p.dup = flags & 0x08;
  p.qos = read_qos(in, (flags >> 1) & 0x03, "PUBLISH");
  p.retain = flags & 0x01;
  if (in.ok() && p.dup && p.qos == qos::at_most_once) {
    in.fail(reason_code::malformed_packet, "PUBLISH at QoS 0 with DUP set");
  }
  p.topic = read_topic_name(in, limits, "PUBLISH topic name");
  if (p.qos != qos::at_most_once) p.packet_id = read_packet_id(in);
  if (v5) p.props = read_properties(in, in_publish, limits);
  if (in.ok() && p.topic.empty() && !p.props.topic_alias) {
    in.fail(reason_code::protocol_error, "PUBLISH with an empty topic name and no Topic Alias");
  }
  p.payload = in.rest();
  return p;
}

// PUBACK, PUBREC, PUBREL, PUBCOMP. v5 may end after the packet id (success,
// no properties) or after the reason code (no properties).
template <class Ack>
Ack read_ack(wire_reader& in, packet_type type, bool v5, const codec_limits& limits) {
  Ack p;
  p.packet_id = read_packet_id(in);
  if (!v5) return p;
  if (in.remaining() > 0) p.reason = read_reason(in, type);
  if (in.remaining() > 0) p.props = read_properties(in, in_puback, limits);
  return p;
}

subscribe_packet read_subscribe(wire_reader& in, bool v5, const codec_limits& limits) {
  subscribe_packet p;
  p.packet_id = read_packet_id(in);
  if (v5) p.props = read_properties(in, in_subscribe, limits);
  if (in.ok() && in.remaining() == 0) in.fail(reason_code::protocol_error, "SUBSCRIBE without a topic filter");
  while (in.remaining() > 0) {
    if (p.subscriptions.size() == limits.max_subscriptions_per_packet) {
      in.fail(reason_code::quota_exceeded, "more than " + std::to_string(limits.max_subscriptions_per_packet) +
                                               " topic filters in one SUBSCRIBE");
      break;
    }
    subscription s;
    s.filter = read_topic_filter(in, limits);
    const std::uint8_t options = in.u8();
    if (!in.ok()) break;
    if (options & (v5 ? 0xC0 : 0xFC)) {
      in.fail(reason_code::malformed_packet, "subscription options reserved bits are set");
      break;
    }
    s.qos = read_qos(in, options & 0x03, "subscription");
    if (v5) {
      s.no_local = options & 0x04;
      s.retain_as_published = options & 0x08;
      const unsigned handling = (options >> 4) & 0x03;
      if (handling == 3) in.fail(reason_code::protocol_error, "Retain Handling 3");
      s.retain_handling = static_cast<retain_handling>(handling);
    }
    p.subscriptions.push_back(std::move(s));
  }
  return p;
}

suback_packet read_suback(wire_reader& in, bool v5, const codec_limits& limits) {
  suback_packet p;
  p.packet_id = read_packet_id(in);
  if (v5) p.props = read_properties(in, in_suback, limits);
  if (in.ok() && in.remaining() == 0) in.fail(reason_code::protocol_error, "SUBACK without a return code");
  while (in.remaining() > 0) {
    if (v5) {
      p.reasons.push_back(read_reason(in, packet_type::suback));
    } else {
      const std::uint8_t code = in.u8();
      if (code > 2 && code != 0x80) in.fail(reason_code::malformed_packet, "SUBACK return code not 0, 1, 2 or 0x80");
      p.reasons.push_back(code == 0x80 ? reason_code::unspecified_error : static_cast<reason_code>(code));
    }
  }
  return p;
}

unsubscribe_packet read_unsubscribe(wire_reader& in, bool v5, const codec_limits& limits) {
  unsubscribe_packet p;
  p.packet_id = read_packet_id(in);
  if (v5) p.props = read_properties(in, in_unsubscribe, limits);
  if (in.ok() && in.remaining() == 0) in.fail(reason_code::protocol_error, "UNSUBSCRIBE without a topic filter");
  while (in.remaining() > 0) {
    std::string filter = read_topic_filter(in, limits);
    if (in.ok()) p.filters.push_back(std::move(filter));
  }
  return p;
}

unsuback_packet read_unsuback(wire_reader& in, bool v5, const codec_limits& limits) {
  unsuback_packet p;
  p.packet_id = read_packet_id(in);
  if (!v5) return p;
  p.props = read_properties(in, in_unsuback, limits);
  if (in.ok() && in.remaining() == 0) in.fail(reason_code::protocol_error, "UNSUBACK without a reason code");
  while (in.remaining() > 0) p.reasons.push_back(read_reason(in, packet_type::unsuback));
  return p;
}

// DISCONNECT and AUTH: an empty body means success without properties, one
// byte a reason code without properties ("if the Remaining Length is less
// than 2, a value of 0 is used", said of DISCONNECT; AUTH is read alike).
template <class Packet>
Packet read_reason_and_properties(wire_reader& in, packet_type type, unsigned where, const codec_limits& limits) {
  Packet p;
  if (in.remaining() > 0) p.reason = read_reason(in, type);
  if (in.remaining() > 0) p.props = read_properties(in, where, limits);
  return p;
}

// The fixed header flags each type must carry (MQTT 5 section 2.1.3);
// PUBLISH's are read by read_publish.
bool flags_valid(packet_type type, std::uint8_t flags) {
  switch (type) {
    case packet_type::publish: return true;
    case packet_type::pubrel:
    case packet_type::subscribe:
    case packet_type::unsubscribe: return flags == 0x02;
    default: return flags == 0;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// frame_reader

void frame_reader::append(std::span<const std::uint8_t> data) {
  if (consumed_ > 0) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  buffer_.insert(buffer_.end(), data.begin(), data.end());
}

core::result<std::optional<raw_frame>> frame_reader::next() {
  if (failure_) return *failure_;
  const std::uint8_t* begin = buffer_.data() + consumed_;
  const std::size_t available = buffer_.size() - consumed_;

  // Remaining Length: bytes 1..4 of the fixed header.
  std::uint32_t length = 0;
  std::size_t header_size = 0;
  for (std::size_t k = 1; k <= 4; ++k) {
    if (k >= available) return std::optional<raw_frame>{};
    const std::uint8_t byte = begin[k];
    length |= static_cast<std::uint32_t>(byte & 0x7F) << (7 * (k - 1));
    if ((byte & 0x80) == 0) {
      if (byte == 0 && k > 1) {
        failure_ = core::make_error(reason_code::malformed_packet, "Remaining Length not in its shortest form");
        return *failure_;
      }
      header_size = k + 1;
      break;
    }
    if (k == 4) {
      failure_ = core::make_error(reason_code::malformed_packet, "Remaining Length longer than 4 bytes");
      return *failure_;
    }
  }
  const std::size_t frame_size = header_size + length;
  if (frame_size > max_packet_size_) {
    failure_ = core::make_error(reason_code::packet_too_large,
                                "packet of " + std::to_string(frame_size) + " bytes exceeds the limit of " +
                                    std::to_string(max_packet_size_));
    return *failure_;
  }
  if (available < frame_size) return std::optional<raw_frame>{};

  raw_frame frame{begin[0], bytes(begin + header_size, begin + frame_size)};
  consumed_ += frame_size;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    if (buffer_.capacity() > 16 * 1024) buffer_.shrink_to_fit();  // an idle connection keeps no burst's buffer
    consumed_ = 0;
  }
  return std::optional<raw_frame>{std::move(frame)};
}

// ---------------------------------------------------------------------------
// decode

core::result<packet> decode(const raw_frame& frame, std::uint8_t protocol_level, const codec_limits& limits) {
  const std::uint8_t type_bits = frame.type_bits();
  const bool v5 = protocol_level == protocol_level_5;
  if (type_bits == 0 || (type_bits == 15 && !v5)) {
    return core::make_error(reason_code::malformed_packet, "reserved packet type " + std::to_string(type_bits));
  }
  const auto type = static_cast<packet_type>(type_bits);
  if (!flags_valid(type, frame.flags())) {
    return core::make_error(reason_code::malformed_packet,
                            "fixed header flags " + std::to_string(frame.flags()) + " are invalid for packet type " +
                                std::to_string(type_bits));
  }

  wire_reader in(frame.body);
  packet result;
  switch (type) {
    case packet_type::connect: result = read_connect(in, limits); break;
    case packet_type::connack: result = read_connack(in, v5, limits); break;
    case packet_type::publish: result = read_publish(in, frame.flags(), v5, limits); break;
    case packet_type::puback: result = read_ack<puback_packet>(in, type, v5, limits); break;
    case packet_type::pubrec: result = read_ack<pubrec_packet>(in, type, v5, limits); break;
    case packet_type::pubrel: result = read_ack<pubrel_packet>(in, type, v5, limits); break;
    case packet_type::pubcomp: result = read_ack<pubcomp_packet>(in, type, v5, limits); break;
    case packet_type::subscribe: result = read_subscribe(in, v5, limits); break;
    case packet_type::suback: result = read_suback(in, v5, limits); break;
    case packet_type::unsubscribe: result = read_unsubscribe(in, v5, limits); break;
    case packet_type::unsuback: result = read_unsuback(in, v5, limits); break;
    case packet_type::pingreq: result = pingreq_packet{}; break;
    case packet_type::pingresp: result = pingresp_packet{}; break;
    case packet_type::disconnect:
      if (v5) result = read_reason_and_properties<disconnect_packet>(in, type, in_disconnect, limits);
      else result = disconnect_packet{};
      break;
    case packet_type::auth: result = read_reason_and_properties<auth_packet>(in, type, in_auth, limits); break;
  }
  if (!in.ok()) return in.error();
  if (in.remaining() != 0) {
    return core::make_error(reason_code::malformed_packet,
                            std::to_string(in.remaining()) + " unexpected bytes at the end of packet type " +
                                std::to_string(type_bits));
  }
  return result;
}

std::optional<std::uint8_t> connect_protocol_level(const raw_frame& frame) {
  if (frame.type_bits() != static_cast<std::uint8_t>(packet_type::connect)) return std::nullopt;
  wire_reader in(frame.body);
  in.take(in.u16());  // protocol name
  const std::uint8_t level = in.u8();
  if (!in.ok()) return std::nullopt;
  return level;
}

// ---------------------------------------------------------------------------
// encode

namespace {

void put_u8(bytes& out, std::uint8_t value) { out.push_back(value); }
void put_u16(bytes& out, std::uint16_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}
void put_u32(bytes& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(value >> shift));
}
void put_variable_integer(bytes& out, std::uint32_t value) {
  assert(value <= max_remaining_length);
  do {
    std::uint8_t byte = value & 0x7F;
    value >>= 7;
    if (value > 0) byte |= 0x80;
    out.push_back(byte);
  } while (value > 0);
}
void put_binary(bytes& out, std::span<const std::uint8_t> data) {
  assert(data.size() <= 0xFFFF);
  put_u16(out, static_cast<std::uint16_t>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
}
void put_string(bytes& out, std::string_view text) {
  put_binary(out, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

void put_properties(bytes& out, const properties& props) {
  bytes block;
  auto byte_property = [&](std::uint8_t id, const std::optional<std::uint8_t>& value) {
    if (value) {
      put_u8(block, id);
      put_u8(block, *value);
    }
  };
  auto u16_property = [&](std::uint8_t id, const std::optional<std::uint16_t>& value) {
    if (value) {
      put_u8(block, id);
      put_u16(block, *value);
    }
  };
  auto u32_property = [&](std::uint8_t id, const std::optional<std::uint32_t>& value) {
    if (value) {
      put_u8(block, id);
      put_u32(block, *value);
    }
  };
  auto string_property = [&](std::uint8_t id, const std::optional<std::string>& value) {
    if (value) {
      put_u8(block, id);
      put_string(block, *value);
    }
  };
  auto binary_property = [&](std::uint8_t id, const std::optional<bytes>& value) {
    if (value) {
      put_u8(block, id);
      put_binary(block, *value);
    }
  };
  byte_property(0x01, props.payload_format_indicator);
  u32_property(0x02, props.message_expiry_interval);
  string_property(0x03, props.content_type);
  string_property(0x08, props.response_topic);
  binary_property(0x09, props.correlation_data);
  for (std::uint32_t id : props.subscription_identifiers) {
    put_u8(block, 0x0B);
    put_variable_integer(block, id);
  }
  u32_property(0x11, props.session_expiry_interval);
  string_property(0x12, props.assigned_client_identifier);
  u16_property(0x13, props.server_keep_alive);
  string_property(0x15, props.authentication_method);
  binary_property(0x16, props.authentication_data);
  byte_property(0x17, props.request_problem_information);
  u32_property(0x18, props.will_delay_interval);
  byte_property(0x19, props.request_response_information);
  string_property(0x1A, props.response_information);
  string_property(0x1C, props.server_reference);
  string_property(0x1F, props.reason_string);
  u16_property(0x21, props.receive_maximum);
  u16_property(0x22, props.topic_alias_maximum);
  u16_property(0x23, props.topic_alias);
  byte_property(0x24, props.maximum_qos);
  byte_property(0x25, props.retain_available);
  for (const auto& [name, value] : props.user_properties) {
    put_u8(block, 0x26);
    put_string(block, name);
    put_string(block, value);
  }
  u32_property(0x27, props.maximum_packet_size);
  byte_property(0x28, props.wildcard_subscription_available);
  byte_property(0x29, props.subscription_identifier_available);
  byte_property(0x2A, props.shared_subscription_available);
  put_variable_integer(out, static_cast<std::uint32_t>(block.size()));
  out.insert(out.end(), block.begin(), block.end());
}

// Each writes its packet's body (variable header and payload) and returns
// the fixed header's first byte.
struct body_writer {
  bytes& out;
  bool v5;

  std::uint8_t operator()(const connect_packet& p) const {
    // The level is the connection's, whatever the struct says, so that
    // encode(p, 4) and encode(p, 5) both describe themselves truthfully.
    put_string(out, "MQTT");
    put_u8(out, v5 ? protocol_level_5 : protocol_level_3_1_1);
    std::uint8_t flags = 0;
    if (p.username) flags |= 0x80;
    if (p.password) flags |= 0x40;
    if (p.will) {
      flags |= 0x04 | static_cast<std::uint8_t>(static_cast<unsigned>(p.will->qos) << 3);
      if (p.will->retain) flags |= 0x20;
    }
    if (p.clean_start) flags |= 0x02;
    put_u8(out, flags);
    put_u16(out, p.keep_alive);
    if (v5) put_properties(out, p.props);
    put_string(out, p.client_id);
    if (p.will) {
      if (v5) put_properties(out, p.will->props);
      put_string(out, p.will->topic);
      put_binary(out, p.will->payload);
    }
    if (p.username) put_string(out, *p.username);
    if (p.password) put_binary(out, *p.password);
    return 0x10;
  }
  std::uint8_t operator()(const connack_packet& p) const {
    put_u8(out, p.session_present ? 1 : 0);
    if (v5) {
      put_u8(out, static_cast<std::uint8_t>(p.reason));
      put_properties(out, p.props);
    } else {
      put_u8(out, static_cast<std::uint8_t>(to_connect_return_code(p.reason)));
    }
    return 0x20;
  }
  std::uint8_t operator()(const publish_packet& p) const {
    put_string(out, p.topic);
    if (p.qos != qos::at_most_once) put_u16(out, p.packet_id);
    if (v5) put_properties(out, p.props);
    out.insert(out.end(), p.payload.begin(), p.payload.end());
    std::uint8_t first = 0x30 | static_cast<std::uint8_t>(static_cast<unsigned>(p.qos) << 1);
    if (p.dup) first |= 0x08;
    if (p.retain) first |= 0x01;
    return first;
  }
  template <class Ack>
  void ack(const Ack& p) const {
    put_u16(out, p.packet_id);
    if (!v5) return;
    if (p.reason == reason_code::success && p.props.empty()) return;
    put_u8(out, static_cast<std::uint8_t>(p.reason));
    if (p.props.empty()) return;
    put_properties(out, p.props);
  }
  std::uint8_t operator()(const puback_packet& p) const {
    ack(p);
    return 0x40;
  }
  std::uint8_t operator()(const pubrec_packet& p) const {
    ack(p);
    return 0x50;
  }
  std::uint8_t operator()(const pubrel_packet& p) const {
    ack(p);
    return 0x62;
  }
  std::uint8_t operator()(const pubcomp_packet& p) const {
    ack(p);
    return 0x70;
  }
  std::uint8_t operator()(const subscribe_packet& p) const {
    put_u16(out, p.packet_id);
    if (v5) put_properties(out, p.props);
    for (const subscription& s : p.subscriptions) {
      put_string(out, s.filter);
      std::uint8_t options = static_cast<std::uint8_t>(s.qos);
      if (v5) {
        if (s.no_local) options |= 0x04;
        if (s.retain_as_published) options |= 0x08;
        options |= static_cast<std::uint8_t>(static_cast<unsigned>(s.retain_handling) << 4);
      }
      put_u8(out, options);
    }
    return 0x82;
  }
  std::uint8_t operator()(const suback_packet& p) const {
    put_u16(out, p.packet_id);
    if (v5) put_properties(out, p.props);
    for (reason_code reason : p.reasons) {
      put_u8(out, v5 ? static_cast<std::uint8_t>(reason) : to_suback_return_code_3_1_1(reason));
    }
    return 0x90;
  }
  std::uint8_t operator()(const unsubscribe_packet& p) const {
    put_u16(out, p.packet_id);
    if (v5) put_properties(out, p.props);
    for (const std::string& filter : p.filters) put_string(out, filter);
    return 0xA2;
  }
  std::uint8_t operator()(const unsuback_packet& p) const {
    put_u16(out, p.packet_id);
    if (v5) {
      put_properties(out, p.props);
      for (reason_code reason : p.reasons) put_u8(out, static_cast<std::uint8_t>(reason));
    }
    return 0xB0;
  }
  std::uint8_t operator()(const pingreq_packet&) const { return 0xC0; }
  std::uint8_t operator()(const pingresp_packet&) const { return 0xD0; }
  std::uint8_t operator()(const disconnect_packet& p) const {
    if (v5 && (p.reason != reason_code::normal_disconnection || !p.props.empty())) {
      put_u8(out, static_cast<std::uint8_t>(p.reason));
      if (!p.props.empty()) put_properties(out, p.props);
    }
    return 0xE0;
  }
  std::uint8_t operator()(const auth_packet& p) const {
    assert(v5 && "AUTH exists only in MQTT 5");
    if (p.reason != reason_code::success || !p.props.empty()) {
      put_u8(out, static_cast<std::uint8_t>(p.reason));
      put_properties(out, p.props);
    }
    return 0xF0;
  }
};

}  // namespace

void encode(const packet& p, std::uint8_t protocol_level, std::vector<std::uint8_t>& out) {
  assert(protocol_level == protocol_level_3_1_1 || protocol_level == protocol_level_5);
  // The body goes after room for the longest fixed header; once its length is
  // known the header is written in front and the unused room closed up.
  constexpr std::size_t max_header = 5;
  const std::size_t start = out.size();
  out.resize(start + max_header);
  const std::uint8_t first_byte = std::visit(body_writer{out, protocol_level == protocol_level_5}, p);
  const std::size_t body_size = out.size() - start - max_header;
  assert(body_size <= max_remaining_length);

  bytes header;
  put_u8(header, first_byte);
  put_variable_integer(header, static_cast<std::uint32_t>(body_size));
  const std::size_t gap = max_header - header.size();
  std::copy(header.begin(), header.end(), out.begin() + static_cast<std::ptrdiff_t>(start + gap));
  out.erase(out.begin() + static_cast<std::ptrdiff_t>(start),
            out.begin() + static_cast<std::ptrdiff_t>(start + gap));
}

std::vector<std::uint8_t> encode(const packet& p, std::uint8_t protocol_level) {
  std::vector<std::uint8_t> out;
  encode(p, protocol_level, out);
  return out;
}

}  // namespace airfleet::mqtt
