#include "sim/tls_client.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

namespace airfleet::sim {

namespace asio = boost::asio;

namespace {

core::error invalid(std::string message) {
  return core::error{std::make_error_code(std::errc::invalid_argument), std::move(message)};
}

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

}  // namespace

tls_client::tls_client() : context_(asio::ssl::context::tls_client) {}

core::result<std::unique_ptr<tls_client>> tls_client::make(const tls_options& options) {
  std::unique_ptr<tls_client> tls(new tls_client());
  auto& ctx = tls->context_;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  tls->server_name_ = options.server_name;

  boost::system::error_code ec;
  if (!options.ca_file.empty()) {
    ctx.load_verify_file(options.ca_file, ec);
    if (ec) return invalid("--ca " + options.ca_file + ": " + ec.message());
    ctx.set_verify_mode(asio::ssl::verify_peer);
    tls->verify_ = true;
  } else {
    ctx.set_verify_mode(asio::ssl::verify_none);
  }

  if (options.cert_file.empty() != options.key_file.empty()) return invalid("--cert and --key go together");
  if (!options.cert_file.empty()) {
    ctx.use_certificate_chain_file(options.cert_file, ec);
    if (ec) return invalid("--cert " + options.cert_file + ": " + ec.message());
    ctx.use_private_key_file(options.key_file, asio::ssl::context::pem, ec);
    if (ec) return invalid("--key " + options.key_file + ": " + ec.message());
  }

  if (!options.cert_dir.empty()) {
    std::error_code fs_ec;
    std::vector<std::filesystem::path> certificates;
    for (const auto& entry : std::filesystem::directory_iterator(options.cert_dir, fs_ec)) {
      if (entry.path().extension() == ".crt") certificates.push_back(entry.path());
    }
    if (fs_ec) return invalid("--cert-dir " + options.cert_dir + ": " + fs_ec.message());
    std::sort(certificates.begin(), certificates.end());
    for (const auto& certificate_path : certificates) {
      auto key_path = certificate_path;
      key_path.replace_extension(".key");
      identity id;
      if (FILE* f = std::fopen(certificate_path.c_str(), "r")) {
        id.certificate.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
        std::fclose(f);
      }
      if (FILE* f = std::fopen(key_path.c_str(), "r")) {
        id.key.reset(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
        std::fclose(f);
      }
      if (!id.certificate || !id.key)
        return invalid("--cert-dir: cannot read " + certificate_path.string() + " and " + key_path.string() + ": " +
                       openssl_error());
      tls->identities_.push_back(std::move(id));
    }
    if (tls->identities_.empty())
      return invalid("--cert-dir " + options.cert_dir + " holds no NAME.crt/NAME.key pairs");
  }
  return tls;
}

core::result<void> tls_client::add_identity(std::string_view certificate_pem, std::string_view key_pem) {
  struct bio_free {
    void operator()(BIO* b) const { BIO_free(b); }
  };
  identity id;
  std::unique_ptr<BIO, bio_free> certificate(BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size())));
  std::unique_ptr<BIO, bio_free> key(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  if (certificate) id.certificate.reset(PEM_read_bio_X509(certificate.get(), nullptr, nullptr, nullptr));
  if (key) id.key.reset(PEM_read_bio_PrivateKey(key.get(), nullptr, nullptr, nullptr));
  if (!id.certificate || !id.key) return invalid("cannot read a certificate and its key: " + openssl_error());
  if (X509_check_private_key(id.certificate.get(), id.key.get()) != 1)
    return invalid("the private key does not belong to the certificate");
  identities_.push_back(std::move(id));
  return {};
}

bool tls_client::apply_identity(SSL* ssl, std::uint64_t index) const {
  if (identities_.empty()) return true;
  const auto& id = identities_[static_cast<std::size_t>(index % identities_.size())];
  return SSL_use_certificate(ssl, id.certificate.get()) == 1 && SSL_use_PrivateKey(ssl, id.key.get()) == 1;
}

}  // namespace airfleet::sim
