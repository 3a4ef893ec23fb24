#include "auth/presign.hpp"

#include "core/crypto.hpp"
#include "core/strings.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace airfleet::auth {

namespace {

std::vector<std::pair<std::string, std::string>> query_params(std::string_view target) {
  std::vector<std::pair<std::string, std::string>> out;
  auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  for (auto part : core::split(target.substr(q + 1), '&')) {
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto name = core::uri_decode(part.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::optional<std::string>("") : core::uri_decode(part.substr(eq + 1));
    if (name && value) out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

// The sub-resources SigV2 signs, in the order S3 sorts them.
constexpr std::array<std::string_view, 26> sub_resources = {
    "acl", "cors", "delete", "encryption", "lifecycle", "location", "logging", "notification", "partNumber",
    "policy", "requestPayment", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-content-type", "response-expires",
    "restore", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website"};

}  // namespace

std::optional<sigv2_claim> parse_sigv2_query(std::string_view target) {
  sigv2_claim c;
  bool have_key = false, have_sig = false, have_expires = false;
  for (auto& [k, v] : query_params(target)) {
    if (k == "AWSAccessKeyId") {
      c.access_key_id = v;
      have_key = true;
    } else if (k == "Signature") {
      c.signature = v;
      have_sig = true;
    } else if (k == "Expires") {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), c.expires);
      have_expires = ec == std::errc{} && p == v.data() + v.size();
    }
  }
  if (!have_key || !have_sig) return std::nullopt;
  if (!have_expires) c.expires = -1;
  return c;
}

core::result<void> verify_sigv2(const signed_request& request, const sigv2_claim& claim, std::string_view secret,
                                core::time_point now) {
  if (claim.expires < 0)
    return core::make_error(errc::incomplete_signature, "Query-string authentication requires the Expires parameter");
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (now_s > claim.expires) return core::make_error(errc::request_expired, "Request has expired");
  std::string to_sign(request.method);
  to_sign += '\n';
  to_sign += std::string(request.header("content-md5").value_or("")) + '\n';
  to_sign += std::string(request.header("content-type").value_or("")) + '\n';
  to_sign += std::to_string(claim.expires) + '\n';
  std::vector<std::pair<std::string, std::string>> amz;
  for (const auto& [k, v] : request.headers) {
    auto name = core::to_lower(k);
    if (name.rfind("x-amz-", 0) == 0) amz.emplace_back(std::move(name), std::string(core::trim(v)));
  }
  std::stable_sort(amz.begin(), amz.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < amz.size(); ++i) {
    if (i > 0 && amz[i].first == amz[i - 1].first) {
      to_sign.back() = ',';
      to_sign += amz[i].second + '\n';
      continue;
    }
    to_sign += amz[i].first + ':' + amz[i].second + '\n';
  }
  auto target = request.target;
  auto q = target.find('?');
  to_sign += std::string(target.substr(0, q));
  auto params = query_params(target);
  std::vector<std::pair<std::string, std::string>> subs;
  for (const auto& [k, v] : params)
    if (std::find(sub_resources.begin(), sub_resources.end(), k) != sub_resources.end()) subs.emplace_back(k, v);
  std::stable_sort(subs.begin(), subs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < subs.size(); ++i) {
    to_sign += i == 0 ? '?' : '&';
    to_sign += subs[i].first;
    if (!subs[i].second.empty()) to_sign += '=' + subs[i].second;
  }
  auto expected = core::base64_encode(core::hmac_sha1(secret, to_sign));
  if (!core::constant_time_equal(expected, claim.signature))
    return core::make_error(errc::invalid_signature,
                            "The request signature we calculated does not match the signature you provided. "
                            "Check your key and signing method.");
  return {};
}

namespace {

// With `derived_key` empty, the key is derived from r.secret.
std::string presign_v4_with(const presign_request& r, core::time_point now, const std::string& derived_key) {
  credential_claim claim;
  claim.access_key_id = r.access_key_id;
  claim.amz_date = core::format_amz_date(now);
  claim.date = claim.amz_date.substr(0, 8);
  claim.region = r.region;
  claim.service = "s3";
  claim.signed_headers = {"host"};
  claim.presigned = true;
  claim.expires_seconds = r.expires_seconds;
  auto scheme_end = r.base_url.find("://");
  std::string host = scheme_end == std::string::npos ? r.base_url : r.base_url.substr(scheme_end + 3);
  std::string query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" +
                      core::uri_encode(r.access_key_id + "/" + claim.date + "/" + r.region + "/s3/aws4_request") +
                      "&X-Amz-Date=" + claim.amz_date + "&X-Amz-Expires=" + std::to_string(r.expires_seconds) +
                      "&X-Amz-SignedHeaders=host";
  std::string target = r.path + "?" + query;
  signed_request req;
  req.method = r.method;
  req.target = target;
  req.headers.emplace_back("host", host);
  auto canonical = canonical_request(req, claim, "UNSIGNED-PAYLOAD");
  auto signature = derived_key.empty() ? sign(claim, canonical, r.secret) : sign_with_key(claim, canonical, derived_key);
  return r.base_url + target + "&X-Amz-Signature=" + signature;
}

}  // namespace

std::string presign_v4(const presign_request& r, core::time_point now) { return presign_v4_with(r, now, {}); }

presigner::presigner(std::string access_key_id, std::string secret, std::string region)
    : access_key_id_(std::move(access_key_id)), secret_(std::move(secret)), region_(std::move(region)) {}

std::string presigner::presign(presign_request r, core::time_point now) {
  r.access_key_id = access_key_id_;
  r.secret = secret_;
  r.region = region_;
  const std::string date = core::format_amz_date(now).substr(0, 8);
  std::string key;
  {
    std::lock_guard lock(mutex_);
    if (date_ != date) {
      key_ = signing_key(secret_, date, region_, "s3");
      date_ = date;
    }
    key = key_;
  }
  return presign_v4_with(r, now, key);
}

}  // namespace airfleet::auth
