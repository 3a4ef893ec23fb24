#include "agent/errors.hpp"

#include <string>

namespace airfleet::agent {

namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.agent"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::io: return "state directory i/o failed";
      case errc::corrupt_state: return "state file is corrupt";
      case errc::invalid_document: return "invalid job document";
      case errc::download: return "download failed";
      case errc::command: return "command failed";
    }
    return "unknown agent error";
  }
};
}  // namespace

std::error_code make_error_code(errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

}  // namespace airfleet::agent
