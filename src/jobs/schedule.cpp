#include "jobs/schedule.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <span>

namespace airfleet::jobs {

namespace {

namespace chrono = std::chrono;

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.jobs.schedule"; }
  std::string message(int ev) const override {
    switch (static_cast<schedule_errc>(ev)) {
      case schedule_errc::invalid_cron: return "invalid cron expression";
      case schedule_errc::invalid_time: return "invalid schedule time";
    }
    return "unknown schedule error";
  }
};

// ---- calendar -------------------------------------------------------------

struct civil_minute {
  int year;
  unsigned month;
  unsigned day;
  int hour;
  int minute;
};

// t must be a minute boundary.
civil_minute to_civil(core::time_point t) {
  const auto day = chrono::floor<chrono::days>(t);
  const chrono::year_month_day ymd{day};
  const auto since_midnight = chrono::duration_cast<chrono::minutes>(t - day).count();
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
          static_cast<int>(since_midnight / 60), static_cast<int>(since_midnight % 60)};
}

core::time_point from_civil(int year, unsigned month, unsigned day, int hour, int minute) {
  const chrono::sys_days date{chrono::year{year} / chrono::month{month} / chrono::day{day}};
  return core::time_point{date} + chrono::hours{hour} + chrono::minutes{minute};
}

// The first and the last minute that cron years cover.
core::time_point earliest_minute() { return from_civil(first_cron_year, 1, 1, 0, 0); }
core::time_point latest_minute() { return from_civil(last_cron_year, 12, 31, 23, 59); }

unsigned days_in_month(int year, unsigned month) {
  const chrono::year_month_day_last last{chrono::year{year}, chrono::month_day_last{chrono::month{month}}};
  return static_cast<unsigned>(last.day());
}

// 1 = Sunday ... 7 = Saturday, as cron numbers them.
int cron_weekday(int year, unsigned month, unsigned day) {
  const chrono::sys_days date{chrono::year{year} / chrono::month{month} / chrono::day{day}};
  return static_cast<int>(chrono::weekday{date}.c_encoding()) + 1;
}

bool is_weekend(int weekday) { return weekday == 1 || weekday == 7; }

// ---- bit sets -------------------------------------------------------------

std::uint64_t bit(int n) { return std::uint64_t{1} << n; }

// The lowest set bit >= from, or -1.
int next_bit(std::uint64_t mask, int from) {
  if (from > 63) return -1;
  if (from > 0) mask &= ~std::uint64_t{0} << from;
  return mask == 0 ? -1 : std::countr_zero(mask);
}

// The highest set bit <= from, or -1.
int previous_bit(std::uint64_t mask, int from) {
  if (from < 0) return -1;
  if (from < 63) mask &= bit(from + 1) - 1;
  return mask == 0 ? -1 : 63 - std::countl_zero(mask);
}

// ---- parsing --------------------------------------------------------------

enum class field_kind { minutes, hours, day_of_month, month, day_of_week, year };

constexpr std::array<std::string_view, 12> month_names = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> weekday_names = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct field_spec {
  field_kind kind;
  const char* name;
  int min;
  int max;
  std::span<const std::string_view> names;  // names[i] stands for min + i
};

constexpr std::array<field_spec, 6> field_specs = {{
    {field_kind::minutes, "minutes", 0, 59, {}},
    {field_kind::hours, "hours", 0, 23, {}},
    {field_kind::day_of_month, "day-of-month", 1, 31, {}},
    {field_kind::month, "month", 1, 12, month_names},
    {field_kind::day_of_week, "day-of-week", 1, 7, weekday_names},
    {field_kind::year, "year", first_cron_year, last_cron_year, {}},
}};

