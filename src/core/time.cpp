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

std::string format_iso8601_millis(time_point t) {
  std::tm tm = to_tm(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  if (ms < 0) ms += 1000;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

namespace {
constexpr const char* day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
}  // namespace

std::string format_http_date(time_point t) {
  std::tm tm = to_tm(t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", day_names[tm.tm_wday], tm.tm_mday,
                month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<time_point> parse_http_date(std::string_view text) {
  std::string s(trim(text));
  char wday[16] = {}, mon[4] = {};
  int day = 0, year = 0, hh = 0, mm = 0, ss = 0;
  int consumed = 0;
  bool ok = false;
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  if (std::sscanf(s.c_str(), "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wday, &day, mon, &year, &hh, &mm, &ss,
                  &consumed) == 7 && consumed == static_cast<int>(s.size())) {
    ok = true;
  } else if (std::sscanf(s.c_str(), "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wday, &day, mon, &year, &hh, &mm,
                         &ss, &consumed) == 7 && consumed == static_cast<int>(s.size())) {
    year += year < 70 ? 2000 : 1900;  // RFC 850
    ok = true;
  } else if (std::sscanf(s.c_str(), "%3s %3s %d %2d:%2d:%2d %4d%n", wday, mon, &day, &hh, &mm, &ss, &year,
                         &consumed) == 7 && consumed == static_cast<int>(s.size())) {
    ok = true;  // asctime
  }
  if (!ok) return std::nullopt;
  int month = -1;
  for (int i = 0; i < 12; ++i)
    if (std::string_view(mon) == month_names[i]) month = i;
  if (month < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month + 1)),
                                  std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  return time_point(std::chrono::sys_days(ymd)) + std::chrono::hours(hh) + std::chrono::minutes(mm) +
         std::chrono::seconds(ss);
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
