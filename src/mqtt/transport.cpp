#include "mqtt/transport.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <sys/socket.h>

#include <cstring>
#include <stdexcept>

namespace airfleet::mqtt {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// The verdict on the certificate belongs to the broker's authenticator (the
// chain may end at a CA registered a second ago); the handshake only needs
// the peer to prove it holds the certificate's key. So OpenSSL builds no
// chain (its trust store is empty and it could not finish one anyway).
int skip_chain_building(X509_STORE_CTX*, void*) { return 1; }

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  static const std::string_view accepted[] = {"x-amzn-mqtt-ca", "mqtt"};
  for (auto want : accepted) {
    for (unsigned int i = 0; i < inlen;) {
      unsigned int len = in[i];
      if (i + 1 + len > inlen) break;
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == want) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string openssl_error() {
  char buf[256];
  auto code = ERR_get_error();
  if (!code) return "unknown TLS error";
  ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace

// One network connection: the socket, its TLS state, and what waits to be written.
class transport::conn final : public link, public std::enable_shared_from_this<conn> {
 public:
  conn(tcp::socket s, SSL* ssl, std::size_t max_pending) : socket(std::move(s)), ssl(ssl), max_pending_(max_pending) {}
  ~conn() override {
    if (ssl) SSL_free(ssl);
  }

  void send(std::span<const std::uint8_t> bytes) override {
    if (dead) return;
    if (pending_bytes() + bytes.size() > max_pending_) {
      spdlog::debug("mqtt: cutting a connection that does not read ({} bytes unsent)", pending_bytes());
      return kill();
    }
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    schedule_flush();
  }
  std::size_t pending_bytes() const override { return pending_.size() - sent_; }
  void close() override {
    closing_ = true;
    schedule_flush();
  }

  // >0: bytes read; 0: nothing to read now; -1: the connection ended.
  int read_some(std::uint8_t* buf, std::size_t size) {
    if (dead) return -1;
    if (ssl) {
      ERR_clear_error();
      int n = SSL_read(ssl, buf, static_cast<int>(size));
      if (n > 0) return n;
      int err = SSL_get_error(ssl, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return 0;
      return -1;
    }
    auto n = ::recv(socket.native_handle(), buf, size, 0);
    if (n > 0) return static_cast<int>(n);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    return -1;
  }

  void kill() {
    if (dead) return;
    dead = true;
    boost::system::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.cancel(ec);
  }

  tcp::socket socket;
  SSL* ssl = nullptr;
  broker::connection_id id = 0;
  bool dead = false;

 private:
  // >0 written; 0 would block; -1 failed.
  int write_some(const std::uint8_t* data, std::size_t size) {
    if (ssl) {
      ERR_clear_error();
      int n = SSL_write(ssl, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
      if (n > 0) return n;
      int err = SSL_get_error(ssl, n);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) return 0;
      return -1;
    }
    auto n = ::send(socket.native_handle(), data, size, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
    return -1;
  }

  void schedule_flush() {
    if (flush_scheduled_ || waiting_writable_ || dead) return;
    flush_scheduled_ = true;
    asio::post(socket.get_executor(), [self = shared_from_this()] {
      self->flush_scheduled_ = false;
      self->flush();
    });
  }

  void flush() {
    if (dead) return;
    while (sent_ < pending_.size()) {
      int n = write_some(pending_.data() + sent_, pending_.size() - sent_);
      if (n < 0) return kill();
      if (n == 0) {
        waiting_writable_ = true;
        socket.async_wait(tcp::socket::wait_write, [self = shared_from_this()](const boost::system::error_code& ec) {
          self->waiting_writable_ = false;
          if (ec) return self->kill();
          self->flush();
        });
        return;
      }
      sent_ += static_cast<std::size_t>(n);
    }
    pending_.clear();
    sent_ = 0;
    if (pending_.capacity() > 64 * 1024) pending_.shrink_to_fit();
    if (closing_) {
      if (ssl) {
        ERR_clear_error();
        SSL_shutdown(ssl);  // one close_notify, not waited for
      }
      kill();
    }
  }

  std::size_t max_pending_;
  bytes pending_;
  std::size_t sent_ = 0;
  bool flush_scheduled_ = false;
  bool waiting_writable_ = false;
  bool closing_ = false;
};

transport::transport(asio::io_context& io, broker& b, transport_limits limits)
    : io_(io), broker_(b), limits_(limits), tick_(io) {}

transport::~transport() = default;

std::shared_ptr<SSL_CTX> transport::make_tls_context(const std::string& cert_chain_path, const std::string& key_path) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) throw std::runtime_error(openssl_error());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_chain_path.c_str()) != 1)
    throw std::runtime_error("server certificate " + cert_chain_path + ": " + openssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_path.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1)
    throw std::runtime_error("server key " + key_path + ": " + openssl_error());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx.get(), skip_chain_building, nullptr);
  SSL_CTX_set_mode(ctx.get(),
                   SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // No server-side session cache (it would keep every client's session, peer
  // certificate included, in memory); TLS 1.3 resumption still works through
  // one stateless ticket per handshake.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx.get(), 1);
  static const unsigned char context_id[] = "airfleet-mqtt";
  SSL_CTX_set_session_id_context(ctx.get(), context_id, sizeof context_id - 1);
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, nullptr);
  return ctx;
}

