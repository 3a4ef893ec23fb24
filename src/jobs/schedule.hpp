// When jobs may run: AWS cron expressions, the maintenance windows built from
// them, and the "YYYY-MM-DDTHH:MM" instants of a job's schedulingConfig.
//
// A cron expression is what IoT Jobs maintenance windows and EventBridge
// accept: `cron(Minutes Hours Day-of-month Month Day-of-week Year)`, six
// fields separated by spaces, always in UTC.
//
//   field          values                  special characters
//   Minutes        0-59                    , - * /
//   Hours          0-23                    , - * /
//   Day-of-month   1-31                    , - * / ? L W
//   Month          1-12 or JAN-DEC         , - * /
//   Day-of-week    1-7 or SUN-SAT (1=SUN)  , - * / ? L #
//   Year           1970-2199               , - * /
//
// The rules, as airfleet applies them:
// * `,` lists values, `-` gives an inclusive range, `*` is every value and
//   `/` steps through a range: `0/15` and `*/15` are 0,15,30,45 in Minutes;
//   `10-40/10` is 10,20,30,40; `5/20` runs from 5 to the field's maximum.
// * Exactly one of Day-of-month and Day-of-week is `?` ("no constraint") and
//   the other one picks the days. AWS rejects both `?` and neither `?`.
// * `L` alone in Day-of-month is the month's last day; `LW` is its last
//   weekday (Monday-Friday). `15W` is the weekday nearest the 15th within the
//   same month: a Saturday moves back to Friday and a Sunday forward to
//   Monday, except that the 1st never moves into the previous month (a
//   Saturday 1st becomes Monday the 3rd) and the last day never moves into the
//   next (a Sunday 31st becomes Friday the 29th). `31W` never fires in a
//   30-day month, just as `31` does not.
// * `L` alone in Day-of-week is Saturday, the last day of the week; `5L` is
//   the month's last Thursday. `3#2` is its second Tuesday; `#` counts 1-5.
// * Names are case-insensitive and may appear wherever numbers do
//   (`MON-FRI`, `FRI#3`, `JAN,JUL`).
// * A range whose start is past its end wraps around in every field but the
//   year: `22-2` in Hours is 22,23,0,1,2 and `FRI-MON` is Friday to Monday.
// * A value that a month lacks (`30` in February) matches nothing in that
//   month; an expression that can never fire parses but never fires.
//
// A maintenance window opens at every instant its expression fires and stays
// open for duration_minutes (1-1430). Occurrences may overlap each other and
// may span midnight; a job is "in a window" while any occurrence is open.
#pragma once

#include "core/error.hpp"
#include "core/time.hpp"

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace airfleet::jobs {

enum class schedule_errc {
  invalid_cron = 1,  // a cron expression or a maintenance window's duration is malformed
  invalid_time,      // a schedulingConfig time string is malformed or out of range
};
std::error_code make_error_code(schedule_errc e);

// Cron years, and so the span in which schedules are computed.
inline constexpr int first_cron_year = 1970;
inline constexpr int last_cron_year = 2199;
// EventBridge's limit on a schedule expression; longer text is rejected unread.
inline constexpr std::size_t max_cron_expression_length = 256;
// AWS's bounds on maintenanceWindows[].durationInMinutes.
inline constexpr std::int64_t min_window_duration_minutes = 1;
inline constexpr std::int64_t max_window_duration_minutes = 1430;

class cron_expression {
 public:
  // Parses `cron(...)`; the error message says which field is wrong and why.
  static core::result<cron_expression> parse(std::string_view text);

  // The first minute boundary at or after t at which the expression fires;
  // nullopt when it never fires again before 2200.
  std::optional<core::time_point> next_at_or_after(core::time_point t) const;
  // The last minute boundary at or before t at which the expression fires;
  // nullopt when it never fired since 1970.
  std::optional<core::time_point> previous_at_or_before(core::time_point t) const;
  // Whether t is a minute boundary at which the expression fires.
  bool matches(core::time_point t) const;

  // The text it was parsed from, as given.
  const std::string& text() const { return text_; }

 private:
  cron_expression() = default;

  // Bit d (1-31) is set when the expression fires on day d of year/month.
  std::uint64_t day_mask(int year, unsigned month) const;
  // The nearest firing instant from `from` (a minute boundary within the
  // cron years) going forward or backward in time.
  std::optional<core::time_point> search(core::time_point from, bool forward) const;
  int find_year(int from, bool forward) const;

  std::string text_;
  std::uint64_t minutes_ = 0;  // bit m, 0-59
  std::uint64_t hours_ = 0;    // bit h, 0-23
  std::uint64_t months_ = 0;   // bit m, 1-12
  std::bitset<last_cron_year - first_cron_year + 1> years_;  // bit y - first_cron_year

  // Which of the two day fields picks days; the other one is `?`.
  bool by_day_of_week_ = false;
  // Day-of-month.
  std::uint64_t days_of_month_ = 0;       // bit d, 1-31
  std::uint64_t nearest_weekdays_ = 0;    // `dW`: bit d, 1-31
  bool last_day_of_month_ = false;        // `L`
  bool last_weekday_of_month_ = false;    // `LW`
  // Day-of-week, 1 = Sunday ... 7 = Saturday.
  std::uint64_t days_of_week_ = 0;        // bit w
  std::uint64_t last_days_of_week_ = 0;   // `wL`: bit w
  std::array<std::uint8_t, 8> nth_days_of_week_{};  // `w#n`: bit n of [w]
};

struct maintenance_window {
  cron_expression start;
  std::int64_t duration_minutes;
};

// Validates both parts the way AWS does (duration 1-1430 minutes).
core::result<maintenance_window> make_maintenance_window(std::string_view cron_text,
                                                         std::int64_t duration_minutes);

// Whether now lies in [start, start + duration) of some occurrence of some
// window, including an occurrence that began before now.
bool in_maintenance_window(const std::vector<maintenance_window>& windows, core::time_point now);
// now when inside a window, else the earliest start of a later occurrence;
// nullopt when no window opens again before 2200.
std::optional<core::time_point> next_window_open(const std::vector<maintenance_window>& windows,
                                                 core::time_point now);
// When the occurrences open at now close: the latest end among them. nullopt
// when now is outside every window. Another occurrence may open before (or
// exactly at) that instant; callers that pause work at the close re-check
// in_maintenance_window then.
std::optional<core::time_point> window_close(const std::vector<maintenance_window>& windows,
                                             core::time_point now);

// schedulingConfig startTime/endTime: "YYYY-MM-DDTHH:MM" in UTC; a trailing
// ":SS" and/or "Z" is accepted too. Years outside 1970-2199 are rejected.
core::result<core::time_point> parse_schedule_time(std::string_view text);
// "YYYY-MM-DDTHH:MM" (seconds are dropped, not rounded).
std::string format_schedule_time(core::time_point t);

}  // namespace airfleet::jobs

template <>
struct std::is_error_code_enum<airfleet::jobs::schedule_errc> : std::true_type {};
