// The data directory: created and initialised on first start (database,
// account id, region, the first access key and its AWS shared-credentials
// file), reused as it is on every later start.
//
//   airfleet.db          SQLite database (WAL, synchronous=FULL)
//   admin-credentials    [default] aws_access_key_id / aws_secret_access_key / region (0600)
//   pki/                 root CA and server certificate (see pki_material)
#pragma once

#include "core/error.hpp"
#include "identity/pki.hpp"
#include "storage/database.hpp"
#include "storage/key_store.hpp"

#include <memory>
#include <string>

namespace airfleet::server {

struct identity_settings {
  std::string account_id;
  std::string region;
  std::string token_secret;       // signs pagination tokens
  std::string registration_code;  // CN of CA verification certificates
};

// pki/root-ca.{pem,key}: the CA devices trust and that issues their
// certificates; pki/server.{pem,key}: the TLS listeners' certificate, with
// subject alternative names localhost, 127.0.0.1 and the configured host
// names (re-issued when they change or it nears expiry). Keys are 0600.
struct pki_material {
  std::string root_ca_path;
  std::string server_cert_path;
  std::string server_key_path;
  identity::pki::cert_ptr root_ca;
  identity::pki::key_ptr root_key;
};

class data_dir {
 public:
  // Opens (creating when needed) the directory and its database.
  static core::result<std::unique_ptr<data_dir>> open(const std::string& path);

  // Reads the stored account id and region, storing the given ones (or
  // defaults) on first start. A non-empty requested value that differs from
  // the stored one is an error: the data would carry two identities.
  core::result<identity_settings> identity(const std::string& requested_account, const std::string& requested_region);
  core::result<pki_material> ensure_pki(identity::pki::key_type type, const std::vector<std::string>& hostnames);
  // Makes sure an access key exists and the credentials file names one.
  core::result<std::string> ensure_admin_credentials(const std::string& region);

  storage::database& database() { return *db_; }
  storage::key_store& keys() { return *keys_; }
  const std::string& path() const { return path_; }
  std::string credentials_path() const { return path_ + "/admin-credentials"; }

 private:
  std::string path_;
  std::unique_ptr<storage::database> db_;
  std::unique_ptr<storage::sqlite_key_store> keys_;
  std::unique_ptr<storage::sqlite_meta_store> meta_;
};

// A new access key: "AKIA" + 16 characters, and a 40-character secret.
storage::access_key_record make_access_key(std::int64_t now_ms);

// Writes `content` to `path` atomically (temporary file, fsync, rename) with `mode`.
core::result<void> write_file_atomically(const std::string& path, const std::string& content, unsigned mode);

}  // namespace airfleet::server