// One field, before it is folded into a cron_expression.
struct parsed_field {
  bool unspecified = false;                          // `?`
  std::bitset<last_cron_year - first_cron_year + 1> values;  // bit value - spec.min
  bool last_day = false;                             // day-of-month `L`
  bool last_weekday = false;                         // day-of-month `LW`
  std::uint64_t nearest_weekdays = 0;                // day-of-month `dW`
  std::uint64_t last_days_of_week = 0;               // day-of-week `wL`
  std::array<std::uint8_t, 8> nth_days_of_week{};    // day-of-week `w#n`
};

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads a decimal number at the front of s (capped, so that huge numbers stay
// out of range instead of overflowing). nullopt when s does not start with a digit.
std::optional<int> read_number(std::string_view& s) {
  if (s.empty() || !is_digit(s.front())) return std::nullopt;
  int value = 0;
  while (!s.empty() && is_digit(s.front())) {
    value = std::min(value * 10 + (s.front() - '0'), 1'000'000);
    s.remove_prefix(1);
  }
  return value;
}

// Reads a number or, in month and day-of-week, a three-letter name.
std::optional<int> read_value(const field_spec& spec, std::string_view& s) {
  if (auto number = read_number(s)) return number;
  for (std::size_t i = 0; i < spec.names.size(); ++i) {
    if (s.starts_with(spec.names[i])) {
      s.remove_prefix(spec.names[i].size());
      return spec.min + static_cast<int>(i);
    }
  }
  return std::nullopt;
}

// What is wrong with one comma-separated element, or "" when it is fine.
// `element` is upper-cased; `original` is what the caller wrote.
std::string parse_element(const field_spec& spec, std::string_view element, std::string_view original,
                          parsed_field& out) {
  const std::string quoted = "'" + std::string(original) + "'";
  const std::string range_text = std::to_string(spec.min) + "-" + std::to_string(spec.max);
  auto out_of_range = [&](int value) {
    return "value " + std::to_string(value) + " in " + quoted + " is out of range " + range_text;
  };
  // Reads one value that must make up all of `s`.
  auto whole_value = [&](std::string_view s, int& value) -> std::string {
    auto v = read_value(spec, s);
    if (!v || !s.empty()) return quoted + " is not a valid " + spec.name + " value";
    if (*v < spec.min || *v > spec.max) return out_of_range(*v);
    value = *v;
    return {};
  };

  if (element.empty()) return "empty value in a list";
  if (element == "?") return "'?' must be the whole field, not part of a list";

  if (spec.kind == field_kind::day_of_month) {
    if (element == "L") {
      out.last_day = true;
      return {};
    }
    if (element == "LW") {
      out.last_weekday = true;
      return {};
    }
    if (element.size() > 1 && element.back() == 'W') {
      int day = 0;
      if (auto problem = whole_value(element.substr(0, element.size() - 1), day); !problem.empty()) return problem;
      out.nearest_weekdays |= bit(day);
      return {};
    }
  }
  if (spec.kind == field_kind::day_of_week) {
    if (element == "L") {
      out.values.set(7 - spec.min);
      return {};
    }
    if (element.size() > 1 && element.back() == 'L') {
      int weekday = 0;
      if (auto problem = whole_value(element.substr(0, element.size() - 1), weekday); !problem.empty()) {
        return problem;
      }
      out.last_days_of_week |= bit(weekday);
      return {};
    }
    if (auto hash = element.find('#'); hash != std::string_view::npos) {
      int weekday = 0;
      if (auto problem = whole_value(element.substr(0, hash), weekday); !problem.empty()) return problem;
      std::string_view rest = element.substr(hash + 1);
      auto nth = read_number(rest);
      if (!nth || !rest.empty() || *nth < 1 || *nth > 5) {
        return "the number after '#' in " + quoted + " must be 1-5";
      }
      out.nth_days_of_week[static_cast<std::size_t>(weekday)] |= static_cast<std::uint8_t>(bit(*nth));
      return {};
    }
  }
  const bool day_field = spec.kind == field_kind::day_of_month || spec.kind == field_kind::day_of_week;
  if (!day_field && spec.kind != field_kind::month && element.find_first_of("LW#") != std::string_view::npos) {
    return quoted + ": L, W and # are allowed only in day-of-month and day-of-week";
  }

  // [*|a[-b]][/step]
  std::string_view s = element;
  int start = spec.min;
  int end = spec.max;
  if (s.front() == '*') {
    s.remove_prefix(1);
  } else {
    auto first = read_value(spec, s);
    if (!first) return quoted + " is not a valid " + spec.name + " value";
    if (*first < spec.min || *first > spec.max) return out_of_range(*first);
    start = *first;
    if (!s.empty() && s.front() == '-') {
      s.remove_prefix(1);
      auto last = read_value(spec, s);
      if (!last) return quoted + " has no valid end to its range";
      if (*last < spec.min || *last > spec.max) return out_of_range(*last);
      end = *last;
    } else if (s.empty() || s.front() != '/') {
      end = start;  // a single value; `a/step` runs to the maximum
    }
  }
  int step = 1;
  const int span = spec.max - spec.min + 1;
  if (!s.empty() && s.front() == '/') {
    s.remove_prefix(1);
    auto n = read_number(s);
    if (!n || !s.empty()) return "the step in " + quoted + " must be a number";
    if (*n < 1 || *n > span) return "the step in " + quoted + " must be 1-" + std::to_string(span);
    step = *n;
  }
  if (!s.empty()) return quoted + " is not a valid " + spec.name + " value";
  if (start > end && spec.kind == field_kind::year) return "the range " + quoted + " runs backwards";

  // A backwards range wraps around: count the steps from start to end modulo the span.
  const int length = (end - start + span) % span;
  for (int offset = 0; offset <= length; offset += step) {
    out.values.set(static_cast<std::size_t>((start - spec.min + offset) % span));
  }
  return {};
}

std::string parse_field(const field_spec& spec, std::string_view text, parsed_field& out) {
  if (text == "?") {
    if (spec.kind != field_kind::day_of_month && spec.kind != field_kind::day_of_week) {
      return std::string(spec.name) + ": '?' is allowed only in day-of-month or day-of-week";
    }
    out.unspecified = true;
    return {};
  }
  const std::string upper_text = upper(text);
  const std::string_view upper_view = upper_text;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = upper_view.find(',', begin);
    const std::size_t count = comma == std::string_view::npos ? std::string_view::npos : comma - begin;
    auto problem = parse_element(spec, upper_view.substr(begin, count), text.substr(begin, count), out);
    if (!problem.empty()) return std::string(spec.name) + ": " + problem;
    if (comma == std::string_view::npos) return {};
    begin = comma + 1;
  }
}

