#include "auth/authenticator.hpp"

namespace airfleet::auth {

authenticator::authenticator(storage::key_store& keys, const core::clock& clock, double rate_per_second)
    : keys_(keys), clock_(clock) {
  if (rate_per_second > 0) limiter_ = std::make_unique<rate_limiter>(clock, rate_per_second, rate_per_second);
}

core::result<identity> authenticator::authenticate(const signed_request& request, const credential_claim& claim) {
  auto key = keys_.find(claim.access_key_id);
  if (!key) return key.error();
  if (!*key)
    return core::make_error(errc::unrecognized_client, "The security token included in the request is invalid.");
  auto derived = signing_key_for(claim, (*key)->secret);
  if (auto ok = verify_with_key(request, claim, derived, clock_.now()); !ok) return ok.error();
  if (limiter_ && !limiter_->try_acquire(claim.access_key_id))
    return core::make_error(errc::throttled, "Rate exceeded");
  return identity{claim.access_key_id, claim.region, claim.service};
}

std::string authenticator::signing_key_for(const credential_claim& claim, const std::string& secret) {
  constexpr std::size_t max_cached = 4096;
  std::string cache_key = claim.access_key_id + '\n' + secret + '\n' + claim.date + '\n' + claim.region + '\n' +
                          claim.service;
  {
    std::lock_guard lock(keys_mutex_);
    if (auto it = signing_keys_.find(cache_key); it != signing_keys_.end()) return it->second;
  }
  auto derived = signing_key(secret, claim.date, claim.region, claim.service);
  std::lock_guard lock(keys_mutex_);
  if (signing_keys_.size() >= max_cached) signing_keys_.clear();
  signing_keys_.emplace(std::move(cache_key), derived);
  return derived;
}

}  // namespace airfleet::auth
