// Object bodies on disk: one file per blob under <data>/blobs/, written
// through a temporary file that becomes visible (fsync'd, renamed, directory
// fsync'd) only when complete, so a crash mid-upload leaves nothing partial.
//
// Encryption at rest (SSE-S3 semantics): an encrypted blob has its own random
// 256-bit data key, wrapped (AES-256-GCM) by the master key in
// <data>/master.key (32 random bytes, mode 0600). The body is cut into
// 64 KiB chunks, each sealed with AES-256-GCM under the data key; the nonce
// is a per-blob random prefix plus the chunk index, and the additional data
// binds the chunk index and a "last chunk" flag, so chunks cannot be
// reordered, swapped between blobs or cut off unnoticed. Any chunk can be
// opened alone, which is what ranged reads need. A read that meets a chunk
// whose tag does not verify (a flipped bit, a wrong master key) fails with an
// error before any byte of that chunk is returned: bad bytes are never
// served.
//
// File layout of an encrypted blob:
//   "AFB1" | u32 chunk size | 12-byte wrap nonce | 32-byte wrapped key |
//   16-byte wrap tag | 4-byte nonce prefix | u64 plaintext size |
//   chunks: ciphertext (chunk size, the last one shorter) + 16-byte tag
// A plain blob is the body's bytes and nothing else (so GET can sendfile it).
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airfleet::s3 {

enum class errc {
  io = 1,            // the file system failed (message says how)
  not_found,         // no such blob
  corrupt,           // an encrypted chunk or header failed authentication
  wrong_key,         // the data key does not unwrap with this master key
};
std::error_code make_error_code(errc e);

// The 32-byte key that wraps every data key.
class master_key {
 public:
  // Reads `path`, or creates it (32 random bytes, 0600, fsync'd) when absent.
  static core::result<master_key> load_or_create(const std::filesystem::path& path);
  explicit master_key(std::string bytes);  // 32 bytes (tests)
  // AES-256-GCM: 12-byte nonce | ciphertext | 16-byte tag.
  std::string wrap(std::string_view data_key) const;
  core::result<std::string> unwrap(std::string_view wrapped) const;

 private:
  std::string key_;
};

struct blob_info {
  std::string id;         // file name, 32 hex characters
  std::uint64_t size = 0; // plaintext bytes
  bool encrypted = false;
};

class blob_store;

// Streams one body into a temporary file. Not thread-safe; one writer per upload.
class blob_writer {
 public:
  blob_writer(blob_writer&&) noexcept;
  blob_writer& operator=(blob_writer&&) noexcept;
  ~blob_writer();  // removes the temporary file unless committed
  core::result<void> write(std::string_view data);
  // fsync, rename into place, fsync the directory. The blob exists from here.
  core::result<blob_info> commit();
  std::uint64_t size() const;

  struct impl;
  explicit blob_writer(std::unique_ptr<impl> p);

 private:
  std::unique_ptr<impl> impl_;
};

// Random access to one blob's plaintext. Not thread-safe; open one per read.
class blob_reader {
 public:
  blob_reader(blob_reader&&) noexcept;
  blob_reader& operator=(blob_reader&&) noexcept;
  ~blob_reader();
  std::uint64_t size() const;
  bool encrypted() const;
  // Reads up to `n` plaintext bytes at `offset` into `out`; returns how many
  // (0 only at or past the end). Encrypted: every chunk touched is verified
  // first; a failure returns errc::corrupt and writes nothing of that chunk.
  core::result<std::size_t> read(std::uint64_t offset, char* out, std::size_t n);
  // The open file descriptor of a plain blob (for sendfile); -1 when encrypted.
  int plain_fd() const;

  struct impl;
  explicit blob_reader(std::unique_ptr<impl> p);

 private:
  std::unique_ptr<impl> impl_;
};

class blob_store {
 public:
  // `dir` is <data>/blobs; it and its "tmp" subdirectory are created.
  blob_store(std::filesystem::path dir, master_key key);
  core::result<blob_writer> create(bool encrypt);
  core::result<blob_reader> open(const std::string& id) const;
  // Removes a blob; a missing one is not an error.
  void remove(const std::string& id);
  bool exists(const std::string& id) const;
  // Removes every temporary file (at startup: uploads a crash cut short).
  void clear_temporary();
  // Every committed blob id (for the orphan sweep at startup).
  std::vector<std::string> list() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  friend struct blob_writer::impl;
  std::filesystem::path dir_;
  master_key key_;
};

// Chunk size of encrypted blobs (plaintext bytes per chunk).
inline constexpr std::size_t encrypted_chunk_bytes = 64 * 1024;

}  // namespace airfleet::s3

template <>
struct std::is_error_code_enum<airfleet::s3::errc> : std::true_type {};
