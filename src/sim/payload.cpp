#include "sim/payload.hpp"

#include <cassert>

namespace airfleet::sim {

namespace {

template <class T>
void put(std::uint8_t* out, T value) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

template <class T>
T get(const std::uint8_t* in) {
  T value = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) value |= static_cast<T>(in[i]) << (8 * i);
  return value;
}

}  // namespace

void write_stamp(std::span<std::uint8_t> payload, const payload_stamp& stamp) {
  assert(payload.size() >= payload_stamp_size);
  std::uint8_t* out = payload.data();
  put(out, stamp.run);
  put(out + 4, stamp.publisher);
  put(out + 8, stamp.sequence);
  put(out + 16, stamp.sent_ns);
}

std::optional<payload_stamp> read_stamp(std::span<const std::uint8_t> payload) {
  if (payload.size() < payload_stamp_size) return std::nullopt;
  const std::uint8_t* in = payload.data();
  return payload_stamp{get<std::uint32_t>(in), get<std::uint32_t>(in + 4), get<std::uint64_t>(in + 8),
                       get<std::uint64_t>(in + 16)};
}

}  // namespace airfleet::sim
