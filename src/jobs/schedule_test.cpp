#include "jobs/schedule.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <random>

namespace airfleet::jobs {
namespace {

using namespace std::chrono_literals;

// "YYYY-MM-DDTHH:MM[:SS]" -> instant; the tests' fixed instants.
core::time_point at(std::string_view text) {
  auto t = parse_schedule_time(text);
  EXPECT_TRUE(t.has_value()) << text;
  return t ? *t : core::time_point{};
}

std::string show(const std::optional<core::time_point>& t) {
  return t ? format_schedule_time(*t) + (*t == std::chrono::floor<std::chrono::minutes>(*t) ? "" : "+frac")
           : "none";
}

cron_expression cron(std::string_view text) {
  auto parsed = cron_expression::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text << ": " << (parsed ? "" : parsed.error().message);
  if (!parsed) return cron_expression::parse("cron(0 0 1 1 ? 1970)").value();
  return *parsed;
}

// The next firing at or after `from`, formatted, so failures read as dates.
std::string next(std::string_view expression, std::string_view from) {
  return show(cron(expression).next_at_or_after(at(from)));
}
std::string previous(std::string_view expression, std::string_view from) {
  return show(cron(expression).previous_at_or_before(at(from)));
}

std::string parse_error(std::string_view text) {
  auto parsed = cron_expression::parse(text);
  if (parsed) return "parsed";
  EXPECT_EQ(parsed.error().code, make_error_code(schedule_errc::invalid_cron));
  return parsed.error().message;
}

// ---- parsing --------------------------------------------------------------

TEST(cron_parse, accepts_what_aws_documents) {
  for (const char* text : {
           "cron(0 10 * * ? *)",          "cron(15 12 * * ? *)",        "cron(0 18 ? * MON-FRI *)",
           "cron(0 8 1 * ? *)",           "cron(0/15 * * * ? *)",       "cron(0/10 * ? * MON-FRI *)",
           "cron(0/5 8-17 ? * MON-FRI *)", "cron(0 9 ? * 2#1 *)",       "cron(0 0 L * ? *)",
           "cron(0 0 LW * ? *)",          "cron(0 0 15W * ? *)",        "cron(0 0 ? * 5L *)",
           "cron(*/5 * * * ? *)",         "cron(0 0 ? * sun,sat 2025)", "cron(0 0 1 jan,Jul ? 2024-2030)",
           "cron(0 22-2 * * ? *)",        "cron(0 0 ? * L *)",          "cron(0 0 ? * FRI#3 *)",
           "cron(0 0 1,L * ? *)",         "cron(10-40/10 * * * ? *)",   "cron(0  0   1 * ? *)",
           "cron(0 0 * * ? 2199)",        "cron(0 0 * * ? 1970)",       "cron(59 23 31 12 ? *)",
       }) {
    auto parsed = cron_expression::parse(text);
    EXPECT_TRUE(parsed.has_value()) << text << ": " << (parsed ? "" : parsed.error().message);
    if (parsed) {
      EXPECT_EQ(parsed->text(), text);
    }
  }
}

TEST(cron_parse, rejects_wrong_field_counts_and_wrappers) {
  EXPECT_NE(parse_error("cron(0 10 * * ?)").find("expected 6 fields"), std::string::npos);
  EXPECT_NE(parse_error("cron(0 10 * * ? * *)").find("got 7"), std::string::npos);
  EXPECT_NE(parse_error("cron()").find("got 0"), std::string::npos);
  EXPECT_NE(parse_error("0 10 * * ? *").find("expected cron("), std::string::npos);
  EXPECT_NE(parse_error("cron(0 10 * * ? *").find("expected cron("), std::string::npos);
  EXPECT_NE(parse_error("rate(5 minutes)").find("expected cron("), std::string::npos);
  EXPECT_NE(parse_error("").find("expected cron("), std::string::npos);
  EXPECT_NE(parse_error("cron(" + std::string(300, '1') + ")").find("longer than 256"), std::string::npos);
}

TEST(cron_parse, requires_exactly_one_question_mark_in_the_day_fields) {
  EXPECT_NE(parse_error("cron(0 10 ? * ? *)").find("cannot both be '?'"), std::string::npos);
  EXPECT_NE(parse_error("cron(0 10 * * * *)").find("must be '?'"), std::string::npos);
  EXPECT_NE(parse_error("cron(0 10 1 * MON *)").find("must be '?'"), std::string::npos);
  EXPECT_NE(parse_error("cron(? 10 * * ? *)").find("minutes: '?' is allowed only"), std::string::npos);
  EXPECT_NE(parse_error("cron(0 10 * ? ? *)").find("month"), std::string::npos);
  EXPECT_NE(parse_error("cron(0 10 1,? * ? *)").find("whole field"), std::string::npos);
}

TEST(cron_parse, rejects_out_of_range_values_naming_the_field) {
  auto expect_problem = [](std::string_view text, std::string_view field, std::string_view detail) {
    const std::string message = parse_error(text);
    EXPECT_NE(message.find(field), std::string::npos) << text << " -> " << message;
    EXPECT_NE(message.find(detail), std::string::npos) << text << " -> " << message;
  };
  expect_problem("cron(60 * * * ? *)", "minutes", "value 60 in '60' is out of range 0-59");
  expect_problem("cron(0 24 * * ? *)", "hours", "out of range 0-23");
  expect_problem("cron(0 0 0 * ? *)", "day-of-month", "out of range 1-31");
  expect_problem("cron(0 0 32 * ? *)", "day-of-month", "out of range 1-31");
  expect_problem("cron(0 0 1 13 ? *)", "month", "out of range 1-12");
  expect_problem("cron(0 0 1 0 ? *)", "month", "out of range 1-12");
  expect_problem("cron(0 0 ? * 0 *)", "day-of-week", "out of range 1-7");
  expect_problem("cron(0 0 ? * 8 *)", "day-of-week", "out of range 1-7");
  expect_problem("cron(0 0 1 * ? 1969)", "year", "out of range 1970-2199");
  expect_problem("cron(0 0 1 * ? 2200)", "year", "out of range 1970-2199");
  expect_problem("cron(0 0 1 * ? 2030-2025)", "year", "runs backwards");
  expect_problem("cron(0 0 32W * ? *)", "day-of-month", "out of range");
  expect_problem("cron(0 0 ? * 3#6 *)", "day-of-week", "must be 1-5");
  expect_problem("cron(0 0 ? * 3#0 *)", "day-of-week", "must be 1-5");
  expect_problem("cron(0 0 ? * 8#1 *)", "day-of-week", "out of range");
  expect_problem("cron(0 0 ? * 9L *)", "day-of-week", "out of range");
  expect_problem("cron(0/0 * * * ? *)", "minutes", "step");
  expect_problem("cron(0/61 * * * ? *)", "minutes", "step");
  expect_problem("cron(99999999999999999999 * * * ? *)", "minutes", "out of range");
}

TEST(cron_parse, rejects_garbage) {
  for (const char* text : {
           "cron(a * * * ? *)",      "cron(0 * * * ? * )x",   "cron(1-* * * * ? *)",   "cron(*-5 * * * ? *)",
           "cron(5- * * * ? *)",     "cron(0 0 L-3 * ? *)",   "cron(0 0 5L * ? *)",    "cron(0 0 W * ? *)",
           "cron(0 0 ? * 3W *)",     "cron(0 0 1 * MONDAY *)", "cron(0 0 1 JANUARY ? *)", "cron(0 L * * ? *)",
           "cron(0 0 1 * ? L)",      "cron(0 0 1,,2 * ? *)",  "cron(0 0 1, * ? *)",    "cron(0 0 ? * MON# *)",
           "cron(0 0 ? * #2 *)",     "cron(0 0 1 * ? 2024/)", "cron(1.5 0 1 * ? *)",   "cron(-1 0 1 * ? *)",
           "cron(0 0 ? * MON-FRI/x *)", "cron(0 0 1 FOO ? *)", "cron(0 0 ? * 2#1#1 *)",
       }) {
    EXPECT_EQ(cron_expression::parse(text).has_value(), false) << text;
  }
}

TEST(cron_parse, error_category_names_the_module) {
  const std::error_code code = make_error_code(schedule_errc::invalid_cron);
  EXPECT_STREQ(code.category().name(), "airfleet.jobs.schedule");
  EXPECT_EQ(code.message(), "invalid cron expression");
  EXPECT_EQ(std::error_code(schedule_errc::invalid_time).message(), "invalid schedule time");
}

// ---- next firing ------------------------------------------------------------

TEST(cron_next, every_fifteen_minutes) {
  const char* every_15 = "cron(0/15 * * * ? *)";
  EXPECT_EQ(next(every_15, "2024-05-10T10:07"), "2024-05-10T10:15");
  EXPECT_EQ(next(every_15, "2024-05-10T10:15"), "2024-05-10T10:15");
  EXPECT_EQ(next(every_15, "2024-05-10T10:15:01"), "2024-05-10T10:30");
  EXPECT_EQ(next(every_15, "2024-05-10T23:50"), "2024-05-11T00:00");
  EXPECT_EQ(next(every_15, "2024-12-31T23:59"), "2025-01-01T00:00");
  EXPECT_EQ(next("cron(*/15 * * * ? *)", "2024-05-10T10:46"), "2024-05-10T11:00");
  EXPECT_EQ(next("cron(5/20 * * * ? *)", "2024-05-10T10:46"), "2024-05-10T11:05");
  EXPECT_EQ(next("cron(10-40/10 * * * ? *)", "2024-05-10T10:41"), "2024-05-10T11:10");
}

TEST(cron_next, sub_minute_instants_round_up_to_the_next_minute) {
  auto every_minute = cron("cron(* * * * ? *)");
  const core::time_point t = at("2024-05-10T10:07");
  EXPECT_EQ(every_minute.next_at_or_after(t), t);
  EXPECT_EQ(every_minute.next_at_or_after(t + 1ns), t + 1min);
  EXPECT_EQ(every_minute.previous_at_or_before(t + 59s), t);
  EXPECT_EQ(every_minute.previous_at_or_before(t - 1ns), t - 1min);
  EXPECT_TRUE(every_minute.matches(t));
  EXPECT_FALSE(every_minute.matches(t + 1s));
}

TEST(cron_next, weekdays_only) {
  const char* weekdays = "cron(0 2 ? * MON-FRI *)";
  EXPECT_EQ(next(weekdays, "2024-05-10T01:59"), "2024-05-10T02:00");  // Friday
  EXPECT_EQ(next(weekdays, "2024-05-10T02:00"), "2024-05-10T02:00");
  EXPECT_EQ(next(weekdays, "2024-05-10T02:01"), "2024-05-13T02:00");  // Monday
  EXPECT_EQ(next(weekdays, "2024-05-11T12:00"), "2024-05-13T02:00");  // from Saturday
  EXPECT_EQ(next("cron(0 2 ? * 2-6 *)", "2024-05-11T12:00"), "2024-05-13T02:00");
  EXPECT_EQ(next("cron(0 2 ? * mon-fri *)", "2024-05-11T12:00"), "2024-05-13T02:00");
  // Weekends, written as a range that wraps: FRI-MON is Fri, Sat, Sun, Mon.
  EXPECT_EQ(next("cron(0 2 ? * FRI-MON *)", "2024-05-14T00:00"), "2024-05-17T02:00");
  EXPECT_EQ(next("cron(0 2 ? * SAT,SUN *)", "2024-05-13T00:00"), "2024-05-18T02:00");
  EXPECT_EQ(next("cron(0 2 ? * L *)", "2024-05-13T00:00"), "2024-05-18T02:00");  // L = Saturday
}

TEST(cron_next, hour_ranges_wrap_past_midnight) {
  const char* nights = "cron(30 22-2 * * ? *)";
  EXPECT_EQ(next(nights, "2024-05-10T03:00"), "2024-05-10T22:30");
  EXPECT_EQ(next(nights, "2024-05-10T23:31"), "2024-05-11T00:30");
  EXPECT_EQ(next(nights, "2024-05-11T02:31"), "2024-05-11T22:30");
}

TEST(cron_next, last_day_of_month) {
  const char* last = "cron(0 12 L * ? *)";
  EXPECT_EQ(next(last, "2024-02-10T00:00"), "2024-02-29T12:00");  // leap year
  EXPECT_EQ(next(last, "2023-02-10T00:00"), "2023-02-28T12:00");
  EXPECT_EQ(next(last, "2024-02-29T12:01"), "2024-03-31T12:00");
  EXPECT_EQ(next(last, "2024-04-01T00:00"), "2024-04-30T12:00");
  EXPECT_EQ(next(last, "2024-12-31T12:01"), "2025-01-31T12:00");
  EXPECT_EQ(next("cron(0 0 1,L * ? *)", "2024-06-02T00:00"), "2024-06-30T00:00");
}

TEST(cron_next, nearest_weekday) {
  EXPECT_EQ(next("cron(0 9 15W * ? *)", "2025-03-01T00:00"), "2025-03-14T09:00");  // 15th is a Saturday
  EXPECT_EQ(next("cron(0 9 15W * ? *)", "2025-06-01T00:00"), "2025-06-16T09:00");  // 15th is a Sunday
  EXPECT_EQ(next("cron(0 9 15W * ? *)", "2024-05-01T00:00"), "2024-05-15T09:00");  // a Wednesday
  // The 1st never moves back into the previous month, the 31st never forward.
  EXPECT_EQ(next("cron(0 9 1W * ? *)", "2025-03-01T00:00"), "2025-03-03T09:00");   // Saturday 1st
  EXPECT_EQ(next("cron(0 9 1W * ? *)", "2025-06-01T00:00"), "2025-06-02T09:00");   // Sunday 1st
  EXPECT_EQ(next("cron(0 9 31W * ? *)", "2025-08-01T00:00"), "2025-08-29T09:00");  // Sunday 31st
  EXPECT_EQ(next("cron(0 9 31W * ? *)", "2025-05-01T00:00"), "2025-05-30T09:00");  // Saturday 31st
  // 31W skips the months without a 31st.
  EXPECT_EQ(next("cron(0 9 31W * ? *)", "2025-09-01T00:00"), "2025-10-31T09:00");
  // The last weekday of the month.
  EXPECT_EQ(next("cron(0 9 LW * ? *)", "2025-05-01T00:00"), "2025-05-30T09:00");  // 31st is a Saturday
  EXPECT_EQ(next("cron(0 9 LW * ? *)", "2025-08-01T00:00"), "2025-08-29T09:00");  // 31st is a Sunday
  EXPECT_EQ(next("cron(0 9 LW * ? *)", "2024-02-01T00:00"), "2024-02-29T09:00");  // a Thursday
  EXPECT_EQ(next("cron(0 9 LW * ? *)", "2025-05-30T09:01"), "2025-06-30T09:00");
}

TEST(cron_next, nth_weekday_of_month) {
  EXPECT_EQ(next("cron(0 10 ? * 3#2 *)", "2025-01-01T00:00"), "2025-01-14T10:00");  // second Tuesday
  EXPECT_EQ(next("cron(0 10 ? * TUE#2 *)", "2025-01-14T10:01"), "2025-02-11T10:00");
  EXPECT_EQ(next("cron(0 10 ? * 2#1 *)", "2024-01-01T00:00"), "2024-01-01T10:00");   // first Monday
  // A fifth Friday only in some months.
  EXPECT_EQ(next("cron(0 10 ? * 6#5 *)", "2025-01-01T00:00"), "2025-01-31T10:00");
  EXPECT_EQ(next("cron(0 10 ? * 6#5 *)", "2025-02-01T00:00"), "2025-05-30T10:00");
  // Last Thursday.
  EXPECT_EQ(next("cron(0 0 ? * 5L *)", "2024-02-01T00:00"), "2024-02-29T00:00");
  EXPECT_EQ(next("cron(0 0 ? * THUL *)", "2024-03-01T00:00"), "2024-03-28T00:00");
}

TEST(cron_next, leap_days) {
  const char* leap_day = "cron(0 0 29 2 ? *)";
  EXPECT_EQ(next(leap_day, "2024-02-29T00:00"), "2024-02-29T00:00");
  EXPECT_EQ(next(leap_day, "2024-02-29T00:01"), "2028-02-29T00:00");
  EXPECT_EQ(next(leap_day, "2025-01-01T00:00"), "2028-02-29T00:00");
  EXPECT_EQ(next(leap_day, "2096-03-01T00:00"), "2104-02-29T00:00");  // 2100 is not a leap year
  EXPECT_EQ(previous(leap_day, "2104-02-28T00:00"), "2096-02-29T00:00");
  EXPECT_EQ(next("cron(0 0 29 2 ? 2025-2027)", "2024-03-01T00:00"), "none");
  // Tuesday Feb 29th 2028, picked by day-of-week.
  EXPECT_EQ(next("cron(0 0 ? 2 TUE#5 *)", "2024-01-01T00:00"), "2028-02-29T00:00");
}

TEST(cron_next, month_and_year_boundaries) {
  EXPECT_EQ(next("cron(0 0 1 * ? *)", "2024-12-01T00:01"), "2025-01-01T00:00");
  EXPECT_EQ(next("cron(0 0 31 * ? *)", "2024-04-01T00:00"), "2024-05-31T00:00");
  EXPECT_EQ(next("cron(0 0 1 JAN,JUL ? *)", "2024-01-01T00:01"), "2024-07-01T00:00");
  EXPECT_EQ(next("cron(0 0 1 NOV-FEB ? *)", "2024-03-01T00:00"), "2024-11-01T00:00");
  EXPECT_EQ(next("cron(0 0 1 NOV-FEB ? *)", "2024-12-01T00:01"), "2025-01-01T00:00");
  EXPECT_EQ(next("cron(30 23 31 12 ? *)", "2024-12-31T23:31"), "2025-12-31T23:30");
}

TEST(cron_next, a_year_field_that_ends) {
  const char* two_years = "cron(0 0 1 1 ? 2025-2026)";
  EXPECT_EQ(next(two_years, "2024-03-01T00:00"), "2025-01-01T00:00");
  EXPECT_EQ(next(two_years, "2025-01-01T00:01"), "2026-01-01T00:00");
  EXPECT_EQ(next(two_years, "2026-01-01T00:01"), "none");
  EXPECT_EQ(next("cron(0 0 * * ? 2025)", "2025-12-31T23:59"), "none");
  EXPECT_EQ(next("cron(0 0 * * ? 2024/2)", "2025-01-01T00:00"), "2026-01-01T00:00");
  EXPECT_EQ(previous(two_years, "2030-01-01T00:00"), "2026-01-01T00:00");
  EXPECT_EQ(previous(two_years, "2024-12-31T23:59"), "none");
}

TEST(cron_next, ends_at_the_last_cron_year) {
  auto last_minute = cron("cron(59 23 31 12 ? *)");
  const core::time_point end = at("2199-12-31T23:59");
  EXPECT_EQ(last_minute.next_at_or_after(end), end);
  EXPECT_EQ(last_minute.next_at_or_after(end + 30s), std::nullopt);
  EXPECT_EQ(last_minute.next_at_or_after(core::time_point::max()), std::nullopt);
  EXPECT_EQ(last_minute.previous_at_or_before(core::time_point::max()), end);
  auto first_minute = cron("cron(0 0 1 1 ? *)");
  EXPECT_EQ(first_minute.next_at_or_after(core::time_point::min()), at("1970-01-01T00:00"));
  EXPECT_EQ(first_minute.previous_at_or_before(at("1970-01-01T00:00") - 1ns), std::nullopt);
}

TEST(cron_next, expressions_that_never_fire_end_quickly) {
  // Walks 230 years of months without visiting each minute; a minute-by-minute
  // search would take ~120 million steps per call.
  for (const char* never : {"cron(0 0 30 2 ? *)", "cron(0 0 31 APR,JUN,SEP,NOV ? *)", "cron(0 0 31W 2 ? *)"}) {
    EXPECT_EQ(next(never, "1970-01-01T00:00"), "none") << never;
    EXPECT_EQ(previous(never, "2199-12-31T23:59"), "none") << never;
  }
}

TEST(cron_next, previous_mirrors_next) {
  EXPECT_EQ(previous("cron(0/15 * * * ? *)", "2024-05-10T10:07"), "2024-05-10T10:00");
  EXPECT_EQ(previous("cron(0/15 * * * ? *)", "2024-05-10T10:15"), "2024-05-10T10:15");
  EXPECT_EQ(previous("cron(0 2 ? * MON-FRI *)", "2024-05-13T01:59"), "2024-05-10T02:00");
  EXPECT_EQ(previous("cron(0 12 L * ? *)", "2024-03-31T11:59"), "2024-02-29T12:00");
  EXPECT_EQ(previous("cron(0 0 1 * ? *)", "2025-01-01T00:00"), "2025-01-01T00:00");
  EXPECT_EQ(previous("cron(0 0 1 * ? *)", "2024-12-31T23:59"), "2024-12-01T00:00");
  EXPECT_EQ(previous("cron(45 23 * * ? *)", "2024-03-01T00:10"), "2024-02-29T23:45");
}

// ---- against a brute-force search ----------------------------------------------

// A field drawn at random, with its own naive membership test that does not
// share code with the parser.
struct random_field {
  std::string text;
  std::function<bool(int)> contains;
};

struct random_days {
  std::string day_of_month;
  std::string day_of_week;
  std::function<bool(int, unsigned, unsigned)> contains;  // year, month, day
};

bool valid_date(int y, unsigned m, unsigned d) {
  return std::chrono::year_month_day{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}}.ok();
}
unsigned naive_month_length(int y, unsigned m) {
  unsigned d = 28;
  while (valid_date(y, m, d + 1)) ++d;
  return d;
}
int naive_weekday(int y, unsigned m, unsigned d) {  // 1 = Sunday
  const std::chrono::sys_days date{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}};
  const auto days_since_epoch = date.time_since_epoch().count();  // 1970-01-01 was a Thursday (5)
  return static_cast<int>(((days_since_epoch % 7) + 7 + 4) % 7) + 1;
}
bool naive_is_weekday(int y, unsigned m, unsigned d) {
  const int w = naive_weekday(y, m, d);
  return w >= 2 && w <= 6;
}

