// AWS Signature Version 4, server side.
//
// A request proves it was made by the holder of an access key's secret by
// carrying an HMAC over a canonical form of itself:
//
//   CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n
//                      CanonicalHeaders \n SignedHeaders \n PayloadHash
//   StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n Scope \n hex(sha256(CanonicalRequest))
//   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
//   Signature        = hex(HMAC(SigningKey, StringToSign))
//
// Rules that clients really follow (see shared/notes/aws-wire-format.md §4):
// * CanonicalURI: for S3 the path exactly as received; for every other
//   service the received path with dot segments and repeated slashes
//   removed, percent-encoded once more ('%2F' -> '%252F').
// * CanonicalQuery: each name and value URL-decoded, re-encoded with only
//   A-Za-z0-9-_.~ left bare, sorted by name then value; "?uploads" is
//   "uploads="; a presigned URL's X-Amz-Signature is left out.
// * CanonicalHeaders: each signed header, lower case, values trimmed with
//   inner runs of spaces folded, repeated headers joined with ','.
// * PayloadHash: the X-Amz-Content-SHA256 header when present (which may be
//   UNSIGNED-PAYLOAD), else hex(sha256(body)); S3 presigned URLs sign
//   UNSIGNED-PAYLOAD.
// The credential scope names the service; the server routes on it.
#pragma once

#include "core/error.hpp"
#include "core/time.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airfleet::auth {

enum class errc {
  missing_authentication = 1,  // no Authorization header and no presigned query
  incomplete_signature,        // an Authorization header or query that cannot be parsed
  unrecognized_client,         // the access key id is not known
  invalid_signature,           // the signature does not match
  signature_expired,           // the request's date is too far from now
  request_expired,             // a presigned URL past its expiry
  throttled,                   // the key is over its request rate
};
std::error_code make_error_code(errc e);

struct signed_request {
  std::string_view method;
  std::string_view target;  // raw request-target: path[?query]
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  // The full body when the caller has it; nullopt when it streams (then the
  // X-Amz-Content-SHA256 header must carry the payload hash).
  std::optional<std::string_view> body;

  std::optional<std::string_view> header(std::string_view name) const;
};

// What the Authorization header or presigned query claims, before verifying.
struct credential_claim {
  std::string access_key_id;
  std::string date;     // YYYYMMDD from the scope
  std::string region;
  std::string service;
  std::string amz_date; // YYYYMMDDTHHMMSSZ of the request
  std::vector<std::string> signed_headers;
  std::string signature;
  bool presigned = false;
  std::int64_t expires_seconds = 0;  // presigned only
};

// Parses the Authorization header or the presigned query parameters.
core::result<credential_claim> parse_claim(const signed_request& request);

// Pieces of the signature, exposed for tests and for error messages.
std::string canonical_uri(std::string_view raw_path, bool s3);
std::optional<std::string> canonical_query(std::string_view raw_query, bool drop_signature);
std::string canonical_request(const signed_request& request, const credential_claim& claim,
                              const std::string& payload_hash);
std::string string_to_sign(const credential_claim& claim, const std::string& canonical);
std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service);
std::string sign(const credential_claim& claim, const std::string& canonical, std::string_view secret);
// The same with the derived signing key (see verify_with_key).
std::string sign_with_key(const credential_claim& claim, const std::string& canonical, std::string_view derived_key);

struct verify_options {
  std::chrono::seconds max_skew{15 * 60};
  std::chrono::seconds max_presign_expiry{7 * 24 * 3600};
};

// Checks a claim against the request and the key's secret at time `now`.
core::result<void> verify(const signed_request& request, const credential_claim& claim,
                          std::string_view secret, core::time_point now, const verify_options& options = {});
// The same with the derived signing key (signing_key(secret, date, region,
// service)), which callers may cache: it changes once a day per scope.
core::result<void> verify_with_key(const signed_request& request, const credential_claim& claim,
                                   std::string_view derived_key, core::time_point now,
                                   const verify_options& options = {});

}  // namespace airfleet::auth

template <>
struct std::is_error_code_enum<airfleet::auth::errc> : std::true_type {};
