#include "identity/pki.hpp"

#include "core/crypto.hpp"
#include "identity/errors.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace airfleet::identity::pki {

namespace {
struct bio_deleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

std::string drain(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

bio_ptr reader(const std::string& pem) {
  return bio_ptr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

core::time_point from_asn1(const ASN1_TIME* t) {
  std::tm tm{};
  ASN1_TIME_to_tm(t, &tm);
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

bool add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

std::string name_entry(X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

core::error invalid_cert(std::string message) { return core::make_error(errc::invalid_request, std::move(message)); }
}  // namespace

key_ptr generate_key(key_type type) {
  if (type == key_type::rsa_2048) return key_ptr(EVP_RSA_gen(2048));
  return key_ptr(EVP_EC_gen("P-256"));
}

std::string private_key_pem(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return drain(bio.get());
}

std::string public_key_pem(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  return drain(bio.get());
}

core::result<key_ptr> read_private_key(const std::string& pem) {
  auto bio = reader(pem);
  key_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return invalid_cert("not a PEM private key");
  return key;
}

std::string certificate_pem(X509* cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return drain(bio.get());
}

core::result<cert_ptr> read_certificate(const std::string& pem) {
  if (pem.size() > 64 * 1024) return invalid_cert("The certificate is larger than 64 KiB");
  auto bio = reader(pem);
  cert_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return invalid_cert("The certificate is not a valid PEM-encoded X.509 certificate");
  return cert;
}

std::string certificate_id(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  std::string id = core::sha256_hex(std::string_view(reinterpret_cast<char*>(der), static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  return id;
}

validity certificate_validity(X509* cert) {
  return {from_asn1(X509_get0_notBefore(cert)), from_asn1(X509_get0_notAfter(cert))};
}

bool is_ca(X509* cert) { return X509_check_ca(cert) > 0; }

bool signed_by(X509* cert, X509* issuer) {
  if (X509_check_issued(issuer, cert) != X509_V_OK) return false;
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  return key && X509_verify(cert, key) == 1;
}

std::string subject_common_name(X509* cert) { return name_entry(X509_get_subject_name(cert), NID_commonName); }

std::map<std::string, std::string> certificate_fields(X509* cert) {
  std::map<std::string, std::string> out;
  const std::pair<const char*, int> fields[] = {
      {"CommonName", NID_commonName},     {"Organization", NID_organizationName},
      {"OrganizationalUnit", NID_organizationalUnitName}, {"Country", NID_countryName},
      {"State", NID_stateOrProvinceName}, {"Locality", NID_localityName},
      {"SerialNumber", NID_serialNumber}, {"Title", NID_title},
      {"Surname", NID_surname},           {"GivenName", NID_givenName},
      {"Initials", NID_initials},         {"Pseudonym", NID_pseudonym},
      {"GenerationQualifier", NID_generationQualifier}, {"DistinguishedNameQualifier", NID_dnQualifier}};
  for (const auto& [label, nid] : fields) {
    auto s = name_entry(X509_get_subject_name(cert), nid);
    if (!s.empty()) out[std::string("Subject.") + label] = s;
    auto i = name_entry(X509_get_issuer_name(cert), nid);
    if (!i.empty()) out[std::string("Issuer.") + label] = i;
  }
  if (const ASN1_INTEGER* serial = X509_get0_serialNumber(cert)) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
    char* hex = BN_bn2hex(bn);
    out["SerialNumber"] = hex;
    OPENSSL_free(hex);
    BN_free(bn);
  }
  auto v = certificate_validity(cert);
  out["Validity.NotBefore"] = core::format_iso8601(v.not_before);
  out["Validity.NotAfter"] = core::format_iso8601(v.not_after);
  if (auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type == GEN_DNS) {
        out.emplace("Subject.AlternativeName.DNSName",
                    std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                                static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName))));
      }
    }
    GENERAL_NAMES_free(names);
  }
  return out;
}

core::result<cert_ptr> issue(const issue_request& request, X509* issuer, EVP_PKEY* issuer_key, core::time_point now) {
  cert_ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  // 128 random bits, positive.
  std::string serial_bytes = core::random_bytes(16);
  serial_bytes[0] = static_cast<char>(serial_bytes[0] & 0x7f);
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(serial_bytes.data()), 16, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  auto start = std::chrono::system_clock::to_time_t(now - std::chrono::minutes(5));
  auto end = std::chrono::system_clock::to_time_t(now + request.lifetime);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), start);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), end);
  X509_set_pubkey(cert.get(), request.public_key);
  if (request.subject) {
    X509_set_subject_name(cert.get(), request.subject);
  } else {
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(request.common_name.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(cert.get()));

  bool ok = true;
  if (request.ca) {
    ok &= add_extension(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE");
    ok &= add_extension(cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ok &= add_extension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE");
    ok &= add_extension(cert.get(), issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    ok &= add_extension(cert.get(), issuer, NID_ext_key_usage, request.server ? "serverAuth" : "clientAuth");
  }
  ok &= add_extension(cert.get(), issuer, NID_subject_key_identifier, "hash");
  if (issuer) ok &= add_extension(cert.get(), issuer, NID_authority_key_identifier, "keyid:always");
  std::string san;
  for (const auto& d : request.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : request.ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!san.empty()) ok &= add_extension(cert.get(), issuer, NID_subject_alt_name, san);
  if (!ok) return core::make_error(errc::internal, "could not add certificate extensions");

  EVP_PKEY* signer = issuer_key ? issuer_key : request.public_key;
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) return core::make_error(errc::internal, "could not sign the certificate");
  return cert;
}

core::result<csr_info> read_csr(const std::string& pem) {
  if (pem.size() > 64 * 1024) return invalid_cert("The certificate signing request is larger than 64 KiB");
  auto bio = reader(pem);
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr),
                                                          X509_REQ_free);
  if (!req) return invalid_cert("The certificate signing request is not a valid PEM-encoded PKCS#10 request");
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (!key) return invalid_cert("The certificate signing request has no public key");
  if (X509_REQ_verify(req.get(), key) != 1)
    return invalid_cert("The certificate signing request's signature does not verify");
  int bits = EVP_PKEY_get_bits(key);
  int id = EVP_PKEY_get_base_id(key);
  if ((id == EVP_PKEY_RSA && bits < 2048) || (id == EVP_PKEY_EC && bits < 256) ||
      (id != EVP_PKEY_RSA && id != EVP_PKEY_EC))
    return invalid_cert("The CSR's key must be RSA of at least 2048 bits or EC of at least 256 bits");
  csr_info info;
  EVP_PKEY_up_ref(key);
  info.public_key.reset(key);
  info.subject.reset(X509_NAME_dup(X509_REQ_get_subject_name(req.get())));
  return info;
}

}  // namespace airfleet::identity::pki
