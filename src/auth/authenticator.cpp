#include "auth/authenticator.hpp"

namespace airfleet::auth {

authenticator::authenticator(storage::key_store& keys, const core::clock& clock, double rate_per_second)
    : keys_(keys), clock_(clock) {
  if (rate_per_second > 0) limiter_ = std::make_unique<rate_limiter>(clock, rate_per_second, rate_per_second);
}

void authenticator::set_internal_key(std::string access_key_id, std::string secret) {
  internal_id_ = std::move(access_key_id);
  internal_secret_ = std::move(secret);
}

core::result<std::string> authenticator::secret_of(const std::string& access_key_id) {
  if (!internal_id_.empty() && access_key_id == internal_id_) return internal_secret_;
  auto key = keys_.find(access_key_id);
  if (!key) return key.error();
  if (!*key)
    return core::make_error(errc::unrecognized_client, "The security token included in the request is invalid.");
  return (*key)->secret;
}

core::result<std::string> authenticator::derived_key(const credential_claim& claim) {
  auto secret = secret_of(claim.access_key_id);
  if (!secret) return secret.error();
  return signing_key_for(claim, *secret);
}

core::result<identity> authenticator::authenticate(const signed_request& request, const sigv2_claim& claim) {
  auto secret = secret_of(claim.access_key_id);
  if (!secret) return secret.error();
  if (!internal_id_.empty() && claim.access_key_id == internal_id_)
    return core::make_error(errc::unrecognized_client, "The server's own key signs only SigV4 presigned URLs.");
  if (auto ok = verify_sigv2(request, claim, *secret, clock_.now()); !ok) return ok.error();
  if (limiter_ && !limiter_->try_acquire(claim.access_key_id))
    return core::make_error(errc::throttled, "Rate exceeded");
  return identity{claim.access_key_id, "", "s3"};
}

core::result<identity> authenticator::authenticate(const signed_request& request, const credential_claim& claim) {
  if (!internal_id_.empty() && claim.access_key_id == internal_id_ &&
      !(claim.presigned && claim.service == "s3" && (request.method == "GET" || request.method == "HEAD")))
    return core::make_error(errc::unrecognized_client, "The security token included in the request is invalid.");
  auto secret = secret_of(claim.access_key_id);
  if (!secret) return secret.error();
  auto derived = signing_key_for(claim, *secret);
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
