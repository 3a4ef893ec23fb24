#include "storage/database.hpp"

#include <sqlite3.h>

#include <cassert>

namespace airfleet::storage {

namespace {
core::result<void> apply_migrations(connection& db, const std::vector<migration>& migrations) {
  auto version_stmt = db.cached("PRAGMA user_version");
  if (!version_stmt) return version_stmt.error();
  auto row = (*version_stmt)->step();
  if (!row) return row.error();
  int current = static_cast<int>((*version_stmt)->integer(0));
  (*version_stmt)->reset();
  for (const auto& m : migrations) {
    if (m.version <= current) continue;
    if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return r.error();
    auto applied = db.exec(m.sql);
    if (applied) applied = db.exec("PRAGMA user_version = " + std::to_string(m.version));
    if (!applied) {
      (void)db.exec("ROLLBACK");
      return core::make_error(errc::sqlite_error, "migration " + std::to_string(m.version) +
                                                      " failed: " + applied.error().message);
    }
    if (auto r = db.exec("COMMIT"); !r) return r.error();
  }
  return {};
}
}  // namespace

core::result<std::unique_ptr<database>> database::open(const options& opts,
                                                       const std::vector<migration>& migrations) {
  std::unique_ptr<database> db(new database(opts));
  connection::options writer_opts;
  writer_opts.vfs = opts.vfs;
  auto writer = connection::open(opts.path, writer_opts);
  if (!writer) return writer.error();
  db->writer_ = std::move(*writer);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=";
  pragmas += opts.synchronous_full ? "FULL;" : "OFF;";
  if (auto r = db->writer_->exec(pragmas); !r) return r.error();
  if (auto r = apply_migrations(*db->writer_, migrations); !r) return r.error();

  connection::options reader_opts;
  reader_opts.vfs = opts.vfs;
  reader_opts.read_only = true;
  for (int i = 0; i < opts.readers; ++i) {
    auto reader = connection::open(opts.path, reader_opts);
    if (!reader) return reader.error();
    db->idle_readers_.push_back(reader->get());
    db->readers_.push_back(std::move(*reader));
  }
  db->writer_thread_ = std::thread([raw = db.get()] { raw->writer_loop(); });
  return db;
}

database::~database() { close(); }

void database::close() {
  {
    std::lock_guard lock(queue_mutex_);
    if (stopping_ && !writer_thread_.joinable()) return;
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    std::unique_lock lock(readers_mutex_);
    closed_ = true;
    readers_cv_.notify_all();  // wake waiters so they see closed_
    // Wait for leased readers to come back before closing them.
    readers_cv_.wait(lock, [&] { return idle_readers_.size() == readers_.size(); });
  }
  readers_.clear();
  idle_readers_.clear();
  writer_.reset();
}

void database::submit(std::function<bool(connection&)> run,
                      std::function<void(const core::error*)> done) {
  {
    std::lock_guard lock(queue_mutex_);
    if (!stopping_) {
      queue_.push_back(task{std::move(run), std::move(done)});
      queue_cv_.notify_one();
      return;
    }
  }
  core::error closed = core::make_error(errc::closed, "the database is shutting down");
  done(&closed);
}

void database::writer_loop() {
  std::vector<task> group;
  while (true) {
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      while (!queue_.empty() && group.size() < options_.max_group) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    run_group(group);
    group.clear();
  }
}

int database::add_group_hook(std::function<core::result<void>(connection&)> hook) {
  std::lock_guard lock(hooks_mutex_);
  group_hooks_.emplace_back(next_hook_, std::move(hook));
  return next_hook_++;
}

void database::remove_group_hook(int handle) {
  std::lock_guard lock(hooks_mutex_);
  std::erase_if(group_hooks_, [&](const auto& h) { return h.first == handle; });
}

void database::run_group(std::vector<task>& group) {
  connection& db = *writer_;
  // The group's fixed statements are prepared once per connection (cached):
  // preparing them anew for every write cost a tenth of the writer's time.
  if (auto begun = run_cached(db, "BEGIN IMMEDIATE"); !begun) {
    core::error failure = begun.error();
    for (auto& t : group) t.done(&failure);
    return;
  }
  for (auto& t : group) {
    if (auto r = run_cached(db, "SAVEPOINT one_write"); !r) {
      t.run = nullptr;  // mark as failed below
      continue;
    }
    bool ok = t.run(db);
    if (!ok) (void)run_cached(db, "ROLLBACK TO one_write");
    (void)run_cached(db, "RELEASE one_write");
  }
  core::result<void> committed;
  {
    std::lock_guard lock(hooks_mutex_);
    for (auto& [handle, hook] : group_hooks_) {
      committed = hook(db);
      if (!committed) break;
    }
  }
  if (committed) committed = run_cached(db, "COMMIT");
  if (!committed) {
    core::error failure = committed.error();
    (void)db.exec("ROLLBACK");
    for (auto& t : group) t.done(&failure);
    return;
  }
  core::error savepoint_failed = core::make_error(errc::sqlite_error, "could not open a savepoint");
  for (auto& t : group) t.done(t.run ? nullptr : &savepoint_failed);
}

core::result<void> database::run_cached(connection& conn, std::string_view sql) {
  auto stmt = conn.cached(sql);
  if (!stmt) return stmt.error();
  return (*stmt)->run();
}

core::result<connection*> database::lease_reader() {
  std::unique_lock lock(readers_mutex_);
  readers_cv_.wait(lock, [&] { return closed_ || !idle_readers_.empty(); });
  if (closed_) return core::make_error(errc::closed, "the database is shutting down");
  connection* conn = idle_readers_.back();
  idle_readers_.pop_back();
  return conn;
}

void database::return_reader(connection* conn) {
  {
    std::lock_guard lock(readers_mutex_);
    idle_readers_.push_back(conn);
    if (closed_) {
      readers_cv_.notify_all();  // close() waits on the same condition
      return;
    }
  }
  readers_cv_.notify_one();
}

}  // namespace airfleet::storage