std::uint64_t small_mask(const parsed_field& field, const field_spec& spec) {
  std::uint64_t mask = 0;
  for (int v = spec.min; v <= spec.max; ++v) {
    if (field.values.test(static_cast<std::size_t>(v - spec.min))) mask |= bit(v);
  }
  return mask;
}

// Shortens untrusted text before it is echoed in an error message.
std::string excerpt(std::string_view text) {
  constexpr std::size_t limit = 64;
  if (text.size() <= limit) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, limit)) + "...'";
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

// The maintenance window's length, clamped in case the struct was built by
// hand rather than by make_maintenance_window.
chrono::minutes window_length(const maintenance_window& window) {
  return chrono::minutes{std::clamp<std::int64_t>(window.duration_minutes, 0, max_window_duration_minutes)};
}

// The start of the occurrence of `window` that is open at now, if any. Only
// the latest start at or before now can be open: earlier ones ended earlier.
std::optional<core::time_point> open_occurrence(const maintenance_window& window, core::time_point now) {
  const auto length = window_length(window);
  if (length.count() == 0) return std::nullopt;
  auto start = window.start.previous_at_or_before(now);
  if (!start || now >= *start + length) return std::nullopt;
  return start;
}

}  // namespace

std::error_code make_error_code(schedule_errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

// ---- cron_expression ----------------------------------------------------------

core::result<cron_expression> cron_expression::parse(std::string_view text) {
  auto fail = [&](const std::string& why) {
    return core::make_error(schedule_errc::invalid_cron, "invalid cron expression " + excerpt(text) + ": " + why);
  };
  if (text.size() > max_cron_expression_length) {
    return fail("longer than " + std::to_string(max_cron_expression_length) + " characters");
  }
  constexpr std::string_view prefix = "cron(";
  if (!text.starts_with(prefix) || !text.ends_with(")")) {
    return fail("expected cron(Minutes Hours Day-of-month Month Day-of-week Year)");
  }
  std::string_view body = text.substr(prefix.size(), text.size() - prefix.size() - 1);

  std::vector<std::string_view> fields;
  while (true) {
    while (!body.empty() && is_space(body.front())) body.remove_prefix(1);
    if (body.empty()) break;
    std::size_t length = 0;
    while (length < body.size() && !is_space(body[length])) ++length;
    fields.push_back(body.substr(0, length));
    body.remove_prefix(length);
  }
  if (fields.size() != field_specs.size()) {
    return fail("expected 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), got " +
                std::to_string(fields.size()));
  }

  std::array<parsed_field, 6> parsed;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (auto problem = parse_field(field_specs[i], fields[i], parsed[i]); !problem.empty()) return fail(problem);
  }
  const parsed_field& day_of_month = parsed[2];
  const parsed_field& day_of_week = parsed[4];
  if (day_of_month.unspecified && day_of_week.unspecified) {
    return fail("day-of-month and day-of-week cannot both be '?'; one of them must pick the days");
  }
  if (!day_of_month.unspecified && !day_of_week.unspecified) {
    return fail("one of day-of-month and day-of-week must be '?'");
  }

  cron_expression out;
  out.text_ = std::string(text);
  out.minutes_ = small_mask(parsed[0], field_specs[0]);
  out.hours_ = small_mask(parsed[1], field_specs[1]);
  out.months_ = small_mask(parsed[3], field_specs[3]);
  out.years_ = parsed[5].values;
  out.by_day_of_week_ = day_of_month.unspecified;
  out.days_of_month_ = small_mask(day_of_month, field_specs[2]);
  out.nearest_weekdays_ = day_of_month.nearest_weekdays;
  out.last_day_of_month_ = day_of_month.last_day;
  out.last_weekday_of_month_ = day_of_month.last_weekday;
  out.days_of_week_ = small_mask(day_of_week, field_specs[4]);
  out.last_days_of_week_ = day_of_week.last_days_of_week;
  out.nth_days_of_week_ = day_of_week.nth_days_of_week;
  return out;
}

