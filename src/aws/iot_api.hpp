// A rest-json API's operations (the IoT control plane `iot`, signed as
// `execute-api`, and the jobs data plane `iot-jobs-data` each have one):
// each operation's method and URI template from the service model, its
// members read from path, query, headers and JSON body, an engine call, and
// the response shape. The registry's operations are here; identity
// (iot_identity_api), jobs (iot_jobs_api) and the jobs data plane
// (jobs_data_api) add theirs.
#pragma once

#include "core/error.hpp"
#include "http/server.hpp"
#include "registry/registry.hpp"

#include <boost/json/object.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace airfleet::aws {

class input;

class iot_api {
 public:
  struct settings {
    std::string endpoint_address;  // what DescribeEndpoint returns (the MQTT host)
  };

  struct route {
    boost::beast::http::verb method;
    std::vector<std::string> segments;  // "{name}" binds a path parameter
    std::string operation;
    bool mutating;  // writes durable state (runs on the blocking pool)
    std::function<core::result<boost::json::object>(const input&)> call;
  };
  struct match {
    const iot_api::route* route;
    std::map<std::string, std::string> params;
  };

  // Finds the operation for a method and raw path, or UnknownOperation /
  // MethodNotAllowed.
  core::result<match> find(boost::beast::http::verb method, std::string_view raw_path) const;
  // Runs a matched operation (may block on storage) and builds the response.
  http::response invoke(const match& m, const http::request& request) const;

  // Registers an operation: method, URI template from the service model,
  // operation name, whether it writes, and the call.
  void add(boost::beast::http::verb method, std::string_view pattern, std::string operation, bool mutating,
           std::function<core::result<boost::json::object>(const input&)> call);

  std::vector<route> routes_;
};

// The registry's operations (things, types, groups, DescribeEndpoint).
void add_registry_operations(iot_api& api, registry::registry& registry, iot_api::settings s);

}  // namespace airfleet::aws
