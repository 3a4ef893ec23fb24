#include "mqtt/codec.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <random>
#include <set>
#include <string>
#include <string_view>

namespace airfleet::mqtt {
namespace {

constexpr std::uint8_t v3 = protocol_level_3_1_1;
constexpr std::uint8_t v5 = protocol_level_5;

// "30 07 00 03 'a/b' 68 69": hex bytes, and quoted text taken byte for byte.
bytes wire(std::string_view text) {
  bytes out;
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == ' ') {
      ++i;
    } else if (c == '\'') {
      const std::size_t close = text.find('\'', i + 1);
      for (std::size_t k = i + 1; k < close; ++k) out.push_back(static_cast<std::uint8_t>(text[k]));
      i = close + 1;
    } else {
      out.push_back(static_cast<std::uint8_t>(std::stoul(std::string(text.substr(i, 2)), nullptr, 16)));
      i += 2;
    }
  }
  return out;
}

bytes text_bytes(std::string_view text) { return bytes(text.begin(), text.end()); }

// Frames `data` (which must hold exactly one packet) and decodes it.
core::result<packet> decode_wire(const bytes& data, std::uint8_t level, const codec_limits& limits = {}) {
  frame_reader reader(limits);
  reader.append(data);
  auto frame = reader.next();
  if (!frame) return frame.error();
  if (!frame->has_value()) return core::make_error(reason_code::unspecified_error, "incomplete frame");
  EXPECT_EQ(reader.buffered(), 0u) << "test data holds more than one packet";
  return decode(**frame, level, limits);
}

// The reason code decoding fails with; success when it decodes.
reason_code failure(const bytes& data, std::uint8_t level, const codec_limits& limits = {}) {
  auto decoded = decode_wire(data, level, limits);
  return decoded ? reason_code::success : reason_of(decoded.error().code);
}

packet decoded(const bytes& data, std::uint8_t level) {
  auto result = decode_wire(data, level);
  EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message);
  return result ? *result : packet{};
}

// Checks both directions: `p` encodes to exactly `expected`, which decodes to `p`.
void expect_wire(const packet& p, std::uint8_t level, std::string_view expected) {
  EXPECT_EQ(encode(p, level), wire(expected));
  EXPECT_EQ(decoded(wire(expected), level), p);
}

// ---------------------------------------------------------------------------
// Byte-exact encodings, derived by hand from the spec's field layouts.

TEST(codec_wire, connect_3_1_1_minimal) {
  connect_packet p{.protocol_level = v3, .clean_start = true, .keep_alive = 60, .client_id = "abc"};
  expect_wire(p, v3, "10 0F 00 04 'MQTT' 04 02 00 3C 00 03 'abc'");
}

TEST(codec_wire, connect_3_1_1_with_will_user_and_password) {
  connect_packet p{.protocol_level = v3,
                   .clean_start = true,
                   .keep_alive = 10,
                   .client_id = "c",
                   .will = will_message{.topic = "w", .payload = text_bytes("x"), .qos = qos::at_least_once, .retain = true},
                   .username = "u",
                   .password = text_bytes("p")};
  // flags: user 0x80 | password 0x40 | will retain 0x20 | will QoS 1 0x08 | will 0x04 | clean 0x02
  expect_wire(p, v3, "10 19 00 04 'MQTT' 04 EE 00 0A 00 01 'c' 00 01 'w' 00 01 'x' 00 01 'u' 00 01 'p'");
}

TEST(codec_wire, connect_5_with_properties) {
  connect_packet p{.protocol_level = v5, .clean_start = true, .keep_alive = 60, .client_id = "abc"};
  p.props.session_expiry_interval = 120;
  p.props.receive_maximum = 20;
  // property length 8: 11 <u32 120>, 21 <u16 20>
  expect_wire(p, v5, "10 18 00 04 'MQTT' 05 02 00 3C 08 11 00 00 00 78 21 00 14 00 03 'abc'");
}

TEST(codec_wire, connect_5_with_will_properties) {
  connect_packet p{.protocol_level = v5, .clean_start = false, .keep_alive = 0, .client_id = "c"};
  p.will = will_message{.topic = "w", .payload = {}, .qos = qos::at_most_once, .retain = false};
  p.will->props.will_delay_interval = 5;
  p.password = text_bytes("pw");  // v5 allows a password without a user name
  expect_wire(p, v5, "10 1D 00 04 'MQTT' 05 44 00 00 00 00 01 'c' 05 18 00 00 00 05 00 01 'w' 00 00 00 02 'pw'");
}

TEST(codec_wire, connack) {
  expect_wire(connack_packet{}, v3, "20 02 00 00");
  expect_wire(connack_packet{.session_present = false, .reason = reason_code::not_authorized}, v3, "20 02 00 05");
  expect_wire(connack_packet{}, v5, "20 03 00 00 00");
  connack_packet p{.session_present = true, .reason = reason_code::success};
  p.props.topic_alias_maximum = 10;
  p.props.maximum_qos = 1;
  expect_wire(p, v5, "20 08 01 00 05 22 00 0A 24 01");
}

TEST(codec_wire, connack_3_1_1_return_codes_map_to_reason_codes) {
  EXPECT_EQ(decoded(wire("20 02 00 01"), v3), packet(connack_packet{.reason = reason_code::unsupported_protocol_version}));
  EXPECT_EQ(decoded(wire("20 02 00 02"), v3), packet(connack_packet{.reason = reason_code::client_identifier_not_valid}));
  EXPECT_EQ(decoded(wire("20 02 00 03"), v3), packet(connack_packet{.reason = reason_code::server_unavailable}));
  EXPECT_EQ(decoded(wire("20 02 00 04"), v3), packet(connack_packet{.reason = reason_code::bad_user_name_or_password}));
  // A v5-only reason code becomes the closest 3.1.1 return code.
  EXPECT_EQ(encode(connack_packet{.reason = reason_code::malformed_packet}, v3), wire("20 02 00 03"));
  EXPECT_EQ(encode(connack_packet{.reason = reason_code::banned}, v3), wire("20 02 00 05"));
}

