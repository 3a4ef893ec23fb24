// MQTT control packets as plain values.
//
// One struct per packet type of MQTT 3.1.1 (protocol level 4) and MQTT 5.0
// (protocol level 5), and `packet`, the variant of them all. The structs are
// version-neutral: they hold the union of what the two versions can say, and
// the codec (codec.hpp) leaves out what a version cannot carry when it encodes
// (3.1.1 has no properties, no reason codes on PUBACK..PUBCOMP, UNSUBACK or
// DISCONNECT, no subscription options beyond QoS, and no AUTH packet).
//
// Binary data (payloads, passwords, correlation and authentication data) is
// `bytes`; UTF-8 strings are std::string and hold valid UTF-8 once decoded.
// Values compare with ==, which the tests and the round-trip checks rely on.
#pragma once

#include "mqtt/reason_codes.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace airfleet::mqtt {

using bytes = std::vector<std::uint8_t>;

inline constexpr std::uint8_t protocol_level_3_1_1 = 4;
inline constexpr std::uint8_t protocol_level_5 = 5;

// The four bits at the top of a fixed header's first byte.
enum class packet_type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,  // MQTT 5 only
};

enum class qos : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

// MQTT 5 properties (section 2.2.2.2). Each packet type admits only some of
// them; the decoder refuses the others, the encoder writes what is set. A
// property that may appear more than once is a vector, in wire order.
struct properties {
  std::optional<std::uint8_t> payload_format_indicator = {};    // 0x01: 0 bytes, 1 UTF-8
  std::optional<std::uint32_t> message_expiry_interval = {};    // 0x02: seconds
  std::optional<std::string> content_type = {};                 // 0x03
  std::optional<std::string> response_topic = {};               // 0x08
  std::optional<bytes> correlation_data = {};                   // 0x09
  std::vector<std::uint32_t> subscription_identifiers = {};     // 0x0B: 1..268,435,455
  std::optional<std::uint32_t> session_expiry_interval = {};    // 0x11: seconds
  std::optional<std::string> assigned_client_identifier = {};   // 0x12
  std::optional<std::uint16_t> server_keep_alive = {};          // 0x13: seconds
  std::optional<std::string> authentication_method = {};        // 0x15
  std::optional<bytes> authentication_data = {};                // 0x16
  std::optional<std::uint8_t> request_problem_information = {};   // 0x17: 0 or 1
  std::optional<std::uint32_t> will_delay_interval = {};          // 0x18: seconds
  std::optional<std::uint8_t> request_response_information = {};  // 0x19: 0 or 1
  std::optional<std::string> response_information = {};           // 0x1A
  std::optional<std::string> server_reference = {};               // 0x1C
  std::optional<std::string> reason_string = {};                  // 0x1F
  std::optional<std::uint16_t> receive_maximum = {};              // 0x21: not 0
  std::optional<std::uint16_t> topic_alias_maximum = {};          // 0x22
  std::optional<std::uint16_t> topic_alias = {};                  // 0x23: not 0
  std::optional<std::uint8_t> maximum_qos = {};                   // 0x24: 0 or 1
  std::optional<std::uint8_t> retain_available = {};              // 0x25: 0 or 1
  std::vector<std::pair<std::string, std::string>> user_properties = {};  // 0x26
  std::optional<std::uint32_t> maximum_packet_size = {};                  // 0x27: not 0
  std::optional<std::uint8_t> wildcard_subscription_available = {};       // 0x28: 0 or 1
  std::optional<std::uint8_t> subscription_identifier_available = {};     // 0x29: 0 or 1
  std::optional<std::uint8_t> shared_subscription_available = {};         // 0x2A: 0 or 1

  bool empty() const { return *this == properties{}; }
  bool operator==(const properties&) const = default;
};

struct will_message {
  std::string topic = {};
  bytes payload = {};
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;
  properties props = {};  // v5 will properties
  bool operator==(const will_message&) const = default;
};

struct connect_packet {
  std::uint8_t protocol_level = protocol_level_5;  // 4 (3.1.1) or 5; the name is always "MQTT"
  bool clean_start = true;                         // 3.1.1: Clean Session
  std::uint16_t keep_alive = 60;                   // seconds, 0 = off
  std::string client_id = {};
  std::optional<will_message> will = {};
  std::optional<std::string> username = {};
  std::optional<bytes> password = {};  // 3.1.1: only together with a username
  properties props = {};
  bool operator==(const connect_packet&) const = default;
};

