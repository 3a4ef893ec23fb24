// What the MQTT broker keeps across restarts: persistent sessions (as the
// broker encodes them), the messages queued for them while they were offline,
// and retained messages. The bodies are opaque here.
//
// The broker runs on one thread and must not wait for the disk, so changes
// are queued and applied in the order they were made; flush(done) calls
// `done(ok)` (on a storage thread) once every change queued before it is
// durable. The broker holds back the acknowledgement of a packet that caused
// a change until then.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace airfleet::storage {

struct mqtt_session_row {
  std::string client_id;
  std::string state;
};
struct mqtt_message_row {
  std::string client_id;
  std::int64_t seq;
  std::string message;
};
struct mqtt_retained_row {
  std::string topic;
  std::string message;
};
struct mqtt_snapshot {
  std::vector<mqtt_session_row> sessions;
  std::vector<mqtt_message_row> messages;  // by client id, then seq
  std::vector<mqtt_retained_row> retained;
};

class mqtt_store {
 public:
  virtual ~mqtt_store() = default;
  virtual core::result<mqtt_snapshot> load() = 0;

  virtual void put_session(const std::string& client_id, std::string state) = 0;
  virtual void delete_session(const std::string& client_id) = 0;  // and its queued messages
  virtual void put_message(const std::string& client_id, std::int64_t seq, std::string message) = 0;
  virtual void delete_messages(const std::string& client_id, std::vector<std::int64_t> seqs) = 0;
  virtual void put_retained(const std::string& topic, std::string message) = 0;
  virtual void delete_retained(const std::string& topic) = 0;
  virtual void flush(std::function<void(bool ok)> done) = 0;
};

}  // namespace airfleet::storage
