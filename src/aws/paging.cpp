#include "aws/paging.hpp"

#include "aws/operation.hpp"

namespace airfleet::aws {

namespace {
// The engines enforce their own upper bounds (250); this only keeps the value an int.
core::result<std::optional<int>> positive(const input& in, const std::string& name) {
  TRY(value, in.query_int(name));
  if (!value) return std::optional<int>{};
  if (*value < 1 || *value > 1'000'000) return invalid_input(name + " must be a positive number (at most 250)");
  return std::optional<int>{static_cast<int>(*value)};
}
}  // namespace

core::result<registry::page_request> token_page(const input& in) {
  TRY(max, positive(in, "maxResults"));
  return registry::page_request{max, in.query("nextToken")};
}

core::result<identity::marker_request> marker_page(const input& in) {
  TRY(size, positive(in, "pageSize"));
  TRY(ascending, in.query_bool("isAscendingOrder"));
  return identity::marker_request{size, in.query("marker"), ascending.value_or(false)};
}

}  // namespace airfleet::aws