TEST(codec_wire, publish_qos0) {
  publish_packet p{.topic = "a/b", .payload = text_bytes("hi")};
  expect_wire(p, v3, "30 07 00 03 'a/b' 'hi'");
  expect_wire(p, v5, "30 08 00 03 'a/b' 00 'hi'");
}

TEST(codec_wire, publish_qos1) {
  publish_packet p{.dup = true, .qos = qos::at_least_once, .retain = true, .topic = "a/b", .packet_id = 10,
                   .payload = text_bytes("hi")};
  expect_wire(p, v3, "3B 09 00 03 'a/b' 00 0A 'hi'");
  expect_wire(p, v5, "3B 0A 00 03 'a/b' 00 0A 00 'hi'");
}

TEST(codec_wire, publish_5_with_properties) {
  publish_packet p{.qos = qos::at_least_once, .topic = "a/b", .packet_id = 10, .payload = text_bytes("hi")};
  p.props.payload_format_indicator = 1;
  p.props.message_expiry_interval = 60;
  p.props.topic_alias = 5;
  p.props.user_properties = {{"k", "v"}};
  expect_wire(p, v5, "32 1B 00 03 'a/b' 00 0A 11  01 01  02 00 00 00 3C  23 00 05  26 00 01 'k' 00 01 'v'  'hi'");
}

TEST(codec_wire, publish_with_empty_payload) {
  expect_wire(publish_packet{.topic = "t"}, v3, "30 03 00 01 't'");
}

TEST(codec_wire, puback_forms) {
  expect_wire(puback_packet{.packet_id = 10}, v3, "40 02 00 0A");
  expect_wire(puback_packet{.packet_id = 10}, v5, "40 02 00 0A");  // success, no properties: short form
  expect_wire(puback_packet{.packet_id = 10, .reason = reason_code::no_matching_subscribers}, v5, "40 03 00 0A 10");
  puback_packet with_reason_string{.packet_id = 10, .reason = reason_code::unspecified_error};
  with_reason_string.props.reason_string = "x";
  expect_wire(with_reason_string, v5, "40 08 00 0A 80 04 1F 00 01 'x'");
  // The long forms of a plain success are accepted too.
  EXPECT_EQ(decoded(wire("40 03 00 0A 00"), v5), packet(puback_packet{.packet_id = 10}));
  EXPECT_EQ(decoded(wire("40 04 00 0A 00 00"), v5), packet(puback_packet{.packet_id = 10}));
}

TEST(codec_wire, pubrec_pubrel_pubcomp) {
  expect_wire(pubrec_packet{.packet_id = 1}, v3, "50 02 00 01");
  expect_wire(pubrel_packet{.packet_id = 1}, v3, "62 02 00 01");
  expect_wire(pubcomp_packet{.packet_id = 1}, v3, "70 02 00 01");
  expect_wire(pubrel_packet{.packet_id = 1, .reason = reason_code::packet_identifier_not_found}, v5, "62 03 00 01 92");
  // 3.1.1 has no reason codes: they are left out.
  EXPECT_EQ(encode(pubrec_packet{.packet_id = 1, .reason = reason_code::quota_exceeded}, v3), wire("50 02 00 01"));
}

TEST(codec_wire, subscribe_and_suback_3_1_1) {
  subscribe_packet sub{.packet_id = 1,
                       .subscriptions = {{.filter = "a/b", .qos = qos::at_least_once}, {.filter = "c"}}};
  expect_wire(sub, v3, "82 0C 00 01 00 03 'a/b' 01 00 01 'c' 00");
  suback_packet ack{.packet_id = 1,
                    .reasons = {reason_code::granted_qos_1, reason_code::granted_qos_0, reason_code::unspecified_error}};
  expect_wire(ack, v3, "90 05 00 01 01 00 80");
  // Every v5 failure is 0x80 in 3.1.1.
  EXPECT_EQ(encode(suback_packet{.packet_id = 1, .reasons = {reason_code::not_authorized}}, v3), wire("90 03 00 01 80"));
}

TEST(codec_wire, subscribe_and_suback_5) {
  subscribe_packet sub{.packet_id = 1,
                       .subscriptions = {{.filter = "a/+",
                                          .qos = qos::exactly_once,
                                          .no_local = true,
                                          .retain_as_published = true,
                                          .retain_handling = retain_handling::do_not_send}}};
  sub.props.subscription_identifiers = {7};
  expect_wire(sub, v5, "82 0B 00 01 02 0B 07 00 03 'a/+' 2E");
  suback_packet ack{.packet_id = 1, .reasons = {reason_code::granted_qos_1, reason_code::not_authorized}};
  expect_wire(ack, v5, "90 05 00 01 00 01 87");
}

TEST(codec_wire, unsubscribe_and_unsuback) {
  unsubscribe_packet unsub{.packet_id = 2, .filters = {"a"}};
  expect_wire(unsub, v3, "A2 05 00 02 00 01 'a'");
  expect_wire(unsub, v5, "A2 06 00 02 00 00 01 'a'");
  expect_wire(unsuback_packet{.packet_id = 2}, v3, "B0 02 00 02");
  expect_wire(unsuback_packet{.packet_id = 2, .reasons = {reason_code::no_subscription_existed}}, v5,
              "B0 04 00 02 00 11");
}

