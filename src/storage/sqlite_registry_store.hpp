// registry_store on SQLite (database.hpp): things, thing types, thing groups,
// memberships and tags in the tables of schema.cpp.
#pragma once

#include "storage/database.hpp"
#include "storage/registry_store.hpp"

namespace airfleet::storage {

class sqlite_registry_store final : public registry_store {
 public:
  explicit sqlite_registry_store(database& db) : db_(db) {}
  core::result<void> transact(const std::function<core::result<void>(registry_writer&)>& work) override;
  core::result<void> read(const std::function<core::result<void>(registry_reader&)>& work) override;

 private:
  database& db_;
};

}  // namespace airfleet::storage
