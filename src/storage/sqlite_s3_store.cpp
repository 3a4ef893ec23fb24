#include "storage/sqlite_s3_store.hpp"

#include "core/strings.hpp"
#include "storage/sqlite_rows.hpp"

namespace airfleet::storage {

namespace {

class s3_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.s3_store"; }
  std::string message(int ev) const override {
    switch (static_cast<s3_store_errc>(ev)) {
      case s3_store_errc::no_such_bucket: return "no such bucket";
      case s3_store_errc::bucket_exists: return "bucket exists";
      case s3_store_errc::bucket_not_empty: return "bucket not empty";
      case s3_store_errc::no_such_upload: return "no such upload";
      case s3_store_errc::no_such_version: return "no such version";
    }
    return "unknown s3 store error";
  }
};

constexpr const char* object_columns =
    "bucket, key, seq, version_id, is_latest, delete_marker, size, etag, last_modified_ms, content_type, headers, "
    "encrypted, blobs";

std::string encode_blobs(const std::vector<s3_blob_ref>& blobs) {
  std::string out;
  for (const auto& b : blobs) {
    if (!out.empty()) out += ',';
    out += b.id + ':' + std::to_string(b.size);
  }
  return out;
}

std::vector<s3_blob_ref> decode_blobs(std::string_view text) {
  std::vector<s3_blob_ref> out;
  for (auto part : core::split(text, ',')) {
    if (part.empty()) continue;
    auto colon = part.find(':');
    s3_blob_ref b;
    b.id = std::string(part.substr(0, colon));
    if (colon != std::string_view::npos) b.size = std::stoll(std::string(part.substr(colon + 1)));
    out.push_back(std::move(b));
  }
  return out;
}

s3_object_row read_object(const statement& s) {
  s3_object_row o;
  o.bucket = s.text(0);
  o.key = s.text(1);
  o.seq = s.integer(2);
  o.version_id = s.text(3);
  o.is_latest = s.integer(4) != 0;
  o.delete_marker = s.integer(5) != 0;
  o.size = s.integer(6);
  o.etag = s.text(7);
  o.last_modified_ms = s.integer(8);
  o.content_type = s.optional_text(9);
  o.headers = s.text(10);
  o.encrypted = s.integer(11) != 0;
  o.blobs = decode_blobs(s.text(12));
  return o;
}

s3_bucket_row read_bucket(const statement& s) {
  return s3_bucket_row{s.text(0), s.text(1), s.integer(2), s.text(3), s.optional_text(4)};
}

s3_upload_row read_upload(const statement& s) {
  return s3_upload_row{s.text(0), s.text(1), s.text(2), s.integer(3), s.optional_text(4), s.text(5),
                       s.integer(6) != 0};
}

s3_part_row read_part(const statement& s) {
  return s3_part_row{s.text(0), static_cast<int>(s.integer(1)), s.integer(2), s.text(3), s.text(4), s.integer(5)};
}

// The smallest string greater than every string that starts with `prefix`
// (empty: no upper bound).
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& c = prefix.back();
    if (static_cast<unsigned char>(c) != 0xff) {
      c = static_cast<char>(static_cast<unsigned char>(c) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

core::result<bool> bucket_exists(connection& c, const std::string& bucket) {
  AIRFLEET_PREPARE(c, s, "SELECT 1 FROM s3_buckets WHERE name = ?");
  s.bind(1, bucket);
  auto row = s.step();
  s.reset();
  if (!row) return row.error();
  return *row;
}

// no_such_upload unless the upload exists.
core::result<void> require_upload(connection& c, const std::string& upload_id) {
  AIRFLEET_PREPARE(c, up, "SELECT 1 FROM s3_uploads WHERE upload_id = ?");
  up.bind(1, upload_id);
  auto there = up.step();
  up.reset();
  if (!there) return there.error();
  if (!*there)
    return core::make_error(s3_store_errc::no_such_upload,
                            "The specified upload does not exist. The upload ID may be invalid, or the upload may "
                            "have been aborted or completed.");
  return {};
}

// Inserts `row` as the new latest version of its key; frees a replaced
// "null" version's blobs into `freed`.
core::result<void> insert_version(connection& c, s3_object_row& row, std::vector<std::string>& freed) {
  auto exists = bucket_exists(c, row.bucket);
  if (!exists) return exists.error();
  if (!*exists) return core::make_error(s3_store_errc::no_such_bucket, "The specified bucket does not exist");
  if (row.version_id == "null") {
    AIRFLEET_PREPARE(c, old, "SELECT blobs FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = 'null'");
    old.bind(1, row.bucket).bind(2, row.key);
    auto found = rows::find_one<std::string>(old, [](const statement& st) { return st.text(0); });
    if (!found) return found.error();
    if (*found)
      for (auto& b : decode_blobs(**found)) freed.push_back(std::move(b.id));
    AIRFLEET_PREPARE(c, del, "DELETE FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = 'null'");
    del.bind(1, row.bucket).bind(2, row.key);
    if (auto r = del.run(); !r) return r.error();
  }
  AIRFLEET_PREPARE(c, next, "SELECT COALESCE(MAX(seq), 0) + 1 FROM s3_objects WHERE bucket = ? AND key = ?");
  next.bind(1, row.bucket).bind(2, row.key);
  auto seq = rows::single_integer(next);
  if (!seq) return seq.error();
  row.seq = *seq;
  AIRFLEET_PREPARE(c, clear, "UPDATE s3_objects SET is_latest = 0 WHERE bucket = ? AND key = ? AND is_latest = 1");
  clear.bind(1, row.bucket).bind(2, row.key);
  if (auto r = clear.run(); !r) return r.error();
  AIRFLEET_PREPARE(c, ins,
                   "INSERT INTO s3_objects (bucket, key, seq, version_id, is_latest, delete_marker, size, etag, "
                   "last_modified_ms, content_type, headers, encrypted, blobs) "
                   "VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)");
  ins.bind(1, row.bucket)
      .bind(2, row.key)
      .bind(3, row.seq)
      .bind(4, row.version_id)
      .bind(5, row.delete_marker ? 1 : 0)
      .bind(6, row.size)
      .bind(7, row.etag)
      .bind(8, row.last_modified_ms)
      .bind(9, row.content_type)
      .bind(10, row.headers)
      .bind(11, row.encrypted ? 1 : 0)
      .bind(12, encode_blobs(row.blobs));
  return ins.run();
}

}  // namespace

std::error_code make_error_code(s3_store_errc e) {
  static const s3_category instance;
  return {static_cast<int>(e), instance};
}

core::result<void> sqlite_s3_store::create_bucket(const s3_bucket_row& row) {
  return db_.write([&](connection& c) -> core::result<void> {
    auto exists = bucket_exists(c, row.name);
    if (!exists) return exists.error();
    if (*exists) return core::make_error(s3_store_errc::bucket_exists, "The bucket already exists");
    AIRFLEET_PREPARE(c, s,
                     "INSERT INTO s3_buckets (name, region, created_ms, versioning, encryption) VALUES (?, ?, ?, ?, ?)");
    s.bind(1, row.name).bind(2, row.region).bind(3, row.created_ms).bind(4, row.versioning).bind(5, row.encryption);
    return s.run();
  });
}

core::result<std::optional<s3_bucket_row>> sqlite_s3_store::find_bucket(const std::string& name) {
  return db_.read([&](connection& c) -> core::result<std::optional<s3_bucket_row>> {
    AIRFLEET_PREPARE(c, s, "SELECT name, region, created_ms, versioning, encryption FROM s3_buckets WHERE name = ?");
    s.bind(1, name);
    return rows::find_one<s3_bucket_row>(s, read_bucket);
  });
}

core::result<std::vector<s3_bucket_row>> sqlite_s3_store::list_buckets() {
  return db_.read([&](connection& c) -> core::result<std::vector<s3_bucket_row>> {
    AIRFLEET_PREPARE(c, s, "SELECT name, region, created_ms, versioning, encryption FROM s3_buckets ORDER BY name");
    return rows::collect<s3_bucket_row>(s, read_bucket);
  });
}

core::result<void> sqlite_s3_store::delete_bucket(const std::string& name) {
  return db_.write([&](connection& c) -> core::result<void> {
    auto exists = bucket_exists(c, name);
    if (!exists) return exists.error();
    if (!*exists) return core::make_error(s3_store_errc::no_such_bucket, "The specified bucket does not exist");
    AIRFLEET_PREPARE(c, any,
                     "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM s3_objects WHERE bucket = ?1 LIMIT 1)) + "
                     "(SELECT COUNT(*) FROM (SELECT 1 FROM s3_uploads WHERE bucket = ?1 LIMIT 1))");
    any.bind(1, name);
    auto n = rows::single_integer(any);
    if (!n) return n.error();
    if (*n > 0)
      return core::make_error(s3_store_errc::bucket_not_empty, "The bucket you tried to delete is not empty");
    AIRFLEET_PREPARE(c, del, "DELETE FROM s3_buckets WHERE name = ?");
    del.bind(1, name);
    return del.run();
  });
}

core::result<void> sqlite_s3_store::set_versioning(const std::string& name, const std::string& status) {
  return db_.write([&](connection& c) -> core::result<void> {
    AIRFLEET_PREPARE(c, s, "UPDATE s3_buckets SET versioning = ? WHERE name = ?");
    s.bind(1, status).bind(2, name);
    if (auto r = s.run(); !r) return r.error();
    if (c.changes() == 0) return core::make_error(s3_store_errc::no_such_bucket, "The specified bucket does not exist");
    return {};
  });
}

core::result<void> sqlite_s3_store::set_encryption(const std::string& name, const std::optional<std::string>& algo) {
  return db_.write([&](connection& c) -> core::result<void> {
    AIRFLEET_PREPARE(c, s, "UPDATE s3_buckets SET encryption = ? WHERE name = ?");
    s.bind(1, algo).bind(2, name);
    if (auto r = s.run(); !r) return r.error();
    if (c.changes() == 0) return core::make_error(s3_store_errc::no_such_bucket, "The specified bucket does not exist");
    return {};
  });
}

core::result<std::vector<std::string>> sqlite_s3_store::put_object(s3_object_row row) {
  return db_.write([&](connection& c) -> core::result<std::vector<std::string>> {
    std::vector<std::string> freed;
    if (auto r = insert_version(c, row, freed); !r) return r.error();
    return freed;
  });
}

core::result<std::optional<s3_object_row>> sqlite_s3_store::find_object(const std::string& bucket,
                                                                        const std::string& key,
                                                                        const std::optional<std::string>& version_id) {
  return db_.read([&](connection& c) -> core::result<std::optional<s3_object_row>> {
    if (version_id) {
      AIRFLEET_PREPARE(c, s,
                       std::string("SELECT ") + object_columns +
                           " FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?");
      s.bind(1, bucket).bind(2, key).bind(3, *version_id);
      return rows::find_one<s3_object_row>(s, read_object);
    }
    AIRFLEET_PREPARE(c, s,
                     std::string("SELECT ") + object_columns +
                         " FROM s3_objects WHERE bucket = ? AND key = ? AND is_latest = 1");
    s.bind(1, bucket).bind(2, key);
    return rows::find_one<s3_object_row>(s, read_object);
  });
}

core::result<std::vector<std::string>> sqlite_s3_store::delete_version(const std::string& bucket,
                                                                       const std::string& key,
                                                                       const std::string& version_id) {
  return db_.write([&](connection& c) -> core::result<std::vector<std::string>> {
    AIRFLEET_PREPARE(c, find, "SELECT blobs, is_latest FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?");
    find.bind(1, bucket).bind(2, key).bind(3, version_id);
    auto found = rows::find_one<std::pair<std::string, bool>>(
        find, [](const statement& st) { return std::make_pair(st.text(0), st.integer(1) != 0); });
    if (!found) return found.error();
    if (!*found) return core::make_error(s3_store_errc::no_such_version, "The specified version does not exist.");
    AIRFLEET_PREPARE(c, del, "DELETE FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?");
    del.bind(1, bucket).bind(2, key).bind(3, version_id);
    if (auto r = del.run(); !r) return r.error();
    if ((*found)->second) {
      AIRFLEET_PREPARE(c, promote,
                       "UPDATE s3_objects SET is_latest = 1 WHERE bucket = ?1 AND key = ?2 AND seq = "
                       "(SELECT MAX(seq) FROM s3_objects WHERE bucket = ?1 AND key = ?2)");
      promote.bind(1, bucket).bind(2, key);
      if (auto r = promote.run(); !r) return r.error();
    }
    std::vector<std::string> freed;
    for (auto& b : decode_blobs((*found)->first)) freed.push_back(std::move(b.id));
    return freed;
  });
}

core::result<std::vector<s3_object_row>> sqlite_s3_store::list_current(const std::string& bucket,
                                                                       const std::string& prefix,
                                                                       const std::string& from, bool inclusive,
                                                                       std::size_t limit) {
  return db_.read([&](connection& c) -> core::result<std::vector<s3_object_row>> {
    // Below the prefix the start is the prefix itself; otherwise `from`.
    bool below = from < prefix;
    const std::string& lower = below ? prefix : from;
    bool lower_inclusive = below || inclusive;
    auto upper = prefix_end(prefix);
    std::string sql = std::string("SELECT ") + object_columns +
                      " FROM s3_objects WHERE bucket = ?1 AND is_latest = 1 AND delete_marker = 0 AND key " +
                      (lower_inclusive ? ">=" : ">") + " ?2" + (upper.empty() ? "" : " AND key < ?3") +
                      " ORDER BY key LIMIT ?4";
    AIRFLEET_PREPARE(c, s, sql);
    s.bind(1, bucket).bind(2, lower);
    if (!upper.empty()) s.bind(3, upper);
    s.bind(4, static_cast<std::int64_t>(limit));
    return rows::collect<s3_object_row>(s, read_object);
  });
}

core::result<std::vector<s3_object_row>> sqlite_s3_store::list_versions(const std::string& bucket,
                                                                        const std::string& prefix,
                                                                        const std::string& from_key,
                                                                        std::int64_t before_seq,
                                                                        bool from_key_inclusive, std::size_t limit) {
  return db_.read([&](connection& c) -> core::result<std::vector<s3_object_row>> {
    auto upper = prefix_end(prefix);
    std::string lower = std::max(prefix, from_key);
    // Rows of from_key itself: only those older than before_seq (when given),
    // or all of them when the start is inclusive.
    std::string sql = std::string("SELECT ") + object_columns +
                      " FROM s3_objects WHERE bucket = ?1 AND key >= ?2" + (upper.empty() ? "" : " AND key < ?3") +
                      " AND (key > ?5 OR (key = ?5 AND (?6 = 1 OR (?7 > 0 AND seq < ?7))))"
                      " ORDER BY key, seq DESC LIMIT ?4";
    AIRFLEET_PREPARE(c, s, sql);
    s.bind(1, bucket).bind(2, lower);
    if (!upper.empty()) s.bind(3, upper);
    s.bind(4, static_cast<std::int64_t>(limit))
        .bind(5, from_key)
        .bind(6, from_key_inclusive || from_key.empty() ? 1 : 0)
        .bind(7, before_seq);
    return rows::collect<s3_object_row>(s, read_object);
  });
}

core::result<void> sqlite_s3_store::create_upload(const s3_upload_row& row) {
  return db_.write([&](connection& c) -> core::result<void> {
    auto exists = bucket_exists(c, row.bucket);
    if (!exists) return exists.error();
    if (!*exists) return core::make_error(s3_store_errc::no_such_bucket, "The specified bucket does not exist");
    AIRFLEET_PREPARE(c, s,
                     "INSERT INTO s3_uploads (upload_id, bucket, key, created_ms, content_type, headers, encrypted) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)");
    s.bind(1, row.upload_id)
        .bind(2, row.bucket)
        .bind(3, row.key)
        .bind(4, row.created_ms)
        .bind(5, row.content_type)
        .bind(6, row.headers)
        .bind(7, row.encrypted ? 1 : 0);
    return s.run();
  });
}

core::result<std::optional<s3_upload_row>> sqlite_s3_store::find_upload(const std::string& upload_id) {
  return db_.read([&](connection& c) -> core::result<std::optional<s3_upload_row>> {
    AIRFLEET_PREPARE(c, s,
                     "SELECT upload_id, bucket, key, created_ms, content_type, headers, encrypted FROM s3_uploads "
                     "WHERE upload_id = ?");
    s.bind(1, upload_id);
    return rows::find_one<s3_upload_row>(s, read_upload);
  });
}

core::result<std::vector<std::string>> sqlite_s3_store::put_part(const s3_part_row& row) {
  return db_.write([&](connection& c) -> core::result<std::vector<std::string>> {
    if (auto there = require_upload(c, row.upload_id); !there) return there.error();
    std::vector<std::string> freed;
    AIRFLEET_PREPARE(c, old, "SELECT blob FROM s3_parts WHERE upload_id = ? AND part_number = ?");
    old.bind(1, row.upload_id).bind(2, row.part_number);
    auto found = rows::find_one<std::string>(old, [](const statement& st) { return st.text(0); });
    if (!found) return found.error();
    if (*found) freed.push_back(**found);
    AIRFLEET_PREPARE(c, s,
                     "INSERT OR REPLACE INTO s3_parts (upload_id, part_number, size, etag, blob, last_modified_ms) "
                     "VALUES (?, ?, ?, ?, ?, ?)");
    s.bind(1, row.upload_id)
        .bind(2, row.part_number)
        .bind(3, row.size)
        .bind(4, row.etag)
        .bind(5, row.blob)
        .bind(6, row.last_modified_ms);
    if (auto r = s.run(); !r) return r.error();
    return freed;
  });
}

core::result<std::vector<s3_part_row>> sqlite_s3_store::list_parts(const std::string& upload_id, int after,
                                                                   std::size_t limit) {
  return db_.read([&](connection& c) -> core::result<std::vector<s3_part_row>> {
    AIRFLEET_PREPARE(c, s,
                     "SELECT upload_id, part_number, size, etag, blob, last_modified_ms FROM s3_parts "
                     "WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?");
    s.bind(1, upload_id).bind(2, after).bind(3, static_cast<std::int64_t>(limit));
    return rows::collect<s3_part_row>(s, read_part);
  });
}

core::result<std::vector<s3_upload_row>> sqlite_s3_store::list_uploads(const std::string& bucket,
                                                                       const std::string& prefix,
                                                                       const std::string& key_after,
                                                                       const std::string& upload_after,
                                                                       std::size_t limit) {
  return db_.read([&](connection& c) -> core::result<std::vector<s3_upload_row>> {
    auto upper = prefix_end(prefix);
    std::string sql =
        "SELECT upload_id, bucket, key, created_ms, content_type, headers, encrypted FROM s3_uploads "
        "WHERE bucket = ?1 AND key >= ?2" +
        std::string(upper.empty() ? "" : " AND key < ?3") +
        " AND (key > ?5 OR (key = ?5 AND upload_id > ?6) OR ?5 = '') ORDER BY key, upload_id LIMIT ?4";
    AIRFLEET_PREPARE(c, s, sql);
    s.bind(1, bucket).bind(2, prefix);
    if (!upper.empty()) s.bind(3, upper);
    s.bind(4, static_cast<std::int64_t>(limit)).bind(5, key_after).bind(6, upload_after);
    return rows::collect<s3_upload_row>(s, read_upload);
  });
}

core::result<std::vector<std::string>> sqlite_s3_store::finish_upload(const std::string& upload_id,
                                                                      std::optional<s3_object_row> object) {
  return db_.write([&](connection& c) -> core::result<std::vector<std::string>> {
    if (auto there = require_upload(c, upload_id); !there) return there.error();
    AIRFLEET_PREPARE(c, parts, "SELECT blob FROM s3_parts WHERE upload_id = ?");
    parts.bind(1, upload_id);
    auto blobs = rows::collect_names(parts);
    if (!blobs) return blobs.error();
    std::vector<std::string> freed;
    for (auto& b : *blobs) {
      bool kept = false;
      if (object)
        for (const auto& ref : object->blobs) kept = kept || ref.id == b;
      if (!kept) freed.push_back(b);
    }
    AIRFLEET_PREPARE(c, dp, "DELETE FROM s3_parts WHERE upload_id = ?");
    dp.bind(1, upload_id);
    if (auto r = dp.run(); !r) return r.error();
    AIRFLEET_PREPARE(c, du, "DELETE FROM s3_uploads WHERE upload_id = ?");
    du.bind(1, upload_id);
    if (auto r = du.run(); !r) return r.error();
    if (object)
      if (auto r = insert_version(c, *object, freed); !r) return r.error();
    return freed;
  });
}

core::result<std::vector<std::string>> sqlite_s3_store::stale_uploads(std::int64_t created_before_ms) {
  return db_.read([&](connection& c) -> core::result<std::vector<std::string>> {
    AIRFLEET_PREPARE(c, s, "SELECT upload_id FROM s3_uploads WHERE created_ms < ?");
    s.bind(1, created_before_ms);
    return rows::collect_names(s);
  });
}

core::result<std::vector<std::string>> sqlite_s3_store::referenced_blobs() {
  return db_.read([&](connection& c) -> core::result<std::vector<std::string>> {
    std::vector<std::string> out;
    AIRFLEET_PREPARE(c, o, "SELECT blobs FROM s3_objects WHERE delete_marker = 0");
    auto lists = rows::collect_names(o);
    if (!lists) return lists.error();
    for (auto& l : *lists)
      for (auto& b : decode_blobs(l)) out.push_back(std::move(b.id));
    AIRFLEET_PREPARE(c, p, "SELECT blob FROM s3_parts");
    auto parts = rows::collect_names(p);
    if (!parts) return parts.error();
    out.insert(out.end(), parts->begin(), parts->end());
    return out;
  });
}

}  // namespace airfleet::storage
