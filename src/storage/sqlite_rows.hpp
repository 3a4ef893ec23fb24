// Helpers the SQLite stores share: prepare-or-return, and collecting rows.
#pragma once

#include "storage/sqlite.hpp"

#include <optional>
#include <string>
#include <vector>

namespace airfleet::storage::rows {

template <class Record, class Reader>
core::result<std::vector<Record>> collect(statement& s, Reader reader) {
  std::vector<Record> out;
  while (true) {
    auto row = s.step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(reader(s));
  }
  s.reset();
  return out;
}

inline core::result<std::vector<std::string>> collect_names(statement& s) {
  return collect<std::string>(s, [](const statement& st) { return st.text(0); });
}

template <class Record, class Reader>
core::result<std::optional<Record>> find_one(statement& s, Reader reader) {
  auto row = s.step();
  if (!row) return row.error();
  std::optional<Record> out;
  if (*row) out = reader(s);
  s.reset();
  return out;
}

inline core::result<std::int64_t> single_integer(statement& s) {
  auto row = s.step();
  if (!row) return row.error();
  std::int64_t v = *row ? s.integer(0) : 0;
  s.reset();
  return v;
}

}  // namespace airfleet::storage::rows

// Prepares `sql` on `conn` (cached) into `var`, or returns the error.
#define AIRFLEET_PREPARE(conn, var, sql)  \
  auto var##_r = (conn).cached(sql);      \
  if (!var##_r) return var##_r.error();   \
  ::airfleet::storage::statement& var = **var##_r