TEST(codec_wire, ping) {
  expect_wire(pingreq_packet{}, v3, "C0 00");
  expect_wire(pingresp_packet{}, v5, "D0 00");
}

TEST(codec_wire, disconnect) {
  expect_wire(disconnect_packet{}, v3, "E0 00");
  expect_wire(disconnect_packet{}, v5, "E0 00");
  expect_wire(disconnect_packet{.reason = reason_code::session_taken_over}, v5, "E0 01 8E");
  disconnect_packet with_reason_string{.reason = reason_code::session_taken_over};
  with_reason_string.props.reason_string = "bye";
  expect_wire(with_reason_string, v5, "E0 08 8E 06 1F 00 03 'bye'");
  EXPECT_EQ(decoded(wire("E0 02 00 00"), v5), packet(disconnect_packet{}));
}

TEST(codec_wire, auth) {
  expect_wire(auth_packet{}, v5, "F0 00");
  auth_packet p{.reason = reason_code::continue_authentication};
  p.props.authentication_method = "M";
  expect_wire(p, v5, "F0 06 18 04 15 00 01 'M'");
}

TEST(codec_wire, connect_protocol_level_is_read_from_a_connect_that_fails_to_decode) {
  raw_frame frame{0x10, wire("00 04 'MQTT' 05 01 00 00")};  // reserved flag set
  EXPECT_FALSE(decode(frame, v3).has_value());
  EXPECT_EQ(connect_protocol_level(frame), std::optional<std::uint8_t>(5));
  EXPECT_EQ(connect_protocol_level(raw_frame{0x10, wire("00 04 'MQ'")}), std::nullopt);
  EXPECT_EQ(connect_protocol_level(raw_frame{0x30, wire("00 04 'MQTT' 05")}), std::nullopt);
}

// ---------------------------------------------------------------------------
// Round trips of every packet type in both versions.

std::vector<packet> samples(std::uint8_t level) {
  const bool five = level == v5;
  std::vector<packet> out;

  connect_packet connect{.protocol_level = level, .clean_start = false, .keep_alive = 300, .client_id = "dev-1"};
  connect.will = will_message{.topic = "will/t", .payload = text_bytes("gone"), .qos = qos::exactly_once, .retain = true};
  connect.username = "user";
  connect.password = bytes{0, 1, 2, 255};
  if (five) {
    connect.props.session_expiry_interval = 3600;
    connect.props.authentication_method = "SCRAM";
    connect.props.authentication_data = bytes{1, 2};
    connect.props.request_problem_information = 0;
    connect.props.request_response_information = 1;
    connect.props.receive_maximum = 100;
    connect.props.topic_alias_maximum = 10;
    connect.props.maximum_packet_size = 65536;
    connect.props.user_properties = {{"b", "2"}, {"a", "1"}, {"b", "3"}};
    connect.will->props.payload_format_indicator = 1;
    connect.will->props.message_expiry_interval = 9;
    connect.will->props.content_type = "text/plain";
    connect.will->props.response_topic = "reply/here";
    connect.will->props.correlation_data = bytes{9, 9};
    connect.will->props.will_delay_interval = 30;
    connect.will->props.user_properties = {{"w", "1"}};
  }
  out.push_back(connect);
  out.push_back(connect_packet{.protocol_level = level, .client_id = "minimal"});

  connack_packet connack{.session_present = true, .reason = reason_code::success};
  if (five) {
    connack.props.session_expiry_interval = 10;
    connack.props.assigned_client_identifier = "auto-1";
    connack.props.server_keep_alive = 30;
    connack.props.authentication_method = "SCRAM";
    connack.props.authentication_data = bytes{7};
    connack.props.response_information = "resp";
    connack.props.server_reference = "other:8883";
    connack.props.reason_string = "ok";
    connack.props.receive_maximum = 20;
    connack.props.topic_alias_maximum = 5;
    connack.props.maximum_qos = 1;
    connack.props.retain_available = 0;
    connack.props.maximum_packet_size = 1000;
    connack.props.wildcard_subscription_available = 1;
    connack.props.subscription_identifier_available = 0;
    connack.props.shared_subscription_available = 1;
    connack.props.user_properties = {{"x", "y"}};
  }
  out.push_back(connack);
  out.push_back(connack_packet{.reason = reason_code::bad_user_name_or_password});

  publish_packet publish{.dup = true, .qos = qos::exactly_once, .retain = true, .topic = "sensors/dev-1/temp",
                         .packet_id = 65535, .payload = bytes(300, 0xAB)};
  if (five) {
    publish.props.payload_format_indicator = 0;
    publish.props.message_expiry_interval = 100;
    publish.props.content_type = "application/octet-stream";
    publish.props.response_topic = "r/t";
    publish.props.correlation_data = bytes{1};
    publish.props.subscription_identifiers = {1, 268435455, 16384};
    publish.props.topic_alias = 3;
    publish.props.user_properties = {{"k", ""}, {"", "v"}};
  }
  out.push_back(publish);
  out.push_back(publish_packet{.topic = "t/\xC3\xA9/\xE2\x82\xAC/\xF0\x9F\x98\x80", .payload = {}});
  if (five) out.push_back(publish_packet{.topic = "", .props = {.topic_alias = 4}});

  properties ack_props;
  if (five) ack_props = {.reason_string = "why", .user_properties = {{"a", "b"}}};
  const reason_code ack_reason = five ? reason_code::not_authorized : reason_code::success;
  const reason_code rel_reason = five ? reason_code::packet_identifier_not_found : reason_code::success;
  out.push_back(puback_packet{.packet_id = 1, .reason = ack_reason, .props = ack_props});
  out.push_back(puback_packet{.packet_id = 2});
  out.push_back(pubrec_packet{.packet_id = 3, .reason = ack_reason, .props = ack_props});
  out.push_back(pubrel_packet{.packet_id = 4, .reason = rel_reason, .props = ack_props});
  out.push_back(pubcomp_packet{.packet_id = 5, .reason = rel_reason});

  subscribe_packet subscribe{.packet_id = 6};
  subscribe.subscriptions.push_back({.filter = "a/#", .qos = qos::at_least_once});
  subscribe.subscriptions.push_back({.filter = "$share/g/+/x", .qos = qos::exactly_once});
  if (five) {
    subscribe.subscriptions.push_back({.filter = "n/l",
                                       .qos = qos::at_most_once,
                                       .no_local = true,
                                       .retain_as_published = true,
                                       .retain_handling = retain_handling::send_if_new_subscription});
    subscribe.props.subscription_identifiers = {42};
    subscribe.props.user_properties = {{"s", "1"}};
  }
  out.push_back(subscribe);

  suback_packet suback{.packet_id = 6,
                       .reasons = {reason_code::granted_qos_0, reason_code::granted_qos_1, reason_code::granted_qos_2,
                                   reason_code::unspecified_error}};
  if (five) {
    suback.reasons.push_back(reason_code::wildcard_subscriptions_not_supported);
    suback.props.reason_string = "partly";
  }
  out.push_back(suback);

  unsubscribe_packet unsubscribe{.packet_id = 7, .filters = {"a/#", "b"}};
  if (five) unsubscribe.props.user_properties = {{"u", "2"}};
  out.push_back(unsubscribe);

  unsuback_packet unsuback{.packet_id = 7};
  if (five) {
    unsuback.reasons = {reason_code::success, reason_code::no_subscription_existed};
    unsuback.props.reason_string = "done";
  }
  out.push_back(unsuback);

  out.push_back(pingreq_packet{});
  out.push_back(pingresp_packet{});

  disconnect_packet disconnect;
  if (five) {
    disconnect.reason = reason_code::disconnect_with_will_message;
    disconnect.props.session_expiry_interval = 0;
    disconnect.props.server_reference = "elsewhere";
    disconnect.props.reason_string = "bye";
    disconnect.props.user_properties = {{"d", "1"}};
  }
  out.push_back(disconnect);

  if (five) {
    auth_packet auth{.reason = reason_code::re_authenticate};
    auth.props.authentication_method = "SCRAM";
    auth.props.authentication_data = bytes{3, 4};
    auth.props.reason_string = "again";
    out.push_back(auth);
    out.push_back(auth_packet{});
  }
  return out;
}

