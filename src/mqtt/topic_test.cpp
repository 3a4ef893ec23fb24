#include "mqtt/topic.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace airfleet::mqtt {
namespace {

TEST(topic, names_and_filters_follow_the_wildcard_rules) {
  EXPECT_TRUE(valid_topic_name("a/b/c"));
  EXPECT_TRUE(valid_topic_name("/a//b/"));
  EXPECT_FALSE(valid_topic_name(""));
  EXPECT_FALSE(valid_topic_name("a/+/c"));
  EXPECT_FALSE(valid_topic_name("a/#"));
  EXPECT_FALSE(valid_topic_name(std::string("a\0b", 3)));

  EXPECT_TRUE(valid_topic_filter("#"));
  EXPECT_TRUE(valid_topic_filter("a/+/c"));
  EXPECT_TRUE(valid_topic_filter("+/+"));
  EXPECT_TRUE(valid_topic_filter("a/#"));
  EXPECT_FALSE(valid_topic_filter("a/#/c"));
  EXPECT_FALSE(valid_topic_filter("a#"));
  EXPECT_FALSE(valid_topic_filter("a/b+"));
  EXPECT_TRUE(valid_topic_filter("$share/g1/a/+"));
  EXPECT_FALSE(valid_topic_filter("$share//a"));
  EXPECT_FALSE(valid_topic_filter("$share/g+/a"));
  EXPECT_FALSE(valid_topic_filter("$share/g"));
}

TEST(topic, aws_limits_on_length_and_slashes) {
  EXPECT_TRUE(valid_topic_name(std::string(256, 'a')));
  EXPECT_FALSE(valid_topic_name(std::string(257, 'a')));
  EXPECT_TRUE(valid_topic_name("1/2/3/4/5/6/7/8"));     // 7 slashes
  EXPECT_FALSE(valid_topic_name("1/2/3/4/5/6/7/8/9"));  // 8
  // The first three levels of a reserved topic do not count.
  EXPECT_TRUE(valid_topic_name("$aws/things/dev1/jobs/job1/update/accepted"));
  EXPECT_TRUE(valid_topic_name("$aws/things/dev1/1/2/3/4/5/6/7/8"));
}

TEST(topic, matching_rules_including_dollar_topics) {
  EXPECT_TRUE(topic_matches("a/#", "a"));
  EXPECT_TRUE(topic_matches("a/#", "a/b/c"));
  EXPECT_TRUE(topic_matches("#", "a/b"));
  EXPECT_TRUE(topic_matches("a/+/c", "a/b/c"));
  EXPECT_FALSE(topic_matches("a/+/c", "a/b/d"));
  EXPECT_FALSE(topic_matches("a/+", "a/b/c"));
  EXPECT_TRUE(topic_matches("+/+", "/a"));
  EXPECT_TRUE(topic_matches("a/+", "a/"));
  EXPECT_FALSE(topic_matches("#", "$aws/things/x"));
  EXPECT_FALSE(topic_matches("+/things/x", "$aws/things/x"));
  EXPECT_TRUE(topic_matches("$aws/things/+/jobs/#", "$aws/things/dev1/jobs/notify"));
}

struct options {
  int qos = 0;
  bool operator==(const options&) const = default;
};

std::multiset<std::string> matches(const subscription_tree<options>& tree, std::string_view topic) {
  std::multiset<std::string> out;
  tree.match(topic, [&](const std::string& who, const options&, const std::string& group) {
    out.insert(group.empty() ? who : group + ":" + who);
  });
  return out;
}

TEST(subscription_tree, finds_exact_and_wildcard_subscribers_and_prunes_on_erase) {
  subscription_tree<options> tree;
  EXPECT_TRUE(tree.insert("a/b", "c1", {1}));
  EXPECT_FALSE(tree.insert("a/b", "c1", {0}));  // replaced, not added
  tree.insert("a/+", "c2", {});
  tree.insert("a/#", "c3", {});
  tree.insert("#", "c4", {});
  tree.insert("a/b", "c5", {}, "workers");
  EXPECT_EQ(tree.size(), 5u);
  EXPECT_EQ(matches(tree, "a/b"), (std::multiset<std::string>{"c1", "c2", "c3", "c4", "workers:c5"}));
  EXPECT_EQ(matches(tree, "a"), (std::multiset<std::string>{"c3", "c4"}));
  EXPECT_EQ(matches(tree, "$aws/x"), (std::multiset<std::string>{}));
  EXPECT_TRUE(tree.erase("a/#", "c3"));
  EXPECT_FALSE(tree.erase("a/#", "c3"));
  EXPECT_FALSE(tree.erase("x/y", "c1"));
  EXPECT_EQ(matches(tree, "a"), (std::multiset<std::string>{"c4"}));
  EXPECT_EQ(tree.size(), 4u);
}

// The tree must agree with the one-pair rule for every filter and topic.
TEST(subscription_tree, agrees_with_topic_matches_on_random_cases) {
  std::mt19937 rng(7);
  const std::vector<std::string> level_pool = {"a", "b", "", "$aws", "+", "#"};
  auto make = [&](bool filter) {
    std::string out;
    int levels = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < levels; ++i) {
      if (i) out += '/';
      std::string level;
      do {
        level = level_pool[rng() % level_pool.size()];
      } while (!filter && (level == "+" || level == "#"));
      if (level == "$aws" && i != 0) level = "c";
      out += level;
    }
    return out;
  };
  for (int round = 0; round < 200; ++round) {
    subscription_tree<options> tree;
    std::vector<std::string> filters;
    for (int i = 0; i < 20; ++i) {
      auto f = make(true);
      if (!valid_topic_filter(f)) continue;
      filters.push_back(f);
      tree.insert(f, "s" + std::to_string(filters.size() - 1), {});
    }
    for (int t = 0; t < 20; ++t) {
      auto topic = make(false);
      if (!valid_topic_name(topic)) continue;
      std::multiset<std::string> expected;
      for (std::size_t i = 0; i < filters.size(); ++i)
        if (topic_matches(filters[i], topic)) expected.insert("s" + std::to_string(i));
      EXPECT_EQ(matches(tree, topic), expected) << "topic " << topic;
    }
  }
}

}  // namespace
}  // namespace airfleet::mqtt
