// MQTT reason codes, and the error category that carries them.
//
// MQTT 5.0 (OASIS, section 2.4) reports the outcome of an operation as a
// one-byte Reason Code: below 0x80 success, 0x80 and above failure. The same
// value means the same thing in every packet that may carry it (the spec's
// table lists which packets may carry which code; the codec checks that).
// MQTT 3.1.1 has only the CONNACK return codes 0..5 and the SUBACK return
// codes 0, 1, 2 and 0x80; the functions below translate.
//
// A decode failure is a core::error whose code is a `reason_code` in the
// "airfleet.mqtt" category: the broker answers a v5 peer with exactly that
// code (a CONNACK during the connect, otherwise a DISCONNECT) and simply closes
// a v3.1.1 connection, except during the connect, where the v3.1.1 return
// code (to_connect_return_code) is sent when one exists.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace airfleet::mqtt {

enum class reason_code : std::uint8_t {
  success = 0x00,
  normal_disconnection = 0x00,
  granted_qos_0 = 0x00,
  granted_qos_1 = 0x01,
  granted_qos_2 = 0x02,
  disconnect_with_will_message = 0x04,
  no_matching_subscribers = 0x10,
  no_subscription_existed = 0x11,
  continue_authentication = 0x18,
  re_authenticate = 0x19,
  unspecified_error = 0x80,
  malformed_packet = 0x81,
  protocol_error = 0x82,
  implementation_specific_error = 0x83,
  unsupported_protocol_version = 0x84,
  client_identifier_not_valid = 0x85,
  bad_user_name_or_password = 0x86,
  not_authorized = 0x87,
  server_unavailable = 0x88,
  server_busy = 0x89,
  banned = 0x8A,
  server_shutting_down = 0x8B,
  bad_authentication_method = 0x8C,
  keep_alive_timeout = 0x8D,
  session_taken_over = 0x8E,
  topic_filter_invalid = 0x8F,
  topic_name_invalid = 0x90,
  packet_identifier_in_use = 0x91,
  packet_identifier_not_found = 0x92,
  receive_maximum_exceeded = 0x93,
  topic_alias_invalid = 0x94,
  packet_too_large = 0x95,
  message_rate_too_high = 0x96,
  quota_exceeded = 0x97,
  administrative_action = 0x98,
  payload_format_invalid = 0x99,
  retain_not_supported = 0x9A,
  qos_not_supported = 0x9B,
  use_another_server = 0x9C,
  server_moved = 0x9D,
  shared_subscriptions_not_supported = 0x9E,
  connection_rate_exceeded = 0x9F,
  maximum_connect_time = 0xA0,
  subscription_identifiers_not_supported = 0xA1,
  wildcard_subscriptions_not_supported = 0xA2,
};

constexpr bool is_failure(reason_code code) { return static_cast<std::uint8_t>(code) >= 0x80; }

// MQTT 3.1.1 CONNACK return codes (section 3.2.2.3).
enum class connect_return_code : std::uint8_t {
  accepted = 0x00,
  unacceptable_protocol_version = 0x01,
  identifier_rejected = 0x02,
  server_unavailable = 0x03,
  bad_user_name_or_password = 0x04,
  not_authorized = 0x05,
};

// The 3.1.1 return code closest to a v5 CONNACK reason code. Codes 3.1.1 has
// no word for become server_unavailable (the spec's "the MQTT service is
// unavailable" is the least misleading answer a v3.1.1 client can act on).
constexpr connect_return_code to_connect_return_code(reason_code code) {
  switch (code) {
    case reason_code::success: return connect_return_code::accepted;
    case reason_code::unsupported_protocol_version: return connect_return_code::unacceptable_protocol_version;
    case reason_code::client_identifier_not_valid: return connect_return_code::identifier_rejected;
    case reason_code::bad_user_name_or_password: return connect_return_code::bad_user_name_or_password;
    case reason_code::not_authorized:
    case reason_code::banned: return connect_return_code::not_authorized;
    default: return connect_return_code::server_unavailable;
  }
}

// The inverse; nullopt-free because every 3.1.1 code has a v5 twin. Values
// outside 0..5 are the caller's to refuse (the decoder does).
constexpr reason_code from_connect_return_code(connect_return_code code) {
  switch (code) {
    case connect_return_code::accepted: return reason_code::success;
    case connect_return_code::unacceptable_protocol_version: return reason_code::unsupported_protocol_version;
    case connect_return_code::identifier_rejected: return reason_code::client_identifier_not_valid;
    case connect_return_code::server_unavailable: return reason_code::server_unavailable;
    case connect_return_code::bad_user_name_or_password: return reason_code::bad_user_name_or_password;
    case connect_return_code::not_authorized: return reason_code::not_authorized;
  }
  return reason_code::server_unavailable;
}

// 3.1.1 SUBACK return codes: the granted QoS 0, 1, 2, or 0x80 for any failure.
constexpr std::uint8_t to_suback_return_code_3_1_1(reason_code code) {
  return is_failure(code) ? 0x80 : static_cast<std::uint8_t>(code);
}

// The spec's name for a code ("Malformed Packet"); "Success" for 0x00, whose
// other names (Normal disconnection, Granted QoS 0) depend on the packet.
std::string_view to_string(reason_code code);

const std::error_category& mqtt_category();
std::error_code make_error_code(reason_code code);

// The reason code an error carries: its value when it is in mqtt_category(),
// otherwise unspecified_error.
reason_code reason_of(const std::error_code& code);

}  // namespace airfleet::mqtt

template <>
struct std::is_error_code_enum<airfleet::mqtt::reason_code> : std::true_type {};