struct connack_packet {
  bool session_present = false;
  // 3.1.1 return codes are carried as their v5 twins (from_connect_return_code).
  reason_code reason = reason_code::success;
  properties props = {};
  bool operator==(const connack_packet&) const = default;
};

struct publish_packet {
  bool dup = false;
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool retain = false;
  std::string topic = {};            // v5: may be empty when props.topic_alias is set
  std::uint16_t packet_id = 0;  // only for QoS 1 and 2, then not 0
  bytes payload = {};
  properties props = {};
  bool operator==(const publish_packet&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape; the four types keep
// them apart in the variant.
struct puback_packet {
  std::uint16_t packet_id = 0;
  reason_code reason = reason_code::success;  // v5
  properties props = {};                           // v5
  bool operator==(const puback_packet&) const = default;
};
struct pubrec_packet {
  std::uint16_t packet_id = 0;
  reason_code reason = reason_code::success;
  properties props = {};
  bool operator==(const pubrec_packet&) const = default;
};
struct pubrel_packet {
  std::uint16_t packet_id = 0;
  reason_code reason = reason_code::success;
  properties props = {};
  bool operator==(const pubrel_packet&) const = default;
};
struct pubcomp_packet {
  std::uint16_t packet_id = 0;
  reason_code reason = reason_code::success;
  properties props = {};
  bool operator==(const pubcomp_packet&) const = default;
};

// v5 Retain Handling (section 3.8.3.1).
enum class retain_handling : std::uint8_t {
  send_on_subscribe = 0,
  send_if_new_subscription = 1,
  do_not_send = 2,
};

struct subscription {
  std::string filter = {};
  mqtt::qos qos = mqtt::qos::at_most_once;
  bool no_local = false;             // v5
  bool retain_as_published = false;  // v5
  mqtt::retain_handling retain_handling = mqtt::retain_handling::send_on_subscribe;  // v5
  bool operator==(const subscription&) const = default;
};

struct subscribe_packet {
  std::uint16_t packet_id = 0;
  std::vector<subscription> subscriptions = {};  // at least one
  properties props = {};
  bool operator==(const subscribe_packet&) const = default;
};

struct suback_packet {
  std::uint16_t packet_id = 0;
  // One per subscription; 3.1.1 carries granted_qos_0..2 and, for any
  // failure, 0x80 (decoded as unspecified_error).
  std::vector<reason_code> reasons = {};
  properties props = {};
  bool operator==(const suback_packet&) const = default;
};

struct unsubscribe_packet {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters = {};  // at least one
  properties props = {};
  bool operator==(const unsubscribe_packet&) const = default;
};

struct unsuback_packet {
  std::uint16_t packet_id = 0;
  std::vector<reason_code> reasons = {};  // v5: one per filter; 3.1.1: none
  properties props = {};
  bool operator==(const unsuback_packet&) const = default;
};

struct pingreq_packet {
  bool operator==(const pingreq_packet&) const = default;
};
struct pingresp_packet {
  bool operator==(const pingresp_packet&) const = default;
};

struct disconnect_packet {
  reason_code reason = reason_code::normal_disconnection;  // v5
  properties props = {};                                        // v5
  bool operator==(const disconnect_packet&) const = default;
};

// MQTT 5 only (enhanced authentication, section 4.12).
struct auth_packet {
  reason_code reason = reason_code::success;
  properties props = {};
  bool operator==(const auth_packet&) const = default;
};

using packet = std::variant<connect_packet, connack_packet, publish_packet, puback_packet, pubrec_packet,
                            pubrel_packet, pubcomp_packet, subscribe_packet, suback_packet, unsubscribe_packet,
                            unsuback_packet, pingreq_packet, pingresp_packet, disconnect_packet, auth_packet>;

// The variant's alternatives are in packet-type order, one after another.
inline packet_type type_of(const packet& p) { return static_cast<packet_type>(p.index() + 1); }

}  // namespace airfleet::mqtt
