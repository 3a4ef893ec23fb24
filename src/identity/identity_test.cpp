#include "identity/identity.hpp"

#include "identity/authorizer.hpp"

#include "core/crypto.hpp"
#include "storage/schema.hpp"
#include "storage/sqlite_identity_store.hpp"
#include "storage/sqlite_registry_store.hpp"

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <filesystem>

namespace airfleet::identity {
namespace {

constexpr const char* recipe_policy = R"({"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["iot:Connect"],"Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},
 {"Effect":"Allow","Action":["iot:Publish","iot:Subscribe","iot:Receive"],"Resource":[
   "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*",
   "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*"]}]})";

class identity_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("airfleet-identity-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    storage::database::options opts;
    opts.path = (dir_ / "i.db").string();
    auto db = storage::database::open(opts, storage::schema_migrations());
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
    registry_store_ = std::make_unique<storage::sqlite_registry_store>(*db_);
    identity_store_ = std::make_unique<storage::sqlite_identity_store>(*db_);
    registry_ = std::make_unique<registry::registry>(*registry_store_, clock_,
                                                     registry::registry::settings{"123456789012", "us-east-1", "k", {}});
    auto key = pki::generate_key(pki::key_type::ec_p256);
    pki::issue_request req;
    req.common_name = "test root";
    req.public_key = key.get();
    req.ca = true;
    auto ca = pki::issue(req, nullptr, key.get(), clock_.now());
    ASSERT_TRUE(ca);
    root_pem_ = pki::certificate_pem(ca->get());
    identity_ = std::make_unique<identity>(*identity_store_, *registry_, clock_,
                                           identity::settings{"123456789012", "us-east-1", "k", "code"},
                                           std::move(*ca), std::move(key));
  }
  void TearDown() override {
    identity_.reset();
    registry_.reset();
    identity_store_.reset();
    registry_store_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  core::manual_clock clock_{std::chrono::system_clock::now()};
  std::unique_ptr<storage::database> db_;
  std::unique_ptr<storage::sqlite_registry_store> registry_store_;
  std::unique_ptr<storage::sqlite_identity_store> identity_store_;
  std::unique_ptr<registry::registry> registry_;
  std::unique_ptr<identity> identity_;
  std::string root_pem_;
};

TEST_F(identity_test, issued_certificates_chain_to_the_root_and_are_named_by_their_der_hash) {
  auto made = identity_->create_keys_and_certificate(true);
  ASSERT_TRUE(made) << made.error().message;
  auto cert = pki::read_certificate(made->cert.pem);
  auto root = pki::read_certificate(root_pem_);
  ASSERT_TRUE(cert && root);
  EXPECT_TRUE(pki::signed_by(cert->get(), root->get()));
  unsigned char* der = nullptr;
  int len = i2d_X509(cert->get(), &der);
  EXPECT_EQ(made->cert.id, core::sha256_hex(std::string_view(reinterpret_cast<char*>(der), static_cast<std::size_t>(len))));
  OPENSSL_free(der);
  EXPECT_EQ(made->cert.arn, "arn:aws:iot:us-east-1:123456789012:cert/" + made->cert.id);
  EXPECT_EQ(made->cert.status, "ACTIVE");
  auto key = pki::read_private_key(made->private_key_pem);
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_check_private_key(cert->get(), key->get()), 1);
}

TEST_F(identity_test, status_transitions_and_delete_rules) {
  auto made = identity_->create_keys_and_certificate(true);
  ASSERT_TRUE(made);
  auto id = made->cert.id;
  EXPECT_EQ(identity_->delete_certificate(id, false).error().code, make_error_code(errc::certificate_state));
  ASSERT_TRUE(identity_->update_certificate(id, "INACTIVE"));
  ASSERT_TRUE(identity_->create_policy("p", recipe_policy));
  ASSERT_TRUE(identity_->attach_policy("p", made->cert.arn));
  EXPECT_EQ(identity_->delete_certificate(id, false).error().code, make_error_code(errc::delete_conflict));
  ASSERT_TRUE(registry_->create_thing({"dev-1", {}, {}}));
  ASSERT_TRUE(identity_->attach_thing_principal("dev-1", made->cert.arn));
  EXPECT_EQ(identity_->delete_certificate(id, true).error().code, make_error_code(errc::delete_conflict));
  EXPECT_EQ(registry_->delete_thing("dev-1", std::nullopt).error().code,
            registry::make_error_code(registry::errc::invalid_request));  // still has a principal
  ASSERT_TRUE(identity_->detach_thing_principal("dev-1", made->cert.arn));
  EXPECT_TRUE(registry_->delete_thing("dev-1", std::nullopt));
  EXPECT_TRUE(identity_->delete_certificate(id, true));  // force detaches the policy
  EXPECT_EQ(identity_->describe_certificate(id).error().code, make_error_code(errc::not_found));
  EXPECT_TRUE(identity_->delete_policy("p"));  // no longer attached anywhere

  auto other = identity_->create_keys_and_certificate(false);
  ASSERT_TRUE(other);
  ASSERT_TRUE(identity_->update_certificate(other->cert.id, "REVOKED"));
  EXPECT_EQ(identity_->update_certificate(other->cert.id, "ACTIVE").error().code, make_error_code(errc::certificate_state));
  EXPECT_EQ(identity_->update_certificate(other->cert.id, "PENDING_TRANSFER").error().code,
            make_error_code(errc::invalid_request));
}

