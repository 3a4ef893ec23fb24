// One client connection's byte stream: TCP, or TLS over TCP.
//
// connect() opens the socket, binds it to a chosen local address when asked
// (see source_addresses.hpp; IP_BIND_ADDRESS_NO_PORT lets the kernel pick
// the port at connect time, so binding does not use up ports early), turns
// Nagle off (the client batches its own writes) and, with TLS, runs the
// handshake. One read and one write may be outstanding at once, from the
// same strand; close() ends both.
#pragma once

#include "sim/tls_client.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>

namespace airfleet::sim {

class transport {
 public:
  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;

  // `tls` is null for plain TCP; otherwise it must outlive the transport.
  transport(boost::asio::any_io_executor executor, tls_client* tls);

  // `identity_index` picks the client certificate when there are several.
  boost::asio::awaitable<error_code> connect(const tcp::endpoint& remote,
                                             std::optional<boost::asio::ip::address> source,
                                             std::uint64_t identity_index);
  boost::asio::awaitable<std::tuple<error_code, std::size_t>> read_some(boost::asio::mutable_buffer buffer);
  // Writes all of `buffer`.
  boost::asio::awaitable<std::tuple<error_code, std::size_t>> write(boost::asio::const_buffer buffer);
  void close();

 private:
  tcp::socket& socket() { return tls_stream_ ? tls_stream_->next_layer() : *plain_; }

  boost::asio::any_io_executor executor_;
  tls_client* tls_;
  std::optional<tcp::socket> plain_;                                 // without TLS
  std::optional<boost::asio::ssl::stream<tcp::socket>> tls_stream_;  // with TLS
};

}  // namespace airfleet::sim
