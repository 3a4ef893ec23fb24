// Local addresses to bind client sockets to, from an IPv4 range.
//
// A TCP connection is told apart by (source address, source port,
// destination address, destination port). Towards one broker port, one
// source address gives about 28,000 connections before the ephemeral ports
// (32768-60999 by default) run out. Loopback answers on all of 127.0.0.0/8,
// so spreading clients over that range lifts the limit: client i gets the
// range's i-th host address, wrapping around.
#pragma once

#include "core/error.hpp"

#include <boost/asio/ip/address_v4.hpp>

#include <cstdint>
#include <string_view>

namespace airfleet::sim {

class source_addresses {
 public:
  // "127.0.0.0/8", or a single address ("127.0.0.5", the same as /32).
  static core::result<source_addresses> parse(std::string_view cidr);

  // The address for client `index`: host addresses in order, the network and
  // broadcast addresses left out for prefixes up to /30.
  boost::asio::ip::address_v4 address_for(std::uint64_t index) const;
  std::uint64_t size() const { return count_; }

 private:
  source_addresses(std::uint32_t first, std::uint64_t count) : first_(first), count_(count) {}
  std::uint32_t first_;
  std::uint64_t count_;
};

}  // namespace airfleet::sim