std::uint64_t cron_expression::day_mask(int year, unsigned month) const {
  const unsigned length = days_in_month(year, month);
  const int first_weekday = cron_weekday(year, month, 1);
  auto weekday_of = [&](unsigned day) { return (first_weekday - 1 + static_cast<int>(day) - 1) % 7 + 1; };

  std::uint64_t mask = 0;
  if (!by_day_of_week_) {
    mask = days_of_month_ & (bit(static_cast<int>(length) + 1) - 2);  // bits 1..length
    if (last_day_of_month_) mask |= bit(static_cast<int>(length));
    if (last_weekday_of_month_) {
      unsigned day = length;
      while (is_weekend(weekday_of(day))) --day;
      mask |= bit(static_cast<int>(day));
    }
    for (int day = next_bit(nearest_weekdays_, 1); day != -1 && day <= static_cast<int>(length);
         day = next_bit(nearest_weekdays_, day + 1)) {
      int nearest = day;
      switch (weekday_of(static_cast<unsigned>(day))) {
        case 7: nearest = day == 1 ? 3 : day - 1; break;                               // Saturday
        case 1: nearest = day == static_cast<int>(length) ? day - 2 : day + 1; break;  // Sunday
        default: break;
      }
      mask |= bit(nearest);
    }
    return mask;
  }
  for (unsigned day = 1; day <= length; ++day) {
    const int weekday = weekday_of(day);
    const bool plain = (days_of_week_ & bit(weekday)) != 0;
    const bool last = (last_days_of_week_ & bit(weekday)) != 0 && day + 7 > length;
    const bool nth = (nth_days_of_week_[static_cast<std::size_t>(weekday)] & bit(static_cast<int>((day - 1) / 7 + 1))) != 0;
    if (plain || last || nth) mask |= bit(static_cast<int>(day));
  }
  return mask;
}

