#include "agent/mqtt_link.hpp"

#include "agent/errors.hpp"

#include <mosquitto.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <random>

namespace airfleet::agent {

namespace {

constexpr int loop_timeout_ms = 100;

core::error link_error(const std::string& what, int rc) {
  return core::make_error(errc::io, what + ": " + mosquitto_strerror(rc));
}

bool readable(const std::string& path) {
  if (auto* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
    return true;
  }
  return false;
}

}  // namespace

mqtt_link::mqtt_link(mqtt_settings settings, event_queue& events)
    : settings_(std::move(settings)),
      events_(events),
      reconnect_delay_(settings_.reconnect_initial, settings_.reconnect_maximum, std::random_device{}()) {}

mqtt_link::~mqtt_link() {
  stop();
  if (mosq_) mosquitto_destroy(mosq_);
}

core::result<void> mqtt_link::start() {
  for (const auto* file : {&settings_.ca_file, &settings_.cert_file, &settings_.key_file})
    if (!readable(*file)) return core::make_error(errc::io, "cannot read " + *file);
  mosq_ = mosquitto_new(settings_.client_id.c_str(), true, this);
  if (!mosq_) return core::make_error(errc::io, "cannot create the MQTT client");
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_threaded_set(mosq_, true);
  int rc = mosquitto_tls_set(mosq_, settings_.ca_file.c_str(), nullptr, settings_.cert_file.c_str(),
                             settings_.key_file.c_str(), nullptr);
  if (rc != MOSQ_ERR_SUCCESS) return link_error("cannot set up TLS with " + settings_.cert_file, rc);
  mosquitto_connect_callback_set(mosq_, &mqtt_link::on_connect);
  mosquitto_disconnect_callback_set(mosq_, &mqtt_link::on_disconnect);
  mosquitto_subscribe_callback_set(mosq_, &mqtt_link::on_subscribe);
  mosquitto_message_callback_set(mosq_, &mqtt_link::on_message);
  thread_ = std::thread([this] { run(); });
  return {};
}

void mqtt_link::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  thread_.join();
}

bool mqtt_link::publish(const std::string& topic, const std::string& payload) {
  if (!online_) return false;
  std::lock_guard lock(io_mutex_);
  int rc = mosquitto_publish(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), 1, false);
  if (rc != MOSQ_ERR_SUCCESS) {
    spdlog::warn("cannot publish on {}: {}", topic, mosquitto_strerror(rc));
    return false;
  }
  return true;
}

void mqtt_link::run() {
  bool connected = false, ever = false;
  const auto where = settings_.host + ":" + std::to_string(settings_.port);
  while (!stopping_) {
    if (!connected) {
      int rc;
      {
        std::lock_guard lock(io_mutex_);
        rc = ever ? mosquitto_reconnect(mosq_)
                  : mosquitto_connect(mosq_, settings_.host.c_str(), settings_.port, settings_.keep_alive_seconds);
      }
      if (rc != MOSQ_ERR_SUCCESS) {
        auto delay = reconnect_delay_.next();
        spdlog::warn("mqtt: cannot connect to {}: {}; retrying in {} ms", where,
                     rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc), delay.count());
        sleep_interruptibly(delay);
        continue;
      }
      connected = ever = true;
    }
    int rc = mosquitto_loop(mosq_, loop_timeout_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS && !stopping_) {
      connected = false;
      if (online_.exchange(false)) events_.push({link_event::kind::offline, {}, {}});
      auto delay = reconnect_delay_.next();
      spdlog::warn("mqtt: connection to {} lost ({}); reconnecting in {} ms", where,
                   rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc), delay.count());
      sleep_interruptibly(delay);
    }
  }
  if (connected) {
    {
      std::lock_guard lock(io_mutex_);
      mosquitto_disconnect(mosq_);
    }
    mosquitto_loop(mosq_, loop_timeout_ms, 1);
  }
  online_ = false;
}

void mqtt_link::sleep_interruptibly(std::chrono::milliseconds delay) {
  auto until = std::chrono::steady_clock::now() + delay;
  while (!stopping_ && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(delay, std::chrono::milliseconds(50)));
}

// ---- callbacks (network thread) ---------------------------------------------------------

void mqtt_link::on_connect(mosquitto* m, void* self_ptr, int rc) {
  auto& self = *static_cast<mqtt_link*>(self_ptr);
  if (rc != 0) {
    spdlog::error("mqtt: the server refused the connection: {}", mosquitto_connack_string(rc));
    return;
  }
  spdlog::info("mqtt: connected to {}:{} as {}", self.settings_.host, self.settings_.port, self.settings_.client_id);
  std::vector<char*> filters;
  for (auto& s : self.settings_.subscriptions) filters.push_back(s.data());
  int sub_rc = mosquitto_subscribe_multiple(m, &self.subscribe_mid_, static_cast<int>(filters.size()), filters.data(),
                                            1, 0, nullptr);
  if (sub_rc != MOSQ_ERR_SUCCESS) spdlog::error("mqtt: cannot subscribe: {}", mosquitto_strerror(sub_rc));
}

// The loop in run() logs the loss and schedules the reconnect.
void mqtt_link::on_disconnect(mosquitto*, void* self_ptr, int) {
  auto& self = *static_cast<mqtt_link*>(self_ptr);
  if (self.online_.exchange(false)) self.events_.push({link_event::kind::offline, {}, {}});
}

void mqtt_link::on_subscribe(mosquitto*, void* self_ptr, int mid, int count, const int* granted) {
  auto& self = *static_cast<mqtt_link*>(self_ptr);
  if (mid != self.subscribe_mid_) return;
  for (int i = 0; i < count && i < static_cast<int>(self.settings_.subscriptions.size()); ++i)
    if (granted[i] > 2) spdlog::error("mqtt: the server refused the subscription {}", self.settings_.subscriptions[i]);
  self.reconnect_delay_.reset();
  self.online_ = true;
  self.events_.push({link_event::kind::online, {}, {}});
}

void mqtt_link::on_message(mosquitto*, void* self_ptr, const mosquitto_message* message) {
  auto& self = *static_cast<mqtt_link*>(self_ptr);
  std::string payload(static_cast<const char*>(message->payload), static_cast<std::size_t>(message->payloadlen));
  self.events_.push({link_event::kind::message, message->topic, std::move(payload)});
}

}  // namespace airfleet::agent
