// Access keys (id + secret) that sign API requests, and the small key/value
// settings the server keeps beside its data (account id, region, secrets
// that never leave the data directory).
#pragma once

#include "core/error.hpp"
#include "storage/database.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace airfleet::storage {

struct access_key_record {
  std::string access_key_id;
  std::string secret;
  std::int64_t created_ms = 0;
};

class key_store {
 public:
  virtual ~key_store() = default;
  virtual core::result<std::optional<access_key_record>> find(const std::string& access_key_id) = 0;
  virtual core::result<void> insert(const access_key_record& key) = 0;
  virtual core::result<std::vector<access_key_record>> list() = 0;
  // false when there was no such key.
  virtual core::result<bool> remove(const std::string& access_key_id) = 0;
};

class meta_store {
 public:
  virtual ~meta_store() = default;
  virtual core::result<std::optional<std::string>> get(const std::string& key) = 0;
  // Stores `value` unless the key already has one; returns the value kept.
  virtual core::result<std::string> get_or_insert(const std::string& key, const std::string& value) = 0;
};

class sqlite_key_store final : public key_store {
 public:
  explicit sqlite_key_store(database& db) : db_(db) {}
  core::result<std::optional<access_key_record>> find(const std::string& access_key_id) override;
  core::result<void> insert(const access_key_record& key) override;
  core::result<std::vector<access_key_record>> list() override;
  core::result<bool> remove(const std::string& access_key_id) override;

 private:
  database& db_;
};

class sqlite_meta_store final : public meta_store {
 public:
  explicit sqlite_meta_store(database& db) : db_(db) {}
  core::result<std::optional<std::string>> get(const std::string& key) override;
  core::result<std::string> get_or_insert(const std::string& key, const std::string& value) override;

 private:
  database& db_;
};

}  // namespace airfleet::storage
