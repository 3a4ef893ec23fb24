#include "storage/database.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

namespace airfleet::storage {
namespace {

const std::vector<migration> test_schema = {
    {1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)"},
    {2, "ALTER TABLE kv ADD COLUMN n INTEGER NOT NULL DEFAULT 0"},
};

class database_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("airfleet-db-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<database> open() {
    database::options opts;
    opts.path = (dir_ / "test.db").string();
    auto db = database::open(opts, test_schema);
    EXPECT_TRUE(db.has_value()) << (db ? "" : db.error().message);
    return db ? std::move(*db) : nullptr;
  }

  static core::result<void> put(database& db, const std::string& k, const std::string& v) {
    return db.write([&](connection& c) -> core::result<void> {
      auto s = c.cached("INSERT INTO kv(k, v) VALUES (?, ?)");
      if (!s) return s.error();
      (*s)->bind(1, k).bind(2, v);
      return (*s)->run();
    });
  }
  static std::optional<std::string> get(database& db, const std::string& k) {
    auto r = db.read([&](connection& c) -> core::result<std::optional<std::string>> {
      auto s = c.cached("SELECT v FROM kv WHERE k = ?");
      if (!s) return s.error();
      (*s)->bind(1, k);
      auto row = (*s)->step();
      if (!row) return row.error();
      std::optional<std::string> out;
      if (*row) out = (*s)->text(0);
      (*s)->reset();
      return out;
    });
    return r ? *r : std::nullopt;
  }

  std::filesystem::path dir_;
};

TEST_F(database_test, migrations_apply_once_and_in_order) {
  {
    auto db = open();
    ASSERT_TRUE(db);
    ASSERT_TRUE(put(*db, "a", "1"));
  }
  auto db = open();  // reopening must not re-run migration 2 (ALTER would fail)
  ASSERT_TRUE(db);
  auto n = db->read([](connection& c) -> core::result<std::int64_t> {
    auto s = c.cached("PRAGMA user_version");
    if (!s) return s.error();
    (void)(*s)->step();
    auto v = (*s)->integer(0);
    (*s)->reset();
    return v;
  });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(get(*db, "a"), "1");
}

TEST_F(database_test, concurrent_writes_all_land) {
  auto db = open();
  ASSERT_TRUE(db);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i)
        if (!put(*db, std::to_string(t) + "-" + std::to_string(i), "x")) ++failures;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto count = db->read([](connection& c) -> core::result<std::int64_t> {
    auto s = c.cached("SELECT count(*) FROM kv");
    if (!s) return s.error();
    (void)(*s)->step();
    auto v = (*s)->integer(0);
    (*s)->reset();
    return v;
  });
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 400);
}

TEST_F(database_test, a_failing_write_rolls_back_only_itself) {
  auto db = open();
  ASSERT_TRUE(db);
  ASSERT_TRUE(put(*db, "dup", "first"));
  // A write that changes a row and then fails must leave no trace.
  auto failed = db->write([](connection& c) -> core::result<void> {
    if (auto r = c.exec("INSERT INTO kv(k, v) VALUES ('partial', 'x')"); !r) return r.error();
    auto s = c.cached("INSERT INTO kv(k, v) VALUES ('dup', 'second')");
    if (!s) return s.error();
    return (*s)->run();
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, make_error_code(errc::constraint));
  EXPECT_FALSE(get(*db, "partial").has_value());
  EXPECT_EQ(get(*db, "dup"), "first");
  ASSERT_TRUE(put(*db, "after", "ok"));
  EXPECT_EQ(get(*db, "after"), "ok");
}

TEST_F(database_test, writes_after_close_fail_cleanly) {
  auto db = open();
  ASSERT_TRUE(db);
  db->close();
  auto r = put(*db, "k", "v");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, make_error_code(errc::closed));
}

}  // namespace
}  // namespace airfleet::storage
