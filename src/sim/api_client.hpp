// The simulator's AWS API client: one keep-alive connection to airfleet's
// HTTP(S) endpoint, every request signed with SigV4 (auth/client_signer.hpp)
// as the AWS CLI signs it, for the IoT control plane (service execute-api,
// JSON bodies) and S3 (path-style, the payload's SHA-256 in
// X-Amz-Content-SHA256).
//
// An answer with an HTTP error status is still an answer (api_response
// carries status and the AWS error code); only transport failures are
// errors. Several clients run side by side for parallel provisioning.
#pragma once

#include "auth/client_signer.hpp"
#include "sim/http_connection.hpp"

#include <boost/json/value.hpp>

#include <string>

namespace airfleet::sim {

struct api_response {
  unsigned status = 0;
  std::string body;
  std::string error_code;  // x-amzn-ErrorType, or S3's <Code>; empty on success

  bool ok() const { return status >= 200 && status < 300; }
  // "ResourceNotFoundException: Thing t not found (HTTP 404)"
  std::string describe() const;
  // The body as a JSON object (null when it is not one).
  boost::json::value json() const;
};

class api_client {
 public:
  api_client(boost::asio::any_io_executor executor, boost::asio::ssl::context* tls, http_origin origin,
             auth::client_credentials credentials, std::chrono::milliseconds timeout);

  using header_list = std::vector<std::pair<std::string, std::string>>;

  // A JSON request to the IoT control plane; an empty body sends none.
  // `headers` are sent and signed too.
  boost::asio::awaitable<core::result<api_response>> iot(boost::beast::http::verb method, std::string target,
                                                         std::string body = {}, header_list headers = {});
  // An S3 request (path style: /bucket[/key]).
  boost::asio::awaitable<core::result<api_response>> s3(boost::beast::http::verb method, std::string target,
                                                        std::string body = {});

 private:
  boost::asio::awaitable<core::result<api_response>> call(boost::beast::http::verb method, std::string target,
                                                          std::string body, header_list headers, const char* service);

  http_connection connection_;
  auth::client_credentials credentials_;
};

// Percent-encodes one path segment (a thing, group or policy name).
std::string path_segment(std::string_view name);

}  // namespace airfleet::sim
