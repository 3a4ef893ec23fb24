#include "sim/packet_ids.hpp"

#include <algorithm>
#include <cassert>

namespace airfleet::sim {

std::uint16_t packet_ids::allocate() {
  assert(in_flight_ < 65535);
  std::uint16_t id = 0;
  do {
    id = next_;
    next_ = next_ == 65535 ? 1 : static_cast<std::uint16_t>(next_ + 1);
  } while (id < in_use_.size() && in_use_[id]);
  if (id >= in_use_.size())
    in_use_.resize(std::min<std::size_t>(65536, std::max<std::size_t>(id + 1, in_use_.size() * 2)));
  in_use_[id] = true;
  ++in_flight_;
  return id;
}

bool packet_ids::release(std::uint16_t id) {
  if (id >= in_use_.size() || !in_use_[id]) return false;
  in_use_[id] = false;
  --in_flight_;
  return true;
}

}  // namespace airfleet::sim
