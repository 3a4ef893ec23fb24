#include "storage/sqlite.hpp"

#include <sqlite3.h>

#include <cassert>

namespace airfleet::storage {

namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.storage"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::sqlite_error: return "database error";
      case errc::constraint: return "constraint violated";
      case errc::busy: return "database busy";
      case errc::closed: return "database closed";
    }
    return "unknown storage error";
  }
};
}  // namespace

std::error_code make_error_code(errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

core::error sqlite_failure(sqlite3* db, int rc, std::string_view what) {
  errc code = errc::sqlite_error;
  int primary = rc & 0xff;
  if (primary == SQLITE_CONSTRAINT) code = errc::constraint;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) code = errc::busy;
  std::string message(what);
  message += ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return core::make_error(code, std::move(message));
}

statement::statement(statement&& other) noexcept : stmt_(other.stmt_), db_(other.db_) {
  other.stmt_ = nullptr;
}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = other.stmt_;
    db_ = other.db_;
    other.stmt_ = nullptr;
  }
  return *this;
}

statement::~statement() { sqlite3_finalize(stmt_); }

statement& statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}
statement& statement::bind_blob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}
statement& statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}
statement& statement::bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}
statement& statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

core::result<bool> statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  auto failure = sqlite_failure(db_, rc, "step");
  sqlite3_reset(stmt_);
  return failure;
}

core::result<void> statement::run() {
  while (true) {
    auto row = step();
    if (!row) return row.error();
    if (!*row) return {};
  }
}

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string statement::blob(int column) const {
  auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  if (!p) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}
std::string statement::text(int column) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (!p) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}
std::optional<std::string> statement::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}
std::int64_t statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }
double statement::real(int column) const { return sqlite3_column_double(stmt_, column); }
bool statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

core::result<std::unique_ptr<connection>> connection::open(const std::string& path,
                                                           const options& opts) {
  // Memory statistics take a global mutex on every allocation SQLite makes;
  // airfleet never reads them. Must be set before SQLite initialises (the
  // first open); later calls are refused harmlessly.
  static const bool configured = [] {
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX | (opts.read_only ? SQLITE_OPEN_READONLY
                                                    : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, opts.vfs.empty() ? nullptr : opts.vfs.c_str());
  if (rc != SQLITE_OK) {
    auto failure = sqlite_failure(db, rc, "open " + path);
    sqlite3_close(db);
    return failure;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, opts.busy_timeout_ms);
  return std::unique_ptr<connection>(new connection(db));
}

connection::~connection() {
  cache_.clear();  // finalize statements before closing
  sqlite3_close(db_);
}

core::result<void> connection::exec(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    sqlite3_free(message);
    return sqlite_failure(db_, rc, "exec");
  }
  return {};
}

core::result<statement*> connection::cached(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end()) {
    it->second.reset();
    return &it->second;
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                              &stmt, nullptr);
  if (rc != SQLITE_OK) return sqlite_failure(db_, rc, "prepare");
  auto [pos, inserted] = cache_.emplace(std::string(sql), statement(stmt, db_));
  assert(inserted);
  return &pos->second;
}

std::int64_t connection::changes() const { return sqlite3_changes64(db_); }

}  // namespace airfleet::storage