TEST(codec_round_trip, every_packet_type_3_1_1) {
  std::set<std::size_t> types;
  for (const packet& p : samples(v3)) {
    SCOPED_TRACE(p.index());
    types.insert(p.index());
    EXPECT_EQ(decoded(encode(p, v3), v3), p);
  }
  EXPECT_EQ(types.size(), std::variant_size_v<packet> - 1);  // all but AUTH
}

TEST(codec_round_trip, every_packet_type_5) {
  std::set<std::size_t> types;
  for (const packet& p : samples(v5)) {
    SCOPED_TRACE(p.index());
    types.insert(p.index());
    EXPECT_EQ(decoded(encode(p, v5), v5), p);
  }
  EXPECT_EQ(types.size(), std::variant_size_v<packet>);
}

TEST(codec_round_trip, encode_appends_to_a_buffer) {
  bytes out = {0xAA};
  encode(pingreq_packet{}, v3, out);
  encode(puback_packet{.packet_id = 258}, v3, out);
  EXPECT_EQ(out, wire("AA C0 00 40 02 01 02"));
}

TEST(codec_round_trip, type_of_follows_the_wire_type) {
  EXPECT_EQ(type_of(connect_packet{}), packet_type::connect);
  EXPECT_EQ(type_of(pubrel_packet{}), packet_type::pubrel);
  EXPECT_EQ(type_of(auth_packet{}), packet_type::auth);
}

// ---------------------------------------------------------------------------
// Malformed input: each rule, and the reason code it fails with.

struct bad_case {
  const char* name;
  std::uint8_t level;
  const char* bytes;
  reason_code expected;
};

class codec_malformed : public ::testing::TestWithParam<bad_case> {};

TEST_P(codec_malformed, is_refused_with_its_reason_code) {
  const bad_case& c = GetParam();
  EXPECT_EQ(failure(wire(c.bytes), c.level), c.expected) << c.name;
}

constexpr auto malformed = reason_code::malformed_packet;
constexpr auto protocol = reason_code::protocol_error;

