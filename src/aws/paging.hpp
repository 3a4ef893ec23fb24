// The two pagination styles of the IoT control plane, read from the query:
// maxResults/nextToken (registry lists) and pageSize/marker/isAscendingOrder
// (certificates, policies); and writing a maxResults/nextToken page.
#pragma once

#include "aws/input.hpp"
#include "identity/identity.hpp"
#include "registry/registry.hpp"

namespace airfleet::aws {

core::result<registry::page_request> token_page(const input& in);
core::result<identity::marker_request> marker_page(const input& in);

// A maxResults/nextToken page as the model shapes it: {member: [each(item)...], nextToken?}.
// `Page` is any engine's page (items, optional next_token).
template <class Page, class F>
boost::json::object page_json(const char* member, const Page& page, F each) {
  boost::json::array items;
  for (const auto& item : page.items) items.emplace_back(each(item));
  boost::json::object out;
  out[member] = std::move(items);
  if (page.next_token) out["nextToken"] = *page.next_token;
  return out;
}

}  // namespace airfleet::aws
