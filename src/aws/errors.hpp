// Engine errors -> the error shapes AWS clients parse, in one place.
//
// rest-json (iot, iot-jobs-data): status, header `x-amzn-ErrorType: <Code>`
// and body {"__type": "<Code>", "message": "..."} plus extra members
// (resourceId, resourceArn). Query/XML (sts): <ErrorResponse><Error>...
// botocore takes the code from the header or __type, the message from
// "message" (shared/notes/aws-wire-format.md §3).
#pragma once

#include "core/error.hpp"
#include "http/server.hpp"

#include <string>

namespace airfleet::aws {

struct wire_error {
  boost::beast::http::status status;
  std::string code;
  std::string message;
  std::vector<std::pair<std::string, std::string>> details;
};

// Maps any engine, auth or storage error to its AWS code and HTTP status.
wire_error to_wire(const core::error& e);

http::response json_error(const wire_error& e, unsigned version = 11);
http::response json_error(const core::error& e, unsigned version = 11);
http::response xml_error(const wire_error& e, const std::string& request_id, unsigned version = 11);

}  // namespace airfleet::aws