class generator {
 public:
  explicit generator(std::uint32_t seed) : engine_(seed) {}
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(engine_); }

  random_field numeric(int lo, int hi, bool cyclic, const std::vector<std::string>& names = {}) {
    auto value_text = [&](int v) {
      if (!names.empty() && uniform(0, 1) == 1) return names[static_cast<std::size_t>(v - lo)];
      return std::to_string(v);
    };
    const int a = uniform(lo, hi);
    const int b = uniform(lo, hi);
    const int step = uniform(1, std::max(1, (hi - lo) / 2));
    switch (uniform(0, 7)) {
      case 0: return {"*", [](int) { return true; }};
      case 1: return {value_text(a), [a](int v) { return v == a; }};
      case 2: {
        const int first = std::min(a, b), last = std::max(a, b);
        return {value_text(first) + "-" + value_text(last), [=](int v) { return v >= first && v <= last; }};
      }
      case 3:
        if (cyclic && a > b) {
          return {value_text(a) + "-" + value_text(b), [=](int v) { return v >= a || v <= b; }};
        }
        return {value_text(a) + "," + value_text(b), [=](int v) { return v == a || v == b; }};
      case 4: return {value_text(a) + "/" + std::to_string(step), [=](int v) { return v >= a && (v - a) % step == 0; }};
      case 5: return {"*/" + std::to_string(step), [=](int v) { return (v - lo) % step == 0; }};
      case 6: {
        const int first = std::min(a, b), last = std::max(a, b);
        return {value_text(first) + "-" + value_text(last) + "/" + std::to_string(step),
                [=](int v) { return v >= first && v <= last && (v - first) % step == 0; }};
      }
      default: return {"*", [](int) { return true; }};
    }
  }

  random_field year() {
    const int a = uniform(2023, 2027);
    switch (uniform(0, 4)) {
      case 0: return {std::to_string(a), [a](int v) { return v == a; }};
      case 1: return {std::to_string(a) + "-" + std::to_string(a + 1), [a](int v) { return v == a || v == a + 1; }};
      case 2: return {"2023/2", [](int v) { return v >= 2023 && (v - 2023) % 2 == 0; }};
      default: return {"*", [](int) { return true; }};
    }
  }

  random_days days() {
    if (uniform(0, 1) == 0) {
      auto dom = day_of_month();
      return {dom.text, "?", [contains = dom.contains](int y, unsigned m, unsigned d) {
                return contains(y, m, d);
              }};
    }
    auto dow = day_of_week();
    return {"?", dow.text, dow.contains};
  }

 private:
  struct day_rule {
    std::string text;
    std::function<bool(int, unsigned, unsigned)> contains;
  };

  day_rule day_of_month() {
    switch (uniform(0, 4)) {
      case 0: return {"L", [](int y, unsigned m, unsigned d) { return d == naive_month_length(y, m); }};
      case 1:
        return {"LW", [](int y, unsigned m, unsigned d) {
                  if (!naive_is_weekday(y, m, d)) return false;
                  for (unsigned later = d + 1; later <= naive_month_length(y, m); ++later) {
                    if (naive_is_weekday(y, m, later)) return false;
                  }
                  return true;
                }};
      case 2: {
        const unsigned target = static_cast<unsigned>(uniform(1, 31));
        // The weekday of the month closest to target (never a tie).
        return {std::to_string(target) + "W", [target](int y, unsigned m, unsigned d) {
                  const unsigned length = naive_month_length(y, m);
                  if (target > length) return false;
                  unsigned best = 0;
                  int best_distance = 100;
                  for (unsigned x = 1; x <= length; ++x) {
                    const int distance = std::abs(static_cast<int>(x) - static_cast<int>(target));
                    if (naive_is_weekday(y, m, x) && distance < best_distance) {
                      best = x;
                      best_distance = distance;
                    }
                  }
                  return d == best;
                }};
      }
      default: {
        auto field = numeric(1, 31, true);
        return {field.text, [contains = field.contains](int, unsigned, unsigned d) {
                  return contains(static_cast<int>(d));
                }};
      }
    }
  }

  day_rule day_of_week() {
    static const std::vector<std::string> names = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
    const int w = uniform(1, 7);
    switch (uniform(0, 3)) {
      case 0:
        return {std::to_string(w) + "L", [w](int y, unsigned m, unsigned d) {
                  return naive_weekday(y, m, d) == w && !valid_date(y, m, d + 7);
                }};
      case 1: {
        const int n = uniform(1, 5);
        return {names[static_cast<std::size_t>(w - 1)] + "#" + std::to_string(n), [w, n](int y, unsigned m, unsigned d) {
                  if (naive_weekday(y, m, d) != w) return false;
                  int count = 0;  // how many of this weekday so far this month
                  for (unsigned x = 1; x <= d; ++x) count += naive_weekday(y, m, x) == w ? 1 : 0;
                  return count == n;
                }};
      }
      default: {
        auto field = numeric(1, 7, true, names);
        return {field.text, [contains = field.contains](int y, unsigned m, unsigned d) {
                  return contains(naive_weekday(y, m, d));
                }};
      }
    }
  }

  std::mt19937 engine_;
};