const bad_case bad_cases[] = {
    // Fixed header.
    {"reserved_type_0", v3, "00 00", malformed},
    {"auth_in_3_1_1", v3, "F0 00", malformed},
    {"pubrel_flags_0", v3, "60 02 00 01", malformed},
    {"subscribe_flags_0", v3, "80 06 00 01 00 01 'a' 00", malformed},
    {"unsubscribe_flags_0", v5, "A0 06 00 01 00 00 01 'a'", malformed},
    {"puback_flags_2", v3, "42 02 00 01", malformed},
    {"pingreq_flags_1", v3, "C1 00", malformed},
    {"connect_flags_1", v3, "11 0F 00 04 'MQTT' 04 02 00 3C 00 03 'abc'", malformed},
    {"publish_qos_3", v3, "36 05 00 01 'a' 00 01", malformed},
    {"publish_qos_0_with_dup", v3, "38 03 00 01 'a'", malformed},
    {"remaining_length_not_shortest", v3, "C0 80 00", malformed},
    {"remaining_length_5_bytes", v3, "30 FF FF FF FF 7F", malformed},
    // Lengths.
    {"puback_trailing_byte", v3, "40 03 00 01 00", malformed},
    {"puback_short", v3, "40 01 00", malformed},
    {"pingreq_trailing_byte", v3, "C0 01 00", malformed},
    {"disconnect_3_1_1_with_body", v3, "E0 01 00", malformed},
    {"unsuback_3_1_1_with_reason", v3, "B0 03 00 01 00", malformed},
    {"string_overruns_packet", v3, "30 04 00 05 'ab'", malformed},
    {"connect_client_id_overruns", v3, "10 0F 00 04 'MQTT' 04 02 00 3C 00 09 'abc'", malformed},
    {"connect_missing_password", v3, "10 10 00 04 'MQTT' 04 C2 00 3C 00 01 'c' 00 01 'u'", malformed},
    // Packet identifiers.
    {"publish_qos1_packet_id_0", v3, "32 05 00 01 'a' 00 00", protocol},
    {"puback_packet_id_0", v5, "40 02 00 00", protocol},
    {"pubrel_packet_id_0", v3, "62 02 00 00", protocol},
    {"subscribe_packet_id_0", v3, "82 06 00 00 00 01 'a' 00", protocol},
    {"unsubscribe_packet_id_0", v3, "A2 05 00 00 00 01 'a'", protocol},
    {"suback_packet_id_0", v3, "90 03 00 00 00", protocol},
    {"unsuback_packet_id_0", v3, "B0 02 00 00", protocol},
    // UTF-8.
    {"utf8_nul", v3, "30 03 00 01 00", malformed},
    {"utf8_overlong_nul", v3, "30 04 00 02 C0 80", malformed},
    {"utf8_overlong_slash", v3, "30 04 00 02 C0 AF", malformed},
    {"utf8_overlong_3_byte", v3, "30 05 00 03 E0 80 AF", malformed},
    {"utf8_surrogate", v3, "30 05 00 03 ED A0 80", malformed},
    {"utf8_above_10ffff", v3, "30 06 00 04 F4 90 80 80", malformed},
    {"utf8_truncated", v3, "30 04 00 02 E2 82", malformed},
    {"utf8_lone_continuation", v3, "30 03 00 01 80", malformed},
    {"utf8_invalid_lead", v3, "30 03 00 01 FF", malformed},
    {"utf8_bad_client_id", v3, "10 0D 00 04 'MQTT' 04 02 00 3C 00 01 FE", malformed},
    {"utf8_bad_user_property", v5, "30 0A 00 01 'a' 05 26 00 01 C0 00 00", malformed},
    // Topic names and filters.
    {"publish_topic_plus", v3, "30 03 00 01 '+'", reason_code::topic_name_invalid},
    {"publish_topic_hash", v5, "30 06 00 03 'a/#' 00", reason_code::topic_name_invalid},
    {"publish_empty_topic_3_1_1", v3, "30 02 00 00", protocol},
    {"publish_empty_topic_5_without_alias", v5, "30 03 00 00 00", protocol},
    {"will_topic_wildcard", v3, "10 12 00 04 'MQTT' 04 06 00 3C 00 01 'c' 00 01 '#' 00 00", reason_code::topic_name_invalid},
    {"subscribe_empty_filter", v3, "82 05 00 01 00 00 00", protocol},
    // SUBSCRIBE and UNSUBSCRIBE payloads.
    {"subscribe_without_filters_3_1_1", v3, "82 02 00 01", protocol},
    {"subscribe_without_filters_5", v5, "82 03 00 01 00", protocol},
    {"subscribe_reserved_bits_3_1_1", v3, "82 06 00 01 00 01 'a' 04", malformed},
    {"subscribe_reserved_bits_5", v5, "82 07 00 01 00 00 01 'a' 40", malformed},
    {"subscribe_qos_3", v5, "82 07 00 01 00 00 01 'a' 03", malformed},
    {"subscribe_retain_handling_3", v5, "82 07 00 01 00 00 01 'a' 30", protocol},
    {"subscribe_missing_options", v3, "82 05 00 01 00 01 'a'", malformed},
    {"subscribe_two_subscription_identifiers", v5, "82 0B 00 01 04 0B 01 0B 02 00 01 'a' 00", protocol},
    {"unsubscribe_without_filters", v3, "A2 02 00 01", protocol},
    {"unsubscribe_without_filters_5", v5, "A2 03 00 01 00", protocol},
    {"suback_without_codes", v3, "90 02 00 01", protocol},
    {"unsuback_5_without_codes", v5, "B0 03 00 01 00", protocol},
    // CONNECT.
    {"connect_mqisdp", v3, "10 0F 00 06 'MQIsdp' 03 02 00 3C 00 01 'c'", reason_code::unsupported_protocol_version},
    {"connect_other_name", v3, "10 0D 00 04 'MQTX' 04 02 00 3C 00 01 'c'", malformed},
    {"connect_level_6", v5, "10 0D 00 04 'MQTT' 06 02 00 3C 00 01 'c'", reason_code::unsupported_protocol_version},
    {"connect_level_3", v5, "10 0D 00 04 'MQTT' 03 02 00 3C 00 01 'c'", reason_code::unsupported_protocol_version},
    {"connect_reserved_flag", v3, "10 0D 00 04 'MQTT' 04 03 00 3C 00 01 'c'", malformed},
    {"connect_will_qos_without_will", v3, "10 0D 00 04 'MQTT' 04 0A 00 3C 00 01 'c'", malformed},
    {"connect_will_retain_without_will", v3, "10 0D 00 04 'MQTT' 04 22 00 3C 00 01 'c'", malformed},
    {"connect_will_qos_3", v3, "10 12 00 04 'MQTT' 04 1E 00 3C 00 01 'c' 00 01 'w' 00 00", malformed},
    {"connect_password_without_user_3_1_1", v3, "10 10 00 04 'MQTT' 04 42 00 3C 00 01 'c' 00 01 'p'", malformed},
    {"connect_empty_client_id_without_clean_session", v3, "10 0C 00 04 'MQTT' 04 00 00 3C 00 00",
     reason_code::client_identifier_not_valid},
    {"connect_5_receive_maximum_0", v5, "10 10 00 04 'MQTT' 05 02 00 3C 03 21 00 00 00 00", protocol},
    {"connect_5_auth_data_without_method", v5, "10 11 00 04 'MQTT' 05 02 00 3C 04 16 00 01 'x' 00 00", protocol},
    {"connect_5_topic_alias_property", v5, "10 10 00 04 'MQTT' 05 02 00 3C 03 23 00 01 00 00", malformed},
    {"connect_5_will_property_in_connect", v5, "10 12 00 04 'MQTT' 05 02 00 3C 05 18 00 00 00 01 00 00", malformed},
    {"connect_5_session_expiry_in_will", v5,
     "10 19 00 04 'MQTT' 05 06 00 3C 00 00 01 'c' 05 11 00 00 00 01 00 01 'w' 00 00", malformed},
    {"connect_5_maximum_packet_size_0", v5, "10 12 00 04 'MQTT' 05 02 00 3C 05 27 00 00 00 00 00 00", protocol},
    // CONNACK and reason codes.
    {"connack_return_code_6", v3, "20 02 00 06", malformed},
    {"connack_reserved_flags", v3, "20 02 02 00", malformed},
    {"connack_5_reason_not_for_connack", v5, "20 03 00 10 00", malformed},
    {"connack_5_maximum_qos_2", v5, "20 05 00 00 02 24 02", protocol},
    {"puback_5_reason_not_for_puback", v5, "40 03 00 01 04", malformed},
    {"pubrel_5_reason_not_for_pubrel", v5, "62 03 00 01 80", malformed},
    {"suback_3_1_1_code_3", v3, "90 03 00 01 03", malformed},
    {"suback_5_reason_not_for_suback", v5, "90 04 00 01 00 10", malformed},
    {"disconnect_5_reason_not_for_disconnect", v5, "E0 01 01", malformed},
    {"auth_5_reason_not_for_auth", v5, "F0 02 87 00", malformed},
    // Properties.
    {"property_not_for_publish", v5, "30 09 00 01 'a' 05 11 00 00 00 01", malformed},
    {"property_unknown", v5, "30 06 00 01 'a' 02 7F 00", malformed},
    {"property_identifier_multibyte", v5, "30 07 00 01 'a' 03 81 01 00", malformed},
    {"property_duplicated", v5, "30 0A 00 01 'a' 06 23 00 01 23 00 02", protocol},
    {"property_length_overruns_packet", v5, "30 05 00 01 'a' 05 01", malformed},
    {"property_value_overruns_block", v5, "30 0B 00 01 'a' 02 02 00 00 00 00 00 00", malformed},
    {"property_payload_format_2", v5, "30 06 00 01 'a' 02 01 02", protocol},
    {"property_topic_alias_0", v5, "30 07 00 01 'a' 03 23 00 00", protocol},
    {"property_subscription_identifier_0", v5, "30 06 00 01 'a' 02 0B 00", protocol},
    {"property_subscription_identifier_not_shortest", v5, "30 07 00 01 'a' 03 0B 81 00", malformed},
    {"property_response_topic_wildcard", v5, "30 09 00 01 'a' 05 08 00 02 'a#'", protocol},
    {"property_reason_string_in_publish", v5, "30 09 00 01 'a' 05 1F 00 02 'no'", malformed},
    {"property_length_not_shortest", v5, "30 05 00 01 'a' 80 00", malformed},
    {"puback_property_not_allowed", v5, "40 07 00 01 00 03 23 00 01", malformed},
    {"unsubscribe_property_not_allowed", v5, "A2 08 00 01 02 0B 01 00 01 'a'", malformed},
};

