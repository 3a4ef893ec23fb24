// jobs_store on SQLite (database.hpp): jobs, their pending targets, job
// executions and job templates in the tables of schema.cpp (migration 4).
#pragma once

#include "storage/database.hpp"
#include "storage/jobs_store.hpp"

namespace airfleet::storage {

class sqlite_jobs_store final : public jobs_store {
 public:
  explicit sqlite_jobs_store(database& db) : db_(db) {}
  void submit(std::function<core::result<void>(jobs_writer&)> work,
              std::function<void(const core::error*)> done) override;
  core::result<void> read(const std::function<core::result<void>(jobs_reader&)>& work) override;
  int on_group_end(std::function<core::result<void>(jobs_writer&)> flush) override;
  void remove_group_end(int handle) override { db_.remove_group_hook(handle); }

 private:
  database& db_;
};

}  // namespace airfleet::storage