tcp::endpoint transport::listen(const std::string& host, std::uint16_t port, std::shared_ptr<SSL_CTX> tls) {
  tcp::endpoint at(asio::ip::make_address(host), port);
  auto l = std::make_unique<listener>(listener{tcp::acceptor(io_), std::move(tls)});
  l->acceptor.open(at.protocol());
  l->acceptor.set_option(asio::socket_base::reuse_address(true));
  l->acceptor.bind(at);
  l->acceptor.listen(asio::socket_base::max_listen_connections);
  auto bound = l->acceptor.local_endpoint();
  listeners_.push_back(std::move(l));
  return bound;
}

void transport::start() {
  for (auto& l : listeners_) asio::co_spawn(io_, accept_loop(l->acceptor, l->tls), asio::detached);
  asio::co_spawn(io_, tick_loop(), asio::detached);
}

void transport::stop() {
  asio::post(io_, [this] {
    stopping_ = true;
    for (auto& l : listeners_) {
      boost::system::error_code ec;
      l->acceptor.close(ec);
    }
    tick_.cancel();
    broker_.shutdown();
  });
}

asio::awaitable<void> transport::tick_loop() {
  while (!stopping_) {
    tick_.expires_after(std::chrono::milliseconds(250));
    auto [ec] = co_await tick_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || stopping_) co_return;
    broker_.tick();
  }
}

asio::awaitable<void> transport::accept_loop(tcp::acceptor& acceptor, std::shared_ptr<SSL_CTX> tls) {
  asio::steady_timer backoff(io_);
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (stopping_ || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of file descriptors, usually: wait a little instead of spinning.
      spdlog::warn("mqtt: accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code opt;
    socket.set_option(tcp::no_delay(true), opt);
    socket.non_blocking(true, opt);
    SSL* ssl = nullptr;
    if (tls) {
      ssl = SSL_new(tls.get());
      if (!ssl || SSL_set_fd(ssl, static_cast<int>(socket.native_handle())) != 1) {
        if (ssl) SSL_free(ssl);
        spdlog::warn("mqtt: cannot set up TLS for a connection: {}", openssl_error());
        continue;
      }
      SSL_set_accept_state(ssl);
    }
    auto c = std::make_shared<conn>(std::move(socket), ssl, limits_.max_pending_bytes);
    asio::co_spawn(io_, run(std::move(c)), asio::detached);
  }
}

asio::awaitable<void> transport::run(std::shared_ptr<conn> c) {
  ++*open_;
  struct closer {
    std::shared_ptr<std::atomic<std::size_t>> open;
    std::shared_ptr<conn>& c;
    ~closer() {
      c->kill();
      boost::system::error_code ec;
      c->socket.close(ec);
      --*open;
    }
  } guard{open_, c};

  peer who;
  {
    boost::system::error_code ec;
    auto remote = c->socket.remote_endpoint(ec);
    if (!ec) who.address = remote.address().to_string();
  }
  if (c->ssl) {
    asio::steady_timer deadline(io_);
    deadline.expires_after(limits_.handshake_timeout);
    deadline.async_wait([weak = std::weak_ptr<conn>(c)](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->kill();
    });
    while (true) {
      ERR_clear_error();
      int r = SSL_do_handshake(c->ssl);
      if (r == 1) break;
      int err = SSL_get_error(c->ssl, r);
      boost::system::error_code ec;
      if (err == SSL_ERROR_WANT_READ)
        co_await c->socket.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
      else if (err == SSL_ERROR_WANT_WRITE)
        co_await c->socket.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
      else {
        spdlog::debug("mqtt: TLS handshake with {} failed: {}", who.address, openssl_error());
        co_return;
      }
      if (ec || c->dead) co_return;
    }
    deadline.cancel();
    X509* cert = SSL_get1_peer_certificate(c->ssl);
    if (!cert) co_return;  // the context requires one; belt and braces
    who.certificate = std::shared_ptr<void>(cert, [](void* p) { X509_free(static_cast<X509*>(p)); });
    who.tls = true;
  }

  c->id = broker_.open(c, std::move(who));
  if (c->id == 0) co_return;

  // One read buffer for every connection: this thread reads one socket at a time.
  static std::uint8_t buffer[64 * 1024];
  while (!c->dead) {
    for (int reads = 0; reads < 16 && !c->dead; ++reads) {
      int n = c->read_some(buffer, sizeof buffer);
      if (n < 0) {
        c->dead = true;
        break;
      }
      if (n == 0) break;
      broker_.received(c->id, {buffer, static_cast<std::size_t>(n)});
    }
    if (c->dead) break;
    if (c->ssl && SSL_pending(c->ssl) > 0) {
      co_await asio::post(io_, asio::use_awaitable);  // let others run, then read what TLS has buffered
      continue;
    }
    boost::system::error_code ec;
    co_await c->socket.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
  broker_.closed(c->id);
}

}  // namespace airfleet::mqtt
