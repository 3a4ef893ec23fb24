#include "policy/values.hpp"

#include <gtest/gtest.h>

namespace airfleet::policy::detail {
namespace {

using namespace std::chrono;

core::time_point utc(int y, unsigned m, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days{year{y} / m / d} + hours{h} + minutes{mi} + seconds{s};
}

TEST(values, dates_in_iso_8601_and_epoch_seconds) {
  EXPECT_EQ(parse_date("2026-11-26"), utc(2026, 11, 26));
  EXPECT_EQ(parse_date("2026-11-26T13:36:07Z"), utc(2026, 11, 26, 13, 36, 7));
  EXPECT_EQ(parse_date("2026-11-26T13:36Z"), utc(2026, 11, 26, 13, 36));
  EXPECT_EQ(parse_date("2026-11-26T13:36:07"), utc(2026, 11, 26, 13, 36, 7));
  EXPECT_EQ(parse_date("2026-11-26T13:36:07+02:00"), utc(2026, 11, 26, 11, 36, 7));
  EXPECT_EQ(parse_date("2026-11-26T13:36:07-0130"), utc(2026, 11, 26, 15, 6, 7));
  EXPECT_EQ(parse_date("2026-11-26T13:36:07.250Z"), utc(2026, 11, 26, 13, 36, 7) + milliseconds{250});
  EXPECT_EQ(parse_date("1795700167"), core::time_point{seconds{1795700167}});
  EXPECT_FALSE(parse_date(""));
  EXPECT_FALSE(parse_date("2026-02-30"));
  EXPECT_FALSE(parse_date("2026-11-26T25:00:00Z"));
  EXPECT_FALSE(parse_date("2026-11-26T13:36:07ZZ"));
  EXPECT_FALSE(parse_date("2026-11-26 13:36:07"));
  EXPECT_FALSE(parse_date("26-11-2026"));
  EXPECT_FALSE(parse_date("2026-11-26T13:36:07."));
}

TEST(values, numbers_and_booleans) {
  EXPECT_EQ(parse_number("10"), 10.0);
  EXPECT_EQ(parse_number("-2.5"), -2.5);
  EXPECT_EQ(parse_number("+1e3"), 1000.0);
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("1.5x"));
  EXPECT_FALSE(parse_number("inf"));
  EXPECT_EQ(parse_bool("TRUE"), true);
  EXPECT_EQ(parse_bool("false"), false);
  EXPECT_FALSE(parse_bool("yes"));
  EXPECT_FALSE(parse_bool("truex"));
}

TEST(values, ipv4_networks) {
  auto network = parse_network("192.0.2.0/24");
  ASSERT_TRUE(network);
  EXPECT_TRUE(network->contains(*parse_ip("192.0.2.255")));
  EXPECT_FALSE(network->contains(*parse_ip("192.0.3.0")));
  auto odd = parse_network("10.128.0.0/9");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(*parse_ip("10.200.1.1")));
  EXPECT_FALSE(odd->contains(*parse_ip("10.100.1.1")));
  auto host = parse_network("198.51.100.7");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix_length, 32);
  EXPECT_TRUE(parse_network("0.0.0.0/0")->contains(*parse_ip("8.8.8.8")));
  EXPECT_FALSE(parse_network("10.0.0.0/33"));
  EXPECT_FALSE(parse_network("10.0.0/8"));
  EXPECT_FALSE(parse_network("10.0.0.0/"));
  EXPECT_FALSE(parse_network("10.0.0.0/x"));
}

TEST(values, ipv6_networks_and_mapped_addresses) {
  auto network = parse_network("2001:db8::/32");
  ASSERT_TRUE(network);
  EXPECT_TRUE(network->contains(*parse_ip("2001:db8:ffff::1")));
  EXPECT_FALSE(network->contains(*parse_ip("2001:db9::1")));
  EXPECT_FALSE(network->contains(*parse_ip("32.1.13.184")));  // IPv4 never in an IPv6 range
  auto mapped = parse_ip("::ffff:192.0.2.1");
  ASSERT_TRUE(mapped);
  EXPECT_FALSE(mapped->v6);
  EXPECT_TRUE(parse_network("192.0.2.0/24")->contains(*mapped));
  auto mapped_network = parse_network("::ffff:192.0.2.0/120");
  ASSERT_TRUE(mapped_network);
  EXPECT_TRUE(mapped_network->contains(*parse_ip("192.0.2.9")));
  EXPECT_FALSE(parse_ip("2001:db8::1%eth0"));
  EXPECT_FALSE(parse_network("2001:db8::/129"));
}

}  // namespace
}  // namespace airfleet::policy::detail
