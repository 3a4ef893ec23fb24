#include "server/data_dir.hpp"

#include "core/crypto.hpp"
#include "core/time.hpp"
#include "storage/schema.hpp"

#include <boost/asio/ip/address.hpp>
#include <openssl/x509v3.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace airfleet::server {

namespace {
core::error io_error(const std::string& what) {
  return core::make_error(storage::errc::sqlite_error, what + ": " + std::strerror(errno));
}
}  // namespace

core::result<void> write_file_atomically(const std::string& path, const std::string& content, unsigned mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return io_error("cannot create " + tmp);
  ::fchmod(fd, mode);
  std::size_t written = 0;
  while (written < content.size()) {
    auto n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return io_error("cannot write " + tmp);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return io_error("cannot sync " + tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("cannot rename " + tmp);
  auto dir = std::filesystem::path(path).parent_path();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

storage::access_key_record make_access_key(std::int64_t now_ms) {
  return {"AKIA" + core::random_string(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
          core::random_string(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), now_ms};
}

core::result<std::unique_ptr<data_dir>> data_dir::open(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return core::make_error(storage::errc::sqlite_error, "cannot create data directory " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0700);
  auto dir = std::make_unique<data_dir>();
  dir->path_ = std::filesystem::absolute(path).lexically_normal().string();
  if (!dir->path_.empty() && dir->path_.back() == '/') dir->path_.pop_back();
  storage::database::options opts;
  opts.path = dir->path_ + "/airfleet.db";
  auto db = storage::database::open(opts, storage::schema_migrations());
  if (!db) return db.error();
  dir->db_ = std::move(*db);
  dir->keys_ = std::make_unique<storage::sqlite_key_store>(*dir->db_);
  dir->meta_ = std::make_unique<storage::sqlite_meta_store>(*dir->db_);
  return dir;
}

core::result<identity_settings> data_dir::identity(const std::string& requested_account,
                                                   const std::string& requested_region) {
  if (!requested_account.empty() &&
      (requested_account.size() != 12 || requested_account.find_first_not_of("0123456789") != std::string::npos))
    return core::make_error(storage::errc::sqlite_error, "--account-id must be 12 digits, not '" + requested_account + "'");
  std::string generated = std::to_string(1 + (static_cast<unsigned char>(core::random_bytes(1)[0]) % 9));
  generated += core::random_string(11, "0123456789");
  auto account = meta_->get_or_insert("account_id", requested_account.empty() ? generated : requested_account);
  if (!account) return account.error();
  auto region = meta_->get_or_insert("region", requested_region.empty() ? "us-east-1" : requested_region);
  if (!region) return region.error();
  auto secret = meta_->get_or_insert("token_secret", core::to_hex(core::sha256(core::random_bytes(32))));
  if (!secret) return secret.error();
  auto code = meta_->get_or_insert("registration_code", core::to_hex(core::sha256(core::random_bytes(32))));
  if (!code) return code.error();
  if (!requested_account.empty() && *account != requested_account)
    return core::make_error(storage::errc::sqlite_error,
                            "this data directory belongs to account " + *account + ", not " + requested_account +
                                ": drop --account-id or use another --data-dir");
  if (!requested_region.empty() && *region != requested_region)
    return core::make_error(storage::errc::sqlite_error,
                            "this data directory was initialised for region " + *region + ", not " + requested_region +
                                ": drop --region or use another --data-dir");
  return identity_settings{*account, *region, *secret, *code};
}

namespace {
core::result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::make_error(storage::errc::sqlite_error, "cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool covers(X509* cert, const std::vector<std::string>& dns, const std::vector<std::string>& ips) {
  for (const auto& d : dns)
    if (X509_check_host(cert, d.c_str(), d.size(), 0, nullptr) != 1) return false;
  for (const auto& ip : ips)
    if (X509_check_ip_asc(cert, ip.c_str(), 0) != 1) return false;
  return true;
}
}  // namespace

core::result<pki_material> data_dir::ensure_pki(identity::pki::key_type type, const std::vector<std::string>& hostnames) {
  namespace pki = identity::pki;
  std::string dir = path_ + "/pki";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);
  pki_material out;
  out.root_ca_path = dir + "/root-ca.pem";
  out.server_cert_path = dir + "/server.pem";
  out.server_key_path = dir + "/server.key";
  std::string root_key_path = dir + "/root-ca.key";
  auto now = core::system_clock().now();

  if (std::filesystem::exists(out.root_ca_path) && std::filesystem::exists(root_key_path)) {
    auto pem = read_file(out.root_ca_path);
    if (!pem) return pem.error();
    auto key_pem = read_file(root_key_path);
    if (!key_pem) return key_pem.error();
    auto cert = pki::read_certificate(*pem);
    auto key = pki::read_private_key(*key_pem);
    if (!cert || !key)
      return core::make_error(storage::errc::sqlite_error, "the root CA in " + dir + " does not parse");
    out.root_ca = std::move(*cert);
    out.root_key = std::move(*key);
  } else {
    out.root_key = pki::generate_key(type);
    pki::issue_request req;
    req.common_name = "airfleet root CA";
    req.public_key = out.root_key.get();
    req.lifetime = std::chrono::hours(24 * 365 * 30);
    req.ca = true;
    auto cert = pki::issue(req, nullptr, out.root_key.get(), now);
    if (!cert) return cert.error();
    out.root_ca = std::move(*cert);
    // The key first: a CA certificate without its key would be useless.
    if (auto r = write_file_atomically(root_key_path, pki::private_key_pem(out.root_key.get()), 0600); !r) return r.error();
    if (auto r = write_file_atomically(out.root_ca_path, pki::certificate_pem(out.root_ca.get()), 0644); !r) return r.error();
  }

  std::vector<std::string> dns{"localhost"};
  std::vector<std::string> ips{"127.0.0.1", "::1"};
  for (const auto& h : hostnames) {
    boost::system::error_code bad;
    boost::asio::ip::make_address(h, bad);
    (bad ? dns : ips).push_back(h);
  }
  bool reuse = false;
  if (std::filesystem::exists(out.server_cert_path) && std::filesystem::exists(out.server_key_path)) {
    auto pem = read_file(out.server_cert_path);
    auto cert = pem ? pki::read_certificate(*pem) : core::result<pki::cert_ptr>(pem.error());
    if (cert && pki::signed_by(cert->get(), out.root_ca.get()) && covers(cert->get(), dns, ips) &&
        pki::certificate_validity(cert->get()).not_after > now + std::chrono::hours(24 * 30))
      reuse = true;
  }
  if (!reuse) {
    auto key = pki::generate_key(type);
    pki::issue_request req;
    req.common_name = dns.size() > 1 ? dns[1] : "localhost";
    req.public_key = key.get();
    req.lifetime = std::chrono::hours(24 * 397);
    req.server = true;
    req.dns_names = dns;
    req.ip_addresses = ips;
    auto cert = pki::issue(req, out.root_ca.get(), out.root_key.get(), now);
    if (!cert) return cert.error();
    if (auto r = write_file_atomically(out.server_key_path, pki::private_key_pem(key.get()), 0600); !r) return r.error();
    if (auto r = write_file_atomically(out.server_cert_path,
                                       pki::certificate_pem(cert->get()) + pki::certificate_pem(out.root_ca.get()), 0644);
        !r)
      return r.error();
  }
  return out;
}

core::result<std::string> data_dir::ensure_admin_credentials(const std::string& region) {
  auto keys = keys_->list();
  if (!keys) return keys.error();
  storage::access_key_record key;
  std::string file = credentials_path();
  if (keys->empty()) {
    key = make_access_key(core::to_epoch_millis(core::system_clock().now()));
    if (auto r = keys_->insert(key); !r) return r.error();
  } else {
    if (std::filesystem::exists(file)) return file;  // already there: leave the operator's file alone
    key = keys->front();
  }
  std::string content = "[default]\naws_access_key_id = " + key.access_key_id +
                        "\naws_secret_access_key = " + key.secret + "\nregion = " + region + "\n";
  if (auto r = write_file_atomically(file, content, 0600); !r) return r.error();
  return file;
}

}  // namespace airfleet::server
