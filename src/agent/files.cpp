#include "agent/files.hpp"

#include "agent/errors.hpp"
#include "core/crypto.hpp"
#include "core/digest.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace airfleet::agent {

namespace fs = std::filesystem;

namespace {

core::error io_error(const std::string& what, const fs::path& path, int err) {
  return core::make_error(errc::io, what + " " + path.string() + ": " + std::strerror(err));
}

// Closes a descriptor on every path out of a function.
class descriptor {
 public:
  explicit descriptor(int fd) : fd_(fd) {}
  ~descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  descriptor(const descriptor&) = delete;
  descriptor& operator=(const descriptor&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error close() gives (a delayed write error).
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

core::result<void> write_all(int fd, const char* data, std::size_t size, const fs::path& path) {
  while (size > 0) {
    auto n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", path, errno);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

fs::path temporary_beside(const fs::path& path) {
  auto tmp = path;
  tmp += ".tmp";
  return tmp;
}

// fsync(tmp) is done by the caller; rename and make the rename durable.
core::result<void> publish(const fs::path& tmp, const fs::path& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("cannot rename onto", path, err);
  }
  auto dir = path.parent_path();
  return sync_path(dir.empty() ? fs::path(".") : dir);
}

}  // namespace

core::result<void> sync_path(const fs::path& path) {
  descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return io_error("cannot open", path, errno);
  if (::fsync(fd.get()) != 0) return io_error("cannot fsync", path, errno);
  return {};
}

core::result<void> write_file_atomically(const fs::path& path, std::string_view content) {
  auto tmp = temporary_beside(path);
  {
    descriptor fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return io_error("cannot create", tmp, errno);
    if (auto r = write_all(fd.get(), content.data(), content.size(), tmp); !r) return r;
    if (::fsync(fd.get()) != 0) return io_error("cannot fsync", tmp, errno);
    if (fd.close() != 0) return io_error("cannot close", tmp, errno);
  }
  return publish(tmp, path);
}

core::result<void> copy_file_atomically(const fs::path& from, const fs::path& to) {
  descriptor in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return io_error("cannot open", from, errno);
  auto tmp = temporary_beside(to);
  {
    descriptor out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (out.get() < 0) return io_error("cannot create", tmp, errno);
    std::vector<char> buffer(1 << 20);
    for (;;) {
      auto n = ::read(in.get(), buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("cannot read", from, errno);
      }
      if (n == 0) break;
      if (auto r = write_all(out.get(), buffer.data(), static_cast<std::size_t>(n), tmp); !r) return r;
    }
    if (::fsync(out.get()) != 0) return io_error("cannot fsync", tmp, errno);
    if (out.close() != 0) return io_error("cannot close", tmp, errno);
  }
  return publish(tmp, to);
}

core::result<std::optional<std::string>> read_file(const fs::path& path) {
  descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return io_error("cannot open", path, errno);
  }
  std::string out;
  char buffer[8192];
  for (;;) {
    auto n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read", path, errno);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return std::optional<std::string>(std::move(out));
}

void remove_file(const fs::path& path) {
  if (::unlink(path.c_str()) == 0) {
    auto dir = path.parent_path();
    (void)sync_path(dir.empty() ? fs::path(".") : dir);
  }
}

core::result<std::string> sha256_file(const fs::path& path) {
  descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return io_error("cannot open", path, errno);
  core::hasher h(core::hasher::kind::sha256);
  std::vector<char> buffer(1 << 20);
  for (;;) {
    auto n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot read", path, errno);
    }
    if (n == 0) break;
    h.update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
  auto raw = h.finish_raw();
  return core::to_hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::uint64_t file_size_or_zero(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace airfleet::agent
