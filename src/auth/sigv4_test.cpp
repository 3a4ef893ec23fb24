// The verifier against AWS's published SigV4 test vectors (the generic
// aws-sig-v4-test-suite, the S3 documentation's worked examples and its
// presigned-URL example); testdata/sigv4_vectors.json says where each came from.
#include "auth/sigv4.hpp"

#include "core/crypto.hpp"
#include "core/strings.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace airfleet::auth {
namespace {

namespace json = boost::json;

struct vector_case {
  std::string name;
  bool s3 = false;
  bool presigned = false;
  std::string method, target, body, secret, authorization, expected_signature;
  std::optional<std::string> expected_canonical, expected_string_to_sign;
  std::vector<std::pair<std::string, std::string>> headers;
};

void PrintTo(const vector_case& v, std::ostream* os) { *os << v.name; }

std::vector<vector_case> load_vectors() {
  std::ifstream in(AIRFLEET_SIGV4_VECTORS);
  std::stringstream text;
  text << in.rdbuf();
  std::vector<vector_case> out;
  const json::value all = json::parse(text.str());
  for (const auto& item : all.as_array()) {
    const auto& o = item.as_object();
    vector_case v;
    v.name = json::value_to<std::string>(o.at("name"));
    v.s3 = o.at("s3").as_bool();
    v.presigned = o.at("presigned").as_bool();
    v.method = json::value_to<std::string>(o.at("method"));
    v.target = json::value_to<std::string>(o.at("wire_target"));
    v.body = json::value_to<std::string>(o.at("body"));
    v.secret = json::value_to<std::string>(o.at("secret_key"));
    v.expected_signature = json::value_to<std::string>(o.at("expected_signature"));
    if (auto* a = o.if_contains("authorization")) v.authorization = json::value_to<std::string>(*a);
    if (!o.at("expected_canonical_request").is_null())
      v.expected_canonical = json::value_to<std::string>(o.at("expected_canonical_request"));
    if (!o.at("expected_string_to_sign").is_null())
      v.expected_string_to_sign = json::value_to<std::string>(o.at("expected_string_to_sign"));
    for (const auto& h : o.at("headers").as_array())
      v.headers.emplace_back(json::value_to<std::string>(h.as_array()[0]), json::value_to<std::string>(h.as_array()[1]));
    out.push_back(std::move(v));
  }
  return out;
}

signed_request make_request(const vector_case& v) {
  signed_request r;
  r.method = v.method;
  r.target = v.target;
  for (const auto& [k, val] : v.headers) r.headers.emplace_back(k, val);
  if (!v.authorization.empty()) r.headers.emplace_back("Authorization", v.authorization);
  r.body = v.body;
  return r;
}

class sigv4_vectors : public ::testing::TestWithParam<vector_case> {};

TEST_P(sigv4_vectors, verifies_and_matches_the_published_canonical_forms) {
  const auto& v = GetParam();
  auto request = make_request(v);
  auto claim = parse_claim(request);
  ASSERT_TRUE(claim) << claim.error().message;
  EXPECT_EQ(claim->signature, v.expected_signature);
  auto now = core::parse_amz_date(claim->amz_date);
  ASSERT_TRUE(now);

  std::string payload_hash;
  if (auto declared = request.header("x-amz-content-sha256")) payload_hash = std::string(core::trim(*declared));
  else if (v.s3 && v.presigned) payload_hash = "UNSIGNED-PAYLOAD";
  else payload_hash = core::sha256_hex(v.body);
  auto canonical = canonical_request(request, *claim, payload_hash);
  if (v.expected_canonical) {
    EXPECT_EQ(canonical, *v.expected_canonical);
  }
  if (v.expected_string_to_sign) {
    EXPECT_EQ(string_to_sign(*claim, canonical), *v.expected_string_to_sign);
  }

  auto ok = verify(request, *claim, v.secret, *now);
  EXPECT_TRUE(ok) << (ok ? "" : ok.error().message);

  // Any other secret must fail.
  std::string wrong = v.secret;
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  auto bad = verify(request, *claim, wrong, *now);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, make_error_code(errc::invalid_signature));
}

