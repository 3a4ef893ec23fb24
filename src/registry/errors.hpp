// The registry's expected failures. The AWS surface maps each to its error
// shape (aws/errors.cpp); nothing here knows about HTTP.
#pragma once

#include <system_error>

namespace airfleet::registry {

enum class errc {
  not_found = 1,      // the named thing, type or group does not exist
  already_exists,     // a create with a different configuration than what exists
  invalid_request,    // a name, value, limit or state rule is broken
  version_conflict,   // expectedVersion does not match
  limit_exceeded,     // a per-resource limit (tags) would be exceeded
  internal,           // storage failed; the message says how
};
std::error_code make_error_code(errc e);

}  // namespace airfleet::registry

template <>
struct std::is_error_code_enum<airfleet::registry::errc> : std::true_type {};
