// A latency histogram that any thread may add to without a lock.
//
// Values are microseconds. Below 128 µs every value has its own bucket;
// above, each power of two is cut into 64 equal buckets, so a reported
// percentile is within 1/64 (1.6%) of the true value at any magnitude, and
// the whole range of a 64-bit count fits in under 4,000 buckets (30 KB).
// Buckets are relaxed atomics: adding is one uncontended fetch_add with one
// I/O thread, and readers (percentile) run after the writers are done.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace airfleet::sim {

class latency_histogram {
 public:
  static constexpr std::size_t exact_below = 128;  // values below this have a bucket each
  static constexpr std::size_t sub_buckets = 64;   // per power of two above
  static constexpr std::size_t bucket_count = exact_below + (64 - 7) * sub_buckets;

  void add(std::uint64_t microseconds);

  std::uint64_t count() const;
  // The value at quantile q (0..1), as the middle of its bucket; 0 when empty.
  double percentile(double q) const;
  std::uint64_t max() const { return max_.load(std::memory_order_relaxed); }

  static std::size_t bucket_of(std::uint64_t microseconds);
  static std::uint64_t bucket_low(std::size_t bucket);   // smallest value in the bucket
  static std::uint64_t bucket_high(std::size_t bucket);  // largest value in the bucket

 private:
  std::array<std::atomic<std::uint64_t>, bucket_count> buckets_{};
  std::atomic<std::uint64_t> max_{0};
};

}  // namespace airfleet::sim
