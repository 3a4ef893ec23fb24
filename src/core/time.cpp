#include "core/time.hpp"

#include "core/strings.hpp"

#include <cstdio>
#include <ctime>

namespace airfleet::core {

namespace {
int number(std::string_view s) { return digits_value(s); }
std::tm to_tm(time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm;
}
}  // namespace

std::optional<time_point> parse_amz_date(std::string_view text) {
  // YYYYMMDD'T'HHMMSS'Z'
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  if (!all_digits(text.substr(0, 8)) || !all_digits(text.substr(9, 6))) return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{year{number(text.substr(0, 4))}, month{static_cast<unsigned>(number(text.substr(4, 2)))},
                     day{static_cast<unsigned>(number(text.substr(6, 2)))}};
  if (!ymd.ok()) return std::nullopt;
  int h = number(text.substr(9, 2)), m = number(text.substr(11, 2)), s = number(text.substr(13, 2));
  if (h > 23 || m > 59 || s > 60) return std::nullopt;
  return time_point{sys_days{ymd}} + hours{h} + minutes{m} + seconds{s};
}

std::string format_amz_date(time_point t) {
  std::tm tm = to_tm(t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string format_iso8601(time_point t) {
  std::tm tm = to_tm(t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::int64_t to_epoch_millis(time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

time_point from_epoch_millis(std::int64_t millis) {
  return time_point{std::chrono::milliseconds{millis}};
}

double to_epoch_seconds(time_point t) {
  return static_cast<double>(to_epoch_millis(t)) / 1000.0;
}

}  // namespace airfleet::core
