// One keep-alive HTTP/1.1 connection from the simulator to one origin
// (scheme, host, port), over TCP or TLS, with Beast: what the rollout's API
// calls (api_client.hpp) and the devices' firmware downloads
// (download_pool.hpp) travel on.
//
// One request at a time. A request on a connection the server has closed
// meanwhile (its idle timeout) fails before any answer arrives; it is sent
// once more on a fresh connection, as HTTP clients do for idempotent
// requests and for requests that never reached the server. Every step has
// a deadline (`timeout`), and bodies are read up to a limit; a failure
// closes the connection, and the next request opens a new one.
#pragma once

#include "core/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airfleet::sim {

struct http_origin {
  bool tls = false;
  std::string host;
  std::uint16_t port = 80;

  std::string host_header() const;  // host[:port] as the Host header wants it
  bool operator==(const http_origin&) const = default;
};

struct http_url {
  http_origin origin;
  std::string target;  // path[?query], as it goes on the request line
};

// http://host[:port]/path?query or https://...
core::result<http_url> parse_http_url(std::string_view url);

using http_request = boost::beast::http::request<boost::beast::http::string_body>;

struct http_response {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // empty for a streamed body

  std::optional<std::string_view> header(std::string_view name) const;
};

class http_connection {
 public:
  // `tls` verifies the server (it must outlive the connection); only needed
  // for https origins.
  http_connection(boost::asio::any_io_executor executor, boost::asio::ssl::context* tls, http_origin origin,
                  std::chrono::milliseconds timeout);
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  const http_origin& origin() const { return origin_; }

  // Sends `request` (Host, Connection and Content-Length are set here) and
  // reads the response with a body of at most `body_limit` bytes.
  boost::asio::awaitable<core::result<http_response>> send(http_request request, std::size_t body_limit);
  // The same, handing the body to `on_data` piece by piece instead of
  // keeping it.
  boost::asio::awaitable<core::result<http_response>> send_streamed(http_request request, std::size_t body_limit,
                                                                    std::function<void(std::string_view)> on_data);
  void close();

 private:
  boost::asio::awaitable<boost::system::error_code> connect();
  boost::asio::awaitable<core::result<http_response>> exchange(http_request& request, std::size_t body_limit,
                                                               const std::function<void(std::string_view)>* on_data,
                                                               bool& nothing_received);
  template <class Stream>
  boost::asio::awaitable<core::result<http_response>> exchange_on(Stream& stream, http_request& request,
                                                                  std::size_t body_limit,
                                                                  const std::function<void(std::string_view)>* on_data,
                                                                  bool& nothing_received);
  boost::beast::tcp_stream& tcp();

  boost::asio::any_io_executor executor_;
  boost::asio::ssl::context* tls_;
  http_origin origin_;
  std::chrono::milliseconds timeout_;
  // One of the two, while connected.
  std::optional<boost::beast::tcp_stream> plain_;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> secure_;
  bool connected_ = false;
  boost::beast::flat_buffer buffer_;  // bytes read past the last response
  std::vector<char> piece_;           // streamed bodies pass through it
};

}  // namespace airfleet::sim