TEST(cron_next, agrees_with_a_brute_force_search) {
  generator random(20240229);
  static const std::vector<std::string> month_names = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
  constexpr int horizon_minutes = 40 * 24 * 60;
  int found_forward = 0;
  int found_backward = 0;
  for (int round = 0; round < 200; ++round) {
    // Dense fields more often than sparse ones, so that most searches find
    // something within the horizon.
    auto minutes = random.uniform(0, 2) == 0 ? random.numeric(0, 59, true) : random_field{"*/7", [](int v) { return v % 7 == 0; }};
    auto hours = random.numeric(0, 23, true);
    auto days = random.days();
    auto months = random.uniform(0, 2) == 0 ? random.numeric(1, 12, true, month_names)
                                            : random_field{"*", [](int) { return true; }};
    auto years = random.year();
    const std::string text = "cron(" + minutes.text + " " + hours.text + " " + days.day_of_month + " " +
                             months.text + " " + days.day_of_week + " " + years.text + ")";
    auto parsed = cron_expression::parse(text);
    ASSERT_TRUE(parsed.has_value()) << text << ": " << parsed.error().message;

    auto naive_matches = [&](core::time_point t) {
      const auto day = std::chrono::floor<std::chrono::days>(t);
      const std::chrono::year_month_day ymd{day};
      const auto minute_of_day = std::chrono::duration_cast<std::chrono::minutes>(t - day).count();
      const int y = static_cast<int>(ymd.year());
      const unsigned m = static_cast<unsigned>(ymd.month());
      const unsigned d = static_cast<unsigned>(ymd.day());
      return minutes.contains(static_cast<int>(minute_of_day % 60)) &&
             hours.contains(static_cast<int>(minute_of_day / 60)) && months.contains(static_cast<int>(m)) &&
             years.contains(y) && days.contains(y, m, d);
    };

    const core::time_point base = at("2023-01-01T00:00") + std::chrono::minutes{random.uniform(0, 4 * 365 * 24 * 60)};
    const core::time_point t = base + std::chrono::seconds{random.uniform(0, 1) == 0 ? 0 : random.uniform(1, 59)};
    const core::time_point first_candidate = std::chrono::ceil<std::chrono::minutes>(t);
    const core::time_point last_candidate = std::chrono::floor<std::chrono::minutes>(t);

    std::optional<core::time_point> expected_next;
    for (int i = 0; i < horizon_minutes && !expected_next; ++i) {
      const core::time_point candidate = first_candidate + std::chrono::minutes{i};
      if (naive_matches(candidate)) expected_next = candidate;
    }
    std::optional<core::time_point> expected_previous;
    for (int i = 0; i < horizon_minutes && !expected_previous; ++i) {
      const core::time_point candidate = last_candidate - std::chrono::minutes{i};
      if (naive_matches(candidate)) expected_previous = candidate;
    }

    const auto actual_next = parsed->next_at_or_after(t);
    const auto actual_previous = parsed->previous_at_or_before(t);
    const std::string context = text + " from " + format_schedule_time(t);
    if (expected_next) {
      ++found_forward;
      EXPECT_EQ(show(actual_next), show(expected_next)) << context;
      EXPECT_TRUE(parsed->matches(*expected_next)) << context;
    } else {
      EXPECT_TRUE(!actual_next || *actual_next >= first_candidate + std::chrono::minutes{horizon_minutes})
          << context << " -> " << show(actual_next);
    }
    if (expected_previous) {
      ++found_backward;
      EXPECT_EQ(show(actual_previous), show(expected_previous)) << context;
    } else {
      EXPECT_TRUE(!actual_previous ||
                  *actual_previous <= last_candidate - std::chrono::minutes{horizon_minutes})
          << context << " -> " << show(actual_previous);
    }
  }
  // The comparison means little unless most searches found an answer.
  EXPECT_GT(found_forward, 100);
  EXPECT_GT(found_backward, 100);
}

