#include "storage/sqlite_mqtt_store.hpp"

#include "storage/sqlite_rows.hpp"

#include <spdlog/spdlog.h>

#include <memory>

namespace airfleet::storage {

core::result<mqtt_snapshot> sqlite_mqtt_store::load() {
  return db_.read([](connection& db) -> core::result<mqtt_snapshot> {
    mqtt_snapshot out;
    AIRFLEET_PREPARE(db, sessions, "SELECT client_id, state FROM mqtt_sessions ORDER BY client_id");
    auto s = rows::collect<mqtt_session_row>(
        sessions, [](const statement& st) { return mqtt_session_row{st.text(0), st.blob(1)}; });
    if (!s) return s.error();
    out.sessions = std::move(*s);
    AIRFLEET_PREPARE(db, queue, "SELECT client_id, seq, message FROM mqtt_queue ORDER BY client_id, seq");
    auto q = rows::collect<mqtt_message_row>(
        queue, [](const statement& st) { return mqtt_message_row{st.text(0), st.integer(1), st.blob(2)}; });
    if (!q) return q.error();
    out.messages = std::move(*q);
    AIRFLEET_PREPARE(db, retained, "SELECT topic, message FROM mqtt_retained ORDER BY topic");
    auto r = rows::collect<mqtt_retained_row>(
        retained, [](const statement& st) { return mqtt_retained_row{st.text(0), st.blob(1)}; });
    if (!r) return r.error();
    out.retained = std::move(*r);
    return out;
  });
}

void sqlite_mqtt_store::change(std::function<core::result<void>(connection&)> work) {
  db_.submit(
      [work = std::move(work)](connection& db) {
        auto r = work(db);
        if (!r) spdlog::error("mqtt store: {}", r.error().message);
        return r.has_value();
      },
      [](const core::error*) {});
}

void sqlite_mqtt_store::put_session(const std::string& client_id, std::string state) {
  change([client_id, state = std::move(state)](connection& db) -> core::result<void> {
    AIRFLEET_PREPARE(db, st, "INSERT OR REPLACE INTO mqtt_sessions (client_id, state) VALUES (?, ?)");
    return st.bind(1, client_id).bind_blob(2, state).run();
  });
}

void sqlite_mqtt_store::delete_session(const std::string& client_id) {
  change([client_id](connection& db) -> core::result<void> {
    AIRFLEET_PREPARE(db, queue, "DELETE FROM mqtt_queue WHERE client_id = ?");
    if (auto r = queue.bind(1, client_id).run(); !r) return r;
    AIRFLEET_PREPARE(db, st, "DELETE FROM mqtt_sessions WHERE client_id = ?");
    return st.bind(1, client_id).run();
  });
}

void sqlite_mqtt_store::put_message(const std::string& client_id, std::int64_t seq, std::string message) {
  change([client_id, seq, message = std::move(message)](connection& db) -> core::result<void> {
    AIRFLEET_PREPARE(db, st, "INSERT OR REPLACE INTO mqtt_queue (client_id, seq, message) VALUES (?, ?, ?)");
    return st.bind(1, client_id).bind(2, seq).bind_blob(3, message).run();
  });
}

void sqlite_mqtt_store::delete_messages(const std::string& client_id, std::vector<std::int64_t> seqs) {
  change([client_id, seqs = std::move(seqs)](connection& db) -> core::result<void> {
    AIRFLEET_PREPARE(db, st, "DELETE FROM mqtt_queue WHERE client_id = ? AND seq = ?");
    for (auto seq : seqs) {
      auto r = st.bind(1, client_id).bind(2, seq).run();
      st.reset();
      if (!r) return r;
    }
    return {};
  });
}

void sqlite_mqtt_store::put_retained(const std::string& topic, std::string message) {
  change([topic, message = std::move(message)](connection& db) -> core::result<void> {
    AIRFLEET_PREPARE(db, st, "INSERT OR REPLACE INTO mqtt_retained (topic, message) VALUES (?, ?)");
    return st.bind(1, topic).bind_blob(2, message).run();
  });
}

void sqlite_mqtt_store::delete_retained(const std::string& topic) {
  change([topic](connection& db) -> core::result<void> {
    AIRFLEET_PREPARE(db, st, "DELETE FROM mqtt_retained WHERE topic = ?");
    return st.bind(1, topic).run();
  });
}

void sqlite_mqtt_store::flush(std::function<void(bool ok)> done) {
  db_.submit([](connection&) { return true; },
             [done = std::move(done)](const core::error* failure) { done(failure == nullptr); });
}

}  // namespace airfleet::storage
