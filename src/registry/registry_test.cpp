#include "registry/registry.hpp"

#include "storage/schema.hpp"
#include "storage/sqlite_registry_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

namespace airfleet::registry {
namespace {

class registry_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("airfleet-registry-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    storage::database::options opts;
    opts.path = (dir_ / "r.db").string();
    auto db = storage::database::open(opts, storage::schema_migrations());
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
    store_ = std::make_unique<storage::sqlite_registry_store>(*db_);
    reg_ = std::make_unique<registry>(*store_, clock_, registry::settings{"123456789012", "us-east-1", "k", {}});
  }
  void TearDown() override {
    reg_.reset();
    store_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  static attribute_payload payload(attribute_map m, bool merge = false) { return {std::move(m), merge}; }

  std::filesystem::path dir_;
  core::manual_clock clock_{core::from_epoch_millis(1'700'000'000'000)};
  std::unique_ptr<storage::database> db_;
  std::unique_ptr<storage::sqlite_registry_store> store_;
  std::unique_ptr<registry> reg_;
};

TEST_F(registry_test, create_is_idempotent_for_the_same_configuration_only) {
  auto a = reg_->create_thing({"dev1", std::nullopt, payload({{"fw", "1.0"}})});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->arn, "arn:aws:iot:us-east-1:123456789012:thing/dev1");
  auto again = reg_->create_thing({"dev1", std::nullopt, payload({{"fw", "1.0"}})});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, a->id);
  auto different = reg_->create_thing({"dev1", std::nullopt, payload({{"fw", "2.0"}})});
  ASSERT_FALSE(different);
  EXPECT_EQ(different.error().code, make_error_code(errc::already_exists));
  ASSERT_EQ(different.error().details.size(), 2u);
  EXPECT_EQ(different.error().details[0].second, a->id);
}

TEST_F(registry_test, names_and_attribute_limits_are_enforced) {
  EXPECT_EQ(reg_->create_thing({"bad name", {}, {}}).error().code, make_error_code(errc::invalid_request));
  EXPECT_EQ(reg_->create_thing({std::string(129, 'a'), {}, {}}).error().code, make_error_code(errc::invalid_request));
  EXPECT_TRUE(reg_->create_thing({std::string(128, 'a'), {}, {}}));
  auto four = reg_->create_thing({"d4", {}, payload({{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}})});
  ASSERT_FALSE(four);
  EXPECT_EQ(four.error().code, make_error_code(errc::invalid_request));
  EXPECT_FALSE(reg_->create_thing({"sp", {}, payload({{"a", "has space"}})}));
  ASSERT_TRUE(reg_->create_thing_type({"sensor", std::string("Sensors"), {"fw"}, {}}));
  attribute_map many;
  for (int i = 0; i < 50; ++i) many["a" + std::to_string(i)] = "v";
  EXPECT_TRUE(reg_->create_thing({"typed", std::string("sensor"), payload(many)}));
  many["one-more"] = "v";
  EXPECT_FALSE(reg_->create_thing({"typed2", std::string("sensor"), payload(many)}));
}

TEST_F(registry_test, update_merges_replaces_and_checks_versions) {
  ASSERT_TRUE(reg_->create_thing({"dev1", {}, payload({{"a", "1"}, {"b", "2"}})}));
  ASSERT_TRUE(reg_->update_thing({"dev1", {}, false, payload({{"b", ""}, {"c", "3"}}, true), {}}));
  auto t = reg_->describe_thing("dev1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->attributes, (attribute_map{{"a", "1"}, {"c", "3"}}));
  EXPECT_EQ(t->version, 2);
  ASSERT_TRUE(reg_->update_thing({"dev1", {}, false, payload({{"z", "9"}}, false), 2}));
  t = reg_->describe_thing("dev1");
  EXPECT_EQ(t->attributes, (attribute_map{{"z", "9"}}));
  auto stale = reg_->update_thing({"dev1", {}, false, payload({{"y", "1"}}, true), 2});
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, make_error_code(errc::version_conflict));
  EXPECT_EQ(reg_->delete_thing("dev1", 1).error().code, make_error_code(errc::version_conflict));
  EXPECT_TRUE(reg_->delete_thing("dev1", 3));
  EXPECT_EQ(reg_->describe_thing("dev1").error().code, make_error_code(errc::not_found));
  EXPECT_TRUE(reg_->delete_thing("dev1", std::nullopt));  // deleting what is gone succeeds
}

TEST_F(registry_test, thing_type_lifecycle) {
  ASSERT_TRUE(reg_->create_thing_type({"cam", {}, {}, {{"env", "test"}}}));
  EXPECT_EQ(reg_->delete_thing_type("cam").error().code, make_error_code(errc::invalid_request));
  ASSERT_TRUE(reg_->create_thing({"c1", std::string("cam"), {}}));
  ASSERT_TRUE(reg_->deprecate_thing_type("cam", false));
  EXPECT_EQ(reg_->create_thing({"c2", std::string("cam"), {}}).error().code, make_error_code(errc::invalid_request));
  EXPECT_EQ(reg_->delete_thing_type("cam").error().code, make_error_code(errc::invalid_request));  // still used
  ASSERT_TRUE(reg_->update_thing({"c1", {}, true, {}, {}}));
  EXPECT_TRUE(reg_->delete_thing_type("cam"));
  EXPECT_EQ(reg_->describe_thing_type("cam").error().code, make_error_code(errc::not_found));
}

