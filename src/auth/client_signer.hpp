// The client's side of SigV4: what the AWS CLI and SDKs do to a request
// before they send it, for airfleet's own clients (the fleet simulator,
// the API load generator). The canonical request and the signature come
// from sigv4.hpp, the same code the server verifies with, so a client and
// the server cannot drift apart; the system tests prove both against the
// real AWS CLI and boto3.
//
// Also reads an AWS shared-credentials file (what `airfleet serve` writes as
// <data>/admin-credentials, and what ~/.aws/credentials holds): INI sections
// named by profile, with aws_access_key_id, aws_secret_access_key and
// optionally region.
#pragma once

#include "core/error.hpp"
#include "core/time.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airfleet::auth {

struct client_credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string region;  // empty when the file names none
};

// The `profile` section of a shared-credentials file.
core::result<client_credentials> read_shared_credentials(const std::string& path,
                                                         std::string_view profile = "default");

struct request_to_sign {
  std::string_view method;
  std::string_view target;  // path[?query], encoded exactly as it goes on the wire
  // Every header here is signed (names in any case); host must be among them.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_hash;  // hex SHA-256 of the body, or UNSIGNED-PAYLOAD
};

// Adds X-Amz-Date (time `now`) and, for s3, X-Amz-Content-SHA256 to the
// request's headers, then returns the Authorization header's value for
// `service` in the credentials' region.
std::string sign_request(request_to_sign& request, const client_credentials& credentials, std::string_view service,
                         core::time_point now);

}  // namespace airfleet::auth