// ---- maintenance windows --------------------------------------------------------

maintenance_window window(std::string_view text, std::int64_t minutes) {
  auto made = make_maintenance_window(text, minutes);
  EXPECT_TRUE(made.has_value()) << text << ": " << (made ? "" : made.error().message);
  return made ? *made : maintenance_window{cron("cron(0 0 1 1 ? 1970)"), 1};
}

TEST(maintenance_window, validates_duration_and_expression) {
  EXPECT_TRUE(make_maintenance_window("cron(0 0 * * ? *)", 1).has_value());
  EXPECT_TRUE(make_maintenance_window("cron(0 0 * * ? *)", 1430).has_value());
  for (std::int64_t bad : {std::int64_t{0}, std::int64_t{-5}, std::int64_t{1431}}) {
    auto made = make_maintenance_window("cron(0 0 * * ? *)", bad);
    ASSERT_FALSE(made.has_value()) << bad;
    EXPECT_EQ(made.error().code, make_error_code(schedule_errc::invalid_cron));
    EXPECT_NE(made.error().message.find("durationInMinutes must be 1-1430"), std::string::npos);
  }
  auto bad_cron = make_maintenance_window("cron(0 0 * * * *)", 60);
  ASSERT_FALSE(bad_cron.has_value());
  EXPECT_NE(bad_cron.error().message.find("must be '?'"), std::string::npos);
}

