// The SQLite database behind airfleet's stores.
//
// Durability: WAL with synchronous=FULL, so a commit has reached the disk
// before anyone hears "done". Speed comes from group commit: every write goes
// to one writer thread, which takes all waiting writes, runs each in a
// SAVEPOINT of its own inside one transaction, commits once (one fsync for the
// whole group) and only then answers each caller. A write that fails rolls
// back its own savepoint and leaves the others alone. Reads use their own
// read-only connections from a small pool and never wait on the writer.
//
// Schema changes are numbered migrations applied in order at open
// (PRAGMA user_version records the last one applied).
#pragma once

#include "storage/sqlite.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace airfleet::storage {

struct migration {
  int version;
  std::string_view sql;
};

class database {
 public:
  struct options {
    std::string path;
    std::string vfs;              // empty: the default VFS (tests pass a fault-injection shim)
    bool synchronous_full = true; // false only in tests that prove the shim catches loss
    int readers = 4;
    std::size_t max_group = 512;  // writes per group commit
  };

  static core::result<std::unique_ptr<database>> open(const options& opts,
                                                      const std::vector<migration>& migrations);
  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  // Runs `work(connection&) -> result<T>` on the writer inside its own
  // savepoint; returns once the group holding it is durable. If `work`
  // returns an error its changes are rolled back and the error returned.
  template <class F>
  auto write(F&& work) -> decltype(work(std::declval<connection&>())) {
    using R = decltype(work(std::declval<connection&>()));
    std::optional<R> out;
    waiter done;
    submit(
        [&](connection& db) {
          out.emplace(work(db));
          return !out->has_error();
        },
        [&](const core::error* failure) {
          if (failure) out.emplace(*failure);
          done.signal();
        });
    done.wait();
    return std::move(*out);
  }

  // Runs `work(connection&)` in a read transaction on a pooled read connection.
  template <class F>
  auto read(F&& work) -> decltype(work(std::declval<connection&>())) {
    auto lease = lease_reader();
    if (!lease) return lease.error();
    reader_guard guard(*this, *lease);
    if (auto begun = run_cached(**lease, "BEGIN"); !begun) return begun.error();
    auto out = work(**lease);
    (void)run_cached(**lease, "COMMIT");
    return out;
  }

  // Low-level entry: `run` executes on the writer and returns whether it
  // succeeded (false rolls its savepoint back); `done` is called on the writer
  // thread after the group commits (nullptr) or fails to (the error).
  void submit(std::function<bool(connection&)> run, std::function<void(const core::error*)> done);

  // Runs `hook` on the writer at the end of every group, after its writes and
  // before the commit. A store that keeps hot rows in memory for the group
  // writes them here once instead of once per write. Returning an error
  // rolls the whole group back (every write in it fails). Returns a handle
  // for remove_group_hook, which the owner calls before it goes away.
  int add_group_hook(std::function<core::result<void>(connection&)> hook);
  void remove_group_hook(int handle);

  // Stops the writer after the queued writes are done and closes every connection.
  void close();

  const std::string& path() const { return options_.path; }

 private:
  struct waiter {
    std::mutex mutex;
    std::condition_variable cv;
    bool ready = false;  // guarded by mutex
    void signal() {
      std::lock_guard lock(mutex);
      ready = true;
      cv.notify_one();
    }
    void wait() {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return ready; });
    }
  };
  struct task {
    std::function<bool(connection&)> run;
    std::function<void(const core::error*)> done;
  };
  struct reader_guard {
    database& db;
    connection* conn;
    reader_guard(database& d, connection* c) : db(d), conn(c) {}
    ~reader_guard() { db.return_reader(conn); }
  };

  explicit database(options opts) : options_(std::move(opts)) {}
  static core::result<void> run_cached(connection& conn, std::string_view sql);
  core::result<connection*> lease_reader();
  void return_reader(connection* conn);
  void writer_loop();
  void run_group(std::vector<task>& group);

  options options_;
  std::unique_ptr<connection> writer_;  // used only by writer_thread_
  std::mutex hooks_mutex_;
  std::vector<std::pair<int, std::function<core::result<void>(connection&)>>> group_hooks_;  // guarded by hooks_mutex_
  int next_hook_ = 1;                                                                       // guarded by hooks_mutex_

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<task> queue_;  // guarded by queue_mutex_
  bool stopping_ = false;   // guarded by queue_mutex_
  std::thread writer_thread_;

  std::mutex readers_mutex_;
  std::condition_variable readers_cv_;
  std::vector<std::unique_ptr<connection>> readers_;  // all read connections
  std::vector<connection*> idle_readers_;             // guarded by readers_mutex_
  bool closed_ = false;                               // guarded by readers_mutex_
};

}  // namespace airfleet::storage
