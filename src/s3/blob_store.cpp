#include "s3/blob_store.hpp"

#include "core/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

// How a blob says whether it is encrypted: by its id. The last bit of the 16
// random bytes behind an id is 1 for an encrypted blob and 0 for a plain one,
// so the last hex digit of an encrypted blob's id is odd. The file itself
// cannot say: a plain blob is the client's bytes verbatim, and a client may
// well upload a body that starts with "AFB1".
//
// Every encrypted blob has at least one chunk: an empty body is one empty
// chunk (just its tag), flagged last. With that, the chunk count follows from
// the plaintext size in the header, the file length must match it exactly,
// and the last chunk's flag is authenticated, so neither truncating the file
// nor rewriting the size field (even to 0) goes unnoticed, although the header
// itself carries no tag of its own. open() verifies the first chunk, which
// also checks the nonce prefix, so a damaged header fails at open rather than
// in the middle of a response.

namespace airfleet::s3 {

namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "s3.blob"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::io: return "blob storage failed";
      case errc::not_found: return "no such blob";
      case errc::corrupt: return "blob is damaged";
      case errc::wrong_key: return "blob key does not unwrap with the master key";
    }
    return "unknown blob error";
  }
};
}  // namespace

std::error_code make_error_code(errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

namespace {

namespace fs = std::filesystem;

constexpr std::string_view magic = "AFB1";
constexpr std::size_t key_bytes = 32;
constexpr std::size_t nonce_bytes = 12;
constexpr std::size_t tag_bytes = 16;
constexpr std::size_t nonce_prefix_bytes = 4;
constexpr std::size_t wrapped_key_bytes = nonce_bytes + key_bytes + tag_bytes;
constexpr std::size_t size_field_offset = magic.size() + 4 + wrapped_key_bytes + nonce_prefix_bytes;
constexpr std::size_t header_bytes = size_field_offset + 8;
constexpr std::size_t id_chars = 32;
// Far beyond any object; keeps the file-length arithmetic from overflowing on a damaged header.
constexpr std::uint64_t max_plaintext_bytes = std::uint64_t{1} << 56;

// ---- errors ------------------------------------------------------------------------------------

core::error io_error(std::string_view what, const fs::path& path, int err) {
  return core::make_error(errc::io,
                          std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

core::error corrupt(const fs::path& path, std::string_view what) {
  return core::make_error(errc::corrupt,
                          "blob " + path.string() + " is damaged: " + std::string(what));
}

// ---- files -------------------------------------------------------------------------------------

class file_descriptor {
 public:
  file_descriptor() = default;
  explicit file_descriptor(int fd) : fd_(fd) {}
  file_descriptor(file_descriptor&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  file_descriptor& operator=(file_descriptor&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~file_descriptor() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Closes and reports the result (a deferred write error can surface here).
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_ = -1;
};

core::result<void> write_all(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", path, errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

core::result<void> pwrite_all(int fd, std::string_view data, std::uint64_t offset,
                              const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", path, errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

// Reads until `n` bytes or the end of the file; returns how many were read.
core::result<std::size_t> pread_full(int fd, char* out, std::size_t n, std::uint64_t offset,
                                     const fs::path& path) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read", path, errno);
    }
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return done;
}

core::result<void> fsync_directory(const fs::path& dir) {
  file_descriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return io_error("cannot open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return io_error("cannot fsync directory", dir, errno);
  return {};
}

// ---- ids ---------------------------------------------------------------------------------------

bool valid_id(std::string_view id) {
  return id.size() == id_chars && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool id_is_encrypted(std::string_view id) {
  char last = id.back();
  int value = last <= '9' ? last - '0' : last - 'a' + 10;
  return (value & 1) != 0;
}

std::string new_id(bool encrypted) {
  std::string bytes = core::random_bytes(id_chars / 2);
  bytes.back() = static_cast<char>((bytes.back() & ~1) | (encrypted ? 1 : 0));
  return core::to_hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

fs::path blob_path(const fs::path& dir, std::string_view id) {
  return dir / std::string(id.substr(0, 2)) / std::string(id);
}

// ---- big-endian fields -------------------------------------------------------------------------

void put_big_endian(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint64_t get_big_endian(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

// ---- AES-256-GCM -------------------------------------------------------------------------------

struct cipher_context_deleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using cipher_context = std::unique_ptr<EVP_CIPHER_CTX, cipher_context_deleter>;

const EVP_CIPHER* aes_256_gcm() {
  // Fetched once from the default provider and kept for the life of the process.
  static const EVP_CIPHER* cipher = [] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (c == nullptr)
      throw std::runtime_error("OpenSSL has no AES-256-GCM in its default provider");
    return c;
  }();
  return cipher;
}

cipher_context new_cipher_context() {
  cipher_context ctx(EVP_CIPHER_CTX_new());
  if (!ctx) throw std::runtime_error("OpenSSL could not allocate a cipher context");
  return ctx;
}

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Writes plaintext.size() + tag_bytes bytes (ciphertext then tag) to `out`.
// Fails only if OpenSSL itself is broken.
void seal(EVP_CIPHER_CTX* ctx, std::string_view key, std::string_view nonce, std::string_view aad,
          std::string_view plaintext, char* out) {
  assert(key.size() == key_bytes && nonce.size() == nonce_bytes);
  auto* o = reinterpret_cast<unsigned char*>(out);
  int len = 0, tail = 0;
  bool ok = EVP_EncryptInit_ex2(ctx, aes_256_gcm(), bytes_of(key), bytes_of(nonce), nullptr) == 1 &&
            (aad.empty() || EVP_EncryptUpdate(ctx, nullptr, &len, bytes_of(aad),
                                              static_cast<int>(aad.size())) == 1) &&
            EVP_EncryptUpdate(ctx, o, &len, bytes_of(plaintext),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx, o + len, &tail) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, tag_bytes, o + plaintext.size()) == 1;
  if (!ok || static_cast<std::size_t>(len + tail) != plaintext.size()) {
    throw std::runtime_error("OpenSSL failed to encrypt with AES-256-GCM");
  }
}

// `sealed` is ciphertext then tag; writes sealed.size() - tag_bytes bytes to
// `out`, which hold nothing trustworthy unless this returns true.
bool open_sealed(EVP_CIPHER_CTX* ctx, std::string_view key, std::string_view nonce,
                 std::string_view aad, std::string_view sealed, char* out) {
  assert(key.size() == key_bytes && nonce.size() == nonce_bytes && sealed.size() >= tag_bytes);
  std::string_view ciphertext = sealed.substr(0, sealed.size() - tag_bytes);
  unsigned char tag[tag_bytes];
  std::memcpy(tag, sealed.data() + ciphertext.size(), tag_bytes);
  auto* o = reinterpret_cast<unsigned char*>(out);
  int len = 0, tail = 0;
  return EVP_DecryptInit_ex2(ctx, aes_256_gcm(), bytes_of(key), bytes_of(nonce), nullptr) == 1 &&
         (aad.empty() || EVP_DecryptUpdate(ctx, nullptr, &len, bytes_of(aad),
                                           static_cast<int>(aad.size())) == 1) &&
         EVP_DecryptUpdate(ctx, o, &len, bytes_of(ciphertext),
                           static_cast<int>(ciphertext.size())) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, tag_bytes, tag) == 1 &&
         EVP_DecryptFinal_ex(ctx, o + len, &tail) == 1;
}

// ---- chunks ------------------------------------------------------------------------------------

std::uint64_t chunk_count(std::uint64_t plaintext_size) {
  return plaintext_size == 0 ? 1 : (plaintext_size - 1) / encrypted_chunk_bytes + 1;
}

std::uint64_t encrypted_file_size(std::uint64_t plaintext_size) {
  return header_bytes + plaintext_size + chunk_count(plaintext_size) * tag_bytes;
}

std::uint64_t chunk_offset(std::uint64_t index) {
  return header_bytes + index * (encrypted_chunk_bytes + tag_bytes);
}

std::string chunk_nonce(std::string_view prefix, std::uint64_t index) {
  std::string nonce(prefix);
  put_big_endian(nonce, index, 8);
  return nonce;
}

std::string chunk_aad(std::uint64_t index, bool last) {
  std::string aad;
  put_big_endian(aad, index, 8);
  aad += last ? '\1' : '\0';
  return aad;
}

}  // namespace

// ---- master_key --------------------------------------------------------------------------------

master_key::master_key(std::string bytes) : key_(std::move(bytes)) {
  assert(key_.size() == key_bytes);
}

core::result<master_key> master_key::load_or_create(const fs::path& path) {
  // Twice at most: if another process creates the file between our failed
  // open and our O_EXCL create, the second round reads what it wrote.
  for (int attempt = 0; attempt < 2; ++attempt) {
    file_descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid()) {
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) return io_error("cannot stat master key", path, errno);
      if (!S_ISREG(st.st_mode)) {
        return core::make_error(errc::io, "master key " + path.string() + " is not a regular file");
      }
      if (st.st_size != static_cast<off_t>(key_bytes)) {
        return core::make_error(
            errc::io,
            "master key " + path.string() + " is " + std::to_string(st.st_size) +
                " bytes, not a 32-byte key; restore the original file (without it no "
                "encrypted object can be read), or delete it only if no encrypted object exists");
      }
      std::string key(key_bytes, '\0');
      auto n = pread_full(fd.get(), key.data(), key.size(), 0, path);
      if (!n) return n.error();
      if (*n != key_bytes)
        return core::make_error(errc::io,
                                "master key " + path.string() + " changed while being read");
      return master_key(std::move(key));
    }
    if (errno != ENOENT) return io_error("cannot open master key", path, errno);

    fd = file_descriptor(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) {
      if (errno == EEXIST) continue;
      return io_error("cannot create master key", path, errno);
    }
    std::string key = core::random_bytes(key_bytes);
    auto written = write_all(fd.get(), key, path);
    if (written && ::fsync(fd.get()) != 0)
      written = io_error("cannot fsync master key", path, errno);
    if (written && fd.close() != 0) written = io_error("cannot close master key", path, errno);
    if (written) {
      fs::path parent = path.parent_path().empty() ? fs::path(".") : path.parent_path();
      written = fsync_directory(parent);
    }
    if (!written) {
      // A short key file would be refused at every later start; leave none.
      ::unlink(path.c_str());
      return written.error();
    }
    return master_key(std::move(key));
  }
  return core::make_error(errc::io,
                          "master key " + path.string() + " keeps appearing and disappearing");
}

std::string master_key::wrap(std::string_view data_key) const {
  std::string out = core::random_bytes(nonce_bytes);
  out.resize(nonce_bytes + data_key.size() + tag_bytes);
  auto ctx = new_cipher_context();
  seal(ctx.get(), key_, std::string_view(out).substr(0, nonce_bytes), {}, data_key,
       out.data() + nonce_bytes);
  return out;
}

core::result<std::string> master_key::unwrap(std::string_view wrapped) const {
  if (wrapped.size() < nonce_bytes + tag_bytes) {
    return core::make_error(errc::corrupt,
                            "wrapped key is " + std::to_string(wrapped.size()) + " bytes long");
  }
  std::string out(wrapped.size() - nonce_bytes - tag_bytes, '\0');
  auto ctx = new_cipher_context();
  if (!open_sealed(ctx.get(), key_, wrapped.substr(0, nonce_bytes), {}, wrapped.substr(nonce_bytes),
                   out.data())) {
    OPENSSL_cleanse(out.data(), out.size());
    return core::make_error(errc::wrong_key, "the data key does not unwrap with this master key");
  }
  return out;
}

// ---- blob_writer -------------------------------------------------------------------------------

struct blob_writer::impl {
  fs::path dir;  // the store's directory
  std::string id;
  fs::path temp_path;  // <dir>/tmp/<id>
  file_descriptor fd;
  bool encrypted = false;
  std::uint64_t size = 0;
  bool committed = false;
  bool failed = false;  // after any error the writer refuses to go on

  // Encrypted only.
  std::string data_key;
  std::string nonce_prefix;
  cipher_context ctx;
  std::string pending;  // plaintext not yet sealed: at most one chunk
  std::string sealed;   // scratch for one sealed chunk
  std::uint64_t chunk_index = 0;

  ~impl() {
    if (!committed) {
      fd.reset();
      ::unlink(temp_path.c_str());
    }
    OPENSSL_cleanse(data_key.data(), data_key.size());
    OPENSSL_cleanse(pending.data(), pending.size());
  }

  core::error fail(core::error e) {
    failed = true;
    return e;
  }

  // Seals `pending` as chunk `chunk_index` and appends it to the file.
  core::result<void> seal_pending(bool last) {
    sealed.resize(pending.size() + tag_bytes);
    seal(ctx.get(), data_key, chunk_nonce(nonce_prefix, chunk_index), chunk_aad(chunk_index, last),
         pending, sealed.data());
    auto written = write_all(fd.get(), sealed, temp_path);
    if (!written) return written;
    pending.clear();
    ++chunk_index;
    return {};
  }
};

blob_writer::blob_writer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
blob_writer::blob_writer(blob_writer&&) noexcept = default;
blob_writer& blob_writer::operator=(blob_writer&&) noexcept = default;
blob_writer::~blob_writer() = default;

std::uint64_t blob_writer::size() const { return impl_->size; }

core::result<void> blob_writer::write(std::string_view data) {
  impl& w = *impl_;
  assert(!w.committed);
  if (w.failed)
    return core::make_error(errc::io, "an earlier write to " + w.temp_path.string() + " failed");
  w.size += data.size();
  if (!w.encrypted) {
    auto written = write_all(w.fd.get(), data, w.temp_path);
    if (!written) return w.fail(written.error());
    return {};
  }
  while (!data.empty()) {
    // A full chunk is sealed only once more data shows it is not the last.
    if (w.pending.size() == encrypted_chunk_bytes) {
      auto written = w.seal_pending(false);
      if (!written) return w.fail(written.error());
    }
    std::size_t take = std::min(encrypted_chunk_bytes - w.pending.size(), data.size());
    w.pending.append(data.substr(0, take));
    data.remove_prefix(take);
  }
  return {};
}

core::result<blob_info> blob_writer::commit() {
  impl& w = *impl_;
  assert(!w.committed);
  if (w.failed)
    return core::make_error(errc::io, "an earlier write to " + w.temp_path.string() + " failed");

  if (w.encrypted) {
    if (auto sealed = w.seal_pending(true); !sealed) return w.fail(sealed.error());
    std::string size_field;
    put_big_endian(size_field, w.size, 8);
    if (auto patched = pwrite_all(w.fd.get(), size_field, size_field_offset, w.temp_path);
        !patched) {
      return w.fail(patched.error());
    }
  }
  if (::fsync(w.fd.get()) != 0) return w.fail(io_error("cannot fsync", w.temp_path, errno));
  if (w.fd.close() != 0) return w.fail(io_error("cannot close", w.temp_path, errno));

  fs::path final_path = blob_path(w.dir, w.id);
  fs::path final_dir = final_path.parent_path();
  if (::mkdir(final_dir.c_str(), 0755) == 0) {
    // The new subdirectory's own entry must be durable before the blob's is.
    if (auto synced = fsync_directory(w.dir); !synced) return w.fail(synced.error());
  } else if (errno != EEXIST) {
    return w.fail(io_error("cannot create directory", final_dir, errno));
  }
  if (::rename(w.temp_path.c_str(), final_path.c_str()) != 0) {
    return w.fail(io_error("cannot rename " + w.temp_path.string() + " to", final_path, errno));
  }
  w.committed = true;  // the temporary name is gone
  auto synced = fsync_directory(final_dir);
  if (synced) synced = fsync_directory(w.dir / "tmp");
  if (!synced) {
    // Not known to be durable: report failure and take the blob back, so the
    // caller never records an object that a crash could lose.
    ::unlink(final_path.c_str());
    w.failed = true;
    return synced.error();
  }
  return blob_info{w.id, w.size, w.encrypted};
}

// ---- blob_reader -------------------------------------------------------------------------------

struct blob_reader::impl {
  fs::path path;
  file_descriptor fd;
  std::uint64_t size = 0;
  bool encrypted = false;

  // Encrypted only.
  std::string data_key;
  std::string nonce_prefix;
  cipher_context ctx;
  std::string sealed;  // scratch for one sealed chunk
  std::string plain;   // plaintext of chunk `cached`, verified
  std::optional<std::uint64_t> cached;

  ~impl() {
    OPENSSL_cleanse(data_key.data(), data_key.size());
    OPENSSL_cleanse(plain.data(), plain.size());
  }

  core::result<void> load_chunk(std::uint64_t index) {
    if (cached == index) return {};
    cached.reset();
    const std::uint64_t last = chunk_count(size) - 1;
    const std::size_t length = index == last
                                   ? static_cast<std::size_t>(size - index * encrypted_chunk_bytes)
                                   : encrypted_chunk_bytes;
    sealed.resize(length + tag_bytes);
    auto n = pread_full(fd.get(), sealed.data(), sealed.size(), chunk_offset(index), path);
    if (!n) return n.error();
    if (*n != sealed.size())
      return corrupt(path, "the file ends inside chunk " + std::to_string(index));
    plain.resize(length);
    if (!open_sealed(ctx.get(), data_key, chunk_nonce(nonce_prefix, index),
                     chunk_aad(index, index == last), sealed, plain.data())) {
      return corrupt(path, "chunk " + std::to_string(index) + " fails authentication");
    }
    cached = index;
    return {};
  }
};

blob_reader::blob_reader(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
blob_reader::blob_reader(blob_reader&&) noexcept = default;
blob_reader& blob_reader::operator=(blob_reader&&) noexcept = default;
blob_reader::~blob_reader() = default;

std::uint64_t blob_reader::size() const { return impl_->size; }
bool blob_reader::encrypted() const { return impl_->encrypted; }
int blob_reader::plain_fd() const { return impl_->encrypted ? -1 : impl_->fd.get(); }

core::result<std::size_t> blob_reader::read(std::uint64_t offset, char* out, std::size_t n) {
  impl& r = *impl_;
  if (offset >= r.size || n == 0) return std::size_t{0};
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, r.size - offset));
  if (!r.encrypted) {
    auto got = pread_full(r.fd.get(), out, n, offset, r.path);
    if (got && *got == 0) {
      return core::make_error(errc::io,
                              "blob " + r.path.string() + " is shorter than when it was opened");
    }
    return got;
  }
  std::size_t done = 0;
  while (done < n) {
    const std::uint64_t at = offset + done;
    const std::uint64_t index = at / encrypted_chunk_bytes;
    if (auto loaded = r.load_chunk(index); !loaded) return loaded.error();
    const std::size_t within = static_cast<std::size_t>(at - index * encrypted_chunk_bytes);
    const std::size_t take = std::min(r.plain.size() - within, n - done);
    std::memcpy(out + done, r.plain.data() + within, take);
    done += take;
  }
  return done;
}

// ---- blob_store --------------------------------------------------------------------------------

blob_store::blob_store(fs::path dir, master_key key) : dir_(std::move(dir)), key_(std::move(key)) {
  // Throws at start-up when the data directory is unusable: a misconfiguration.
  fs::create_directories(dir_ / "tmp");
}

core::result<blob_writer> blob_store::create(bool encrypt) {
  auto w = std::make_unique<blob_writer::impl>();
  w->dir = dir_;
  w->id = new_id(encrypt);
  w->temp_path = dir_ / "tmp" / w->id;
  w->encrypted = encrypt;
  w->fd =
      file_descriptor(::open(w->temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!w->fd.valid()) {
    int err = errno;
    w->committed = true;  // nothing of ours to remove
    return io_error("cannot create", w->temp_path, err);
  }
  if (encrypt) {
    w->data_key = core::random_bytes(key_bytes);
    w->nonce_prefix = core::random_bytes(nonce_prefix_bytes);
    w->ctx = new_cipher_context();
    w->pending.reserve(encrypted_chunk_bytes);
    w->sealed.reserve(encrypted_chunk_bytes + tag_bytes);
    std::string header(magic);
    put_big_endian(header, encrypted_chunk_bytes, 4);
    header += key_.wrap(w->data_key);
    header += w->nonce_prefix;
    put_big_endian(header, 0, 8);  // the plaintext size, patched at commit
    assert(header.size() == header_bytes);
    if (auto written = write_all(w->fd.get(), header, w->temp_path); !written)
      return written.error();
  }
  return blob_writer(std::move(w));
}

core::result<blob_reader> blob_store::open(const std::string& id) const {
  if (!valid_id(id)) return core::make_error(errc::not_found, "no blob " + id);
  auto r = std::make_unique<blob_reader::impl>();
  r->path = blob_path(dir_, id);
  r->fd = file_descriptor(::open(r->path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!r->fd.valid()) {
    if (errno == ENOENT) return core::make_error(errc::not_found, "no blob " + id);
    return io_error("cannot open", r->path, errno);
  }
  struct stat st {};
  if (::fstat(r->fd.get(), &st) != 0) return io_error("cannot stat", r->path, errno);
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  r->encrypted = id_is_encrypted(id);
  if (!r->encrypted) {
    r->size = file_size;
    return blob_reader(std::move(r));
  }

  std::string header(header_bytes, '\0');
  auto n = pread_full(r->fd.get(), header.data(), header.size(), 0, r->path);
  if (!n) return n.error();
  if (*n != header_bytes) return corrupt(r->path, "the header is cut short");
  if (std::string_view(header).substr(0, magic.size()) != magic)
    return corrupt(r->path, "no AFB1 header");
  if (get_big_endian(header, magic.size(), 4) != encrypted_chunk_bytes) {
    return corrupt(r->path, "unexpected chunk size " +
                                std::to_string(get_big_endian(header, magic.size(), 4)));
  }
  auto data_key = key_.unwrap(std::string_view(header).substr(magic.size() + 4, wrapped_key_bytes));
  if (!data_key) {
    if (data_key.error().code != errc::wrong_key) return data_key.error();
    return core::make_error(errc::wrong_key,
                            "blob " + r->path.string() +
                                ": its data key does not unwrap with this master key (a "
                                "different master.key, or a damaged header)");
  }
  r->data_key = std::move(*data_key);
  r->nonce_prefix = header.substr(magic.size() + 4 + wrapped_key_bytes, nonce_prefix_bytes);
  r->size = get_big_endian(header, size_field_offset, 8);
  if (r->size > max_plaintext_bytes || encrypted_file_size(r->size) != file_size) {
    return corrupt(r->path, "the file is " + std::to_string(file_size) +
                                " bytes long, its header promises " + std::to_string(r->size) +
                                " bytes of plaintext");
  }
  r->ctx = new_cipher_context();
  r->sealed.reserve(encrypted_chunk_bytes + tag_bytes);
  r->plain.reserve(encrypted_chunk_bytes);
  if (auto first = r->load_chunk(0); !first) return first.error();
  return blob_reader(std::move(r));
}

void blob_store::remove(const std::string& id) {
  if (!valid_id(id)) return;
  ::unlink(blob_path(dir_, id).c_str());
}

bool blob_store::exists(const std::string& id) const {
  if (!valid_id(id)) return false;
  struct stat st {};
  return ::stat(blob_path(dir_, id).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void blob_store::clear_temporary() {
  std::error_code ec;
  for (fs::directory_iterator it(dir_ / "tmp", ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ignored;
    if (it->is_regular_file(ignored)) fs::remove(it->path(), ignored);
  }
}

std::vector<std::string> blob_store::list() const {
  std::vector<std::string> ids;
  std::error_code ec;
  for (fs::directory_iterator top(dir_, ec), end; !ec && top != end; top.increment(ec)) {
    std::string prefix = top->path().filename().string();
    std::error_code ignored;
    if (prefix.size() != 2 || !top->is_directory(ignored)) continue;
    std::error_code inner;
    for (fs::directory_iterator it(top->path(), inner); !inner && it != end; it.increment(inner)) {
      std::string name = it->path().filename().string();
      if (valid_id(name) && name.compare(0, 2, prefix) == 0) ids.push_back(std::move(name));
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace airfleet::s3
