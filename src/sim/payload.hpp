// The stamp at the front of every benchmark payload.
//
// Counting happens on the subscriber side, so each message carries what the
// subscriber needs to judge it without asking the publisher: which run it
// belongs to (a random number per sim process, so messages from another run
// on the same broker are told apart), which publisher sent it, that
// publisher's sequence number (loss and duplicates), and the send time on
// the sim's steady clock (latency; publisher and subscriber share the
// process, so no clock synchronisation is needed). The rest of the payload
// is filler up to --payload bytes.
//
// Layout, little-endian: run (4) | publisher (4) | sequence (8) | sent_ns (8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace airfleet::sim {

inline constexpr std::size_t payload_stamp_size = 24;

struct payload_stamp {
  std::uint32_t run = 0;
  std::uint32_t publisher = 0;
  std::uint64_t sequence = 0;
  std::uint64_t sent_ns = 0;  // steady clock, nanoseconds since its epoch
};

// Precondition: payload.size() >= payload_stamp_size.
void write_stamp(std::span<std::uint8_t> payload, const payload_stamp& stamp);

// nullopt when the payload is too short to hold a stamp.
std::optional<payload_stamp> read_stamp(std::span<const std::uint8_t> payload);

}  // namespace airfleet::sim