INSTANTIATE_TEST_SUITE_P(rules, codec_malformed, ::testing::ValuesIn(bad_cases),
                         [](const ::testing::TestParamInfo<bad_case>& info) { return std::string(info.param.name); });

TEST(codec_accepts, what_the_rules_allow) {
  // Multi-byte UTF-8 and non-characters the spec only discourages.
  EXPECT_EQ(failure(wire("30 0C 00 0A C3 A9 E2 82 AC F0 9F 98 80 01"), v3), reason_code::success);
  EXPECT_EQ(failure(wire("30 05 00 03 EF BF BF"), v3), reason_code::success);  // U+FFFF
  // Empty topic name with a Topic Alias (v5).
  EXPECT_EQ(failure(wire("30 06 00 00 03 23 00 01"), v5), reason_code::success);
  // User properties and subscription identifiers repeat.
  EXPECT_EQ(failure(wire("30 10 00 01 'a' 0C 26 00 01 'k' 00 00 26 00 01 'k' 00 00"), v5), reason_code::success);
  EXPECT_EQ(failure(wire("30 08 00 01 'a' 04 0B 01 0B 02"), v5), reason_code::success);
  // An empty client id with Clean Session (3.1.1) or without Clean Start (v5).
  EXPECT_EQ(failure(wire("10 0C 00 04 'MQTT' 04 02 00 3C 00 00"), v3), reason_code::success);
  EXPECT_EQ(failure(wire("10 0D 00 04 'MQTT' 05 00 00 3C 00 00 00"), v5), reason_code::success);
  // CONNECT ignores the level it is decoded with.
  EXPECT_EQ(failure(wire("10 0D 00 04 'MQTT' 05 00 00 3C 00 00 00"), v3), reason_code::success);
}

