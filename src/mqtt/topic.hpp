// Topic names, topic filters, and the subscription tree that matches one
// against the other.
//
// The rules (MQTT 3.1.1 §4.7 and 5.0 §4.7, plus AWS IoT's limits):
// * A topic name is what a PUBLISH carries: 1 or more bytes of UTF-8,
//   split into levels by '/'. Levels may be empty ("a//b", "/a"). It holds
//   no wildcard and no U+0000.
// * A topic filter is what a SUBSCRIBE carries. '+' matches exactly one
//   level and must be a whole level ("a/+/c", not "a+"); '#' matches the
//   parent level and any number of levels below it, and must be the last
//   level, alone ("a/#" matches "a", "a/b", "a/b/c"; "#" matches everything).
// * Topics beginning with '$' are the server's ($SYS, AWS's $aws/...): a
//   filter whose first level is a wildcard ("#", "+/x") does not match them;
//   "$aws/things/+/jobs/#" does.
// * "$share/<group>/<filter>" is a shared subscription: the group name is
//   one non-empty level without wildcards; each matching message goes to one
//   member of the group rather than to all.
// * AWS IoT limits topics and filters to 256 bytes and 7 forward slashes,
//   not counting the slashes of the first three levels of a reserved topic
//   ("$aws/things/<thing>/..."). Both are named limits here.
//
// The tree keeps one node per level. Matching walks the topic's levels and,
// at each node, follows the exact child, the '+' child, and collects the
// '#' child's subscribers; it costs O(levels x wildcards on the path), not
// O(subscriptions). Not thread-safe: the broker owns one per node (shard)
// and serialises access.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace airfleet::mqtt {

struct topic_limits {
  std::size_t max_bytes = 256;
  std::size_t max_slashes = 7;
};

bool valid_topic_name(std::string_view topic, const topic_limits& limits = {});
bool valid_topic_filter(std::string_view filter, const topic_limits& limits = {});

struct shared_filter {
  std::string group;
  std::string filter;
};
// "$share/g/a/b" -> {g, a/b}; nullopt when `filter` is not a shared subscription.
std::optional<shared_filter> parse_shared(std::string_view filter);

// Does `filter` match `topic`? (The tree's rules, for one pair.)
bool topic_matches(std::string_view filter, std::string_view topic);

// Subscriptions by filter; each subscriber (a client id) holds one `Options`
// per filter. Shared subscriptions are kept per group.
template <class Options>
class subscription_tree {
 public:
  // Adds or replaces `subscriber`'s subscription to `filter` (a plain
  // filter, already validated) in `group` ("" for a normal subscription).
  // Returns true when it is new.
  bool insert(std::string_view filter, const std::string& subscriber, Options options, const std::string& group = {}) {
    node* n = &root_;
    for_each_level(filter, [&](std::string_view level) {
      auto& child = n->children[std::string(level)];
      if (!child) child = std::make_unique<node>();
      n = child.get();
    });
    auto& bucket = n->subscribers[group];
    bool fresh = bucket.find(subscriber) == bucket.end();
    bucket[subscriber] = std::move(options);
    if (fresh) ++size_;
    return fresh;
  }

  // Removes it; returns whether it existed. Empty branches are pruned.
  bool erase(std::string_view filter, const std::string& subscriber, const std::string& group = {}) {
    std::vector<std::pair<node*, std::string>> path;
    node* n = &root_;
    bool found = true;
    for_each_level(filter, [&](std::string_view level) {
      if (!found) return;
      auto it = n->children.find(level);
      if (it == n->children.end()) {
        found = false;
        return;
      }
      path.emplace_back(n, std::string(level));
      n = it->second.get();
    });
    if (!found) return false;
    auto g = n->subscribers.find(group);
    if (g == n->subscribers.end() || g->second.erase(subscriber) == 0) return false;
    if (g->second.empty()) n->subscribers.erase(g);
    --size_;
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      node* parent = it->first;
      auto child = parent->children.find(it->second);
      if (!child->second->children.empty() || !child->second->subscribers.empty()) break;
      parent->children.erase(child);
    }
    return true;
  }

  // Calls `visit(subscriber, options, group)` for every subscription whose
  // filter matches `topic` (a valid topic name). A subscriber with several
  // matching filters is visited once per filter; the broker merges them.
  void match(std::string_view topic,
             const std::function<void(const std::string&, const Options&, const std::string&)>& visit) const {
    std::vector<std::string_view> levels;
    for_each_level(topic, [&](std::string_view l) { levels.push_back(l); });
    bool system_topic = !topic.empty() && topic.front() == '$';
    walk(root_, levels, 0, system_topic, visit);
  }

  std::size_t size() const { return size_; }

 private:
  // Lets a level (a string_view into the topic) look up a child without
  // building a std::string.
  struct level_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct node {
    std::unordered_map<std::string, std::unique_ptr<node>, level_hash, std::equal_to<>> children;
    // group ("" = not shared) -> subscriber -> options
    std::map<std::string, std::map<std::string, Options>> subscribers;
  };

  template <class F>
  static void for_each_level(std::string_view text, F&& f) {
    std::size_t start = 0;
    while (true) {
      auto slash = text.find('/', start);
      if (slash == std::string_view::npos) {
        f(text.substr(start));
        return;
      }
      f(text.substr(start, slash - start));
      start = slash + 1;
    }
  }

  static void emit(const node& n,
                   const std::function<void(const std::string&, const Options&, const std::string&)>& visit) {
    for (const auto& [group, members] : n.subscribers)
      for (const auto& [subscriber, options] : members) visit(subscriber, options, group);
  }

  static void walk(const node& n, const std::vector<std::string_view>& levels, std::size_t depth, bool system_topic,
                   const std::function<void(const std::string&, const Options&, const std::string&)>& visit) {
    bool first = depth == 0;
    // '#' here matches this level and everything below (including nothing
    // more: "a/#" matches "a"), unless the topic is a $-topic and we are at its first level.
    if (!(first && system_topic)) {
      if (auto hash = n.children.find(std::string_view("#")); hash != n.children.end()) emit(*hash->second, visit);
    }
    if (depth == levels.size()) {
      emit(n, visit);
      return;
    }
    if (auto exact = n.children.find(levels[depth]); exact != n.children.end())
      walk(*exact->second, levels, depth + 1, system_topic, visit);
    if (!(first && system_topic)) {
      if (auto plus = n.children.find(std::string_view("+")); plus != n.children.end())
        walk(*plus->second, levels, depth + 1, system_topic, visit);
    }
  }

  node root_;
  std::size_t size_ = 0;
};

}  // namespace airfleet::mqtt
