// The broker's network side: TCP listeners (mutual TLS, or plain for
// development), one small object per connection, and the broker thread.
//
// Everything runs on one io_context driven by one thread, the same thread
// that runs the broker core, so neither needs locks. Per connection it keeps
// no read buffer: it waits for the socket to become readable and reads into
// one buffer shared by all connections, then hands the bytes to the broker.
// Writes are queued per connection and flushed once per turn of the event
// loop, so a burst of deliveries to one client costs one system call.
// TLS is OpenSSL on the socket directly (non-blocking, SSL_MODE_RELEASE_BUFFERS),
// which keeps an idle TLS connection to a few kilobytes; asio::ssl::stream
// would add two 17 KB record buffers to each.
//
// A client certificate is required on the TLS listener; OpenSSL checks that
// the peer holds its key, and the broker's authenticator decides whether the
// certificate is an identity (its chain ends at the server's CA or a
// registered CA, it is ACTIVE and known). ALPN "x-amzn-mqtt-ca" (what AWS
// SDKs send on port 443) and "mqtt" are accepted.
#pragma once

#include "mqtt/broker.hpp"

#include <boost/asio.hpp>

#include <atomic>
#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;

namespace airfleet::mqtt {

struct transport_limits {
  std::chrono::milliseconds handshake_timeout{10000};
  std::size_t max_pending_bytes = 16 * 1024 * 1024;  // unsent bytes after which a connection is cut
};

class transport {
 public:
  transport(boost::asio::io_context& io, broker& b, transport_limits limits = {});
  ~transport();
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  // Builds the TLS context for listen(): server certificate chain and key,
  // client certificates required. Throws std::runtime_error.
  static std::shared_ptr<SSL_CTX> make_tls_context(const std::string& cert_chain_path, const std::string& key_path);

  // Binds a listener (tls null: plain TCP). Returns the bound endpoint.
  boost::asio::ip::tcp::endpoint listen(const std::string& host, std::uint16_t port, std::shared_ptr<SSL_CTX> tls);
  void start();  // accept loops and the broker's tick timer
  void stop();   // stop accepting; broker.shutdown(); connections then close
  std::size_t open_connections() const { return open_->load(); }

 private:
  class conn;
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor, std::shared_ptr<SSL_CTX> tls);
  boost::asio::awaitable<void> run(std::shared_ptr<conn> c);
  boost::asio::awaitable<void> tick_loop();

  boost::asio::io_context& io_;
  broker& broker_;
  transport_limits limits_;
  struct listener {
    boost::asio::ip::tcp::acceptor acceptor;
    std::shared_ptr<SSL_CTX> tls;
  };
  std::vector<std::unique_ptr<listener>> listeners_;
  boost::asio::steady_timer tick_;
  // Read by other threads at shutdown; shared with each connection's coroutine,
  // which may be destroyed (unfinished) with the io_context after the transport.
  std::shared_ptr<std::atomic<std::size_t>> open_ = std::make_shared<std::atomic<std::size_t>>(0);
  bool stopping_ = false;
};

}  // namespace airfleet::mqtt
