#include "auth/sigv4.hpp"

#include "core/crypto.hpp"
#include "core/strings.hpp"

#include <algorithm>

namespace airfleet::auth {

namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.auth"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::missing_authentication: return "missing authentication token";
      case errc::incomplete_signature: return "incomplete signature";
      case errc::unrecognized_client: return "unrecognized client";
      case errc::invalid_signature: return "invalid signature";
      case errc::signature_expired: return "signature expired";
      case errc::request_expired: return "request expired";
      case errc::throttled: return "rate exceeded";
    }
    return "unknown auth error";
  }
};

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view unsigned_payload = "UNSIGNED-PAYLOAD";

core::error incomplete(std::string message) {
  return core::make_error(errc::incomplete_signature, std::move(message));
}

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

// Decoded query parameters in wire order.
std::optional<std::vector<std::pair<std::string, std::string>>> decode_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  if (query.empty()) return out;
  for (auto part : core::split(query, '&')) {
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto name = core::uri_decode(part.substr(0, eq));
    auto value = core::uri_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

core::result<void> parse_credential(std::string_view credential, credential_claim& claim) {
  auto parts = core::split(credential, '/');
  if (parts.size() != 5 || parts[4] != "aws4_request" || parts[1].size() != 8)
    return incomplete("Credential should be scoped to a valid region, service and date: '" +
                      std::string(credential) + "'");
  claim.access_key_id = std::string(parts[0]);
  claim.date = std::string(parts[1]);
  claim.region = std::string(parts[2]);
  claim.service = std::string(parts[3]);
  if (claim.access_key_id.empty() || claim.region.empty() || claim.service.empty())
    return incomplete("Credential has an empty access key, region or service");
  return {};
}

std::vector<std::string> split_signed_headers(std::string_view text) {
  std::vector<std::string> out;
  for (auto h : core::split(text, ';'))
    if (!h.empty()) out.push_back(core::to_lower(h));
  return out;
}

// RFC 3986 remove_dot_segments plus collapsing repeated slashes, as AWS does
// for every service but S3.
std::string normalize_path(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> out;
  for (auto segment : core::split(path, '/')) {
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(segment);
  }
  std::string result = path.front() == '/' ? "/" : "";
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i) result += '/';
    result += out[i];
  }
  if (path.back() == '/' && !out.empty()) result += '/';
  return result;
}
}  // namespace

std::error_code make_error_code(errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

std::optional<std::string_view> signed_request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (core::iequals(k, name)) return v;
  return std::nullopt;
}

core::result<credential_claim> parse_claim(const signed_request& request) {
  credential_claim claim;
  if (auto authorization = request.header("authorization")) {
    auto text = core::trim(*authorization);
    if (!core::starts_with(text, algorithm))
      return incomplete("Authorization header requires the AWS4-HMAC-SHA256 algorithm");
    text.remove_prefix(algorithm.size());
    std::optional<std::string_view> credential, signed_headers, signature;
    for (auto item : core::split(text, ',')) {
      item = core::trim(item);
      auto eq = item.find('=');
      if (eq == std::string_view::npos) continue;
      auto key = core::trim(item.substr(0, eq));
      auto value = core::trim(item.substr(eq + 1));
      if (key == "Credential") credential = value;
      else if (key == "SignedHeaders") signed_headers = value;
      else if (key == "Signature") signature = value;
    }
    if (!credential || !signed_headers || !signature)
      return incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'");
    if (auto r = parse_credential(*credential, claim); !r) return r.error();
    claim.signed_headers = split_signed_headers(*signed_headers);
    claim.signature = std::string(*signature);
    auto date = request.header("x-amz-date");
    if (!date) return incomplete("Authorization header requires an X-Amz-Date header");
    claim.amz_date = std::string(core::trim(*date));
    return claim;
  }

  auto [path, query] = split_target(request.target);
  auto params = decode_query(query);
  if (!params) return incomplete("The query string is not valid percent-encoding");
  auto get = [&](std::string_view name) -> std::optional<std::string> {
    for (const auto& [k, v] : *params)
      if (k == name) return v;
    return std::nullopt;
  };
  auto alg = get("X-Amz-Algorithm");
  if (!alg) return core::make_error(errc::missing_authentication, "Missing Authentication Token");
  if (*alg != algorithm) return incomplete("X-Amz-Algorithm must be AWS4-HMAC-SHA256");
  auto credential = get("X-Amz-Credential");
  auto date = get("X-Amz-Date");
  auto signed_headers = get("X-Amz-SignedHeaders");
  auto signature = get("X-Amz-Signature");
  if (!credential || !date || !signed_headers || !signature)
    return incomplete("A presigned URL requires X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Signature");
  if (auto r = parse_credential(*credential, claim); !r) return r.error();
  claim.amz_date = *date;
  claim.signed_headers = split_signed_headers(*signed_headers);
  claim.signature = *signature;
  claim.presigned = true;
  if (auto expires = get("X-Amz-Expires")) {
    if (expires->empty() || expires->size() > 9 ||
        !std::all_of(expires->begin(), expires->end(), [](char c) { return c >= '0' && c <= '9'; }))
      return incomplete("X-Amz-Expires must be a number of seconds");
    claim.expires_seconds = std::stoll(*expires);
  } else {
    claim.expires_seconds = 3600;
  }
  return claim;
}

std::string canonical_uri(std::string_view raw_path, bool s3) {
  if (raw_path.empty()) return "/";
  if (s3) return std::string(raw_path);
  return core::uri_encode(normalize_path(raw_path), true);
}

