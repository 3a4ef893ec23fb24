#include "core/digest.hpp"

#include <openssl/evp.h>

#include <array>
#include <cassert>
#include <stdexcept>

namespace airfleet::core {

namespace {

// Reflected CRC-32 tables for slicing by eight: tables[0] is the classic
// byte-at-a-time table; tables[k][b] is the CRC of byte b followed by k zero
// bytes, so eight input bytes fold into the register with eight lookups.
using crc_tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr crc_tables make_crc_tables(std::uint32_t reflected_polynomial) {
  crc_tables t{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ reflected_polynomial : c >> 1;
    t[0][n] = c;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::size_t n = 0; n < 256; ++n) t[k][n] = (t[k - 1][n] >> 8) ^ t[0][t[k - 1][n] & 0xff];
  }
  return t;
}

constexpr crc_tables crc32_ieee_tables = make_crc_tables(0xEDB88320u);
constexpr crc_tables crc32_castagnoli_tables = make_crc_tables(0x82F63B78u);

std::uint32_t load_le32(const unsigned char* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

// `crc` is the running register (already inverted at start, inverted again at the end).
std::uint32_t crc_update(const crc_tables& t, std::uint32_t crc, std::string_view data) {
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  while (n >= 8) {
    std::uint32_t lo = crc ^ load_le32(p);
    std::uint32_t hi = load_le32(p + 4);
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
  return crc;
}

// Fetched once from the default provider and kept for the life of the process.
const EVP_MD* message_digest(hasher::kind k) {
  auto fetch = [](const char* name) {
    EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
    if (md == nullptr) {
      throw std::runtime_error(std::string("OpenSSL has no ") + name +
                               " in its default provider; check the OpenSSL configuration");
    }
    return md;
  };
  switch (k) {
    case hasher::kind::md5: {
      static const EVP_MD* md = fetch("MD5");
      return md;
    }
    case hasher::kind::sha1: {
      static const EVP_MD* md = fetch("SHA1");
      return md;
    }
    case hasher::kind::sha256: {
      static const EVP_MD* md = fetch("SHA256");
      return md;
    }
    case hasher::kind::crc32:
    case hasher::kind::crc32c: break;
  }
  return nullptr;
}

struct md_context_deleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

}  // namespace

struct hasher::impl {
  kind k;
  std::unique_ptr<EVP_MD_CTX, md_context_deleter> md;  // null for the CRCs
  std::uint32_t crc = 0xFFFFFFFFu;
  bool finished = false;
};

hasher::hasher(kind k) : impl_(std::make_unique<impl>()) {
  impl_->k = k;
  if (const EVP_MD* md = message_digest(k)) {
    impl_->md.reset(EVP_MD_CTX_new());
    if (!impl_->md || EVP_DigestInit_ex2(impl_->md.get(), md, nullptr) != 1) {
      throw std::runtime_error("OpenSSL could not start a message digest");
    }
  }
}

hasher::hasher(hasher&&) noexcept = default;
hasher& hasher::operator=(hasher&&) noexcept = default;
hasher::~hasher() = default;

void hasher::update(std::string_view data) {
  assert(impl_ && !impl_->finished);
  switch (impl_->k) {
    case kind::crc32: impl_->crc = crc_update(crc32_ieee_tables, impl_->crc, data); return;
    case kind::crc32c: impl_->crc = crc_update(crc32_castagnoli_tables, impl_->crc, data); return;
    case kind::md5:
    case kind::sha1:
    case kind::sha256: {
      // Only fails on a broken context, which the constructor already ruled out.
      [[maybe_unused]] int ok = EVP_DigestUpdate(impl_->md.get(), data.data(), data.size());
      assert(ok == 1);
      return;
    }
  }
}

std::string hasher::finish_raw() {
  assert(impl_ && !impl_->finished);
  impl_->finished = true;
  if (impl_->k == kind::crc32 || impl_->k == kind::crc32c) {
    std::uint32_t v = impl_->crc ^ 0xFFFFFFFFu;
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  [[maybe_unused]] int ok = EVP_DigestFinal_ex(impl_->md.get(), out, &len);
  assert(ok == 1);
  return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace airfleet::core
