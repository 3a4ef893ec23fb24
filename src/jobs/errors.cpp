#include "jobs/errors.hpp"

#include <string>

namespace airfleet::jobs {

namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.jobs"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::not_found: return "resource not found";
      case errc::already_exists: return "resource already exists";
      case errc::conflict: return "conflict";
      case errc::invalid_request: return "invalid request";
      case errc::invalid_state_transition: return "invalid state transition";
      case errc::version_conflict: return "version conflict";
      case errc::terminal_state: return "terminal state";
      case errc::limit_exceeded: return "limit exceeded";
      case errc::internal: return "internal failure";
    }
    return "unknown jobs error";
  }
};
}  // namespace

std::error_code make_error_code(errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

}  // namespace airfleet::jobs
