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
  if (auto ok = verify(request, claim, (*key)->secret, clock_.now()); !ok) return ok.error();
  if (limiter_ && !limiter_->try_acquire(claim.access_key_id))
    return core::make_error(errc::throttled, "Rate exceeded");
  return identity{claim.access_key_id, claim.region, claim.service};
}

}  // namespace airfleet::auth
