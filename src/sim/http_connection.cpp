#include "sim/http_connection.hpp"

#include "core/strings.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <charconv>

namespace airfleet::sim {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

constexpr auto as_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t piece_size = 64 * 1024;

// Errors are made by functions, never braced inside a co_await or co_return
// (GCC 12 destroys such temporaries twice; see s3_api.cpp).
core::error http_failure(const std::string& what) {
  return core::error{std::make_error_code(std::errc::io_error), what};
}
core::error invalid_url(std::string_view url, const std::string& why) {
  return core::error{std::make_error_code(std::errc::invalid_argument),
                     "'" + std::string(url) + "' is not an http(s) URL: " + why};
}

bool is_ip_address(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// A failure that means the server closed a kept-alive connection before it
// read our request.
bool closed_by_peer(const boost::system::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated;
}

}  // namespace

std::string http_origin::host_header() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string out = v6 ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

core::result<http_url> parse_http_url(std::string_view url) {
  http_url out;
  std::string_view rest;
  if (url.starts_with("http://")) rest = url.substr(7);
  else if (url.starts_with("https://")) {
    out.origin.tls = true;
    rest = url.substr(8);
  } else {
    return invalid_url(url, "the scheme must be http or https");
  }
  const auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) return invalid_url(url, "user info is not supported");
  std::string_view port_text;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return invalid_url(url, "unterminated IPv6 address");
    out.origin.host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid_url(url, "junk after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    out.origin.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.origin.host.empty()) return invalid_url(url, "no host");
  out.origin.port = out.origin.tls ? 443 : 80;
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
      return invalid_url(url, "bad port");
    out.origin.port = static_cast<std::uint16_t>(port);
  }
  if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  out.target = target.empty() ? std::string("/") : std::string(target);
  if (out.target.front() == '?') out.target.insert(0, "/");
  return out;
}

std::optional<std::string_view> http_response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (core::iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

http_connection::http_connection(asio::any_io_executor executor, asio::ssl::context* tls, http_origin origin,
                                 std::chrono::milliseconds timeout)
    : executor_(std::move(executor)), tls_(tls), origin_(std::move(origin)), timeout_(timeout) {
  // Beast sizes each read by the buffer's free capacity, at least 512 bytes:
  // without room a 64 KiB body arrives in ~130 reads of 512 bytes.
  buffer_.reserve(piece_size);
}

beast::tcp_stream& http_connection::tcp() { return secure_ ? secure_->next_layer() : *plain_; }

void http_connection::close() {
  if (plain_ || secure_) {
    boost::system::error_code ignored;
    auto& socket = tcp().socket();
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }
  secure_.reset();
  plain_.reset();
  connected_ = false;
  buffer_.clear();
}

asio::awaitable<boost::system::error_code> http_connection::connect() {
  close();
  asio::ip::tcp::resolver resolver(executor_);
  auto [resolve_ec, found] = co_await resolver.async_resolve(origin_.host, std::to_string(origin_.port), as_tuple);
  if (resolve_ec) co_return resolve_ec;
  if (origin_.tls) {
    if (!tls_) co_return asio::error::make_error_code(asio::error::operation_not_supported);
    secure_.emplace(executor_, *tls_);
  } else {
    plain_.emplace(executor_);
  }
  tcp().expires_after(timeout_);
  auto [connect_ec, endpoint] = co_await tcp().async_connect(found, as_tuple);
  if (connect_ec) co_return connect_ec;
  boost::system::error_code ignored;
  tcp().socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  if (secure_) {
    if (!is_ip_address(origin_.host)) SSL_set_tlsext_host_name(secure_->native_handle(), origin_.host.c_str());
    secure_->set_verify_callback(asio::ssl::host_name_verification(origin_.host));
    tcp().expires_after(timeout_);
    auto [handshake_ec] = co_await secure_->async_handshake(asio::ssl::stream_base::client, as_tuple);
    if (handshake_ec) co_return handshake_ec;
  }
  connected_ = true;
  co_return boost::system::error_code{};
}

asio::awaitable<core::result<http_response>> http_connection::send(http_request request, std::size_t body_limit) {
  return send_streamed(std::move(request), body_limit, nullptr);
}

asio::awaitable<core::result<http_response>> http_connection::send_streamed(
    http_request request, std::size_t body_limit, std::function<void(std::string_view)> on_data) {
  request.set(bhttp::field::host, origin_.host_header());
  request.keep_alive(true);
  request.prepare_payload();
  const auto* sink = on_data ? &on_data : nullptr;
  for (int attempt = 0;; ++attempt) {
    const bool reused = connected_;
    if (!connected_) {
      auto ec = co_await connect();
      if (ec) {
        close();
        co_return http_failure("connecting to " + origin_.host_header() + ": " + ec.message());
      }
    }
    bool nothing_received = false;
    auto response = co_await exchange(request, body_limit, sink, nothing_received);
    if (response || !reused || !nothing_received || attempt > 0) co_return response;
    // The server had closed the idle connection: once more on a new one.
  }
}

asio::awaitable<core::result<http_response>> http_connection::exchange(
    http_request& request, std::size_t body_limit, const std::function<void(std::string_view)>* on_data,
    bool& nothing_received) {
  if (secure_) co_return co_await exchange_on(*secure_, request, body_limit, on_data, nothing_received);
  co_return co_await exchange_on(*plain_, request, body_limit, on_data, nothing_received);
}

template <class Stream>
asio::awaitable<core::result<http_response>> http_connection::exchange_on(
    Stream& stream, http_request& request, std::size_t body_limit,
    const std::function<void(std::string_view)>* on_data, bool& nothing_received) {
  auto fail = [&](const char* step, const boost::system::error_code& ec) {
    close();
    return http_failure(std::string(step) + " " + origin_.host_header() + ": " + ec.message());
  };
  tcp().expires_after(timeout_);
  auto [write_ec, written] = co_await bhttp::async_write(stream, request, as_tuple);
  if (write_ec) {
    nothing_received = closed_by_peer(write_ec);
    co_return fail("sending to", write_ec);
  }
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(body_limit);
  tcp().expires_after(timeout_);
  auto [header_ec, header_bytes] = co_await bhttp::async_read_header(stream, buffer_, parser, as_tuple);
  if (header_ec) {
    nothing_received = closed_by_peer(header_ec) && header_bytes == 0;
    co_return fail("reading the response from", header_ec);
  }
  http_response out;
  out.status = parser.get().result_int();
  for (const auto& field : parser.get()) out.headers.emplace_back(field.name_string(), field.value());
  if (piece_.size() < piece_size) piece_.resize(piece_size);
  while (!parser.is_done()) {
    parser.get().body().data = piece_.data();
    parser.get().body().size = piece_.size();
    tcp().expires_after(timeout_);
    auto [read_ec, read_bytes] = co_await bhttp::async_read(stream, buffer_, parser, as_tuple);
    if (read_ec == bhttp::error::need_buffer) read_ec = {};
    if (read_ec) co_return fail("reading the body from", read_ec);
    const std::size_t got = piece_.size() - parser.get().body().size;
    if (got == 0) continue;
    const std::string_view data(piece_.data(), got);
    if (on_data) (*on_data)(data);
    else out.body.append(data);
  }
  if (!parser.get().keep_alive()) close();
  co_return out;
}

}  // namespace airfleet::sim