int cron_expression::find_year(int from, bool forward) const {
  for (int year = from; year >= first_cron_year && year <= last_cron_year; year += forward ? 1 : -1) {
    if (years_.test(static_cast<std::size_t>(year - first_cron_year))) return year;
  }
  return -1;
}

// Walks year -> month -> day -> hour -> minute, taking at each level the
// first candidate in the direction of travel. While the walk stays on the
// start instant's own year/month/day/hour, a level begins at the start's
// component; once it has moved past it, the level begins at its first (or,
// backwards, last) value. Whole years and months that cannot match are
// skipped by their bit sets, and a month's matching days come from one mask,
// so even "never again" costs at most 230 years x 12 months of masks.
std::optional<core::time_point> cron_expression::search(core::time_point from, bool forward) const {
  const civil_minute start = to_civil(from);
  const int step = forward ? 1 : -1;
  auto find = [forward](std::uint64_t mask, int value) {
    return forward ? next_bit(mask, value) : previous_bit(mask, value);
  };
  const int first_month = forward ? 1 : 12;
  const int first_day = forward ? 1 : 31;
  const int first_hour = forward ? 0 : 23;
  const int first_minute = forward ? 0 : 59;

  for (int year = find_year(start.year, forward); year != -1; year = find_year(year + step, forward)) {
    const bool on_start_year = year == start.year;
    for (int month = find(months_, on_start_year ? static_cast<int>(start.month) : first_month); month != -1;
         month = find(months_, month + step)) {
      const bool on_start_month = on_start_year && month == static_cast<int>(start.month);
      const std::uint64_t days = day_mask(year, static_cast<unsigned>(month));
      for (int day = find(days, on_start_month ? static_cast<int>(start.day) : first_day); day != -1;
           day = find(days, day + step)) {
        const bool on_start_day = on_start_month && day == static_cast<int>(start.day);
        int hour = find(hours_, on_start_day ? start.hour : first_hour);
        if (hour == -1) continue;
        int minute = find(minutes_, on_start_day && hour == start.hour ? start.minute : first_minute);
        if (minute == -1) {
          hour = find(hours_, hour + step);
          if (hour == -1) continue;
          minute = find(minutes_, first_minute);
        }
        return from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day), hour, minute);
      }
    }
  }
  return std::nullopt;
}

std::optional<core::time_point> cron_expression::next_at_or_after(core::time_point t) const {
  if (t > latest_minute()) return std::nullopt;
  t = std::max(t, earliest_minute());
  return search(chrono::ceil<chrono::minutes>(t), true);
}

std::optional<core::time_point> cron_expression::previous_at_or_before(core::time_point t) const {
  if (t < earliest_minute()) return std::nullopt;
  t = std::min(t, latest_minute());
  return search(chrono::floor<chrono::minutes>(t), false);
}

bool cron_expression::matches(core::time_point t) const {
  if (t < earliest_minute() || t > latest_minute() || t != chrono::floor<chrono::minutes>(t)) return false;
  const civil_minute c = to_civil(t);
  return years_.test(static_cast<std::size_t>(c.year - first_cron_year)) &&
         (months_ & bit(static_cast<int>(c.month))) != 0 &&
         (day_mask(c.year, c.month) & bit(static_cast<int>(c.day))) != 0 && (hours_ & bit(c.hour)) != 0 &&
         (minutes_ & bit(c.minute)) != 0;
}

