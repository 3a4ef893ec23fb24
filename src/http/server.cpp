#include "http/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/beast/ssl.hpp>

#include <cstdio>

namespace airfleet::http {

namespace bhttp = beast::http;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

namespace {
constexpr auto as_tuple = asio::as_tuple(use_awaitable);

std::string make_request_id(std::uint64_t n) {
  static const std::string prefix = [] {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
    return std::string(buf);
  }();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s-%012llx", prefix.c_str(), static_cast<unsigned long long>(n));
  return buf;
}
}  // namespace

server::server(asio::io_context& io, limits lim, handler h, error_responder errors, asio::ssl::context* tls)
    : io_(io), limits_(lim), handler_(std::move(h)), errors_(std::move(errors)), tls_(tls), acceptor_(io) {}

tcp::endpoint server::listen(const std::string& host, std::uint16_t port) {
  tcp::endpoint endpoint(asio::ip::make_address(host), port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  return acceptor_.local_endpoint();
}

void server::start() {
  asio::co_spawn(acceptor_.get_executor(), [self = shared_from_this()] { return self->accept_loop(); },
                 asio::detached);
}

void server::stop() {
  if (stopping_.exchange(true)) return;
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
  std::lock_guard lock(sessions_mutex_);
  for (auto* stream : idle_) {
    // Runs on the session's strand: it is waiting for a request, so ending
    // its read ends the session without cutting a response short.
    asio::post(stream->get_executor(), [stream, self = shared_from_this()] {
      std::lock_guard inner(self->sessions_mutex_);
      if (self->idle_.count(stream)) stream->cancel();
    });
  }
}

asio::awaitable<void> server::accept_loop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), as_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping_) break;
      // Out of file descriptors or similar: back off a little, keep serving.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await pause.async_wait(as_tuple);
      continue;
    }
    if (connections_.load() >= limits_.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);  // over the limit: refuse at once rather than degrade everyone
      continue;
    }
    ++connections_;
    auto executor = socket.get_executor();
    asio::co_spawn(executor, session(std::move(socket)), [self = shared_from_this()](std::exception_ptr e) {
      --self->connections_;
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("http session ended by an exception: {}", ex.what());
        }
      }
    });
  }
}

asio::awaitable<void> server::session(tcp::socket socket) {
  request_context ctx;
  {
    boost::system::error_code ec;
    auto remote = socket.remote_endpoint(ec);
    if (!ec) ctx.remote = remote.address().to_string() + ":" + std::to_string(remote.port());
  }
  if (!tls_) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve_requests(stream, stream, ctx);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls_);
  auto& transport = beast::get_lowest_layer(stream);
  transport.expires_after(limits_.header_timeout);
  auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, as_tuple);
  if (!handshake_ec) {
    co_await serve_requests(stream, transport, ctx);
    transport.expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(as_tuple);
  }
  boost::system::error_code ignored;
  transport.socket().close(ignored);
}

template <class Stream>
asio::awaitable<void> server::serve_requests(Stream& stream, beast::tcp_stream& transport, request_context& ctx) {
  beast::flat_buffer buffer(8192);
  auto mark_idle = [&](bool idle) {
    std::lock_guard lock(sessions_mutex_);
    if (idle) idle_.insert(&transport);
    else idle_.erase(&transport);
  };
  bool first = true;
  while (!stopping_) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits_.header_bytes));
    parser.body_limit(limits_.body_bytes);

    // Headers must arrive within the header timeout (a new connection) or
    // the idle timeout (keep-alive).
    transport.expires_after(first ? limits_.header_timeout : limits_.idle_timeout);
    mark_idle(true);
    if (stopping_) {
      mark_idle(false);
      break;
    }
    auto [header_ec, header_bytes] = co_await bhttp::async_read_header(stream, buffer, parser, as_tuple);
    mark_idle(false);
    first = false;
    if (header_ec) {
      if (header_ec == bhttp::error::header_limit) {
        ctx.request_id = make_request_id(next_request_++);
        auto res = errors_(bhttp::status::request_header_fields_too_large, "RequestHeaderFieldsTooLarge",
                           "The request headers are larger than " + std::to_string(limits_.header_bytes) + " bytes",
                           ctx);
        res.keep_alive(false);
        res.prepare_payload();
        transport.expires_after(std::chrono::seconds(10));
        co_await bhttp::async_write(stream, res, as_tuple);
      } else if (header_ec != bhttp::error::end_of_stream && header_ec != beast::error::timeout &&
                 header_ec != asio::error::operation_aborted && header_ec != asio::error::connection_reset &&
                 header_ec != asio::error::eof) {
        ctx.request_id = make_request_id(next_request_++);
        auto res = errors_(bhttp::status::bad_request, "BadRequest", "Malformed HTTP request: " + header_ec.message(), ctx);
        res.keep_alive(false);
        res.prepare_payload();
        transport.expires_after(std::chrono::seconds(10));
        co_await bhttp::async_write(stream, res, as_tuple);
      }
      break;
    }

    auto started = std::chrono::steady_clock::now();
    ctx.request_id = make_request_id(next_request_++);
    ctx.operation.clear();

    // Honour "Expect: 100-continue" (the AWS CLI sends it on uploads).
    auto& header = parser.get();
    if (beast::iequals(header[bhttp::field::expect], "100-continue") && !parser.is_done()) {
      if (parser.content_length() && *parser.content_length() > limits_.body_bytes) {
        auto res = errors_(bhttp::status::payload_too_large, "RequestEntityTooLargeException",
                           "The request body is larger than " + std::to_string(limits_.body_bytes) + " bytes", ctx);
        res.keep_alive(false);
        res.prepare_payload();
        co_await bhttp::async_write(stream, res, as_tuple);
        break;
      }
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, header.version()};
      co_await bhttp::async_write(stream, cont, as_tuple);
    }

    transport.expires_after(limits_.body_timeout);
    auto [body_ec, body_bytes] = co_await bhttp::async_read(stream, buffer, parser, as_tuple);
    if (body_ec) {
      if (body_ec == bhttp::error::body_limit) {
        auto res = errors_(bhttp::status::payload_too_large, "RequestEntityTooLargeException",
                           "The request body is larger than " + std::to_string(limits_.body_bytes) + " bytes", ctx);
        res.keep_alive(false);
        res.prepare_payload();
        transport.expires_after(std::chrono::seconds(10));
        co_await bhttp::async_write(stream, res, as_tuple);
        spdlog::info("request_id={} remote={} operation=- status=413 latency_ms=0", ctx.request_id, ctx.remote);
      }
      break;  // a body that stops half way, or times out: close cleanly
    }

    request req = parser.release();
    transport.expires_never();
    response res;
    try {
      res = co_await handler_(req, ctx);
    } catch (const std::exception& e) {
      spdlog::error("request_id={} handler failed: {}", ctx.request_id, e.what());
      res = errors_(bhttp::status::internal_server_error, "InternalFailureException", "Internal failure", ctx);
    }
    res.version(req.version());
    bool keep = req.keep_alive() && !stopping_;
    res.keep_alive(keep);
    res.set("x-amzn-RequestId", ctx.request_id);
    res.prepare_payload();
    transport.expires_after(limits_.body_timeout);
    auto [write_ec, written] = co_await bhttp::async_write(stream, res, as_tuple);
    auto latency = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    spdlog::info("request_id={} remote={} operation={} status={} latency_ms={:.2f}", ctx.request_id, ctx.remote,
                 ctx.operation.empty() ? "-" : ctx.operation, res.result_int(), latency);
    if (write_ec || !keep) break;
  }
}

}  // namespace airfleet::http
