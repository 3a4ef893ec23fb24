// The two pagination styles of the IoT control plane, read from the query:
// maxResults/nextToken (registry lists) and pageSize/marker/isAscendingOrder
// (certificates, policies).
#pragma once

#include "aws/input.hpp"
#include "identity/identity.hpp"
#include "registry/registry.hpp"

namespace airfleet::aws {

core::result<registry::page_request> token_page(const input& in);
core::result<identity::marker_request> marker_page(const input& in);

}  // namespace airfleet::aws
