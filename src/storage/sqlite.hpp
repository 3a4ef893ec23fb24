// Thin RAII layer over the SQLite C API: a connection, prepared statements
// (cached per connection) and typed binding. Errors are values; SQLite result
// codes are kept in storage::errc's category so callers can tell a constraint
// violation from a disk error.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace airfleet::storage {

enum class errc {
  sqlite_error = 1,  // any SQLite failure; the message says which
  constraint,        // a UNIQUE/PRIMARY KEY/CHECK constraint failed
  busy,              // the database stayed locked past the busy timeout
  closed,            // the database is shut down
};
std::error_code make_error_code(errc e);

class statement {
 public:
  statement() = default;
  statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  statement(statement&& other) noexcept;
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  // Parameters are 1-based, as in SQLite.
  statement& bind(int index, std::string_view text);
  statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  statement& bind(int index, std::int64_t value);
  statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  statement& bind(int index, double value);
  statement& bind_null(int index);
  statement& bind_blob(int index, std::string_view bytes);
  statement& bind(int index, const std::optional<std::string>& text) {
    return text ? bind(index, std::string_view(*text)) : bind_null(index);
  }

  // Steps once: true when a row is ready, false when done. Errors are values.
  core::result<bool> step();
  // Steps to completion (for statements that return no rows).
  core::result<void> run();
  void reset();

  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;
  std::int64_t integer(int column) const;
  std::string blob(int column) const;
  double real(int column) const;
  bool is_null(int column) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
};

// One SQLite connection; not thread-safe (each thread or the writer owns one).
class connection {
 public:
  struct options {
    bool read_only = false;
    std::string vfs;  // empty: SQLite's default
    int busy_timeout_ms = 10000;
  };
  static core::result<std::unique_ptr<connection>> open(const std::string& path, const options& opts);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  core::result<void> exec(std::string_view sql);
  // A prepared statement kept for reuse; reset and with bindings cleared.
  core::result<statement*> cached(std::string_view sql);
  std::int64_t changes() const;
  sqlite3* handle() const { return db_; }

 private:
  explicit connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<std::string, statement> cache_;
};

core::error sqlite_failure(sqlite3* db, int rc, std::string_view what);

}  // namespace airfleet::storage

template <>
struct std::is_error_code_enum<airfleet::storage::errc> : std::true_type {};
