// The one entry point for every HTTP API request: authenticate with SigV4,
// route by the service named in the credential scope (execute-api/iot ->
// IoT control plane, iot-jobs-data -> jobs data plane, sts -> STS; later s3,
// iotdata), run the operation, and answer errors in the shape that service's
// clients parse. Operations that write durable state run on a blocking pool,
// so waiting for a group commit never stalls the I/O threads.
#pragma once

#include "auth/authenticator.hpp"
#include "aws/iot_api.hpp"
#include "aws/s3_api.hpp"
#include "http/server.hpp"

#include <boost/asio/thread_pool.hpp>

#include <atomic>

namespace airfleet::aws {

class gateway {
 public:
  struct settings {
    std::string account_id;
    std::string region;
  };
  // `iot` serves the control plane (execute-api), `jobs_data` the jobs data
  // plane (iot-jobs-data); both are rest-json and answer errors alike.
  gateway(auth::authenticator& authenticator, iot_api& iot, iot_api& jobs_data, boost::asio::thread_pool& blocking,
          settings s);

  boost::asio::awaitable<http::response> handle(http::request& request, http::request_context& ctx);
  // S3 requests stream (see s3_api.hpp): whether a request is one, from its
  // headers alone. SigV4 with service "s3", any SigV2 query, and anonymous
  // requests that match no IoT route (so S3 clients hear S3's AccessDenied).
  void set_s3(s3_api* s3) { s3_ = s3; }
  bool claims_stream(const http::request_header& header) const;
  boost::asio::awaitable<void> handle_stream(http::exchange& ex) { return s3_->handle(ex); }
  http::response transport_error(boost::beast::http::status status, std::string_view code, std::string_view message,
                                 const http::request_context& ctx) const;
  void set_ready(bool ready) { ready_ = ready; }

 private:
  // Finds and runs an operation of a rest-json API; writes on `blocking_`.
  boost::asio::awaitable<http::response> rest_json(const iot_api& api, http::request& request,
                                                   http::request_context& ctx, std::string_view path);
  http::response sts(const http::request& request, const http::request_context& ctx, const auth::identity& who) const;

  auth::authenticator& authenticator_;
  iot_api& iot_;
  iot_api& jobs_data_;
  s3_api* s3_ = nullptr;
  boost::asio::thread_pool& blocking_;
  settings settings_;
  std::atomic<bool> ready_{false};
};

}  // namespace airfleet::aws
