// Who is calling: checks a request's SigV4 claim against the access keys in
// the key store (read on every request, so a key deleted by `airfleet keys
// delete` stops working at once, even from another process) and applies the
// optional per-key request rate limit.
#pragma once

#include "auth/presign.hpp"
#include "auth/rate_limiter.hpp"
#include "auth/sigv4.hpp"
#include "core/time.hpp"
#include "storage/key_store.hpp"

#include <memory>
#include <mutex>
#include <unordered_map>
#include <string>

namespace airfleet::auth {

struct identity {
  std::string access_key_id;
  std::string region;
  std::string service;
};

class authenticator {
 public:
  // `rate_per_second` 0 turns rate limiting off.
  authenticator(storage::key_store& keys, const core::clock& clock, double rate_per_second);
  core::result<identity> authenticate(const signed_request& request, const credential_claim& claim);
  // S3's SigV2 query form (boto3's default presigned URLs).
  core::result<identity> authenticate(const signed_request& request, const sigv2_claim& claim);
  // The SigV4 signing key of a claim that authenticate() accepted (aws-chunked
  // uploads verify each chunk's signature with it).
  core::result<std::string> derived_key(const credential_claim& claim);

  // A key of the server's own, not in the key store: it signs the presigned
  // firmware URLs the jobs engine puts into job documents, and is accepted
  // only on presigned S3 GET and HEAD requests.
  void set_internal_key(std::string access_key_id, std::string secret);

 private:
  storage::key_store& keys_;
  const core::clock& clock_;
  std::unique_ptr<rate_limiter> limiter_;  // null when off
  std::string internal_id_, internal_secret_;
  core::result<std::string> secret_of(const std::string& access_key_id);

  // Derived signing keys by "key id, secret, date, region, service": saves
  // four HMACs per request. Bounded; cleared when full.
  std::string signing_key_for(const credential_claim& claim, const std::string& secret);
  std::mutex keys_mutex_;
  std::unordered_map<std::string, std::string> signing_keys_;  // guarded by keys_mutex_
};

}  // namespace airfleet::auth
