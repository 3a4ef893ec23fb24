// The registry as the jobs engine sees the fleet: which things and groups
// exist, who is in a group's tree, which groups (with their ancestors) hold
// a thing. Lives in server/ because it is the one place that knows both.
#pragma once

#include "jobs/engine.hpp"
#include "registry/registry.hpp"

namespace airfleet::server {

class jobs_fleet final : public jobs::fleet {
 public:
  explicit jobs_fleet(registry::registry& registry) : registry_(registry) {}
  core::result<bool> thing_exists(const std::string& thing) override;
  core::result<bool> group_exists(const std::string& group) override;
  core::result<std::vector<std::string>> things_in_group_tree(const std::string& group) override;
  core::result<std::vector<std::string>> group_trees_of_thing(const std::string& thing) override;

 private:
  registry::registry& registry_;
};

}  // namespace airfleet::server
