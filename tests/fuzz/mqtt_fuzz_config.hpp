// The first byte of every mqtt_decoder_fuzz input: how the rest, the byte
// stream a peer sends, is read. Shared with make_mqtt_corpus.cpp, which
// writes seeds for each setting.
//
//   bit 0     the connection's protocol level: 0 -> 4 (3.1.1), 1 -> 5
//   bits 1-2  codec_limits::max_packet_size: the default, 16, 64 or 512 bytes
//   bit 3     tight limits for the rest: topics of 16 bytes, 2 properties,
//             1 user property, 2 filters per SUBSCRIBE
//   bits 4-7  how the stream arrives: 0 in one append, n in chunks of
//             1..2n bytes (the byte a chunk starts with picks its length)
#pragma once

#include "mqtt/codec.hpp"

#include <cstddef>
#include <cstdint>

namespace airfleet::mqtt::fuzz {

inline constexpr std::uint8_t config_level_5 = 0x01;
inline constexpr std::uint8_t config_packet_size_512 = 0x06;
inline constexpr std::uint8_t config_tight_limits = 0x08;
inline constexpr std::uint8_t config_chunks(std::uint8_t scale) { return static_cast<std::uint8_t>(scale << 4); }

struct fuzz_config {
  std::uint8_t level = protocol_level_3_1_1;
  codec_limits limits;
  std::size_t chunk_scale = 0;  // 0: one append
};

inline fuzz_config read_config(std::uint8_t byte) {
  fuzz_config config;
  config.level = (byte & config_level_5) ? protocol_level_5 : protocol_level_3_1_1;
  constexpr std::size_t packet_sizes[] = {0, 16, 64, 512};
  if (const std::size_t size = packet_sizes[(byte >> 1) & 0x03]; size != 0) config.limits.max_packet_size = size;
  if (byte & config_tight_limits) {
    config.limits.max_topic_length = 16;
    config.limits.max_properties = 2;
    config.limits.max_user_properties = 1;
    config.limits.max_subscriptions_per_packet = 2;
  }
  config.chunk_scale = byte >> 4;
  return config;
}

}  // namespace airfleet::mqtt::fuzz
