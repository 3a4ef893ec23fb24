#include "sim/transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <openssl/ssl.h>

namespace airfleet::sim {

namespace asio = boost::asio;

namespace {
constexpr auto as_tuple = asio::as_tuple(asio::use_awaitable);

#ifdef IP_BIND_ADDRESS_NO_PORT
using bind_address_no_port = asio::detail::socket_option::boolean<IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT>;
#endif
}  // namespace

transport::transport(asio::any_io_executor executor, tls_client* tls) : executor_(std::move(executor)), tls_(tls) {}

asio::awaitable<transport::error_code> transport::connect(const tcp::endpoint& remote,
                                                          std::optional<asio::ip::address> source,
                                                          std::uint64_t identity_index) {
  if (tls_) tls_stream_.emplace(executor_, tls_->context());
  else plain_.emplace(executor_);
  auto& s = socket();
  error_code ec;
  s.open(remote.protocol(), ec);
  if (ec) co_return ec;
  s.set_option(tcp::no_delay(true), ec);
  if (source) {
#ifdef IP_BIND_ADDRESS_NO_PORT
    if (source->is_v4()) s.set_option(bind_address_no_port(true), ec);
#endif
    s.bind(tcp::endpoint(*source, 0), ec);
    if (ec) co_return ec;
  }
  auto [connect_ec] = co_await s.async_connect(remote, as_tuple);
  if (connect_ec || !tls_) co_return connect_ec;

  SSL* ssl = tls_stream_->native_handle();
  const std::string& name = tls_->server_name();
  if (!name.empty()) {
    error_code not_address;
    asio::ip::make_address(name, not_address);
    // SNI carries host names only (RFC 6066 section 3).
    if (not_address) SSL_set_tlsext_host_name(ssl, name.c_str());
    if (tls_->verifies_server()) tls_stream_->set_verify_callback(asio::ssl::host_name_verification(name));
  }
  if (!tls_->apply_identity(ssl, identity_index)) co_return asio::error::make_error_code(asio::error::invalid_argument);
  auto [handshake_ec] = co_await tls_stream_->async_handshake(asio::ssl::stream_base::client, as_tuple);
  co_return handshake_ec;
}

asio::awaitable<std::tuple<transport::error_code, std::size_t>> transport::read_some(asio::mutable_buffer buffer) {
  if (tls_stream_) co_return co_await tls_stream_->async_read_some(buffer, as_tuple);
  co_return co_await plain_->async_read_some(buffer, as_tuple);
}

asio::awaitable<std::tuple<transport::error_code, std::size_t>> transport::write(asio::const_buffer buffer) {
  if (tls_stream_) co_return co_await asio::async_write(*tls_stream_, buffer, as_tuple);
  co_return co_await asio::async_write(*plain_, buffer, as_tuple);
}

void transport::close() {
  if (!tls_stream_ && !plain_) return;
  error_code ignored;
  auto& s = socket();
  if (s.is_open()) {
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
  }
}

}  // namespace airfleet::sim
