// Reading a rest-json request: path parameters, query parameters and JSON
// body members, each type-checked, with an InvalidRequestException that says
// which member is wrong instead of a crash or a silent default.
#pragma once

#include "core/error.hpp"
#include "http/server.hpp"

#include <boost/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace airfleet::aws {

enum class errc {
  invalid_input = 1,    // malformed JSON, a wrong type, a missing member
  unknown_operation,    // no route for this path
  method_not_allowed,   // a route exists for the path, not for the method
  unsupported_service,  // the credential scope names a service not served here
};
std::error_code make_error_code(errc e);

core::error invalid_input(std::string message);
// "Member '<where>' must be <want>, not a string": the one wording of a type error.
core::error wrong_type(const std::string& where, const std::string& want, const boost::json::value& got);

class input {
 public:
  // Parses the query string and (when non-empty) the JSON body.
  static core::result<input> from(const http::request& request, std::map<std::string, std::string> path_params);

  const std::string& path(const std::string& name) const { return path_.at(name); }
  std::optional<std::string> query(const std::string& name) const;
  core::result<std::optional<std::int64_t>> query_int(const std::string& name) const;
  core::result<std::optional<bool>> query_bool(const std::string& name) const;
  std::optional<std::string> header(const std::string& name) const;

  core::result<std::optional<std::string>> string(const std::string& name) const;
  core::result<std::optional<std::int64_t>> integer(const std::string& name) const;
  core::result<std::optional<bool>> boolean(const std::string& name) const;
  core::result<std::optional<std::vector<std::string>>> string_list(const std::string& name) const;
  const boost::json::object* object(const std::string& name) const;
  core::result<const boost::json::object*> object_member(const std::string& name) const;
  const boost::json::object& body() const { return body_; }

  // Helpers for nested objects.
  static core::result<std::optional<std::string>> string_in(const boost::json::object& o, const std::string& name,
                                                            const std::string& where);
  static core::result<std::optional<bool>> bool_in(const boost::json::object& o, const std::string& name,
                                                   const std::string& where);
  static core::result<std::optional<std::map<std::string, std::string>>> string_map_in(
      const boost::json::object& o, const std::string& name, const std::string& where);

 private:
  std::map<std::string, std::string> path_;
  std::vector<std::pair<std::string, std::string>> query_;
  const http::request* request_ = nullptr;  // outlives the input (both live for one call)
  boost::json::object body_;
};

}  // namespace airfleet::aws

template <>
struct std::is_error_code_enum<airfleet::aws::errc> : std::true_type {};
