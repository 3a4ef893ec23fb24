// What the MQTT link's network thread tells the agent's main thread: the
// link came up (connected and subscribed), went down, or a message arrived.
// Unbounded on purpose: the device's own topics carry a handful of messages
// per job, and the main thread drains them whenever it waits.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace airfleet::agent {

struct link_event {
  enum class kind { online, offline, message };
  kind type = kind::message;
  std::string topic;
  std::string payload;
};

class event_queue {
 public:
  void push(link_event e) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back(std::move(e));
    }
    ready_.notify_one();
  }

  // The next event, or nullopt after `timeout`.
  std::optional<link_event> pop_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
    auto e = std::move(events_.front());
    events_.pop_front();
    return e;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<link_event> events_;  // guarded by mutex_
};

}  // namespace airfleet::agent
