#include "server/jobs_fleet.hpp"

#include "registry/errors.hpp"

#include <set>

namespace airfleet::server {

namespace {
template <class T>
core::result<bool> exists(const core::result<T>& r) {
  if (r) return true;
  if (r.error().code == registry::make_error_code(registry::errc::not_found)) return false;
  return r.error();
}
}  // namespace

core::result<bool> jobs_fleet::thing_exists(const std::string& thing) {
  return exists(registry_.describe_thing(thing));
}

core::result<bool> jobs_fleet::group_exists(const std::string& group) {
  return exists(registry_.describe_thing_group(group));
}

core::result<std::vector<std::string>> jobs_fleet::things_in_group_tree(const std::string& group) {
  std::vector<std::string> out;
  registry::page_request page{250, std::nullopt};
  while (true) {
    auto p = registry_.list_things_in_group(group, true, page);
    if (!p) return p.error();
    out.insert(out.end(), p->items.begin(), p->items.end());
    if (!p->next_token) break;
    page.next_token = p->next_token;
  }
  return out;
}

core::result<std::vector<std::string>> jobs_fleet::group_trees_of_thing(const std::string& thing) {
  std::set<std::string> out;
  registry::page_request page{250, std::nullopt};
  while (true) {
    auto p = registry_.list_groups_for_thing(thing, page);
    if (!p) {
      if (p.error().code == registry::make_error_code(registry::errc::not_found)) return std::vector<std::string>{};
      return p.error();
    }
    for (const auto& g : p->items) {
      out.insert(g.name);
      auto described = registry_.describe_thing_group(g.name);
      if (!described) continue;
      for (const auto& ancestor : described->root_to_parent) out.insert(ancestor.name);
    }
    if (!p->next_token) break;
    page.next_token = p->next_token;
  }
  return std::vector<std::string>(out.begin(), out.end());
}

}  // namespace airfleet::server
