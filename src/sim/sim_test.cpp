// The sim's pure parts: the payload stamp, loss/duplicate tracking, the
// latency histogram, packet ids in flight and the source address range. The clients themselves
// are exercised against real brokers (bench/mqtt-vs-mosquitto.sh).
#include "sim/latency_histogram.hpp"
#include "sim/packet_ids.hpp"
#include "sim/payload.hpp"
#include "sim/sequence_tracker.hpp"
#include "sim/source_addresses.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace airfleet::sim {
namespace {

TEST(payload_stamp, round_trips_and_refuses_short_payloads) {
  std::vector<std::uint8_t> payload(64, 0xAA);
  write_stamp(payload, payload_stamp{0xDEADBEEF, 7, 0x0102030405060708ULL, 123456789012345ULL});
  auto stamp = read_stamp(payload);
  ASSERT_TRUE(stamp);
  EXPECT_EQ(stamp->run, 0xDEADBEEFu);
  EXPECT_EQ(stamp->publisher, 7u);
  EXPECT_EQ(stamp->sequence, 0x0102030405060708ULL);
  EXPECT_EQ(stamp->sent_ns, 123456789012345ULL);
  EXPECT_EQ(payload[payload_stamp_size], 0xAA);  // the filler is left alone
  EXPECT_FALSE(read_stamp(std::span<const std::uint8_t>(payload.data(), payload_stamp_size - 1)));
}

TEST(sequence_tracker, counts_unique_duplicates_and_reordering) {
  sequence_tracker t;
  for (std::uint64_t s : {0, 1, 2, 5, 3, 3, 200, 4}) t.record(s);
  EXPECT_EQ(t.unique(), 7u);
  EXPECT_EQ(t.duplicates(), 1u);
  EXPECT_EQ(t.out_of_order(), 2u);  // 3 after 5, 4 after 200
  EXPECT_EQ(t.record(200), sequence_tracker::outcome::duplicate);
  EXPECT_EQ(t.record(199), sequence_tracker::outcome::fresh);
}

TEST(latency_histogram, buckets_are_contiguous_and_within_two_percent) {
  for (std::size_t b = 0; b + 1 < latency_histogram::bucket_count; ++b) {
    ASSERT_EQ(latency_histogram::bucket_high(b) + 1, latency_histogram::bucket_low(b + 1)) << b;
    ASSERT_EQ(latency_histogram::bucket_of(latency_histogram::bucket_low(b)), b);
    ASSERT_EQ(latency_histogram::bucket_of(latency_histogram::bucket_high(b)), b);
  }
  EXPECT_EQ(latency_histogram::bucket_of(~std::uint64_t{0}), latency_histogram::bucket_count - 1);
  for (std::uint64_t v : {100ULL, 1000ULL, 12345ULL, 999999ULL, 123456789ULL}) {
    auto b = latency_histogram::bucket_of(v);
    double width = static_cast<double>(latency_histogram::bucket_high(b) - latency_histogram::bucket_low(b) + 1);
    EXPECT_LE(width / static_cast<double>(v), 1.0 / 64 + 1e-9) << v;
  }
}

TEST(latency_histogram, percentiles_by_nearest_rank) {
  latency_histogram h;
  EXPECT_EQ(h.percentile(0.5), 0);
  for (std::uint64_t v = 1; v <= 100; ++v) h.add(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.percentile(0.50), 50);
  EXPECT_EQ(h.percentile(0.99), 99);
  EXPECT_EQ(h.max(), 100u);
  h.add(1'000'000);
  EXPECT_NEAR(h.percentile(1.0), 1'000'000, 1'000'000 / 64.0);
}

TEST(packet_ids, go_round_skipping_those_in_flight) {
  packet_ids ids;
  EXPECT_EQ(ids.allocate(), 1);
  EXPECT_EQ(ids.allocate(), 2);
  EXPECT_EQ(ids.in_flight(), 2);
  EXPECT_FALSE(ids.release(0));  // never handed out
  EXPECT_FALSE(ids.release(3));
  EXPECT_TRUE(ids.release(1));
  EXPECT_FALSE(ids.release(1));  // a second PUBACK for it
  EXPECT_EQ(ids.in_flight(), 1);
  for (std::uint32_t id = 3; id <= 65535; ++id) ASSERT_TRUE(ids.release(ids.allocate()));
  EXPECT_EQ(ids.allocate(), 1);  // 65535 wraps to 1; 2 is still in flight
  EXPECT_EQ(ids.allocate(), 3);
  EXPECT_EQ(ids.in_flight(), 3);
}

TEST(source_addresses, spreads_over_the_host_addresses) {
  auto loopback = source_addresses::parse("127.0.0.0/8");
  ASSERT_TRUE(loopback);
  EXPECT_EQ(loopback->address_for(0).to_string(), "127.0.0.1");
  EXPECT_EQ(loopback->address_for(255).to_string(), "127.0.1.0");
  EXPECT_EQ(loopback->size(), (1u << 24) - 2);
  auto small = source_addresses::parse("10.1.2.3/30");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->address_for(0).to_string(), "10.1.2.1");
  EXPECT_EQ(small->address_for(1).to_string(), "10.1.2.2");
  EXPECT_EQ(small->address_for(2).to_string(), "10.1.2.1");  // wraps around
  auto single = source_addresses::parse("127.0.0.9");
  ASSERT_TRUE(single);
  EXPECT_EQ(single->address_for(5).to_string(), "127.0.0.9");
  EXPECT_FALSE(source_addresses::parse("127.0.0.0/33"));
  EXPECT_FALSE(source_addresses::parse("localhost/8"));
  EXPECT_FALSE(source_addresses::parse("::1/128"));
}

}  // namespace
}  // namespace airfleet::sim