std::optional<std::string> canonical_query(std::string_view raw_query, bool drop_signature) {
  auto params = decode_query(raw_query);
  if (!params) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params->size());
  for (auto& [k, v] : *params) {
    if (drop_signature && k == "X-Amz-Signature") continue;
    encoded.emplace_back(core::uri_encode(k), core::uri_encode(v));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [k, v] : encoded) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string canonical_request(const signed_request& request, const credential_claim& claim,
                              const std::string& payload_hash) {
  auto [path, query] = split_target(request.target);
  bool s3 = claim.service == "s3";
  std::string out;
  out.reserve(512);
  out += request.method;
  out += '\n';
  out += canonical_uri(path, s3);
  out += '\n';
  out += canonical_query(query, claim.presigned).value_or("");
  out += '\n';
  for (const auto& name : claim.signed_headers) {
    out += name;
    out += ':';
    bool first = true;
    for (const auto& [k, v] : request.headers) {
      if (!core::iequals(k, name)) continue;
      if (!first) out += ',';
      out += core::collapse_spaces(v);
      first = false;
    }
    out += '\n';
  }
  out += '\n';
  for (std::size_t i = 0; i < claim.signed_headers.size(); ++i) {
    if (i) out += ';';
    out += claim.signed_headers[i];
  }
  out += '\n';
  out += payload_hash;
  return out;
}

std::string string_to_sign(const credential_claim& claim, const std::string& canonical) {
  std::string out;
  out += algorithm;
  out += '\n';
  out += claim.amz_date;
  out += '\n';
  out += claim.date + "/" + claim.region + "/" + claim.service + "/aws4_request\n";
  out += core::sha256_hex(canonical);
  return out;
}

std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service) {
  std::string k = "AWS4";
  k += secret;
  auto k_date = core::hmac_sha256(k, date);
  auto k_region = core::hmac_sha256(core::as_view(k_date), region);
  auto k_service = core::hmac_sha256(core::as_view(k_region), service);
  auto k_signing = core::hmac_sha256(core::as_view(k_service), "aws4_request");
  return std::string(core::as_view(k_signing));
}

std::string sign(const credential_claim& claim, const std::string& canonical, std::string_view secret) {
  return sign_with_key(claim, canonical, signing_key(secret, claim.date, claim.region, claim.service));
}

std::string sign_with_key(const credential_claim& claim, const std::string& canonical, std::string_view derived_key) {
  return core::to_hex(core::hmac_sha256(derived_key, string_to_sign(claim, canonical)));
}

core::result<void> verify(const signed_request& request, const credential_claim& claim,
                          std::string_view secret, core::time_point now, const verify_options& options) {
  return verify_with_key(request, claim, signing_key(secret, claim.date, claim.region, claim.service), now, options);
}

core::result<void> verify_with_key(const signed_request& request, const credential_claim& claim,
                                   std::string_view derived_key, core::time_point now,
                                   const verify_options& options) {
  auto when = core::parse_amz_date(claim.amz_date);
  if (!when) return incomplete("X-Amz-Date must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'");
  if (claim.amz_date.substr(0, 8) != claim.date)
    return core::make_error(errc::invalid_signature,
                            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP");
  if (claim.presigned) {
    if (claim.expires_seconds < 1 || std::chrono::seconds(claim.expires_seconds) > options.max_presign_expiry)
      return core::make_error(errc::incomplete_signature, "X-Amz-Expires must be between 1 and 604800 seconds");
    if (*when - now > options.max_skew)
      return core::make_error(errc::signature_expired, "Signature not yet current: " + claim.amz_date +
                                                           " is still later than " + core::format_amz_date(now + options.max_skew));
    if (now > *when + std::chrono::seconds(claim.expires_seconds))
      return core::make_error(errc::request_expired, "Request has expired");
  } else {
    auto skew = *when > now ? *when - now : now - *when;
    if (skew > options.max_skew)
      return core::make_error(errc::signature_expired,
                              "Signature expired: " + claim.amz_date + " is now earlier than " +
                                  core::format_amz_date(now - options.max_skew) + " (" +
                                  core::format_amz_date(now) + " - 15 min.)");
  }
  if (std::find(claim.signed_headers.begin(), claim.signed_headers.end(), "host") == claim.signed_headers.end())
    return core::make_error(errc::invalid_signature, "'Host' must be a signed header");
  if (!std::is_sorted(claim.signed_headers.begin(), claim.signed_headers.end()))
    return core::make_error(errc::invalid_signature, "SignedHeaders must be sorted");

  std::string payload_hash;
  auto declared = request.header("x-amz-content-sha256");
  if (claim.presigned && claim.service == "s3") {
    payload_hash = declared ? std::string(*declared) : std::string(unsigned_payload);
  } else if (declared) {
    payload_hash = std::string(core::trim(*declared));
    // Outside S3 nobody checks the body against the header later: do it here.
    if (claim.service != "s3" && request.body && payload_hash != core::sha256_hex(*request.body))
      return core::make_error(errc::invalid_signature,
                              "The provided 'x-amz-content-sha256' header does not match what was computed.");
  } else if (request.body) {
    payload_hash = core::sha256_hex(*request.body);
  } else {
    return core::make_error(errc::invalid_signature, "A streamed body needs an X-Amz-Content-SHA256 header");
  }

  auto canonical = canonical_request(request, claim, payload_hash);
  auto expected = sign_with_key(claim, canonical, derived_key);
  if (!core::constant_time_equal(expected, claim.signature))
    return core::make_error(errc::invalid_signature,
                            "The request signature we calculated does not match the signature you provided. "
                            "Check your AWS Secret Access Key and signing method. Consult the service "
                            "documentation for details.");
  return {};
}

}  // namespace airfleet::auth
