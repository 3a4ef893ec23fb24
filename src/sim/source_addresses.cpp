#include "sim/source_addresses.hpp"

#include <charconv>
#include <string>
#include <system_error>

namespace airfleet::sim {

core::result<source_addresses> source_addresses::parse(std::string_view cidr) {
  auto invalid = [&](const std::string& why) {
    return core::error{std::make_error_code(std::errc::invalid_argument),
                       "source address range '" + std::string(cidr) + "': " + why};
  };
  std::string_view address_part = cidr;
  unsigned prefix = 32;
  if (auto slash = cidr.find('/'); slash != std::string_view::npos) {
    address_part = cidr.substr(0, slash);
    auto digits = cidr.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc{} || end != digits.data() + digits.size() || prefix > 32)
      return invalid("the prefix length must be 0..32");
  }
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address_v4(std::string(address_part), ec);
  if (ec) return invalid("not an IPv4 address");

  const std::uint64_t size = std::uint64_t{1} << (32 - prefix);
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  const std::uint32_t network = address.to_uint() & mask;
  if (prefix <= 30) return source_addresses(network + 1, size - 2);  // leave out network and broadcast
  return source_addresses(network, size);
}

boost::asio::ip::address_v4 source_addresses::address_for(std::uint64_t index) const {
  return boost::asio::ip::address_v4(static_cast<std::uint32_t>(first_ + index % count_));
}

}  // namespace airfleet::sim
