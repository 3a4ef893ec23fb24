// X.509 mechanics on OpenSSL 3: keys, the server's root CA, issuing device
// and server certificates, reading CSRs and PEM certificates, and the facts
// AWS IoT derives from a certificate (its id is the hex SHA-256 of the DER).
#pragma once

#include "core/error.hpp"
#include "core/time.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace airfleet::identity::pki {

struct key_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct cert_deleter {
  void operator()(X509* c) const { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using cert_ptr = std::unique_ptr<X509, cert_deleter>;

enum class key_type { ec_p256, rsa_2048 };

key_ptr generate_key(key_type type);
std::string private_key_pem(EVP_PKEY* key);
std::string public_key_pem(EVP_PKEY* key);
core::result<key_ptr> read_private_key(const std::string& pem);

std::string certificate_pem(X509* cert);
core::result<cert_ptr> read_certificate(const std::string& pem);
// Hex SHA-256 of the DER encoding: the AWS IoT certificate id.
std::string certificate_id(X509* cert);

struct validity {
  core::time_point not_before;
  core::time_point not_after;
};
validity certificate_validity(X509* cert);
bool is_ca(X509* cert);
// True when `cert` carries a valid signature by `issuer`'s key and names it as issuer.
bool signed_by(X509* cert, X509* issuer);
// Fields for ${iot:Certificate.*} policy variables: "Subject.CommonName",
// "Subject.Organization", "Issuer.CommonName", "SerialNumber", ...
std::map<std::string, std::string> certificate_fields(X509* cert);
std::string subject_common_name(X509* cert);

struct issue_request {
  std::string common_name;
  X509_NAME* subject = nullptr;        // when set, used instead of common_name (from a CSR)
  EVP_PKEY* public_key = nullptr;      // the key the certificate certifies
  std::chrono::hours lifetime{24 * 365};
  bool ca = false;
  bool server = false;                 // serverAuth EKU and SANs
  std::vector<std::string> dns_names;  // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;
};
// Signs with `issuer_key`; a null issuer makes it self-signed.
core::result<cert_ptr> issue(const issue_request& request, X509* issuer, EVP_PKEY* issuer_key, core::time_point now);

struct csr_info {
  key_ptr public_key;
  std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)> subject{nullptr, X509_NAME_free};
};
// Parses a PEM CSR and checks its self-signature.
core::result<csr_info> read_csr(const std::string& pem);

}  // namespace airfleet::identity::pki
