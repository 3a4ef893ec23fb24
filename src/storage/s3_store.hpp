// What the firmware store (S3 API) keeps in the database: buckets, object
// versions (delete markers included) and multipart uploads with their parts.
// Bodies are blobs on disk (s3/blob_store.hpp); a row names its blobs. Every
// call that replaces or removes rows returns the blob ids nothing refers to
// any more, for the caller to delete once the change is durable.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace airfleet::storage {

struct s3_bucket_row {
  std::string name;
  std::string region;
  std::int64_t created_ms = 0;
  std::string versioning;                 // "", "Enabled", "Suspended"
  std::optional<std::string> encryption;  // "AES256" when the default encrypts
};

struct s3_blob_ref {
  std::string id;
  std::int64_t size = 0;
};

struct s3_object_row {
  std::string bucket;
  std::string key;
  std::int64_t seq = 0;
  std::string version_id;  // "null" for an unversioned write
  bool is_latest = true;
  bool delete_marker = false;
  std::int64_t size = 0;
  std::string etag;        // quoted
  std::int64_t last_modified_ms = 0;
  std::optional<std::string> content_type;
  std::string headers = "{}";  // JSON object, owned by the S3 layer
  bool encrypted = false;
  std::vector<s3_blob_ref> blobs;
};

struct s3_upload_row {
  std::string upload_id;
  std::string bucket;
  std::string key;
  std::int64_t created_ms = 0;
  std::optional<std::string> content_type;
  std::string headers = "{}";
  bool encrypted = false;
};

struct s3_part_row {
  std::string upload_id;
  int part_number = 0;
  std::int64_t size = 0;
  std::string etag;  // quoted
  std::string blob;
  std::int64_t last_modified_ms = 0;
};

enum class s3_store_errc {
  no_such_bucket = 1,
  bucket_exists,
  bucket_not_empty,
  no_such_upload,
  no_such_version,
};
std::error_code make_error_code(s3_store_errc e);

class s3_store {
 public:
  virtual ~s3_store() = default;

  // Buckets.
  virtual core::result<void> create_bucket(const s3_bucket_row& row) = 0;  // bucket_exists
  virtual core::result<std::optional<s3_bucket_row>> find_bucket(const std::string& name) = 0;
  virtual core::result<std::vector<s3_bucket_row>> list_buckets() = 0;
  // bucket_not_empty while any version, delete marker or upload remains.
  virtual core::result<void> delete_bucket(const std::string& name) = 0;
  virtual core::result<void> set_versioning(const std::string& name, const std::string& status) = 0;
  virtual core::result<void> set_encryption(const std::string& name, const std::optional<std::string>& algo) = 0;

  // Writes a new version of row.key (its version_id already chosen: "null"
  // replaces any existing "null" version). It becomes the latest. Returns
  // the blobs freed by a replaced "null" version. `seq` is assigned.
  virtual core::result<std::vector<std::string>> put_object(s3_object_row row) = 0;
  // The latest version (possibly a delete marker), or a given version.
  virtual core::result<std::optional<s3_object_row>> find_object(const std::string& bucket, const std::string& key,
                                                                 const std::optional<std::string>& version_id) = 0;
  // Removes one version for good; the newest remaining becomes the latest.
  // Returns the freed blobs (no_such_version when absent).
  virtual core::result<std::vector<std::string>> delete_version(const std::string& bucket, const std::string& key,
                                                                const std::string& version_id) = 0;
  // Latest, not-deleted objects with prefix <= key, key > `after` (or >=
  // `from` when `inclusive`), ordered by key; at most `limit`.
  virtual core::result<std::vector<s3_object_row>> list_current(const std::string& bucket, const std::string& prefix,
                                                                const std::string& from, bool inclusive,
                                                                std::size_t limit) = 0;
  // Every version and delete marker with the prefix, ordered by key then
  // newest first, starting after (key, seq) = (`from_key`, `before_seq`):
  // before_seq 0 means "after every version of from_key"; an empty from_key
  // starts at the beginning.
  virtual core::result<std::vector<s3_object_row>> list_versions(const std::string& bucket, const std::string& prefix,
                                                                 const std::string& from_key, std::int64_t before_seq,
                                                                 bool from_key_inclusive, std::size_t limit) = 0;

  // Multipart uploads.
  virtual core::result<void> create_upload(const s3_upload_row& row) = 0;
  virtual core::result<std::optional<s3_upload_row>> find_upload(const std::string& upload_id) = 0;
  // Records a part (replacing one with the same number); returns the
  // replaced part's blob if any. no_such_upload when the upload is gone.
  virtual core::result<std::vector<std::string>> put_part(const s3_part_row& row) = 0;
  virtual core::result<std::vector<s3_part_row>> list_parts(const std::string& upload_id, int after,
                                                            std::size_t limit) = 0;
  virtual core::result<std::vector<s3_upload_row>> list_uploads(const std::string& bucket, const std::string& prefix,
                                                                const std::string& key_after,
                                                                const std::string& upload_after,
                                                                std::size_t limit) = 0;
  // Ends an upload: its rows go, `object` (if given) is put as by
  // put_object in the same transaction. Returns the blobs to delete: parts
  // not named in `object`, and a replaced "null" version's.
  virtual core::result<std::vector<std::string>> finish_upload(const std::string& upload_id,
                                                               std::optional<s3_object_row> object) = 0;
  // Uploads created before `created_before_ms` (the abandoned-upload sweep).
  virtual core::result<std::vector<std::string>> stale_uploads(std::int64_t created_before_ms) = 0;
  // Every blob id any row refers to (the orphan sweep at startup).
  virtual core::result<std::vector<std::string>> referenced_blobs() = 0;
};

}  // namespace airfleet::storage

template <>
struct std::is_error_code_enum<airfleet::storage::s3_store_errc> : std::true_type {};
