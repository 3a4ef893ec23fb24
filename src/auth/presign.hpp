// S3 query authentication beyond SigV4 headers: making SigV4 presigned URLs
// (the jobs engine's firmware links) and verifying the SigV2 query form
// boto3 generates by default (AWSAccessKeyId, Expires, Signature), which
// carries no credential scope and always means S3:
//
//   Signature = base64(HMAC-SHA1(secret, METHOD \n Content-MD5 \n
//               Content-Type \n Expires \n CanonicalAmzHeaders Resource))
//
// where Resource is the raw path plus the sub-resources of the query
// (versionId, uploadId, partNumber, response-* overrides, ...) in order.
#pragma once

#include "auth/sigv4.hpp"

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace airfleet::auth {

struct sigv2_claim {
  std::string access_key_id;
  std::int64_t expires = 0;  // seconds since the epoch
  std::string signature;     // base64
};

// The SigV2 query parameters of a request target, if it has them.
std::optional<sigv2_claim> parse_sigv2_query(std::string_view target);
core::result<void> verify_sigv2(const signed_request& request, const sigv2_claim& claim, std::string_view secret,
                                core::time_point now);

struct presign_request {
  std::string method = "GET";
  std::string base_url;  // scheme://host[:port], no trailing slash
  std::string path;      // already URI-encoded, starting with '/'
  std::string access_key_id;
  std::string secret;
  std::string region;
  std::int64_t expires_seconds = 3600;  // 1 .. 604800
};
// A SigV4 presigned URL (service s3, only Host signed, UNSIGNED-PAYLOAD).
std::string presign_v4(const presign_request& r, core::time_point now);

// The same for one key, remembering the day's derived signing key (four of
// the six HMACs a presigned URL costs); safe to share between threads. The
// jobs engine presigns a link for every device a firmware job reaches.
class presigner {
 public:
  presigner(std::string access_key_id, std::string secret, std::string region);
  // r's access_key_id, secret and region are this presigner's.
  std::string presign(presign_request r, core::time_point now);

 private:
  const std::string access_key_id_, secret_, region_;
  std::mutex mutex_;  // guards date_ and key_
  std::string date_;  // YYYYMMDD the key is for
  std::string key_;
};

}  // namespace airfleet::auth
