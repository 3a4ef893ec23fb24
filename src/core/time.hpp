// Time: an injectable clock (tests drive time by hand, never sleep) and the
// formats AWS puts on the wire (ISO 8601 basic "20261126T133607Z",
// epoch seconds, RFC 1123 for HTTP dates).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace airfleet::core {

using time_point = std::chrono::system_clock::time_point;

class clock {
 public:
  virtual ~clock() = default;
  virtual time_point now() const = 0;
};

class system_clock final : public clock {
 public:
  time_point now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to.
class manual_clock final : public clock {
 public:
  explicit manual_clock(time_point start) : now_(start) {}
  time_point now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void advance(std::chrono::nanoseconds by) {
    std::lock_guard lock(mutex_);
    now_ += by;
  }
  void set(time_point to) {
    std::lock_guard lock(mutex_);
    now_ = to;
  }

 private:
  mutable std::mutex mutex_;
  time_point now_;  // guarded by mutex_
};

// "20261126T133607Z" <-> time_point (UTC).
std::optional<time_point> parse_amz_date(std::string_view text);
std::string format_amz_date(time_point t);
// "2026-11-26T13:36:07Z"
std::string format_iso8601(time_point t);
// 2026-11-26T13:36:33.000Z (S3's XML timestamps).
std::string format_iso8601_millis(time_point t);
// RFC 7231 IMF-fixdate, "Thu, 26 Nov 2026 13:36:33 GMT" (Last-Modified).
std::string format_http_date(time_point t);
// IMF-fixdate, and the obsolete RFC 850 and asctime forms HTTP allows.
std::optional<time_point> parse_http_date(std::string_view text);
// Milliseconds since the epoch (how airfleet stores instants).
std::int64_t to_epoch_millis(time_point t);
time_point from_epoch_millis(std::int64_t millis);
// Seconds as a double, the way AWS's rest-json timestamps travel.
double to_epoch_seconds(time_point t);

}  // namespace airfleet::core
