// The packet ids of one connection's QoS 1 PUBLISH packets that await their
// PUBACK (MQTT 2.2.1: an id is free again once its acknowledgement arrived).
//
// Ids are handed out in turn, 1 to 65535 and round again, skipping those
// still in flight; the bitmap of ids in flight grows only as far as the
// highest id used, so a device that sends a handful of requests keeps a few
// bytes and a publisher going round all of them 8 KiB.
#pragma once

#include <cstdint>
#include <vector>

namespace airfleet::sim {

class packet_ids {
 public:
  // A free id, now in flight. The caller keeps fewer than 65535 in flight.
  std::uint16_t allocate();
  // False when `id` was not in flight (a PUBACK nobody asked for).
  bool release(std::uint16_t id);
  std::uint16_t in_flight() const { return in_flight_; }

 private:
  std::vector<bool> in_use_;  // by id; beyond its end, none is
  std::uint16_t next_ = 1;
  std::uint16_t in_flight_ = 0;
};

}  // namespace airfleet::sim
