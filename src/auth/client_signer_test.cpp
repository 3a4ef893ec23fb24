// The client signer against AWS's published test-suite signatures, and
// against the server's own verifier; the credentials-file reader.
#include "auth/client_signer.hpp"

#include "auth/sigv4.hpp"
#include "core/crypto.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace airfleet::auth {
namespace {

const client_credentials suite_key{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1"};

core::time_point suite_time() { return *core::parse_amz_date("20150830T123600Z"); }

// aws-sig-v4-test-suite "post-vanilla-query" (see testdata/sigv4_vectors.json).
TEST(client_signer, matches_the_aws_test_suite) {
  request_to_sign r{"POST", "/?Param1=value1", {{"Host", "example.amazonaws.com"}}, core::sha256_hex("")};
  const auto authorization = sign_request(r, suite_key, "service", suite_time());
  EXPECT_EQ(authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11");
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[1], (std::pair<std::string, std::string>{"x-amz-date", "20150830T123600Z"}));
}

// "get-vanilla", with the header names in another case: names are signed lower case.
TEST(client_signer, signs_header_names_in_lower_case) {
  request_to_sign r{"GET", "/", {{"HOST", "example.amazonaws.com"}}, core::sha256_hex("")};
  EXPECT_NE(sign_request(r, suite_key, "service", suite_time())
                .find("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            std::string::npos);
}

// What the client signs, the server's verifier accepts; one changed byte it refuses.
TEST(client_signer, the_server_verifies_what_it_signs) {
  for (std::string service : {"execute-api", "s3"}) {
    const std::string body = R"({"thingGroupName":"g","thingName":"t"})";
    request_to_sign r{"PUT", "/thing-groups/addThingToThingGroup",
                      {{"host", "127.0.0.1:8080"}, {"content-type", "application/json"}},
                      core::sha256_hex(body)};
    const auto now = core::system_clock().now();
    const auto authorization = sign_request(r, suite_key, service, now);
    r.headers.emplace_back("authorization", authorization);
    signed_request sr;
    sr.method = r.method;
    sr.target = r.target;
    for (const auto& [k, v] : r.headers) sr.headers.emplace_back(k, v);
    sr.body = body;
    auto claim = parse_claim(sr);
    ASSERT_TRUE(claim) << claim.error().message;
    EXPECT_EQ(claim->service, service);
    EXPECT_TRUE(verify(sr, *claim, suite_key.secret_access_key, now)) << service;
    if (service == "s3") {
      EXPECT_TRUE(sr.header("x-amz-content-sha256"));
    }
    const std::string tampered = R"({"thingGroupName":"g","thingName":"u"})";
    sr.body = tampered;
    if (service != "s3") {  // S3 signs the payload hash header, not the body
      EXPECT_FALSE(verify(sr, *claim, suite_key.secret_access_key, now));
    }
  }
}

class credentials_file : public ::testing::Test {
 protected:
  void write(const std::string& text) {
    std::ofstream(path_) << text;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_ = ::testing::TempDir() + "/airfleet-credentials-test";
};

TEST_F(credentials_file, reads_the_profile_asked_for) {
  write("# written by airfleet\n[other]\naws_access_key_id = A\naws_secret_access_key = B\n\n"
        "[default]\naws_access_key_id=AKIA1\n aws_secret_access_key = s3cr3t \nregion = eu-west-1\n");
  auto c = read_shared_credentials(path_);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->access_key_id, "AKIA1");
  EXPECT_EQ(c->secret_access_key, "s3cr3t");
  EXPECT_EQ(c->region, "eu-west-1");
  auto other = read_shared_credentials(path_, "other");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->access_key_id, "A");
  EXPECT_EQ(other->region, "");
}

TEST_F(credentials_file, says_what_is_missing) {
  write("[default]\naws_access_key_id = A\n");
  auto c = read_shared_credentials(path_);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("aws_secret_access_key"), std::string::npos);
  EXPECT_FALSE(read_shared_credentials(path_, "nope"));
  EXPECT_FALSE(read_shared_credentials(path_ + ".absent"));
}

}  // namespace
}  // namespace airfleet::auth
