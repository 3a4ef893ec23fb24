// Expected failures as values.
//
// Every module declares an `enum class errc` and registers it as a
// std::error_category; an `error` carries such a code plus a human message
// ("Thing dev1 not found") that surfaces pass on to clients. Functions that
// can fail return `result<T>`; surfaces map codes to wire errors in one place.
#pragma once

#include <boost/system/result.hpp>

#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace airfleet::core {

struct error {
  std::error_code code;
  std::string message;
  // Extra members some wire errors carry (resourceId, resourceArn, ...).
  std::vector<std::pair<std::string, std::string>> details = {};
};

template <class T = void>
using result = boost::system::result<T, error>;

// Used by result<T>::value() when it holds an error; our code checks
// has_value() first, so reaching it is a programming error.
[[noreturn]] void throw_exception_from_error(error const& e, boost::source_location const& location);

template <class Errc>
error make_error(Errc code, std::string message) {
  return error{make_error_code(code), std::move(message), {}};
}

}  // namespace airfleet::core