TEST(maintenance_window, inside_and_outside_one_window) {
  const std::vector<maintenance_window> windows = {window("cron(0 1 * * ? *)", 60)};
  EXPECT_FALSE(in_maintenance_window(windows, at("2024-05-10T00:59:59")));
  EXPECT_TRUE(in_maintenance_window(windows, at("2024-05-10T01:00")));
  EXPECT_TRUE(in_maintenance_window(windows, at("2024-05-10T01:59:59")));
  EXPECT_FALSE(in_maintenance_window(windows, at("2024-05-10T02:00")));  // the end is exclusive

  EXPECT_EQ(show(next_window_open(windows, at("2024-05-10T00:30"))), "2024-05-10T01:00");
  EXPECT_EQ(show(next_window_open(windows, at("2024-05-10T01:30"))), "2024-05-10T01:30");
  EXPECT_EQ(show(next_window_open(windows, at("2024-05-10T02:00"))), "2024-05-11T01:00");
  EXPECT_EQ(show(window_close(windows, at("2024-05-10T01:30"))), "2024-05-10T02:00");
  EXPECT_EQ(window_close(windows, at("2024-05-10T02:00")), std::nullopt);
}

TEST(maintenance_window, a_window_spanning_midnight) {
  // Mondays 23:00 for two hours: open until Tuesday 01:00.
  const std::vector<maintenance_window> windows = {window("cron(0 23 ? * MON *)", 120)};
  EXPECT_FALSE(in_maintenance_window(windows, at("2024-05-13T22:59")));
  EXPECT_TRUE(in_maintenance_window(windows, at("2024-05-13T23:00")));
  EXPECT_TRUE(in_maintenance_window(windows, at("2024-05-14T00:30")));
  EXPECT_FALSE(in_maintenance_window(windows, at("2024-05-14T01:00")));
  EXPECT_EQ(show(window_close(windows, at("2024-05-14T00:30"))), "2024-05-14T01:00");
  EXPECT_EQ(show(next_window_open(windows, at("2024-05-14T01:00"))), "2024-05-20T23:00");
  // The last day of the year into the next.
  const std::vector<maintenance_window> new_year = {window("cron(0 22 31 12 ? *)", 240)};
  EXPECT_TRUE(in_maintenance_window(new_year, at("2024-01-01T01:59")));
  EXPECT_EQ(show(window_close(new_year, at("2024-01-01T01:59"))), "2024-01-01T02:00");
}

