#include "mqtt/topic.hpp"

#include <algorithm>

namespace airfleet::mqtt {

namespace {

std::vector<std::string_view> levels_of(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto slash = text.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, slash - start));
    start = slash + 1;
  }
}

// Slashes that count against the limit: those of a reserved topic's first
// three levels ("$aws/things/<thing>/") do not.
std::size_t counted_slashes(std::string_view text) {
  auto slashes = static_cast<std::size_t>(std::count(text.begin(), text.end(), '/'));
  if (text.substr(0, 12) == "$aws/things/") {
    auto levels = levels_of(text);
    if (levels.size() > 3) return slashes - 3;
    return 0;
  }
  return slashes;
}

bool common_checks(std::string_view text, const topic_limits& limits) {
  if (text.empty() || text.size() > limits.max_bytes) return false;
  if (text.find('\0') != std::string_view::npos) return false;
  return counted_slashes(text) <= limits.max_slashes;
}

}  // namespace

bool valid_topic_name(std::string_view topic, const topic_limits& limits) {
  if (!common_checks(topic, limits)) return false;
  return topic.find_first_of("+#") == std::string_view::npos;
}

std::optional<shared_filter> parse_shared(std::string_view filter) {
  constexpr std::string_view prefix = "$share/";
  if (filter.substr(0, prefix.size()) != prefix) return std::nullopt;
  auto rest = filter.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return shared_filter{std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
}

bool valid_topic_filter(std::string_view filter, const topic_limits& limits) {
  if (!common_checks(filter, limits)) return false;
  std::string_view plain = filter;
  std::string group_holder;
  if (filter.substr(0, 7) == "$share/") {
    auto shared = parse_shared(filter);
    if (!shared || shared->group.empty() || shared->filter.empty() ||
        shared->group.find_first_of("+#") != std::string::npos)
      return false;
    group_holder = shared->filter;
    plain = group_holder;
  }
  auto levels = levels_of(plain);
  for (std::size_t i = 0; i < levels.size(); ++i) {
    auto level = levels[i];
    if (level.find('#') != std::string_view::npos && (level != "#" || i + 1 != levels.size())) return false;
    if (level.find('+') != std::string_view::npos && level != "+") return false;
  }
  return true;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  auto f = levels_of(filter);
  auto t = levels_of(topic);
  bool system_topic = !topic.empty() && topic.front() == '$';
  std::size_t i = 0;
  for (; i < f.size(); ++i) {
    if (i == 0 && system_topic && (f[0] == "+" || f[0] == "#")) return false;
    if (f[i] == "#") return true;
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return i == t.size();
}

}  // namespace airfleet::mqtt