TEST_F(registry_test, list_things_pages_by_attribute_and_prefix) {
  for (int i = 0; i < 30; ++i) {
    std::string n = "t" + std::to_string(100 + i);
    ASSERT_TRUE(reg_->create_thing({n, {}, payload({{"fw", i % 2 ? "v1.0" : "v2.0"}})}));
  }
  list_things_request req;
  req.attribute_name = "fw";
  req.attribute_value = "v1.0";
  req.page.max_results = 4;
  std::set<std::string> seen;
  for (int pages = 0; pages < 20; ++pages) {
    auto p = reg_->list_things(req);
    ASSERT_TRUE(p) << p.error().message;
    for (auto& t : p->items) {
      EXPECT_EQ(t.attributes.at("fw"), "v1.0");
      EXPECT_TRUE(seen.insert(t.name).second);
    }
    if (!p->next_token) break;
    req.page.next_token = p->next_token;
  }
  EXPECT_EQ(seen.size(), 15u);

  list_things_request prefix;
  prefix.attribute_name = "fw";
  prefix.attribute_value = "v";
  prefix.use_prefix_attribute_value = true;
  prefix.page.max_results = 7;
  std::size_t total = 0;
  while (true) {
    auto p = reg_->list_things(prefix);
    ASSERT_TRUE(p);
    total += p->items.size();
    if (!p->next_token) break;
    prefix.page.next_token = p->next_token;
  }
  EXPECT_EQ(total, 30u);

  list_things_request forged;
  forged.page.next_token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  EXPECT_EQ(reg_->list_things(forged).error().code, make_error_code(errc::invalid_request));
}

TEST_F(registry_test, groups_nest_and_membership_follows_aws_rules) {
  ASSERT_TRUE(reg_->create_thing_group({"root", {}, {}, {}, {}}));
  ASSERT_TRUE(reg_->create_thing_group({"mid", std::string("root"), {}, {}, {}}));
  ASSERT_TRUE(reg_->create_thing_group({"leaf", std::string("mid"), {}, {}, {}}));
  ASSERT_TRUE(reg_->create_thing_group({"other", {}, {}, {}, {}}));
  auto leaf = reg_->describe_thing_group("leaf");
  ASSERT_TRUE(leaf);
  ASSERT_EQ(leaf->root_to_parent.size(), 2u);
  EXPECT_EQ(leaf->root_to_parent[0].name, "root");
  EXPECT_EQ(leaf->root_to_parent[1].name, "mid");

  ASSERT_TRUE(reg_->create_thing({"d1", {}, {}}));
  ASSERT_TRUE(reg_->add_thing_to_group("arn:aws:iot:us-east-1:123456789012:thinggroup/leaf", "d1"));
  EXPECT_EQ(reg_->add_thing_to_group("root", "d1").error().code, make_error_code(errc::invalid_request));
  EXPECT_TRUE(reg_->add_thing_to_group("other", "d1"));
  auto direct = reg_->list_things_in_group("root", false, {});
  ASSERT_TRUE(direct);
  EXPECT_TRUE(direct->items.empty());
  auto recursive = reg_->list_things_in_group("root", true, {});
  ASSERT_TRUE(recursive);
  ASSERT_EQ(recursive->items.size(), 1u);
  EXPECT_EQ(recursive->items[0], "d1");

  EXPECT_EQ(reg_->delete_thing_group("mid", {}).error().code, make_error_code(errc::invalid_request));
  auto all = reg_->list_thing_groups({std::string("root"), {}, true, {}});
  ASSERT_TRUE(all);
  EXPECT_EQ(all->items.size(), 2u);

  ASSERT_TRUE(reg_->update_groups_for_thing("d1", {}, {"leaf", "other"}));
  auto groups = reg_->list_groups_for_thing("d1", {});
  ASSERT_TRUE(groups);
  EXPECT_TRUE(groups->items.empty());
}

TEST_F(registry_test, group_depth_is_limited_to_seven) {
  std::optional<std::string> parent;
  for (int i = 0; i < 7; ++i) {
    std::string name = "g" + std::to_string(i);
    ASSERT_TRUE(reg_->create_thing_group({name, parent, {}, {}, {}})) << i;
    parent = name;
  }
  EXPECT_EQ(reg_->create_thing_group({"g7", parent, {}, {}, {}}).error().code, make_error_code(errc::invalid_request));
}

TEST_F(registry_test, tags_merge_and_are_limited) {
  ASSERT_TRUE(reg_->create_thing_group({"g", {}, {}, {}, {{"a", "1"}}}));
  auto arn = reg_->thing_group_arn("g");
  ASSERT_TRUE(reg_->tag_resource(arn, {{"b", "2"}}));
  auto tags = reg_->list_tags(arn, {});
  ASSERT_TRUE(tags);
  EXPECT_EQ(tags->items.size(), 2u);
  ASSERT_TRUE(reg_->untag_resource(arn, {"a"}));
  tags = reg_->list_tags(arn, {});
  ASSERT_EQ(tags->items.size(), 1u);
  EXPECT_EQ(tags->items[0].first, "b");
  tag_map many;
  for (int i = 0; i < 50; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_EQ(reg_->tag_resource(arn, many).error().code, make_error_code(errc::limit_exceeded));
  EXPECT_EQ(reg_->tag_resource(reg_->thing_group_arn("nope"), {{"a", "b"}}).error().code,
            make_error_code(errc::not_found));
}

}  // namespace
}  // namespace airfleet::registry
