#include "auth/presign.hpp"

#include <gtest/gtest.h>

namespace airfleet::auth {
namespace {

// A boto3 1.26 generate_presigned_url (SigV2) captured on the wire
// (shared/notes/aws-wire-format.md §5), with the notes' example key.
constexpr std::string_view secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr std::string_view captured =
    "/bb/dir/x.bin?AWSAccessKeyId=AKIDEXAMPLE&Signature=hIrvx%2Bkm9juOUSZezWkB84mu0tA%3D&Expires=1795700911";

signed_request get(std::string_view target) {
  signed_request r;
  r.method = "GET";
  r.target = target;
  r.headers = {{"Host", "127.0.0.1:8765"}};
  return r;
}

core::time_point at(std::int64_t s) { return core::time_point(std::chrono::seconds(s)); }

TEST(SigV2, VerifiesBoto3sPresignedUrl) {
  auto claim = parse_sigv2_query(captured);
  ASSERT_TRUE(claim);
  EXPECT_EQ(claim->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(claim->expires, 1795700911);
  auto ok = verify_sigv2(get(captured), *claim, secret, at(1795700000));
  EXPECT_TRUE(ok) << ok.error().message;
}

TEST(SigV2, RefusesExpiredTamperedOrWrongKey) {
  auto claim = parse_sigv2_query(captured);
  ASSERT_TRUE(claim);
  auto expired = verify_sigv2(get(captured), *claim, secret, at(1795700912));
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, make_error_code(errc::request_expired));
  std::string other(captured);
  other.replace(other.find("x.bin"), 5, "y.bin");
  auto tampered = verify_sigv2(get(other), *claim, secret, at(1795700000));
  ASSERT_FALSE(tampered);
  EXPECT_EQ(tampered.error().code, make_error_code(errc::invalid_signature));
  signed_request put = get(captured);
  put.method = "PUT";
  EXPECT_FALSE(verify_sigv2(put, *claim, secret, at(1795700000)));
  EXPECT_FALSE(verify_sigv2(get(captured), *claim, "another secret", at(1795700000)));
}

TEST(SigV2, OnlyWithItsParameters) {
  EXPECT_FALSE(parse_sigv2_query("/bb/x?X-Amz-Signature=abc"));
  EXPECT_FALSE(parse_sigv2_query("/bb/x"));
}

TEST(PresignV4, ProducesAUrlTheVerifierAccepts) {
  presign_request r;
  r.base_url = "http://devices.example:8080";
  r.path = "/firmware/dir/fw%201.bin";
  r.access_key_id = "AKIDEXAMPLE";
  r.secret = std::string(secret);
  r.region = "eu-west-1";
  r.expires_seconds = 600;
  auto now = at(1795700000);
  auto url = presign_v4(r, now);
  ASSERT_EQ(url.rfind(r.base_url, 0), 0u);
  auto target = url.substr(r.base_url.size());
  signed_request req;
  req.method = "GET";
  req.target = target;
  req.headers = {{"host", "devices.example:8080"}};
  auto claim = parse_claim(req);
  ASSERT_TRUE(claim) << claim.error().message;
  EXPECT_EQ(claim->service, "s3");
  EXPECT_EQ(claim->region, "eu-west-1");
  EXPECT_TRUE(verify(req, *claim, secret, now + std::chrono::seconds(599)));
  auto late = verify(req, *claim, secret, now + std::chrono::seconds(601));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, make_error_code(errc::request_expired));
  req.headers = {{"host", "elsewhere:8080"}};
  EXPECT_FALSE(verify(req, *claim, secret, now));
}

// The presigner's cached day key gives the same URLs as deriving it each
// time, across a change of day.
TEST(PresignV4, PresignerMatchesPresignAcrossDays) {
  presigner p("AKIDEXAMPLE", std::string(secret), "eu-west-1");
  presign_request r;
  r.base_url = "http://devices.example:8080";
  r.path = "/firmware/fw.bin";
  r.expires_seconds = 3600;
  for (auto when : {at(1795700000), at(1795700000 + 60), at(1795700000 + 86400), at(1795700000)}) {
    auto plain = r;
    plain.access_key_id = "AKIDEXAMPLE";
    plain.secret = std::string(secret);
    plain.region = "eu-west-1";
    EXPECT_EQ(p.presign(r, when), presign_v4(plain, when));
  }
}

}  // namespace
}  // namespace airfleet::auth
