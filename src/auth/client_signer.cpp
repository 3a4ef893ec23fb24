#include "auth/client_signer.hpp"

#include "auth/sigv4.hpp"
#include "core/strings.hpp"

#include <algorithm>
#include <fstream>
#include <system_error>

namespace airfleet::auth {

core::result<client_credentials> read_shared_credentials(const std::string& path, std::string_view profile) {
  auto invalid = [&](const std::string& why) {
    return core::error{std::make_error_code(std::errc::invalid_argument), path + ": " + why};
  };
  std::ifstream in(path);
  if (!in) return invalid("cannot read the file");
  client_credentials out;
  std::string line, section;
  bool found = false;
  while (std::getline(in, line)) {
    auto text = core::trim(line);
    if (text.empty() || text.front() == '#' || text.front() == ';') continue;
    if (text.front() == '[') {
      auto close = text.find(']');
      if (close == std::string_view::npos) return invalid("a section header without ']'");
      section = std::string(core::trim(text.substr(1, close - 1)));
      if (section == profile) found = true;
      continue;
    }
    if (section != profile) continue;
    auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    auto key = core::to_lower(core::trim(text.substr(0, eq)));
    auto value = std::string(core::trim(text.substr(eq + 1)));
    if (key == "aws_access_key_id") out.access_key_id = value;
    else if (key == "aws_secret_access_key") out.secret_access_key = value;
    else if (key == "region") out.region = value;
  }
  if (!found) return invalid("no [" + std::string(profile) + "] profile");
  if (out.access_key_id.empty() || out.secret_access_key.empty())
    return invalid("the [" + std::string(profile) + "] profile lacks aws_access_key_id or aws_secret_access_key");
  return out;
}

std::string sign_request(request_to_sign& request, const client_credentials& credentials, std::string_view service,
                         core::time_point now) {
  credential_claim claim;
  claim.access_key_id = credentials.access_key_id;
  claim.amz_date = core::format_amz_date(now);
  claim.date = claim.amz_date.substr(0, 8);
  claim.region = credentials.region.empty() ? "us-east-1" : credentials.region;
  claim.service = std::string(service);
  request.headers.emplace_back("x-amz-date", claim.amz_date);
  if (service == "s3") request.headers.emplace_back("x-amz-content-sha256", request.payload_hash);

  for (const auto& [name, value] : request.headers) claim.signed_headers.push_back(core::to_lower(name));
  std::sort(claim.signed_headers.begin(), claim.signed_headers.end());
  claim.signed_headers.erase(std::unique(claim.signed_headers.begin(), claim.signed_headers.end()),
                             claim.signed_headers.end());

  signed_request view;
  view.method = request.method;
  view.target = request.target;
  for (const auto& [name, value] : request.headers) view.headers.emplace_back(name, value);
  const auto canonical = canonical_request(view, claim, request.payload_hash);
  std::string signed_headers;
  for (const auto& h : claim.signed_headers) signed_headers += (signed_headers.empty() ? "" : ";") + h;
  return "AWS4-HMAC-SHA256 Credential=" + claim.access_key_id + "/" + claim.date + "/" + claim.region + "/" +
         claim.service + "/aws4_request, SignedHeaders=" + signed_headers + ", Signature=" + sign(claim, canonical,
                                                                                                credentials.secret_access_key);
}

}  // namespace airfleet::auth