TEST_F(identity_test, policy_versions_are_limited_and_the_default_is_protected) {
  ASSERT_TRUE(identity_->create_policy("p", recipe_policy));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(identity_->create_policy_version("p", recipe_policy, i == 3));
  EXPECT_EQ(identity_->create_policy_version("p", recipe_policy, false).error().code,
            make_error_code(errc::versions_limit_exceeded));
  auto p = identity_->get_policy("p");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->default_version, 5);
  EXPECT_EQ(identity_->delete_policy_version("p", "5").error().code, make_error_code(errc::delete_conflict));
  EXPECT_EQ(identity_->delete_policy("p").error().code, make_error_code(errc::delete_conflict));
  for (auto v : {"1", "2", "3", "4"}) ASSERT_TRUE(identity_->delete_policy_version("p", v));
  EXPECT_TRUE(identity_->delete_policy("p"));
  EXPECT_EQ(identity_->create_policy("bad", "{not json").error().code, make_error_code(errc::malformed_policy));
}

TEST_F(identity_test, test_authorization_judges_the_recipe_policy_per_device) {
  ASSERT_TRUE(identity_->create_policy("device", recipe_policy));
  std::vector<std::string> arns;
  for (auto name : {"dev-1", "dev-2"}) {
    ASSERT_TRUE(registry_->create_thing({name, {}, {}}));
    auto made = identity_->create_keys_and_certificate(true);
    ASSERT_TRUE(made);
    ASSERT_TRUE(identity_->attach_policy("device", made->cert.arn));
    ASSERT_TRUE(identity_->attach_thing_principal(name, made->cert.arn));
    arns.push_back(made->cert.arn);
  }
  auto topic = [](const std::string& thing) {
    return "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/" + thing + "/jobs/get";
  };
  auto results = identity_->test_authorization(
      arns[0], std::string("dev-1"),
      {{"PUBLISH", {topic("dev-1")}}, {"PUBLISH", {topic("dev-2")}},
       {"CONNECT", {"arn:aws:iot:us-east-1:123456789012:client/dev-1"}}},
      {}, {});
  ASSERT_TRUE(results) << results.error().message;
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ((*results)[0].decision, policy::decision::allowed);
  EXPECT_EQ((*results)[0].allowed_by, std::vector<std::string>{"device"});
  EXPECT_EQ((*results)[1].decision, policy::decision::implicit_deny);
  EXPECT_EQ((*results)[2].decision, policy::decision::allowed);

  // Claiming dev-2's client id with dev-1's certificate resolves no thing variable.
  auto spoof = identity_->test_authorization(arns[0], std::string("dev-2"), {{"PUBLISH", {topic("dev-2")}}}, {}, {});
  ASSERT_TRUE(spoof);
  EXPECT_EQ((*spoof)[0].decision, policy::decision::implicit_deny);

  // An explicit deny on a group of the thing wins; skipping it restores the allow.
  ASSERT_TRUE(registry_->create_thing_group({"fleet", {}, {}, {}, {}}));
  ASSERT_TRUE(registry_->add_thing_to_group("fleet", "dev-1"));
  ASSERT_TRUE(identity_->create_policy(
      "deny", R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:*","Resource":"*"}]})"));
  ASSERT_TRUE(identity_->attach_policy("deny", registry_->thing_group_arn("fleet")));
  auto denied = identity_->test_authorization(arns[0], std::string("dev-1"), {{"PUBLISH", {topic("dev-1")}}}, {}, {});
  ASSERT_TRUE(denied);
  EXPECT_EQ((*denied)[0].decision, policy::decision::explicit_deny);
  EXPECT_EQ((*denied)[0].explicitly_denied_by, std::vector<std::string>{"deny"});
  auto skipped = identity_->test_authorization(arns[0], std::string("dev-1"), {{"PUBLISH", {topic("dev-1")}}}, {}, {"deny"});
  ASSERT_TRUE(skipped);
  EXPECT_EQ((*skipped)[0].decision, policy::decision::allowed);
}

