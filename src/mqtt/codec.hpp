// The MQTT wire codec: bytes in, packets out, and back. No I/O, no state
// beyond the bytes not yet framed; the broker's session owns the socket and
// the protocol state (what it expects next, packet ids in flight, aliases).
//
// Two steps, as the fixed header makes natural (MQTT 3.1.1 section 2.2,
// MQTT 5.0 section 2.1):
//   frame_reader  cuts the byte stream into frames: the first byte (type and
//                 flags) and the body its Remaining Length announces;
//   decode        turns one frame into a packet, for the protocol level the
//                 connection negotiated (a CONNECT carries its own level).
// encode is the inverse of both.
//
// What the decoder refuses, and with which reason code
// (malformed_packet 0x81 unless said otherwise):
//   * Remaining Length: more than 4 bytes, or not in its shortest form
//     (MQTT 5 [MQTT-1.5.5-1]; real clients never do otherwise); a frame larger
//     than codec_limits::max_packet_size: packet_too_large 0x95, refused as
//     soon as its header is read, before its body is buffered.
//   * Fixed header flags: PUBREL, SUBSCRIBE and UNSUBSCRIBE must carry 0b0010,
//     every type but PUBLISH 0b0000; PUBLISH with QoS 3, or with DUP at QoS 0.
//     Type 0, and type 15 (AUTH) before MQTT 5.
//   * Lengths: a field running past the end of the frame, or bytes left over
//     after the last field.
//   * UTF-8 strings (3.1.1 and 5.0 section 1.5.3/1.5.4): ill-formed UTF-8
//     (overlong forms, surrogates U+D800..U+DFFF, beyond U+10FFFF, truncated
//     sequences) or U+0000. Other control characters and non-characters are
//     allowed ("SHOULD NOT" for senders, the receiver may accept them).
//   * Packet identifiers of 0 where one is required (PUBLISH QoS>0, PUBACK..
//     PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK): protocol_error 0x82.
//   * Topic names with '+' or '#', or empty (v5: unless a Topic Alias is
//     present): topic_name_invalid 0x90 / protocol_error 0x82. Topic names and
//     filters longer than max_topic_length: topic_name_invalid 0x90 /
//     topic_filter_invalid 0x8F. Filter syntax beyond "non-empty UTF-8" (where
//     '#' may stand, "$share/") is topic.hpp's business, so that the broker
//     can answer per filter in the SUBACK instead of dropping the connection.
//   * SUBSCRIBE and UNSUBSCRIBE without any filter: protocol_error 0x82;
//     subscription options with reserved bits set (3.1.1: bits 7-2; 5.0: bits
//     7-6), QoS 3; v5 Retain Handling 3: protocol_error 0x82; more filters in
//     one SUBSCRIBE than max_subscriptions_per_packet: quota_exceeded 0x97.
//   * CONNECT: protocol name other than "MQTT" (the 3.1 name "MQIsdp" gets
//     unsupported_protocol_version 0x84, anything else malformed); level other
//     than 4 or 5: unsupported_protocol_version 0x84; reserved flag bit set;
//     Will QoS or Will Retain without the Will Flag, Will QoS 3; 3.1.1: a
//     password without a user name, an empty client id without Clean Session
//     (client_identifier_not_valid 0x85, [MQTT-3.1.3-8]).
//   * Reason codes a packet type may not carry (the tables of MQTT 5 section
//     3), 3.1.1 CONNACK return codes above 5, SUBACK return codes other than
//     0, 1, 2, 0x80.
//   * MQTT 5 properties (section 2.2.2.2): an identifier not allowed in that
//     packet (or in the Will Properties), a property length running past its
//     packet: malformed 0x81. A property given twice, except User Property
//     and Subscription Identifier (but that only once in a SUBSCRIBE); a value
//     out of range (the 0/1 flags, Receive Maximum, Maximum Packet Size, Topic
//     Alias or Subscription Identifier 0; a Response Topic that is not a
//     topic name); Authentication Data without an
//     Authentication Method: protocol_error 0x82. More than max_properties
//     properties or max_user_properties user properties in one block:
//     quota_exceeded 0x97.
// Rules that depend on the connection's state (topic alias in range, packet
// id in use, a Subscription Identifier from a client, QoS above the maximum,
// no_local on a shared subscription) are the session's to check.
#pragma once

