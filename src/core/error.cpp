#include "core/error.hpp"

#include <stdexcept>

namespace airfleet::core {

void throw_exception_from_error(error const& e, boost::source_location const&) {
  throw std::system_error(e.code, e.message);
}

}  // namespace airfleet::core
