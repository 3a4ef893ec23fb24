#include "server/firmware_links.hpp"

#include "auth/presign.hpp"
#include "core/crypto.hpp"
#include "core/strings.hpp"
#include "jobs/errors.hpp"

namespace airfleet::server {

namespace {
// "s3" or "s3.<region>" or "s3-<region>".
bool s3_label(std::string_view host) {
  return host == "s3" || host.starts_with("s3.") || host.starts_with("s3-");
}
}  // namespace

std::optional<s3_location> parse_s3_url(const std::string& url, const std::string& public_url) {
  std::string_view u = url;
  auto split_path = [](std::string_view rest) -> std::optional<s3_location> {
    auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 >= rest.size()) return std::nullopt;
    return s3_location{std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
  };
  if (u.starts_with("s3://")) return split_path(u.substr(5));
  if (!public_url.empty() && u.starts_with(public_url + "/")) return split_path(u.substr(public_url.size() + 1));
  std::string_view rest;
  if (u.starts_with("https://")) rest = u.substr(8);
  else if (u.starts_with("http://")) rest = u.substr(7);
  else return std::nullopt;
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto host = rest.substr(0, slash);
  auto path = rest.substr(slash + 1);
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (!host.ends_with(".amazonaws.com")) return std::nullopt;
  host.remove_suffix(std::string_view(".amazonaws.com").size());
  if (s3_label(host)) return split_path(path);  // path style
  // Virtual-hosted: <bucket>.s3[.-region]
  auto at = host.find(".s3");
  while (at != std::string_view::npos) {
    if (s3_label(host.substr(at + 1))) {
      if (path.empty()) return std::nullopt;
      return s3_location{std::string(host.substr(0, at)), std::string(path)};
    }
    at = host.find(".s3", at + 1);
  }
  return std::nullopt;
}

firmware_links::firmware_links(aws::s3_api& s3, auth::authenticator& authenticator, const core::clock& clock,
                               std::string public_url, std::string region, const std::string& token_secret)
    : s3_(s3), clock_(clock), public_url_(std::move(public_url)) {
  while (!public_url_.empty() && public_url_.back() == '/') public_url_.pop_back();
  auto id_mac = core::hmac_sha256(token_secret, "airfleet s3 presign key id");
  std::string id = "AFPRESIGN";
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  for (int i = 0; i < 11; ++i) id += alphabet[id_mac[static_cast<std::size_t>(i)] % 32];
  auto secret = core::base64_encode(core::as_view(core::hmac_sha256(token_secret, "airfleet s3 presign secret")));
  authenticator.set_internal_key(id, secret);
  presigner_ = std::make_unique<auth::presigner>(std::move(id), std::move(secret), std::move(region));
}

core::result<std::string> firmware_links::presign(const std::string& s3_url, std::int64_t expires_in_sec) {
  auto where = parse_s3_url(s3_url, public_url_);
  if (!where)
    return core::make_error(jobs::errc::invalid_request,
                            "'" + s3_url + "' is not an S3 URL (https://s3.amazonaws.com/<bucket>/<key>, "
                            "https://<bucket>.s3.amazonaws.com/<key> or a regional form)");
  auth::presign_request r;
  r.base_url = public_url_;
  r.path = "/" + where->bucket + "/" + where->raw_key;
  r.expires_seconds = std::clamp<std::int64_t>(expires_in_sec, 1, 7 * 24 * 3600);
  return presigner_->presign(std::move(r), clock_.now());
}

core::result<std::string> firmware_links::read(const std::string& s3_url) {
  auto where = parse_s3_url(s3_url, public_url_);
  if (!where) return core::make_error(jobs::errc::invalid_request, "'" + s3_url + "' is not an S3 URL");
  auto key = core::uri_decode(where->raw_key);
  if (!key) return core::make_error(jobs::errc::invalid_request, "'" + s3_url + "' is not valid URL encoding");
  auto body = s3_.read_object(where->bucket, *key, 32 * 1024);
  if (!body) return core::make_error(jobs::errc::invalid_request, "documentSource: " + body.error().message);
  return body;
}

}  // namespace airfleet::server