TEST_F(identity_test, only_active_known_valid_certificates_are_identities) {
  auto made = identity_->create_keys_and_certificate(true);
  ASSERT_TRUE(made);
  auto cert = pki::read_certificate(made->cert.pem);
  ASSERT_TRUE(cert);
  EXPECT_TRUE(identity_->validate_device_certificate(cert->get()));
  ASSERT_TRUE(identity_->update_certificate(made->cert.id, "INACTIVE"));
  EXPECT_EQ(identity_->validate_device_certificate(cert->get()).error().code, make_error_code(errc::certificate_state));
  ASSERT_TRUE(identity_->update_certificate(made->cert.id, "REVOKED"));
  EXPECT_EQ(identity_->validate_device_certificate(cert->get()).error().code, make_error_code(errc::certificate_state));

  // Expired: an ACTIVE certificate seen after its notAfter.
  auto later = identity_->create_keys_and_certificate(true);
  ASSERT_TRUE(later);
  auto later_cert = pki::read_certificate(later->cert.pem);
  clock_.advance(std::chrono::hours(24 * 365 * 26));
  EXPECT_EQ(identity_->validate_device_certificate(later_cert->get()).error().code,
            make_error_code(errc::certificate_state));

  // Foreign: signed by someone else's CA and never registered.
  auto key = pki::generate_key(pki::key_type::ec_p256);
  pki::issue_request req;
  req.common_name = "stranger";
  req.public_key = key.get();
  auto foreign = pki::issue(req, nullptr, key.get(), clock_.now());
  ASSERT_TRUE(foreign);
  EXPECT_EQ(identity_->validate_device_certificate(foreign->get()).error().code, make_error_code(errc::not_found));
}

TEST_F(identity_test, a_connection_authorizer_judges_packets_and_follows_changes) {
  ASSERT_TRUE(identity_->create_policy("device", recipe_policy));
  ASSERT_TRUE(registry_->create_thing({"dev-1", {}, {}}));
  auto made = identity_->create_keys_and_certificate(true);
  ASSERT_TRUE(made);
  ASSERT_TRUE(identity_->attach_policy("device", made->cert.arn));
  ASSERT_TRUE(identity_->attach_thing_principal("dev-1", made->cert.arn));

  connection_authorizer authority(*identity_, made->cert, "dev-1");
  EXPECT_EQ(authority.authorize("iot:Connect", "client", "dev-1"), policy::decision::implicit_deny);  // not resolved yet
  ASSERT_TRUE(authority.refresh());
  EXPECT_EQ(authority.authorize("iot:Connect", "client", "dev-1"), policy::decision::allowed);
  EXPECT_EQ(authority.authorize("iot:Publish", "topic", "$aws/things/dev-1/jobs/get"), policy::decision::allowed);
  EXPECT_EQ(authority.authorize("iot:Subscribe", "topicfilter", "$aws/things/dev-1/jobs/notify-next"),
            policy::decision::allowed);
  EXPECT_EQ(authority.authorize("iot:Publish", "topic", "$aws/things/dev-2/jobs/get"), policy::decision::implicit_deny);

  // Decisions follow changes only after refresh(), which the broker calls on identity events.
  ASSERT_TRUE(identity_->detach_policy("device", made->cert.arn));
  EXPECT_EQ(authority.authorize("iot:Publish", "topic", "$aws/things/dev-1/jobs/get"), policy::decision::allowed);
  ASSERT_TRUE(authority.refresh());
  EXPECT_EQ(authority.authorize("iot:Publish", "topic", "$aws/things/dev-1/jobs/get"), policy::decision::implicit_deny);

  ASSERT_TRUE(identity_->update_certificate(made->cert.id, "INACTIVE"));
  auto dropped = authority.refresh();
  ASSERT_FALSE(dropped);
  EXPECT_EQ(dropped.error().code, make_error_code(errc::certificate_state));
}

TEST_F(identity_test, changes_are_announced) {
  std::vector<identity_event::kind> seen;
  identity_->subscribe([&](const identity_event& e) { seen.push_back(e.what); });
  auto made = identity_->create_keys_and_certificate(true);
  ASSERT_TRUE(made);
  ASSERT_TRUE(identity_->create_policy("p", recipe_policy));
  ASSERT_TRUE(identity_->attach_policy("p", made->cert.arn));
  ASSERT_TRUE(identity_->update_certificate(made->cert.id, "INACTIVE"));
  ASSERT_TRUE(registry_->create_thing({"t", {}, {}}));
  ASSERT_TRUE(identity_->attach_thing_principal("t", made->cert.arn));
  ASSERT_TRUE(identity_->create_policy_version("p", recipe_policy, true));
  using k = identity_event::kind;
  EXPECT_EQ(seen, (std::vector<k>{k::certificate_changed, k::attachment_changed, k::certificate_changed,
                                  k::principal_changed, k::policy_changed}));
}

}  // namespace
}  // namespace airfleet::identity
