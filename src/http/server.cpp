#include "http/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/ssl.hpp>

#include <sys/sendfile.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <type_traits>

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
  // A body over the limit: 413, then the connection closes.
  auto too_large = [&]() -> asio::awaitable<void> {
    auto res = errors_(bhttp::status::payload_too_large, "RequestEntityTooLargeException",
                       "The request body is larger than " + std::to_string(limits_.body_bytes) + " bytes", ctx);
    res.keep_alive(false);
    res.prepare_payload();
    transport.expires_after(std::chrono::seconds(10));
    co_await bhttp::async_write(stream, res, as_tuple);
    spdlog::info("request_id={} remote={} operation=- status=413 latency_ms=0", ctx.request_id, ctx.remote);
  };
  bool first = true;
  while (!stopping_) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits_.header_bytes));
    // The body limit depends on who takes the request (streamed requests
    // have their own); it is applied once the headers are in.
    parser.body_limit(boost::none);

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

    if (streaming_.claims && streaming_.claims(parser.get().base())) {
      bool keep = co_await serve_streaming(stream, transport, buffer, parser, ctx);
      if (!keep) break;
      continue;
    }

    auto& header = parser.get();
    if (parser.content_length() && *parser.content_length() > limits_.body_bytes) {
      co_await too_large();
      break;
    }
    parser.body_limit(limits_.body_bytes);  // chunked bodies: checked as they arrive
    // Honour "Expect: 100-continue" (the AWS CLI sends it on uploads).
    if (beast::iequals(header[bhttp::field::expect], "100-continue") && !parser.is_done()) {
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, header.version()};
      co_await bhttp::async_write(stream, cont, as_tuple);
    }

    transport.expires_after(limits_.body_timeout);
    auto [body_ec, body_bytes] = co_await bhttp::async_read(stream, buffer, parser, as_tuple);
    if (body_ec) {
      if (body_ec == bhttp::error::body_limit) {
        co_await too_large();
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

namespace {

// One streamed request and its response, over a plain or TLS stream.
template <class Stream>
class stream_exchange final : public exchange {
 public:
  stream_exchange(Stream& stream, beast::tcp_stream& transport, beast::flat_buffer& buffer,
                  bhttp::request_parser<bhttp::string_body>&& header_parser, request_context& ctx,
                  const limits& lim, std::uint64_t body_limit)
      : stream_(stream), transport_(transport), buffer_(buffer), parser_(std::move(header_parser)), ctx_(ctx),
        limits_(lim) {
    parser_.body_limit(body_limit);
  }

  const request_header& header() const override { return parser_.get().base(); }
  request_context& context() override { return ctx_; }
  bool body_done() const override { return parser_.is_done(); }
  int status() const { return status_; }
  bool broken() const { return broken_; }
  bool responded() const override { return status_ != 0; }
  void abort() override { broken_ = true; }

  asio::awaitable<std::size_t> read_body(std::span<char> out, boost::system::error_code& ec) override {
    ec = {};
    if (parser_.is_done() || out.empty()) co_return 0;
    if (!continue_sent_) {
      continue_sent_ = true;
      if (beast::iequals(header()[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, header().version()};
        transport_.expires_after(limits_.body_timeout);
        auto [wec, w] = co_await bhttp::async_write(stream_, cont, as_tuple);
        if (wec) {
          broken_ = true;
          ec = wec;
          co_return 0;
        }
      }
    }
    auto& body = parser_.get().body();
    std::size_t got = 0;
    while (got == 0 && !parser_.is_done()) {
      body.data = out.data();
      body.size = out.size();
      body.more = true;
      transport_.expires_after(limits_.body_timeout);
      auto [rec, n] = co_await bhttp::async_read_some(stream_, buffer_, parser_, as_tuple);
      got = out.size() - body.size;
      if (rec && rec != bhttp::error::need_buffer) {
        broken_ = true;
        ec = rec;
        co_return got;
      }
    }
    co_return got;
  }

  asio::awaitable<bool> respond(response res) override {
    if (header().method() == bhttp::verb::head) {
      res.body().clear();
      res.content_length(0);
      finish(res.base());
      status_ = res.result_int();
      transport_.expires_after(limits_.body_timeout);
      bhttp::response<bhttp::empty_body> head{std::move(res.base())};
      bhttp::response_serializer<bhttp::empty_body> sr{head};
      auto [ec, n] = co_await bhttp::async_write_header(stream_, sr, as_tuple);
      if (ec) broken_ = true;
      co_return !ec;
    }
    finish(res.base());
    res.prepare_payload();
    status_ = res.result_int();
    transport_.expires_after(limits_.body_timeout);
    auto [ec, n] = co_await bhttp::async_write(stream_, res, as_tuple);
    if (ec) broken_ = true;
    co_return !ec;
  }

  asio::awaitable<bool> write_header(response_header& h) override {
    finish(h);
    status_ = h.result_int();
    bhttp::response<bhttp::empty_body> msg{std::move(h)};
    bhttp::response_serializer<bhttp::empty_body> sr{msg};
    transport_.expires_after(limits_.body_timeout);
    auto [ec, n] = co_await bhttp::async_write_header(stream_, sr, as_tuple);
    if (ec) broken_ = true;
    co_return !ec;
  }

  asio::awaitable<bool> write_body(std::string_view data) override {
    transport_.expires_after(limits_.body_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(data.data(), data.size()), as_tuple);
    if (ec) broken_ = true;
    co_return !ec;
  }

  asio::awaitable<bool> write_file(int fd, std::uint64_t offset, std::uint64_t n) override {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      co_return co_await send_file(fd, offset, n);
    } else {
      std::vector<char> chunk(256 * 1024);
      while (n > 0) {
        auto want = static_cast<std::size_t>(std::min<std::uint64_t>(n, chunk.size()));
        auto r = ::pread(fd, chunk.data(), want, static_cast<off_t>(offset));
        if (r <= 0) {
          broken_ = true;
          co_return false;
        }
        if (!co_await write_body(std::string_view(chunk.data(), static_cast<std::size_t>(r)))) co_return false;
        offset += static_cast<std::uint64_t>(r);
        n -= static_cast<std::uint64_t>(r);
      }
      co_return true;
    }
  }

  bool keep_alive() const { return keep_alive_; }
  void set_keep_alive(bool keep) { keep_alive_ = keep; }

 private:
  void finish(response_header& h) {
    h.version(header().version());
    if (!parser_.is_done()) keep_alive_ = false;  // the rest of the body is never read
    if (!keep_alive_) h.set(bhttp::field::connection, "close");
    else if (header().version() < 11) h.set(bhttp::field::connection, "keep-alive");
    h.set("x-amz-request-id", ctx_.request_id);
  }

  // sendfile(2) with the socket in non-blocking mode; waits for writability
  // with the body timeout as the limit on a stalled peer.
  asio::awaitable<bool> send_file(int fd, std::uint64_t offset, std::uint64_t n) {
    using namespace asio::experimental::awaitable_operators;
    auto& socket = transport_.socket();
    boost::system::error_code ignored;
    socket.native_non_blocking(true, ignored);
    auto off = static_cast<off_t>(offset);
    asio::steady_timer timer(socket.get_executor());
    while (n > 0) {
      auto want = static_cast<std::size_t>(std::min<std::uint64_t>(n, 1ULL << 30));
      auto r = ::sendfile(socket.native_handle(), fd, &off, want);
      if (r > 0) {
        n -= static_cast<std::uint64_t>(r);
        continue;
      }
      if (r == 0) {  // the file is shorter than it should be
        broken_ = true;
        co_return false;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        broken_ = true;
        co_return false;
      }
      timer.expires_after(limits_.body_timeout);
      auto outcome = co_await (socket.async_wait(tcp::socket::wait_write, as_tuple) || timer.async_wait(as_tuple));
      if (outcome.index() == 1 || std::get<0>(std::get<0>(outcome))) {
        broken_ = true;
        co_return false;
      }
    }
    co_return true;
  }

  Stream& stream_;
  beast::tcp_stream& transport_;
  beast::flat_buffer& buffer_;
  bhttp::request_parser<bhttp::buffer_body> parser_;
  request_context& ctx_;
  const limits& limits_;
  bool continue_sent_ = false;
  bool broken_ = false;
  bool keep_alive_ = true;
  int status_ = 0;
};

}  // namespace

template <class Stream>
asio::awaitable<bool> server::serve_streaming(Stream& stream, beast::tcp_stream& transport, beast::flat_buffer& buffer,
                                              bhttp::request_parser<bhttp::string_body>& parser,
                                              request_context& ctx) {
  auto started = std::chrono::steady_clock::now();
  bool wanted = parser.get().keep_alive();
  stream_exchange<Stream> ex(stream, transport, buffer, std::move(parser), ctx, limits_, streaming_.body_bytes);
  // A response sent before the body was read ends the connection: say so.
  ex.set_keep_alive(wanted && !stopping_);
  transport.expires_never();
  bool failed = false;
  try {
    co_await streaming_.handle(ex);
  } catch (const std::exception& e) {
    spdlog::error("request_id={} streaming handler failed: {}", ctx.request_id, e.what());
    failed = true;
  }
  if (failed) {
    ex.set_keep_alive(false);
    if (ex.status() == 0)
      co_await ex.respond(errors_(bhttp::status::internal_server_error, "InternalError", "Internal failure", ctx));
  }
  auto latency = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("request_id={} remote={} operation={} status={} latency_ms={:.2f}", ctx.request_id, ctx.remote,
               ctx.operation.empty() ? "-" : ctx.operation, ex.status(), latency);
  co_return ex.status() != 0 && !ex.broken() && ex.body_done() && ex.keep_alive() && !stopping_;
}

}  // namespace airfleet::http