TEST(codec_limits_test, subscriptions_per_packet) {
  bytes body = {0x00, 0x01};
  for (int i = 0; i < 9; ++i) {
    body.insert(body.end(), {0x00, 0x01, static_cast<std::uint8_t>('a' + i), 0x00});
  }
  bytes nine = {0x82, static_cast<std::uint8_t>(body.size())};
  nine.insert(nine.end(), body.begin(), body.end());
  EXPECT_EQ(failure(nine, v3), reason_code::quota_exceeded);
  EXPECT_EQ(failure(nine, v3, codec_limits{.max_subscriptions_per_packet = 9}), reason_code::success);
}

TEST(codec_limits_test, topic_length) {
  const codec_limits limits{.max_topic_length = 3};
  EXPECT_EQ(failure(wire("30 05 00 03 'abc'"), v3, limits), reason_code::success);
  EXPECT_EQ(failure(wire("30 06 00 04 'abcd'"), v3, limits), reason_code::topic_name_invalid);
  EXPECT_EQ(failure(wire("82 09 00 01 00 04 'abcd' 00"), v3, limits), reason_code::topic_filter_invalid);
  EXPECT_EQ(failure(wire("A2 08 00 01 00 04 'abcd'"), v3, limits), reason_code::topic_filter_invalid);
}

TEST(codec_limits_test, properties_and_user_properties) {
  // Three user properties; the block is 3 x 5 bytes.
  const bytes three = wire("30 13 00 01 'a' 0F 26 00 00 00 00 26 00 00 00 00 26 00 00 00 00");
  EXPECT_EQ(failure(three, v5), reason_code::success);
  EXPECT_EQ(failure(three, v5, codec_limits{.max_user_properties = 2}), reason_code::quota_exceeded);
  EXPECT_EQ(failure(three, v5, codec_limits{.max_properties = 2}), reason_code::quota_exceeded);
}

TEST(codec_errors, carry_reason_codes_in_the_mqtt_category) {
  auto result = decode_wire(wire("30 03 00 01 '+'"), v3);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, reason_code::topic_name_invalid);
  EXPECT_EQ(result.error().code.category().name(), std::string("airfleet.mqtt"));
  EXPECT_EQ(result.error().code.message(), "Topic Name invalid");
  EXPECT_FALSE(result.error().message.empty());
  EXPECT_EQ(reason_of(std::make_error_code(std::errc::invalid_argument)), reason_code::unspecified_error);
  EXPECT_EQ(to_connect_return_code(reason_code::unsupported_protocol_version),
            connect_return_code::unacceptable_protocol_version);
  EXPECT_TRUE(is_failure(reason_code::malformed_packet));
  EXPECT_FALSE(is_failure(reason_code::granted_qos_2));
}

// ---------------------------------------------------------------------------
// frame_reader

std::vector<raw_frame> drain(frame_reader& reader) {
  std::vector<raw_frame> frames;
  for (;;) {
    auto next = reader.next();
    EXPECT_TRUE(next.has_value());
    if (!next || !next->has_value()) return frames;
    frames.push_back(std::move(**next));
  }
}

TEST(frame_reader, splits_at_every_byte_boundary) {
  bytes stream;
  std::vector<packet> packets = samples(v5);
  for (const packet& p : packets) encode(p, v5, stream);

  for (std::size_t split = 0; split <= stream.size(); ++split) {
    frame_reader reader;
    reader.append(std::span(stream).first(split));
    std::vector<raw_frame> frames = drain(reader);
    reader.append(std::span(stream).subspan(split));
    for (raw_frame& f : drain(reader)) frames.push_back(std::move(f));
    ASSERT_EQ(frames.size(), packets.size()) << "split at " << split;
    EXPECT_EQ(reader.buffered(), 0u);
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto p = decode(frames[i], v5);
      ASSERT_TRUE(p.has_value()) << p.error().message;
      EXPECT_EQ(*p, packets[i]);
    }
  }
}

TEST(frame_reader, byte_by_byte) {
  bytes stream;
  std::vector<packet> packets = samples(v3);
  for (const packet& p : packets) encode(p, v3, stream);
  frame_reader reader;
  std::vector<raw_frame> frames;
  for (std::uint8_t byte : stream) {
    reader.append(std::span(&byte, 1));
    for (raw_frame& f : drain(reader)) frames.push_back(std::move(f));
  }
  ASSERT_EQ(frames.size(), packets.size());
  for (std::size_t i = 0; i < frames.size(); ++i) EXPECT_EQ(decode(frames[i], v3).value(), packets[i]);
}

