// The HTTP listener: accepts connections, reads requests with explicit limits
// and timeouts, hands each to a handler coroutine, and writes the response.
//
// Limits (all named settings): header bytes, body bytes, time to receive a
// request's headers, idle time between keep-alive requests, time to receive
// a body, and connections open at once (beyond it new ones are closed at
// once). A peer that breaks a limit gets a clear error response when HTTP
// still allows one, else a clean close; no other connection notices.
//
// Shutdown: stop() closes the acceptor, lets requests being handled finish
// and write their responses, and closes idle connections; wait() returns
// once every session has ended.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace airfleet::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using request = beast::http::request<beast::http::string_body>;
using response = beast::http::response<beast::http::string_body>;

struct request_context {
  std::string request_id;
  std::string operation;  // filled in by the handler, for the access log
  std::string remote;     // peer address:port
};

using handler = std::function<asio::awaitable<response>(request&, request_context&)>;
// Builds the error response the clients of this listener understand, for
// failures found before a handler runs (body too large, malformed request).
using error_responder = std::function<response(beast::http::status, std::string_view code, std::string_view message,
                                               const request_context&)>;

struct limits {
  std::size_t header_bytes = 16 * 1024;
  std::size_t body_bytes = 1024 * 1024;
  std::chrono::seconds header_timeout{30};
  std::chrono::seconds idle_timeout{120};
  std::chrono::seconds body_timeout{120};
  std::size_t max_connections = 16000;
};

class server : public std::enable_shared_from_this<server> {
 public:
  // With `tls`, every connection is TLS (the same API over HTTPS).
  server(asio::io_context& io, limits lim, handler h, error_responder errors, asio::ssl::context* tls = nullptr);
  // Binds host:port (port 0 picks a free one); returns the bound endpoint.
  asio::ip::tcp::endpoint listen(const std::string& host, std::uint16_t port);
  void start();
  void stop();
  std::size_t open_connections() const { return connections_.load(); }

 private:
  struct session_registry;
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(asio::ip::tcp::socket socket);
  template <class Stream>
  asio::awaitable<void> serve_requests(Stream& stream, beast::tcp_stream& transport, request_context& ctx);

  asio::io_context& io_;
  limits limits_;
  handler handler_;
  error_responder errors_;
  asio::ssl::context* tls_;  // null: plain HTTP
  asio::ip::tcp::acceptor acceptor_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> next_request_{0};

  std::mutex sessions_mutex_;
  // Streams of idle sessions (waiting for a request), so stop() can close them.
  std::set<beast::tcp_stream*> idle_;  // guarded by sessions_mutex_
};

}  // namespace airfleet::http
