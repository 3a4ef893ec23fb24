// The agent's MQTT connection, on libmosquitto (Eclipse Mosquitto's client
// library: a client airfleet did not write, so talking to airfleet's broker
// through it proves the two interoperate).
//
// MQTT 3.1.1 over mutual TLS (the --ca, --cert and --key files), client id =
// the thing name, clean session, QoS 1 both ways. A network thread of its own
// drives mosquitto_loop(); when the connection cannot be made or is lost it
// waits an exponential backoff with jitter (backoff.hpp) and reconnects, and
// after every CONNACK it subscribes again. The main thread hears about it all
// through an event_queue: `online` once the SUBACK for every filter arrived
// (only then is it safe to send a request whose answer we need), `offline`,
// and each message.
#pragma once

#include "agent/backoff.hpp"
#include "agent/event_queue.hpp"
#include "core/error.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct mosquitto;
struct mosquitto_message;

namespace airfleet::agent {

struct mqtt_settings {
  std::string host;
  int port = 8883;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string client_id;
  int keep_alive_seconds = 30;
  std::vector<std::string> subscriptions;  // all QoS 1
  std::chrono::milliseconds reconnect_initial{1000};
  std::chrono::milliseconds reconnect_maximum{60000};
};

class mqtt_link {
 public:
  mqtt_link(mqtt_settings settings, event_queue& events);
  ~mqtt_link();
  mqtt_link(const mqtt_link&) = delete;
  mqtt_link& operator=(const mqtt_link&) = delete;

  // Sets up TLS (fails fast on unreadable files) and starts the network thread.
  core::result<void> start();
  // Disconnects and joins the network thread.
  void stop();

  // QoS 1 publish from any thread; false when offline.
  bool publish(const std::string& topic, const std::string& payload);
  bool online() const { return online_.load(); }

 private:
  void run();
  void sleep_interruptibly(std::chrono::milliseconds delay);
  static void on_connect(mosquitto* m, void* self, int rc);
  static void on_disconnect(mosquitto* m, void* self, int rc);
  static void on_subscribe(mosquitto* m, void* self, int mid, int count, const int* granted);
  static void on_message(mosquitto* m, void* self, const mosquitto_message* message);

  mqtt_settings settings_;
  event_queue& events_;
  mosquitto* mosq_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> online_{false};
  // Serialises (re)connecting with publishing: both use the socket.
  std::mutex io_mutex_;
  // Network thread only (libmosquitto calls the callbacks from mosquitto_loop).
  int subscribe_mid_ = -1;
  backoff reconnect_delay_;
};

}  // namespace airfleet::agent
