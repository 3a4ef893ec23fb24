#include "sim/latency_histogram.hpp"

#include <bit>
#include <cmath>

namespace airfleet::sim {

// For v >= 128 with its highest set bit at position msb (>= 7), the top seven
// bits (v >> shift, shift = msb - 6) lie in [64, 127]: the power of two picks
// the group, the six bits below the leading one pick the bucket in it.
std::size_t latency_histogram::bucket_of(std::uint64_t v) {
  if (v < exact_below) return static_cast<std::size_t>(v);
  const int msb = 63 - std::countl_zero(v);
  const int shift = msb - 6;
  const std::uint64_t top = v >> shift;  // 64..127
  return exact_below + static_cast<std::size_t>(shift - 1) * sub_buckets + static_cast<std::size_t>(top - 64);
}

std::uint64_t latency_histogram::bucket_low(std::size_t bucket) {
  if (bucket < exact_below) return bucket;
  const std::size_t group = (bucket - exact_below) / sub_buckets;  // shift - 1
  const std::uint64_t top = 64 + (bucket - exact_below) % sub_buckets;
  return top << (group + 1);
}

std::uint64_t latency_histogram::bucket_high(std::size_t bucket) {
  if (bucket < exact_below) return bucket;
  const std::size_t group = (bucket - exact_below) / sub_buckets;
  return bucket_low(bucket) + ((std::uint64_t{1} << (group + 1)) - 1);
}

void latency_histogram::add(std::uint64_t microseconds) {
  buckets_[bucket_of(microseconds)].fetch_add(1, std::memory_order_relaxed);
  std::uint64_t seen = max_.load(std::memory_order_relaxed);
  while (microseconds > seen && !max_.compare_exchange_weak(seen, microseconds, std::memory_order_relaxed)) {
  }
}

std::uint64_t latency_histogram::count() const {
  std::uint64_t total = 0;
  for (const auto& b : buckets_) total += b.load(std::memory_order_relaxed);
  return total;
}

double latency_histogram::percentile(double q) const {
  const std::uint64_t total = count();
  if (total == 0) return 0;
  // The rank of the q-quantile among 1..total (nearest-rank method).
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank < 1) rank = 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= rank) return (static_cast<double>(bucket_low(i)) + static_cast<double>(bucket_high(i))) / 2;
  }
  return static_cast<double>(max());
}

}  // namespace airfleet::sim