// ---- maintenance windows ------------------------------------------------------

core::result<maintenance_window> make_maintenance_window(std::string_view cron_text, std::int64_t duration_minutes) {
  if (duration_minutes < min_window_duration_minutes || duration_minutes > max_window_duration_minutes) {
    return core::make_error(schedule_errc::invalid_cron,
                            "maintenance window durationInMinutes must be " +
                                std::to_string(min_window_duration_minutes) + "-" +
                                std::to_string(max_window_duration_minutes) + ", got " +
                                std::to_string(duration_minutes));
  }
  auto start = cron_expression::parse(cron_text);
  if (!start) return start.error();
  return maintenance_window{std::move(*start), duration_minutes};
}

bool in_maintenance_window(const std::vector<maintenance_window>& windows, core::time_point now) {
  return std::any_of(windows.begin(), windows.end(),
                     [&](const maintenance_window& w) { return open_occurrence(w, now).has_value(); });
}

std::optional<core::time_point> next_window_open(const std::vector<maintenance_window>& windows,
                                                 core::time_point now) {
  if (in_maintenance_window(windows, now)) return now;
  std::optional<core::time_point> earliest;
  for (const auto& window : windows) {
    if (window_length(window).count() == 0) continue;
    auto next = window.start.next_at_or_after(now);
    if (next && (!earliest || *next < *earliest)) earliest = next;
  }
  return earliest;
}

std::optional<core::time_point> window_close(const std::vector<maintenance_window>& windows,
                                             core::time_point now) {
  std::optional<core::time_point> latest;
  for (const auto& window : windows) {
    auto start = open_occurrence(window, now);
    if (!start) continue;
    const core::time_point end = *start + window_length(window);
    if (!latest || end > *latest) latest = end;
  }
  return latest;
}

// ---- schedulingConfig times ---------------------------------------------------

core::result<core::time_point> parse_schedule_time(std::string_view text) {
  auto fail = [&](const std::string& why) {
    return core::make_error(schedule_errc::invalid_time, "invalid time " + excerpt(text) + ": " + why);
  };
  std::string_view s = text;
  if (s.ends_with('Z')) s.remove_suffix(1);
  // YYYY-MM-DDTHH:MM[:SS]
  constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd";
  if (s.size() != 16 && s.size() != 19) return fail("expected YYYY-MM-DDTHH:MM in UTC");
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool ok = shape[i] == 'd' ? is_digit(s[i]) : s[i] == shape[i];
    if (!ok) return fail("expected YYYY-MM-DDTHH:MM in UTC");
  }
  auto number = [&](std::size_t pos, std::size_t count) {
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) value = value * 10 + (s[i] - '0');
    return value;
  };
  const int year = number(0, 4);
  const int month = number(5, 2);
  const int day = number(8, 2);
  const int hour = number(11, 2);
  const int minute = number(14, 2);
  const int second = s.size() == 19 ? number(17, 2) : 0;
  if (year < first_cron_year || year > last_cron_year) {
    return fail("the year must be " + std::to_string(first_cron_year) + "-" + std::to_string(last_cron_year));
  }
  const chrono::year_month_day date{chrono::year{year}, chrono::month{static_cast<unsigned>(month)},
                                    chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return fail("no such date");
  if (hour > 23 || minute > 59 || second > 59) return fail("no such time of day");
  return core::time_point{chrono::sys_days{date}} + chrono::hours{hour} + chrono::minutes{minute} +
         chrono::seconds{second};
}

std::string format_schedule_time(core::time_point t) {
  const auto day = chrono::floor<chrono::days>(t);
  const chrono::year_month_day date{day};
  const auto since_midnight = chrono::floor<chrono::minutes>(t - day).count();
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(since_midnight / 60), static_cast<int>(since_midnight % 60));
  return buffer;
}

}  // namespace airfleet::jobs
