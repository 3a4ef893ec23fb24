// Incremental checksums for S3 integrity headers (Content-MD5, ETag,
// x-amz-checksum-{crc32,crc32c,sha1,sha256}): feed the body as it streams in,
// then take the raw digest. MD5, SHA-1 and SHA-256 come from OpenSSL; the two
// CRCs are computed here with lookup tables (slicing by eight bytes) so no
// zlib is needed. A CRC's raw digest is its 4 bytes big-endian, which is what
// S3 base64-encodes in its checksum headers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace airfleet::core {

class hasher {
 public:
  enum class kind { md5, sha1, sha256, crc32, crc32c };

  explicit hasher(kind k);
  hasher(hasher&&) noexcept;
  hasher& operator=(hasher&&) noexcept;
  ~hasher();

  void update(std::string_view data);
  // The raw digest bytes (16, 20, 32, or 4 for a CRC). Call once; the hasher
  // is spent afterwards.
  std::string finish_raw();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace airfleet::core
