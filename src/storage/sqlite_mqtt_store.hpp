// mqtt_store on the SQLite database: every change is one write on the
// database's writer (so changes share group commits), in submission order.
#pragma once

#include "storage/database.hpp"
#include "storage/mqtt_store.hpp"

namespace airfleet::storage {

class sqlite_mqtt_store final : public mqtt_store {
 public:
  explicit sqlite_mqtt_store(database& db) : db_(db) {}

  core::result<mqtt_snapshot> load() override;
  void put_session(const std::string& client_id, std::string state) override;
  void delete_session(const std::string& client_id) override;
  void put_message(const std::string& client_id, std::int64_t seq, std::string message) override;
  void delete_messages(const std::string& client_id, std::vector<std::int64_t> seqs) override;
  void put_retained(const std::string& topic, std::string message) override;
  void delete_retained(const std::string& topic) override;
  void flush(std::function<void(bool ok)> done) override;

 private:
  void change(std::function<core::result<void>(connection&)> work);
  database& db_;
};

}  // namespace airfleet::storage