TEST(frame_reader, remaining_length_edge_cases) {
  const std::vector<std::pair<std::uint32_t, const char*>> cases = {
      {0, "00"},           {127, "7F"},          {128, "80 01"},          {16383, "FF 7F"},
      {16384, "80 80 01"}, {2097151, "FF FF 7F"}, {2097152, "80 80 80 01"}, {268435455, "FF FF FF 7F"},
  };
  for (const auto& [length, encoded] : cases) {
    SCOPED_TRACE(length);
    bytes header = {0x30};
    const bytes length_bytes = wire(encoded);
    header.insert(header.end(), length_bytes.begin(), length_bytes.end());

    // The header alone: more bytes needed, under a limit that admits it ...
    frame_reader open_reader(codec_limits{.max_packet_size = header.size() + length});
    open_reader.append(header);
    auto pending = open_reader.next();
    ASSERT_TRUE(pending.has_value());
    EXPECT_EQ(pending->has_value(), length == 0);

    // ... and refused at once under one byte less.
    if (length > 0) {
      frame_reader strict_reader(codec_limits{.max_packet_size = header.size() + length - 1});
      strict_reader.append(header);
      auto refused = strict_reader.next();
      ASSERT_FALSE(refused.has_value());
      EXPECT_EQ(refused.error().code, reason_code::packet_too_large);
    }

    // Whole packets up to 2 MB: encode writes the same length bytes, and the
    // reader and decoder take the packet back.
    if (length >= 3 && length <= 2097152) {
      publish_packet p{.topic = "t", .payload = bytes(length - 3, 0x5A)};
      const bytes encoded_packet = encode(p, v3);
      ASSERT_EQ(encoded_packet.size(), header.size() + length);
      EXPECT_TRUE(std::equal(header.begin(), header.end(), encoded_packet.begin()));
      const codec_limits limits{.max_packet_size = encoded_packet.size()};
      auto back = decode_wire(encoded_packet, v3, limits);
      ASSERT_TRUE(back.has_value());
      EXPECT_EQ(*back, packet(p));
    }
  }
}

TEST(frame_reader, refuses_an_oversized_packet_from_its_header_alone) {
  frame_reader reader(codec_limits{.max_packet_size = 100});
  reader.append(wire("30 E5 07"));  // announces 997 bytes
  auto result = reader.next();
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, reason_code::packet_too_large);
  // The failure is sticky: the stream has lost its framing.
  reader.append(wire("C0 00"));
  EXPECT_FALSE(reader.next().has_value());
}

TEST(frame_reader, fifth_length_byte_is_refused_without_waiting_for_it) {
  frame_reader reader;
  reader.append(wire("30 FF FF FF FF"));
  auto result = reader.next();
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, reason_code::malformed_packet);
}

TEST(frame_reader, waits_for_a_partial_length) {
  frame_reader reader;
  reader.append(wire("30 FF"));
  auto result = reader.next();
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(result->has_value());
  EXPECT_EQ(reader.buffered(), 2u);
}

TEST(frame_reader, compacts_what_it_has_framed) {
  frame_reader reader;
  reader.append(wire("C0 00 D0 00 40 02 00"));
  EXPECT_EQ(drain(reader).size(), 2u);
  EXPECT_EQ(reader.buffered(), 3u);
  reader.append(wire("01"));
  auto frames = drain(reader);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].first_byte, 0x40);
  EXPECT_EQ(frames[0].body, wire("00 01"));
  EXPECT_EQ(reader.buffered(), 0u);
}

// ---------------------------------------------------------------------------
// Robustness: random and mutated input never crashes or hangs; whatever
// decodes encodes back to the same packet.

void check_round_trip(const packet& p, std::uint8_t level) {
  const std::uint8_t encode_level =
      std::holds_alternative<connect_packet>(p) ? std::get<connect_packet>(p).protocol_level : level;
  const bytes again = encode(p, encode_level);
  frame_reader reader(codec_limits{.max_packet_size = again.size()});
  reader.append(again);
  auto frame = reader.next();
  ASSERT_TRUE(frame.has_value() && frame->has_value());
  auto back = decode(**frame, encode_level);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, p);
}

TEST(codec_robustness, random_and_mutated_buffers) {
  std::mt19937 random(20240611);
  auto below = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random); };

  std::vector<bytes> seeds;
  for (std::uint8_t level : {v3, v5}) {
    for (const packet& p : samples(level)) seeds.push_back(encode(p, level));
  }
  for (const bad_case& c : bad_cases) seeds.push_back(wire(c.bytes));

  std::size_t decoded_count = 0;
  std::size_t failed_count = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    bytes input;
    if (iteration % 4 == 0) {
      // Pure noise, with a plausible first byte half of the time.
      input.resize(below(64));
      for (auto& byte : input) byte = static_cast<std::uint8_t>(below(256));
      if (!input.empty() && below(2)) input[0] = static_cast<std::uint8_t>(below(16) << 4);
    } else {
      input = seeds[below(seeds.size())];
      const std::size_t mutations = 1 + below(4);
      for (std::size_t m = 0; m < mutations && !input.empty(); ++m) {
        switch (below(5)) {
          case 0: input[below(input.size())] = static_cast<std::uint8_t>(below(256)); break;
          case 1: input[below(input.size())] ^= static_cast<std::uint8_t>(1u << below(8)); break;
          case 2: input.resize(below(input.size() + 1)); break;
          case 3: input.insert(input.begin() + static_cast<std::ptrdiff_t>(below(input.size() + 1)),
                               static_cast<std::uint8_t>(below(256)));
            break;
          case 4: {
            const bytes& other = seeds[below(seeds.size())];
            input.insert(input.end(), other.begin(), other.end());
            break;
          }
        }
      }
    }

    frame_reader reader;
    reader.append(input);
    // Each frame consumes at least two bytes, so this ends.
    for (std::size_t frames = 0; frames <= input.size(); ++frames) {
      auto next = reader.next();
      if (!next) {
        EXPECT_NE(next.error().code.value(), 0);
        ++failed_count;
        break;
      }
      if (!next->has_value()) break;
      for (std::uint8_t level : {v3, v5}) {
        auto p = decode(**next, level);
        if (p) {
          ++decoded_count;
          check_round_trip(*p, level);
        } else {
          EXPECT_TRUE(is_failure(reason_of(p.error().code))) << p.error().message;
          ++failed_count;
        }
      }
    }
  }
  // The mutations must reach both outcomes, or the test proves little.
  EXPECT_GT(decoded_count, 1000u);
  EXPECT_GT(failed_count, 1000u);
}

}  // namespace
}  // namespace airfleet::mqtt