TEST(maintenance_window, overlapping_windows) {
  const std::vector<maintenance_window> windows = {window("cron(0 1 * * ? *)", 60),
                                                   window("cron(30 1 * * ? *)", 60)};
  EXPECT_TRUE(in_maintenance_window(windows, at("2024-05-10T01:15")));
  EXPECT_TRUE(in_maintenance_window(windows, at("2024-05-10T02:15")));
  EXPECT_FALSE(in_maintenance_window(windows, at("2024-05-10T02:30")));
  // At 01:15 only the first is open; at 01:45 both are and the later end wins.
  EXPECT_EQ(show(window_close(windows, at("2024-05-10T01:15"))), "2024-05-10T02:00");
  EXPECT_EQ(show(window_close(windows, at("2024-05-10T01:45"))), "2024-05-10T02:30");
  EXPECT_EQ(show(window_close(windows, at("2024-05-10T02:15"))), "2024-05-10T02:30");
  EXPECT_EQ(show(next_window_open(windows, at("2024-05-10T02:30"))), "2024-05-11T01:00");
}

TEST(maintenance_window, occurrences_of_one_window_overlapping_each_other) {
  // Every 15 minutes for an hour: the latest occurrence decides the close.
  const std::vector<maintenance_window> windows = {window("cron(0/15 * * * ? *)", 60)};
  EXPECT_TRUE(in_maintenance_window(windows, at("2024-05-10T10:07")));
  EXPECT_EQ(show(window_close(windows, at("2024-05-10T10:07"))), "2024-05-10T11:00");
}

