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
#include <span>
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

using request_header = beast::http::request_header<>;
using response_header = beast::http::response_header<>;

// A request whose handler reads the body itself, piece by piece, and writes
// the response itself (S3 object bodies: up to 5 GiB, never whole in memory).
// "Expect: 100-continue" is answered when the handler first reads the body;
// a handler that answers without reading all of it ends the connection
// after the response (the rest of the body is never read).
class exchange {
 public:
  virtual ~exchange() = default;
  virtual const request_header& header() const = 0;
  virtual request_context& context() = 0;
  // Reads the next piece of the body into `out`; returns 0 once the body is
  // complete. A peer that stops sending, times out (body timeout per piece)
  // or breaks the framing sets `ec`.
  virtual asio::awaitable<std::size_t> read_body(std::span<char> out, boost::system::error_code& ec) = 0;
  virtual bool body_done() const = 0;
  // A whole response with an in-memory body (errors, XML documents).
  virtual asio::awaitable<bool> respond(response res) = 0;
  // A response whose body follows: `h` must carry Content-Length, then
  // exactly that many bytes follow through write_body / write_file (none for
  // HEAD). False: the peer is gone; stop.
  virtual asio::awaitable<bool> write_header(response_header& h) = 0;
  virtual asio::awaitable<bool> write_body(std::string_view data) = 0;
  // `n` bytes of file `fd` from `offset`: sendfile(2) on plain TCP (zero
  // copy), read-and-write through TLS.
  virtual asio::awaitable<bool> write_file(int fd, std::uint64_t offset, std::uint64_t n) = 0;
  // Whether a response has started (after which only abort() is left).
  virtual bool responded() const = 0;
  // Ends the connection after this exchange, cutting a body short: for a
  // failure found after the headers went out.
  virtual void abort() = 0;
};

// Requests the streaming handler claims (decided from the headers alone)
// bypass the in-memory body limit and go to `handle`.
struct streaming {
  std::function<bool(const request_header&)> claims;
  std::function<asio::awaitable<void>(exchange&)> handle;
  std::uint64_t body_bytes = (5ULL << 30) + (64ULL << 20);  // 5 GiB + aws-chunked framing
};

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
  // Routes the requests `s.claims` picks to `s.handle` (call before start()).
  void set_streaming(streaming s) { streaming_ = std::move(s); }
  void start();
  void stop();
  std::size_t open_connections() const { return connections_.load(); }

 private:
  struct session_registry;
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(asio::ip::tcp::socket socket);
  template <class Stream>
  asio::awaitable<void> serve_requests(Stream& stream, beast::tcp_stream& transport, request_context& ctx);
  template <class Stream>
  asio::awaitable<bool> serve_streaming(Stream& stream, beast::tcp_stream& transport, beast::flat_buffer& buffer,
                                        beast::http::request_parser<beast::http::string_body>& parser,
                                        request_context& ctx);

  asio::io_context& io_;
  limits limits_;
  handler handler_;
  error_responder errors_;
  streaming streaming_;
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
