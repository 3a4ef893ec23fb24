// The TLS side the simulated clients share: one OpenSSL context (trust
// anchors, the client certificate every client presents, or a set of them
// from a directory, one per client in turn).
//
// Device certificates are meant to be ECDSA P-256 (what airfleet issues and
// what the benchmark script makes); any key type OpenSSL loads works.
// SSL_MODE_RELEASE_BUFFERS keeps an idle connection's buffers freed, which is
// most of a TLS connection's memory when thousands sit idle.
#pragma once

#include "core/error.hpp"

#include <boost/asio/ssl/context.hpp>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace airfleet::sim {

struct tls_options {
  std::string ca_file;      // verify the broker against these; empty: do not verify
  std::string cert_file;    // every client presents this certificate ...
  std::string key_file;     // ... with this key
  std::string cert_dir;     // or: NAME.crt + NAME.key pairs, client i takes pair i mod count
  std::string server_name;  // SNI and the name checked in the broker's certificate
};

class tls_client {
 public:
  static core::result<std::unique_ptr<tls_client>> make(const tls_options& options);

  boost::asio::ssl::context& context() { return context_; }
  const std::string& server_name() const { return server_name_; }
  bool verifies_server() const { return verify_; }
  // Adds an identity (PEM certificate and private key) after those of
  // cert_dir; client i takes identity i mod count. Not while connections
  // are being set up.
  core::result<void> add_identity(std::string_view certificate_pem, std::string_view key_pem);
  // Sets the certificate and key of client `index` on its connection when
  // there are identities; a no-op otherwise. False when OpenSSL refuses.
  bool apply_identity(SSL* ssl, std::uint64_t index) const;
  std::size_t identity_count() const { return identities_.size(); }

 private:
  tls_client();

  struct x509_free {
    void operator()(X509* x) const { X509_free(x); }
  };
  struct pkey_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  struct identity {
    std::unique_ptr<X509, x509_free> certificate;
    std::unique_ptr<EVP_PKEY, pkey_free> key;
  };

  boost::asio::ssl::context context_;
  std::vector<identity> identities_;  // from cert_dir; read-only once made
  std::string server_name_;
  bool verify_ = false;
};

}  // namespace airfleet::sim
