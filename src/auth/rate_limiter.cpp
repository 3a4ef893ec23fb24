#include "auth/rate_limiter.hpp"

#include <algorithm>

namespace airfleet::auth {

rate_limiter::rate_limiter(const core::clock& clock, double rate, double burst)
    : clock_(clock), rate_(rate), burst_(std::max(burst, 1.0)) {}

bool rate_limiter::try_acquire(const std::string& key) {
  auto now = clock_.now();
  std::lock_guard lock(mutex_);
  auto [it, inserted] = buckets_.try_emplace(key, bucket{burst_, now});
  auto& b = it->second;
  if (!inserted) {
    std::chrono::duration<double> elapsed = now - b.refilled;
    b.tokens = std::min(burst_, b.tokens + std::max(0.0, elapsed.count()) * rate_);
    b.refilled = now;
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace airfleet::auth