TEST(maintenance_window, looks_back_a_full_day_for_long_windows) {
  // Opens at 02:00 on the 10th only; 1430 minutes later is 01:50 on the 11th.
  const std::vector<maintenance_window> windows = {window("cron(0 2 10 5 ? 2024)", 1430)};
  EXPECT_TRUE(in_maintenance_window(windows, at("2024-05-11T01:49")));
  EXPECT_FALSE(in_maintenance_window(windows, at("2024-05-11T01:50")));
  EXPECT_EQ(next_window_open(windows, at("2024-05-11T01:50")), std::nullopt);
}

TEST(maintenance_window, no_windows_means_never_open) {
  const std::vector<maintenance_window> none;
  EXPECT_FALSE(in_maintenance_window(none, at("2024-05-10T10:00")));
  EXPECT_EQ(next_window_open(none, at("2024-05-10T10:00")), std::nullopt);
  EXPECT_EQ(window_close(none, at("2024-05-10T10:00")), std::nullopt);
}

// ---- schedulingConfig times --------------------------------------------------------

TEST(schedule_time, parses_the_aws_format_and_its_variants) {
  auto t = parse_schedule_time("2024-02-29T10:30");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(core::format_iso8601(*t), "2024-02-29T10:30:00Z");
  EXPECT_EQ(core::format_iso8601(parse_schedule_time("2024-02-29T10:30Z").value()), "2024-02-29T10:30:00Z");
  EXPECT_EQ(core::format_iso8601(parse_schedule_time("2024-02-29T10:30:45").value()), "2024-02-29T10:30:45Z");
  EXPECT_EQ(core::format_iso8601(parse_schedule_time("2024-02-29T10:30:45Z").value()), "2024-02-29T10:30:45Z");
  EXPECT_EQ(core::format_iso8601(parse_schedule_time("1970-01-01T00:00").value()), "1970-01-01T00:00:00Z");
  EXPECT_EQ(core::format_iso8601(parse_schedule_time("2199-12-31T23:59").value()), "2199-12-31T23:59:00Z");
}

