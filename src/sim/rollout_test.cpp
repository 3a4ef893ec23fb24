// The rollout command's pure parts: the AWS CLI shorthand reader, URLs, the
// fates handed to devices, the progress line and the rollout rate. The
// command itself runs against the real server in
// tests/system/test_sim_01_rollout.py.
#include "sim/firmware_device.hpp"
#include "sim/http_connection.hpp"
#include "sim/progress.hpp"
#include "sim/shorthand.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <algorithm>

namespace airfleet::sim {
namespace {

namespace json = boost::json;

json::value shorthand(std::string_view text) {
  auto v = parse_shorthand(text);
  EXPECT_TRUE(v) << text << ": " << (v ? "" : v.error().message);
  return v ? *v : json::value();
}

TEST(shorthand, reads_what_the_cli_takes_for_rollout_and_abort_configs) {
  EXPECT_EQ(shorthand("maximumPerMinute=500"), json::parse(R"({"maximumPerMinute":500})"));
  EXPECT_EQ(shorthand("maximumPerMinute=1000,exponentialRate={baseRatePerMinute=50,incrementFactor=2.5,"
                      "rateIncreaseCriteria={numberOfSucceededThings=100}}"),
            json::parse(R"({"maximumPerMinute":1000,"exponentialRate":{"baseRatePerMinute":50,"incrementFactor":2.5,
                            "rateIncreaseCriteria":{"numberOfSucceededThings":100}}})"));
  EXPECT_EQ(shorthand("criteriaList=[{failureType=FAILED,action=CANCEL,thresholdPercentage=20,"
                      "minNumberOfExecutedThings=10},{failureType=TIMED_OUT,action=CANCEL,thresholdPercentage=50.5,"
                      "minNumberOfExecutedThings=1}]"),
            json::parse(R"({"criteriaList":[{"failureType":"FAILED","action":"CANCEL","thresholdPercentage":20,
                            "minNumberOfExecutedThings":10},{"failureType":"TIMED_OUT","action":"CANCEL",
                            "thresholdPercentage":50.5,"minNumberOfExecutedThings":1}]})"));
}

TEST(shorthand, spaces_quotes_booleans_and_empty_structures) {
  EXPECT_EQ(shorthand(" a = 1 , b = { } , c = [ ] , d=true, e='x,y={z}', f=\"q\" , g=hello world "),
            json::parse(R"({"a":1,"b":{},"c":[],"d":true,"e":"x,y={z}","f":"q","g":"hello world"})"));
  EXPECT_EQ(shorthand("list=[1,two,3.5]"), json::parse(R"({"list":[1,"two",3.5]})"));
}

TEST(shorthand, takes_json_too) {
  EXPECT_EQ(shorthand(R"(  {"maximumPerMinute": 7})"), json::parse(R"({"maximumPerMinute":7})"));
  EXPECT_FALSE(parse_shorthand("{not json"));
  EXPECT_FALSE(parse_shorthand("[1]"));
}

TEST(shorthand, says_where_it_went_wrong) {
  for (std::string_view bad : {"", "   ", "a", "=1", "a=1,", "a={b=1", "a=[1,2", "a=1,a=2", "a='open", "a=b=c",
                               "a=1 }", "a=x,b"}) {
    auto v = parse_shorthand(bad);
    ASSERT_FALSE(v) << "'" << bad << "' gave " << json::serialize(*v);
    EXPECT_NE(v.error().message.find("shorthand syntax"), std::string::npos) << bad;
  }
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "a={";
  deep += "b=1";
  for (int i = 0; i < 40; ++i) deep += "}";
  auto v = parse_shorthand(deep);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("nested too deeply"), std::string::npos);
}

TEST(http_url, splits_origin_and_target) {
  auto u = parse_http_url("http://127.0.0.1:8080/bucket/firmware/a.bin?X-Amz-Signature=ab%2F&x=1");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->origin.tls);
  EXPECT_EQ(u->origin.host, "127.0.0.1");
  EXPECT_EQ(u->origin.port, 8080);
  EXPECT_EQ(u->target, "/bucket/firmware/a.bin?X-Amz-Signature=ab%2F&x=1");
  EXPECT_EQ(u->origin.host_header(), "127.0.0.1:8080");

  auto s = parse_http_url("https://fleet.example.com?x=1#frag");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->origin.tls);
  EXPECT_EQ(s->origin.port, 443);
  EXPECT_EQ(s->target, "/?x=1");
  EXPECT_EQ(s->origin.host_header(), "fleet.example.com");

  auto v6 = parse_http_url("http://[::1]:9000/");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->origin.host, "::1");
  EXPECT_EQ(v6->origin.host_header(), "[::1]:9000");

  for (std::string_view bad : {"ftp://x/", "http://", "http://:80/", "http://h:0/", "http://h:99999/",
                               "http://h:8x/", "http://user@h/", "http://[::1/"})
    EXPECT_FALSE(parse_http_url(bad)) << bad;
}

