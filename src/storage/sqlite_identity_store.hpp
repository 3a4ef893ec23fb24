// identity_store on SQLite (tables of schema migration 2).
#pragma once

#include "storage/database.hpp"
#include "storage/identity_store.hpp"

namespace airfleet::storage {

class sqlite_identity_store final : public identity_store {
 public:
  explicit sqlite_identity_store(database& db) : db_(db) {}
  core::result<void> transact(const std::function<core::result<void>(identity_writer&)>& work) override;
  core::result<void> read(const std::function<core::result<void>(identity_reader&)>& work) override;

 private:
  database& db_;
};

}  // namespace airfleet::storage
