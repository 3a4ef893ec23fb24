// s3_store on SQLite (database.hpp), in the tables of schema.cpp (migration 5).
#pragma once

#include "storage/database.hpp"
#include "storage/s3_store.hpp"

namespace airfleet::storage {

class sqlite_s3_store final : public s3_store {
 public:
  explicit sqlite_s3_store(database& db) : db_(db) {}

  core::result<void> create_bucket(const s3_bucket_row& row) override;
  core::result<std::optional<s3_bucket_row>> find_bucket(const std::string& name) override;
  core::result<std::vector<s3_bucket_row>> list_buckets() override;
  core::result<void> delete_bucket(const std::string& name) override;
  core::result<void> set_versioning(const std::string& name, const std::string& status) override;
  core::result<void> set_encryption(const std::string& name, const std::optional<std::string>& algo) override;

  core::result<std::vector<std::string>> put_object(s3_object_row row) override;
  core::result<std::optional<s3_object_row>> find_object(const std::string& bucket, const std::string& key,
                                                         const std::optional<std::string>& version_id) override;
  core::result<std::vector<std::string>> delete_version(const std::string& bucket, const std::string& key,
                                                        const std::string& version_id) override;
  core::result<std::vector<s3_object_row>> list_current(const std::string& bucket, const std::string& prefix,
                                                        const std::string& from, bool inclusive,
                                                        std::size_t limit) override;
  core::result<std::vector<s3_object_row>> list_versions(const std::string& bucket, const std::string& prefix,
                                                         const std::string& from_key, std::int64_t before_seq,
                                                         bool from_key_inclusive, std::size_t limit) override;

  core::result<void> create_upload(const s3_upload_row& row) override;
  core::result<std::optional<s3_upload_row>> find_upload(const std::string& upload_id) override;
  core::result<std::vector<std::string>> put_part(const s3_part_row& row) override;
  core::result<std::vector<s3_part_row>> list_parts(const std::string& upload_id, int after,
                                                    std::size_t limit) override;
  core::result<std::vector<s3_upload_row>> list_uploads(const std::string& bucket, const std::string& prefix,
                                                        const std::string& key_after, const std::string& upload_after,
                                                        std::size_t limit) override;
  core::result<std::vector<std::string>> finish_upload(const std::string& upload_id,
                                                       std::optional<s3_object_row> object) override;
  core::result<std::vector<std::string>> stale_uploads(std::int64_t created_before_ms) override;
  core::result<std::vector<std::string>> referenced_blobs() override;

 private:
  database& db_;
};

}  // namespace airfleet::storage