TEST(fates, exact_counts_spread_by_the_seed) {
  const auto fates = assign_fates(1000, 0.5, 0.1, 0.05, 42);
  ASSERT_EQ(fates.size(), 1000u);
  EXPECT_EQ(std::count(fates.begin(), fates.end(), device_fate::fail), 500);
  EXPECT_EQ(std::count(fates.begin(), fates.end(), device_fate::reject), 100);
  EXPECT_EQ(std::count(fates.begin(), fates.end(), device_fate::hang), 50);
  EXPECT_EQ(std::count(fates.begin(), fates.end(), device_fate::succeed), 350);
  EXPECT_EQ(fates, assign_fates(1000, 0.5, 0.1, 0.05, 42));  // the same seed, the same devices
  EXPECT_NE(fates, assign_fates(1000, 0.5, 0.1, 0.05, 43));
  // Not all failures at the front: the shuffle spreads them.
  EXPECT_LT(std::count(fates.begin(), fates.begin() + 500, device_fate::fail), 400);
  // Rounding never hands out more fates than devices.
  const auto few = assign_fates(3, 0.5, 0.5, 0.0, 1);
  EXPECT_EQ(std::count(few.begin(), few.end(), device_fate::succeed), 0);
  EXPECT_EQ(assign_fates(0, 0.5, 0, 0, 1).size(), 0u);
}

TEST(progress, bar_and_line_say_where_the_job_is) {
  progress_snapshot s;
  s.elapsed_s = 12.34;
  s.status = "IN_PROGRESS";
  s.targets = 100;
  s.counts.succeeded = 40;
  s.counts.failed = 10;
  s.counts.in_progress = 25;
  s.counts.queued = 5;
  s.rate_per_minute = 600;
  s.downloads_active = 7;
  const auto bar = render_bar(s, 20, 0);
  // 50 of 100 finished: 10 '#'; 80 rolled out: 6 more '='; the rest '.'.
  EXPECT_EQ(bar.substr(0, 23), "[##########======....] ");
  EXPECT_NE(bar.find("50% 12.3s IN_PROGRESS"), std::string::npos) << bar;
  EXPECT_NE(bar.find("succeeded 40, failed 10"), std::string::npos) << bar;
  EXPECT_NE(bar.find("queued 5, in progress 25"), std::string::npos) << bar;
  EXPECT_NE(bar.find("rollout 600/min | downloading 7"), std::string::npos) << bar;
  EXPECT_EQ(bar.find("removed"), std::string::npos);
  EXPECT_EQ(render_bar(s, 20, 40).size(), 39u);  // never wraps a 40-column terminal
  EXPECT_TRUE(std::all_of(bar.begin(), bar.end(), [](char c) { return c >= 0x20 && c < 0x7f; }));

  const auto line = render_line(s);
  EXPECT_EQ(line.substr(0, 30), "12.3s IN_PROGRESS: 50 of 100 d");
}

TEST(progress, counts_beyond_the_targets_widen_the_total) {
  progress_snapshot s;
  s.targets = 10;
  s.counts.succeeded = 20;  // the group grew
  EXPECT_NE(render_line(s).find("20 of 20 done"), std::string::npos) << render_line(s);
  EXPECT_NE(render_bar(s, 10, 0).find("[##########] 100%"), std::string::npos);
}

TEST(rollout_rate, per_minute_over_the_window) {
  rollout_rate rate(std::chrono::seconds(10));
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  EXPECT_EQ(rate.per_minute(), 0);
  rate.add(t0, 0);
  EXPECT_EQ(rate.per_minute(), 0);
  rate.add(t0 + std::chrono::seconds(5), 100);  // 100 in 5 s
  EXPECT_DOUBLE_EQ(rate.per_minute(), 1200);
  rate.add(t0 + std::chrono::seconds(20), 100);  // the first samples fall out of the window
  rate.add(t0 + std::chrono::seconds(25), 100);
  EXPECT_DOUBLE_EQ(rate.per_minute(), 0);
}

}  // namespace
}  // namespace airfleet::sim