INSTANTIATE_TEST_SUITE_P(aws, sigv4_vectors, ::testing::ValuesIn(load_vectors()),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// A request signed by botocore 1.29 (SigV4Auth, service execute-api) for
// GET /things/th%3Aing_1-x?maxResults=2 — the IoT control plane's double
// encoding of an already-encoded path.
TEST(sigv4, iot_paths_are_encoded_twice) {
  EXPECT_EQ(canonical_uri("/things/th%3Aing_1-x", false), "/things/th%253Aing_1-x");
  EXPECT_EQ(canonical_uri("/topics/dt%2Fdev1%2Ftele", false), "/topics/dt%252Fdev1%252Ftele");
  EXPECT_EQ(canonical_uri("/bucket/a%20b", true), "/bucket/a%20b");
}

TEST(sigv4, canonical_query_sorts_and_reencodes) {
  EXPECT_EQ(canonical_query("b=2&a=1&uploads", false).value(), "a=1&b=2&uploads=");
  EXPECT_EQ(canonical_query("prefix=dir%2F&delimiter=%2F", false).value(), "delimiter=%2F&prefix=dir%2F");
  EXPECT_EQ(canonical_query("X-Amz-Signature=abc&a=1", true).value(), "a=1");
  EXPECT_FALSE(canonical_query("a=%zz", false).has_value());
}

class sigv4_rules : public ::testing::Test {
 protected:
  // Signs a GET with our own signer and returns the request pieces.
  void sign_at(const std::string& amz_date) {
    amz_date_ = amz_date;
    headers_ = {{"Host", "127.0.0.1:8080"}, {"X-Amz-Date", amz_date_}};
    credential_claim claim;
    claim.access_key_id = "AKID";
    claim.date = amz_date_.substr(0, 8);
    claim.region = "eu-west-1";
    claim.service = "execute-api";
    claim.amz_date = amz_date_;
    claim.signed_headers = {"host", "x-amz-date"};
    signed_request r = request();
    auto sig = sign(claim, canonical_request(r, claim, core::sha256_hex("")), "secret");
    authorization_ = "AWS4-HMAC-SHA256 Credential=AKID/" + claim.date +
                     "/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig;
  }
  signed_request request() {
    signed_request r;
    r.method = "GET";
    r.target = "/things";
    for (auto& [k, v] : headers_) r.headers.emplace_back(k, v);
    if (!authorization_.empty()) r.headers.emplace_back("Authorization", authorization_);
    r.body = std::string_view{};
    return r;
  }
  std::string amz_date_, authorization_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

TEST_F(sigv4_rules, accepts_any_region_and_rejects_skew_over_fifteen_minutes) {
  sign_at("20261126T133607Z");
  auto r = request();
  auto claim = parse_claim(r);
  ASSERT_TRUE(claim);
  EXPECT_EQ(claim->service, "execute-api");
  auto t = *core::parse_amz_date("20261126T133607Z");
  EXPECT_TRUE(verify(r, *claim, "secret", t + std::chrono::minutes(14)));
  auto late = verify(r, *claim, "secret", t + std::chrono::minutes(16));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, make_error_code(errc::signature_expired));
  EXPECT_NE(late.error().message.find("Signature expired"), std::string::npos);
  EXPECT_FALSE(verify(r, *claim, "secret", t - std::chrono::minutes(16)));
}

TEST_F(sigv4_rules, a_tampered_body_or_header_fails) {
  sign_at("20261126T133607Z");
  auto t = *core::parse_amz_date("20261126T133607Z");
  auto r = request();
  r.body = std::string_view("{}");
  auto claim = parse_claim(r);
  ASSERT_TRUE(claim);
  EXPECT_EQ(verify(r, *claim, "secret", t).error().code, make_error_code(errc::invalid_signature));
  headers_[0].second = "evil.example:8080";
  auto r2 = request();
  EXPECT_FALSE(verify(r2, *parse_claim(r2), "secret", t));
}

TEST(sigv4, missing_or_malformed_authorization_is_reported_as_such) {
  signed_request none;
  none.method = "GET";
  none.target = "/things";
  EXPECT_EQ(parse_claim(none).error().code, make_error_code(errc::missing_authentication));
  signed_request junk = none;
  junk.headers = {{"Authorization", "AWS4-HMAC-SHA256 Credential=x"}};
  EXPECT_EQ(parse_claim(junk).error().code, make_error_code(errc::incomplete_signature));
  signed_request bad_scope = none;
  bad_scope.headers = {{"Authorization", "AWS4-HMAC-SHA256 Credential=AKID/2026/us-east-1/iot, SignedHeaders=host, Signature=00"},
                       {"X-Amz-Date", "20261126T133607Z"}};
  EXPECT_EQ(parse_claim(bad_scope).error().code, make_error_code(errc::incomplete_signature));
}

}  // namespace
}  // namespace airfleet::auth
