// A token bucket per key: `rate` tokens a second, holding at most `burst`.
#pragma once

#include "core/time.hpp"

#include <mutex>
#include <string>
#include <unordered_map>

namespace airfleet::auth {

class rate_limiter {
 public:
  rate_limiter(const core::clock& clock, double rate, double burst);
  bool try_acquire(const std::string& key);

 private:
  struct bucket {
    double tokens;
    core::time_point refilled;
  };
  const core::clock& clock_;
  double rate_;
  double burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, bucket> buckets_;  // guarded by mutex_
};

}  // namespace airfleet::auth