TEST(schedule_time, rejects_malformed_and_impossible_times) {
  for (const char* text : {"", "2024-02-30T10:00", "2023-02-29T00:00", "2024-13-01T00:00", "2024-00-10T00:00",
                           "2024-01-01T24:00", "2024-01-01T10:60", "2024-01-01T10:00:60", "2024-01-01 10:00",
                           "2024-1-01T10:00", "2024-01-01T10", "2024-01-01T10:00:5", "2024-01-01T10:00ZZ",
                           "2024-01-01t10:00", "1969-12-31T23:59", "2200-01-01T00:00", "+024-01-01T10:00",
                           "2024-01-01T10:00+01:00", "20240101T100000Z"}) {
    auto t = parse_schedule_time(text);
    ASSERT_FALSE(t.has_value()) << text;
    EXPECT_EQ(t.error().code, make_error_code(schedule_errc::invalid_time));
    EXPECT_NE(t.error().message.find("invalid time"), std::string::npos);
  }
  EXPECT_NE(parse_schedule_time("2024-02-30T10:00").error().message.find("no such date"), std::string::npos);
}

TEST(schedule_time, formats_to_the_minute) {
  EXPECT_EQ(format_schedule_time(at("2024-02-29T10:30")), "2024-02-29T10:30");
  EXPECT_EQ(format_schedule_time(at("2024-02-29T10:30:59") + 999ms), "2024-02-29T10:30");
  EXPECT_EQ(format_schedule_time(core::from_epoch_millis(0)), "1970-01-01T00:00");
  for (const char* text : {"2024-02-29T10:30", "2199-12-31T23:59", "2000-02-29T00:00"}) {
    EXPECT_EQ(format_schedule_time(at(text)), text);
  }
}

}  // namespace
}  // namespace airfleet::jobs