#include "core/error.hpp"
#include "mqtt/packets.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace airfleet::mqtt {

// Everything a peer controls the size of. The broker may raise them.
struct codec_limits {
  std::size_t max_packet_size = 128 * 1024 + 1024;  // AWS IoT's 128 KB message limit plus headers
  std::size_t max_topic_length = 256 * 4;           // bytes, for topic names and filters
  std::size_t max_properties = 64;                  // in one property block
  std::size_t max_subscriptions_per_packet = 8;     // AWS IoT: 8 per SUBSCRIBE
  std::size_t max_user_properties = 32;             // in one property block
};

// The largest Remaining Length four bytes can express (268,435,455).
inline constexpr std::uint32_t max_remaining_length = 0x0FFF'FFFF;

// One packet as framed on the wire: the first byte of its fixed header and
// the Remaining Length bytes after the length itself.
struct raw_frame {
  std::uint8_t first_byte = 0;
  bytes body;

  std::uint8_t type_bits() const { return first_byte >> 4; }
  std::uint8_t flags() const { return first_byte & 0x0F; }
};

// Cuts a byte stream into frames. After each append() call next() until it
// returns nullopt (more bytes needed) or an error: then the buffer never holds
// more than one frame's worth (at most max_packet_size) plus one append's
// bytes, because an oversized frame is refused from its header alone.
// Errors are sticky: once next() failed, it fails the same way forever (the
// stream has lost its framing; the connection must end).
class frame_reader {
 public:
  explicit frame_reader(const codec_limits& limits = {}) : max_packet_size_(limits.max_packet_size) {}

  void append(std::span<const std::uint8_t> data);
  core::result<std::optional<raw_frame>> next();

  // Bytes received but not yet returned as a frame.
  std::size_t buffered() const { return buffer_.size() - consumed_; }
  // For a session that learns its limit later (e.g. after CONNECT).
  void set_max_packet_size(std::size_t size) { max_packet_size_ = size; }

 private:
  std::vector<std::uint8_t> buffer_;
  std::size_t consumed_ = 0;  // bytes at the front of buffer_ already framed
  std::size_t max_packet_size_;
  std::optional<core::error> failure_;
};

// Decodes one frame for a connection at `protocol_level` (4 or 5). CONNECT
// ignores it and uses the level it carries.
core::result<packet> decode(const raw_frame& frame, std::uint8_t protocol_level, const codec_limits& limits = {});

// The protocol level a CONNECT frame announces, when its first bytes are well
// formed enough to say: so a broker can answer a CONNECT that fails to decode
// in the peer's own version (a v5 CONNACK with the reason code, a 3.1.1 return
// code, or nothing).
std::optional<std::uint8_t> connect_protocol_level(const raw_frame& frame);

// Appends the packet's encoding for `protocol_level` (4 or 5) to `out`.
// v3.1.1 encodings leave out what 3.1.1 cannot carry (properties, reason
// codes; SUBACK failures become 0x80; a CONNACK reason becomes the closest
// return code). v5 uses the short forms the spec allows: PUBACK..PUBCOMP
// without reason code and properties when the reason is success and there
// are no properties, DISCONNECT and AUTH with an empty body likewise.
// Preconditions (asserted, never from peer input): strings and binary fields
// of at most 65,535 bytes, a packet of at most max_remaining_length, no AUTH
// at level 4.
void encode(const packet& p, std::uint8_t protocol_level, std::vector<std::uint8_t>& out);
std::vector<std::uint8_t> encode(const packet& p, std::uint8_t protocol_level);

}  // namespace airfleet::mqtt
