#include "aws/s3_api.hpp"

#include "auth/presign.hpp"
#include "core/crypto.hpp"
#include "core/digest.hpp"
#include "core/strings.hpp"
#include "s3/chunked.hpp"
#include "s3/xml.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

namespace airfleet::aws {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using s3::xml_escape;

namespace {

constexpr std::string_view xmlns = "http://s3.amazonaws.com/doc/2006-03-01/";
constexpr std::size_t io_piece = 256 * 1024;
constexpr int max_list = 1000;

struct s3_error {
  bhttp::status status;
  std::string code;
  std::string message;
  std::vector<std::pair<std::string, std::string>> extra = {};
};

// Errors are made by plain functions, never braced inside a co_await: GCC 12
// destroys such temporaries twice.
s3_error err(bhttp::status status, std::string code, std::string message) {
  return {status, std::move(code), std::move(message)};
}

s3_error no_such_bucket(const std::string& b) {
  return {bhttp::status::not_found, "NoSuchBucket", "The specified bucket does not exist", {{"BucketName", b}}};
}
s3_error no_such_key(const std::string& k) {
  return {bhttp::status::not_found, "NoSuchKey", "The specified key does not exist.", {{"Key", k}}};
}
s3_error no_such_upload(const std::string& id) {
  return {bhttp::status::not_found, "NoSuchUpload",
          "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted "
          "or completed.",
          {{"UploadId", id}}};
}
s3_error method_not_allowed() {
  return {bhttp::status::method_not_allowed, "MethodNotAllowed",
          "The specified method is not allowed against this resource."};
}
s3_error encryption_not_found(const std::string& b) {
  return {bhttp::status::not_found, "ServerSideEncryptionConfigurationNotFoundError",
          "The server side encryption configuration was not found", {{"BucketName", b}}};
}
s3_error no_such_version(const std::string& k, const std::string& v) {
  return {bhttp::status::not_found, "NoSuchVersion", "The specified version does not exist.",
          {{"Key", k}, {"VersionId", v}}};
}
s3_error invalid_range(const std::string& range, std::uint64_t size) {
  return {bhttp::status::range_not_satisfiable, "InvalidRange", "The requested range is not satisfiable",
          {{"RangeRequested", range}, {"ActualObjectSize", std::to_string(size)}}};
}
s3_error invalid_part_order(const std::string& id) {
  return {bhttp::status::bad_request, "InvalidPartOrder",
          "The list of parts was not in ascending order. Parts must be ordered by part number.", {{"UploadId", id}}};
}
s3_error invalid_part(const std::string& id, int n, const std::string& etag) {
  return {bhttp::status::bad_request, "InvalidPart",
          "One or more of the specified parts could not be found. The part may not have been uploaded, or the "
          "specified entity tag may not match the part's entity tag.",
          {{"UploadId", id}, {"PartNumber", std::to_string(n)}, {"ETag", etag}}};
}
s3_error entity_too_small(const std::string& id, int n, std::int64_t size, std::uint64_t min) {
  return {bhttp::status::bad_request, "EntityTooSmall",
          "Your proposed upload is smaller than the minimum allowed object size.",
          {{"UploadId", id},
           {"PartNumber", std::to_string(n)},
           {"ProposedSize", std::to_string(size)},
           {"MinSizeAllowed", std::to_string(min)}}};
}
s3_error invalid_bucket_name(const std::string& b) {
  return {bhttp::status::bad_request, "InvalidBucketName", "The specified bucket is not valid.", {{"BucketName", b}}};
}
s3_error bucket_not_empty(const std::string& b) {
  return {bhttp::status::conflict, "BucketNotEmpty", "The bucket you tried to delete is not empty",
          {{"BucketName", b}}};
}
s3_error invalid_argument(std::string message, std::string name = {}, std::string value = {}) {
  s3_error e{bhttp::status::bad_request, "InvalidArgument", std::move(message)};
  if (!name.empty()) e.extra = {{"ArgumentName", name}, {"ArgumentValue", value}};
  return e;
}
s3_error malformed_xml() {
  return {bhttp::status::bad_request, "MalformedXML",
          "The XML you provided was not well-formed or did not validate against our published schema"};
}
s3_error internal(const std::string& what) {
  spdlog::error("s3: {}", what);
  return {bhttp::status::internal_server_error, "InternalError",
          "We encountered an internal error. Please try again."};
}

// Any lower-layer error, as S3 would name it.
s3_error from_core(const core::error& e) {
  if (e.code == storage::make_error_code(storage::s3_store_errc::no_such_bucket))
    return {bhttp::status::not_found, "NoSuchBucket", e.message};
  if (e.code == storage::make_error_code(storage::s3_store_errc::bucket_exists))
    return {bhttp::status::conflict, "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it."};
  if (e.code == storage::make_error_code(storage::s3_store_errc::bucket_not_empty))
    return {bhttp::status::conflict, "BucketNotEmpty", "The bucket you tried to delete is not empty"};
  if (e.code == storage::make_error_code(storage::s3_store_errc::no_such_upload))
    return {bhttp::status::not_found, "NoSuchUpload", e.message};
  if (e.code == storage::make_error_code(storage::s3_store_errc::no_such_version))
    return {bhttp::status::not_found, "NoSuchVersion", "The specified version does not exist."};
  if (e.code == s3::make_error_code(s3::chunked_errc::signature))
    return {bhttp::status::forbidden, "SignatureDoesNotMatch", e.message};
  if (e.code == s3::make_error_code(s3::chunked_errc::malformed))
    return {bhttp::status::bad_request, "IncompleteBody", e.message};
  return internal(e.message);
}

s3_error from_auth(const core::error& e, bool presigned = false) {
  using auth::errc;
  if (e.code == auth::make_error_code(errc::missing_authentication))
    return {bhttp::status::forbidden, "AccessDenied", "Anonymous access is forbidden for this operation"};
  if (e.code == auth::make_error_code(errc::unrecognized_client))
    return {bhttp::status::forbidden, "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records."};
  if (e.code == auth::make_error_code(errc::invalid_signature))
    return {bhttp::status::forbidden, "SignatureDoesNotMatch", e.message};
  if (e.code == auth::make_error_code(errc::signature_expired))
    return {bhttp::status::forbidden, "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large."};
  if (e.code == auth::make_error_code(errc::request_expired))
    return {bhttp::status::forbidden, "AccessDenied", "Request has expired"};
  if (e.code == auth::make_error_code(errc::throttled))
    return {bhttp::status::service_unavailable, "SlowDown", "Please reduce your request rate."};
  if (e.code == auth::make_error_code(errc::incomplete_signature))
    return {bhttp::status::bad_request, presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed",
            e.message};
  return {bhttp::status::forbidden, "AccessDenied", e.message};
}

// ingest's errors, as S3 names them.
s3_error ingest_error(const core::error& e) {
  if (e.code == std::make_error_code(std::errc::file_too_large))
    return {bhttp::status::bad_request, "EntityTooLarge", e.message};
  if (e.code == std::make_error_code(std::errc::bad_message))
    return {bhttp::status::bad_request, "XAmzContentSHA256Mismatch", e.message};
  if (e.code == std::make_error_code(std::errc::illegal_byte_sequence))
    return {bhttp::status::bad_request, "InvalidDigest", e.message};
  if (e.code == std::make_error_code(std::errc::io_error))
    return {bhttp::status::bad_request, "BadDigest", e.message};
  if (e.code == std::make_error_code(std::errc::not_supported))
    return {bhttp::status::not_implemented, "NotImplemented", e.message};
  if (e.code == std::make_error_code(std::errc::invalid_argument)) return invalid_argument(e.message);
  return from_core(e);
}

// A non-negative integer query parameter, capped at `cap`; nullopt when it is
// not one. Absent: `fallback`.
std::optional<int> count_param(const std::optional<std::string>& text, int fallback, int cap) {
  if (!text) return fallback;
  int v = 0;
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc{} || p != text->data() + text->size() || v < 0) return std::nullopt;
  return std::min(v, cap);
}

std::string new_version_id() {
  return core::random_string(32, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._");
}

std::string quote_etag(const std::string& hex) { return "\"" + hex + "\""; }
std::string unquote(std::string_view s) {
  s = core::trim(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return std::string(s);
}

bool valid_bucket_name(std::string_view n) {
  if (n.size() < 3 || n.size() > 63) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(n.front()) || !alnum(n.back())) return false;
  if (n.find("..") != std::string_view::npos || n.find(".-") != std::string_view::npos ||
      n.find("-.") != std::string_view::npos)
    return false;
  if (n.substr(0, 4) == "xn--" || n.substr(0, 4) == "sthree-" || n.substr(0, 8) == "sthree-")
    return false;
  if (n.size() >= 8 && n.substr(n.size() - 8) == "-s3alias") return false;
  if (n.size() >= 6 && n.substr(n.size() - 6) == "--ol-s3") return false;
  // Not an IPv4 address.
  int dots = 0;
  bool digits_only = true;
  for (char c : n) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') digits_only = false;
  }
  if (digits_only && dots == 3) return false;
  return true;
}

// The smallest string greater than every string starting with `p`.
std::string after_prefix(std::string p) {
  while (!p.empty()) {
    auto& c = p.back();
    if (static_cast<unsigned char>(c) != 0xff) {
      c = static_cast<char>(static_cast<unsigned char>(c) + 1);
      return p;
    }
    p.pop_back();
  }
  return std::string(1, '\xff');
}

std::string hex_of(const std::string& raw) {
  return core::to_hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::optional<core::hasher::kind> checksum_kind(std::string_view name) {
  if (name == "crc32") return core::hasher::kind::crc32;
  if (name == "crc32c") return core::hasher::kind::crc32c;
  if (name == "sha1") return core::hasher::kind::sha1;
  if (name == "sha256") return core::hasher::kind::sha256;
  return std::nullopt;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& ch : out)
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  return out;
}

std::string last_modified_iso(std::int64_t ms) { return core::format_iso8601_millis(core::from_epoch_millis(ms)); }

// Headers stored with an object and sent back on GET/HEAD.
constexpr std::string_view stored_headers[] = {"cache-control", "content-disposition", "content-encoding",
                                               "content-language", "expires", "x-amz-website-redirect-location"};

std::string token_encode(const std::string& cursor, bool inclusive) {
  return core::base64url_encode(std::string(inclusive ? "i" : "x") + cursor);
}
std::optional<std::pair<std::string, bool>> token_decode(const std::string& token) {
  auto raw = core::base64url_decode(token);
  if (!raw || raw->empty() || ((*raw)[0] != 'i' && (*raw)[0] != 'x')) return std::nullopt;
  return std::make_pair(raw->substr(1), (*raw)[0] == 'i');
}

}  // namespace

struct s3_api::call {
  http::exchange& ex;
  bhttp::verb verb;
  std::string target;
  std::string bucket, key;  // decoded
  bool has_key = false;
  std::vector<std::pair<std::string, std::string>> query;
  auth::signed_request signed_req;
  std::optional<auth::credential_claim> claim;  // SigV4 (header or query)
  std::string request_id;

  explicit call(http::exchange& e) : ex(e) {}

  bool has(std::string_view name) const {
    for (const auto& [k, v] : query)
      if (k == name) return true;
    return false;
  }
  std::optional<std::string> param(std::string_view name) const {
    for (const auto& [k, v] : query)
      if (k == name) return v;
    return std::nullopt;
  }
  std::string header(std::string_view name) const {
    auto& h = ex.header();
    auto it = h.find(name);
    return it == h.end() ? std::string() : std::string(it->value());
  }
  bool has_header(std::string_view name) const { return ex.header().find(name) != ex.header().end(); }
  std::string resource() const { return "/" + bucket + (has_key ? "/" + key : std::string()); }
  // Answers with an S3 error document for this request's resource.
  asio::awaitable<void> fail(s3_error e);
  bool head() const { return verb == bhttp::verb::head; }
};

struct s3_api::ingested {
  std::uint64_t size = 0;
  std::string md5_raw;
  std::string checksum_name;   // "x-amz-checksum-crc32", or empty
  std::string checksum_value;  // base64
};

namespace {

http::response xml_response(std::string body, bhttp::status status = bhttp::status::ok) {
  http::response res{status, 11};
  res.set(bhttp::field::content_type, "application/xml");
  res.body() = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + std::move(body);
  return res;
}

http::response empty_response(bhttp::status status) {
  http::response res{status, 11};
  return res;
}

http::response error_response(const s3_error& e, const std::string& request_id, const std::string& resource) {
  std::string body = "<Error><Code>" + xml_escape(e.code) + "</Code><Message>" + xml_escape(e.message) + "</Message>";
  for (const auto& [k, v] : e.extra) body += "<" + k + ">" + xml_escape(v) + "</" + k + ">";
  if (!resource.empty()) body += "<Resource>" + xml_escape(resource) + "</Resource>";
  body += "<RequestId>" + xml_escape(request_id) + "</RequestId><HostId>" + xml_escape(request_id) +
          "</HostId></Error>";
  auto res = xml_response(std::move(body), e.status);
  return res;
}

}  // namespace

asio::awaitable<void> s3_api::call::fail(s3_error e) {
  auto res = error_response(e, request_id, resource());
  co_await ex.respond(std::move(res));
}

s3_api::s3_api(auth::authenticator& authenticator, storage::s3_store& store, s3::blob_store& blobs,
               asio::thread_pool& blocking, const core::clock& clock, settings s)
    : authenticator_(authenticator), store_(store), blobs_(blobs), blocking_(blocking), clock_(clock),
      settings_(std::move(s)) {}

template <class F>
asio::awaitable<std::invoke_result_t<F>> s3_api::on_blocking(F f) {
  using R = std::invoke_result_t<F>;
  co_return co_await asio::co_spawn(
      blocking_, [f = std::move(f)]() mutable -> asio::awaitable<R> { co_return f(); }, asio::use_awaitable);
}

void s3_api::remove_blobs(const std::vector<std::string>& ids) {
  for (const auto& id : ids) blobs_.remove(id);
}

core::result<storage::s3_bucket_row> s3_api::bucket(const std::string& name) {
  auto b = store_.find_bucket(name);
  if (!b) return b.error();
  if (!*b) return core::make_error(storage::s3_store_errc::no_such_bucket, "The specified bucket does not exist");
  return std::move(**b);
}

// ---------------------------------------------------------------------------
// Entry: authenticate, parse the path, dispatch.

asio::awaitable<void> s3_api::handle(http::exchange& ex) {
  call c(ex);
  const auto& h = ex.header();
  c.verb = h.method();
  c.target = std::string(h.target());
  c.request_id = ex.context().request_id;
  c.signed_req.method = h.method_string();
  c.signed_req.target = c.target;
  for (const auto& field : h) c.signed_req.headers.emplace_back(field.name_string(), field.value());
  c.signed_req.body = std::nullopt;

  auto path_end = c.target.find('?');
  std::string_view raw_path = std::string_view(c.target).substr(0, path_end);
  auto reject = [&](s3_error e) -> asio::awaitable<void> {
    co_await ex.respond(error_response(e, c.request_id, std::string(raw_path)));
  };

  // Authentication.
  if (auto v2 = auth::parse_sigv2_query(c.target)) {
    auto who = authenticator_.authenticate(c.signed_req, *v2);
    if (!who) {
      ex.context().operation = "Unauthenticated";
      co_return co_await reject(from_auth(who.error()));
    }
  } else {
    auto claim = auth::parse_claim(c.signed_req);
    if (!claim) {
      ex.context().operation = "Unauthenticated";
      bool presigned = c.target.find("X-Amz-Signature=") != std::string::npos;
      co_return co_await reject(from_auth(claim.error(), presigned));
    }
    auto who = authenticator_.authenticate(c.signed_req, *claim);
    if (!who) {
      ex.context().operation = "Unauthenticated";
      co_return co_await reject(from_auth(who.error(), claim->presigned));
    }
    c.claim = std::move(*claim);
  }

  // Path style: /bucket[/key].
  if (raw_path.empty() || raw_path[0] != '/') co_return co_await reject(invalid_argument("Bad request target"));
  auto rest = raw_path.substr(1);
  auto slash = rest.find('/');
  auto bucket = core::uri_decode(rest.substr(0, slash));
  auto key = slash == std::string_view::npos ? std::optional<std::string>("") : core::uri_decode(rest.substr(slash + 1));
  if (!bucket || !key) co_return co_await reject(invalid_argument("The request path is not valid URL encoding"));
  c.bucket = std::move(*bucket);
  c.key = std::move(*key);
  c.has_key = slash != std::string_view::npos && !c.key.empty();
  if (c.key.size() > 1024)
    co_return co_await reject(err(bhttp::status::bad_request, "KeyTooLongError", "Your key is too long"));
  if (path_end != std::string::npos) {
    for (auto part : core::split(std::string_view(c.target).substr(path_end + 1), '&')) {
      if (part.empty()) continue;
      auto eq = part.find('=');
      auto name = core::uri_decode(part.substr(0, eq));
      auto value =
          eq == std::string_view::npos ? std::optional<std::string>("") : core::uri_decode(part.substr(eq + 1));
      if (!name || !value) co_return co_await reject(invalid_argument("The query string is not valid URL encoding"));
      c.query.emplace_back(std::move(*name), std::move(*value));
    }
  }
  co_await dispatch(c);
}

asio::awaitable<void> s3_api::dispatch(call& c) {
  auto& op = c.ex.context().operation;
  if (c.bucket.empty()) {
    if (c.verb == bhttp::verb::get) {
      op = "ListBuckets";
      co_return co_await list_buckets(c);
    }
    op = "Unknown";
    co_return co_await c.fail(method_not_allowed());
  }
  // Sub-resources that are not built answer NotImplemented rather than
  // being mistaken for a plain object or bucket request.
  static const std::set<std::string> unbuilt = {
      "acl", "policy", "cors", "lifecycle", "logging", "notification", "replication", "website", "tagging",
      "requestPayment", "object-lock", "retention", "legal-hold", "accelerate", "analytics", "inventory",
      "metrics", "ownershipControls", "publicAccessBlock", "intelligent-tiering", "restore", "select", "torrent",
      "attributes", "policyStatus"};
  for (const auto& [k, v] : c.query)
    if (unbuilt.count(k)) {
      op = "NotImplemented";
      co_return co_await c.fail(err(bhttp::status::not_implemented, "NotImplemented", "The '" + k + "' sub-resource is not implemented by airfleet"));
    }
  std::optional<s3_error> failure;
  try {
    if (c.has_key) co_await object_operation(c);
    else co_await bucket_operation(c);
  } catch (const std::exception& e) {
    failure = internal(e.what());
  }
  if (failure) {
    if (!c.ex.responded()) co_await c.fail(*failure);
    else c.ex.abort();
  }
}

asio::awaitable<void> s3_api::bucket_operation(call& c) {
  auto& op = c.ex.context().operation;
  switch (c.verb) {
    case bhttp::verb::put:
      if (c.has("versioning")) {
        op = "PutBucketVersioning";
        co_return co_await put_versioning(c);
      }
      if (c.has("encryption")) {
        op = "PutBucketEncryption";
        co_return co_await put_encryption(c);
      }
      op = "CreateBucket";
      co_return co_await create_bucket(c);
    case bhttp::verb::head: {
      op = "HeadBucket";
      auto b = bucket(c.bucket);
      if (!b) {
        auto e = b.error().code == storage::make_error_code(storage::s3_store_errc::no_such_bucket)
                     ? no_such_bucket(c.bucket)
                     : from_core(b.error());
        co_return co_await c.fail(std::move(e));
      }
      auto res = empty_response(bhttp::status::ok);
      res.set("x-amz-bucket-region", b->region);
      co_await c.ex.respond(std::move(res));
      co_return;
    }
    case bhttp::verb::get: {
      if (c.has("versioning") || c.has("encryption") || c.has("location")) {
        auto b = bucket(c.bucket);
        if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
        if (c.has("versioning")) {
          op = "GetBucketVersioning";
          std::string body = "<VersioningConfiguration xmlns=\"" + std::string(xmlns) + "\">";
          if (!b->versioning.empty()) body += "<Status>" + b->versioning + "</Status>";
          body += "</VersioningConfiguration>";
          co_await c.ex.respond(xml_response(std::move(body)));
        } else if (c.has("encryption")) {
          op = "GetBucketEncryption";
          if (!b->encryption)
            co_return co_await c.fail(encryption_not_found(c.bucket));
          co_await c.ex.respond(xml_response(
              "<ServerSideEncryptionConfiguration xmlns=\"" + std::string(xmlns) +
              "\"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>" + *b->encryption +
              "</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled>"
              "</Rule></ServerSideEncryptionConfiguration>"));
        } else {
          op = "GetBucketLocation";
          // us-east-1 is the empty constraint, as S3 answers it.
          std::string loc = b->region == "us-east-1" ? "" : b->region;
          co_await c.ex.respond(
              xml_response("<LocationConstraint xmlns=\"" + std::string(xmlns) + "\">" + xml_escape(loc) +
                           "</LocationConstraint>"));
        }
        co_return;
      }
      if (c.has("versions")) {
        op = "ListObjectVersions";
        co_return co_await list_versions(c);
      }
      if (c.has("uploads")) {
        op = "ListMultipartUploads";
        co_return co_await list_uploads(c);
      }
      auto lt = c.param("list-type");
      op = lt == "2" ? "ListObjectsV2" : "ListObjects";
      co_return co_await list_objects(c, lt == "2");
    }
    case bhttp::verb::delete_:
      if (c.has("encryption")) {
        op = "DeleteBucketEncryption";
        co_return co_await delete_encryption(c);
      }
      op = "DeleteBucket";
      co_return co_await delete_bucket(c);
    case bhttp::verb::post:
      if (c.has("delete")) {
        op = "DeleteObjects";
        co_return co_await delete_objects(c);
      }
      break;
    default: break;
  }
  op = "Unknown";
  co_await c.fail(method_not_allowed());
}

asio::awaitable<void> s3_api::object_operation(call& c) {
  auto& op = c.ex.context().operation;
  switch (c.verb) {
    case bhttp::verb::put:
      if (c.has("uploadId") || c.has("partNumber")) {
        op = "UploadPart";
        co_return co_await upload_part(c);
      }
      if (c.has_header("x-amz-copy-source")) {
        op = "CopyObject";
        co_return co_await copy_object(c);
      }
      op = "PutObject";
      co_return co_await put_object(c);
    case bhttp::verb::get:
      if (c.has("uploadId")) {
        op = "ListParts";
        co_return co_await list_parts(c);
      }
      op = "GetObject";
      co_return co_await get_object(c, false);
    case bhttp::verb::head:
      op = "HeadObject";
      co_return co_await get_object(c, true);
    case bhttp::verb::delete_:
      if (c.has("uploadId")) {
        op = "AbortMultipartUpload";
        co_return co_await abort_upload(c);
      }
      op = "DeleteObject";
      co_return co_await delete_object(c);
    case bhttp::verb::post:
      if (c.has("uploads")) {
        op = "CreateMultipartUpload";
        co_return co_await create_upload(c);
      }
      if (c.has("uploadId")) {
        op = "CompleteMultipartUpload";
        co_return co_await complete_upload(c);
      }
      break;
    default: break;
  }
  op = "Unknown";
  co_await c.fail(method_not_allowed());
}

// ---------------------------------------------------------------------------
// Bodies in.

// A small request document (XML), read whole with a limit and checked
// against Content-MD5 and X-Amz-Content-SHA256.
asio::awaitable<core::result<std::string>> s3_api::read_document(call& c) {
  std::string body;
  std::vector<char> piece(64 * 1024);
  while (true) {
    boost::system::error_code ec;
    auto n = co_await c.ex.read_body(piece, ec);
    if (ec) co_return core::make_error(s3::chunked_errc::malformed, "The request body ended early");
    if (n == 0) break;
    body.append(piece.data(), n);
    if (body.size() > settings_.max_document_bytes)
      co_return core::error{std::make_error_code(std::errc::file_too_large), "The request document is too large"};
  }
  std::string declared(core::trim(c.header("x-amz-content-sha256")));
  if (declared.size() == 64 && core::to_lower(declared) != core::sha256_hex(body))
    co_return core::error{std::make_error_code(std::errc::bad_message),
                          "The provided 'x-amz-content-sha256' header does not match what was computed."};
  if (auto given = c.header("content-md5"); !given.empty()) {
    auto raw = core::base64_decode(core::trim(given));
    core::hasher md5(core::hasher::kind::md5);
    md5.update(body);
    if (!raw || raw->size() != 16)
      co_return core::error{std::make_error_code(std::errc::illegal_byte_sequence),
                            "The Content-MD5 you specified was invalid."};
    if (*raw != md5.finish_raw())
      co_return core::error{std::make_error_code(std::errc::io_error),
                            "The Content-MD5 you specified did not match what we received."};
  }
  co_return body;
}

// A request document with the given root element; answers the error itself
// and gives nullopt when there is none.
asio::awaitable<std::optional<s3::xml_element>> s3_api::read_xml(call& c, std::string_view root) {
  auto body = co_await read_document(c);
  if (!body) {
    co_await c.fail(ingest_error(body.error()));
    co_return std::nullopt;
  }
  auto doc = s3::parse_xml(*body);
  if (!doc || doc->name != root) {
    co_await c.fail(malformed_xml());
    co_return std::nullopt;
  }
  co_return doc;
}

asio::awaitable<core::result<s3_api::ingested>> s3_api::ingest(call& c, s3::blob_writer& writer) {
  // Errors come back as values; the caller names them with ingest_error().
  ingested out;
  std::string declared(core::trim(c.header("x-amz-content-sha256")));
  bool chunked = declared.rfind("STREAMING-", 0) == 0;
  bool trailer = chunked && declared.size() > 8 && declared.substr(declared.size() - 8) == "-TRAILER";
  std::optional<s3::aws_chunked_decoder> decoder;
  if (chunked) {
    if (declared != "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" && declared != "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" &&
        declared != "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
      co_return core::error{std::make_error_code(std::errc::not_supported),
                            "x-amz-content-sha256 " + declared + " is not supported"};
    std::optional<s3::chunk_signing> signing;
    if (declared != "STREAMING-UNSIGNED-PAYLOAD-TRAILER") {
      if (!c.claim) co_return core::make_error(s3::chunked_errc::signature, "A signed stream needs SigV4");
      auto key = authenticator_.derived_key(*c.claim);
      if (!key) co_return key.error();
      signing = s3::chunk_signing{*key, c.claim->amz_date,
                                  c.claim->date + "/" + c.claim->region + "/" + c.claim->service + "/aws4_request",
                                  c.claim->signature};
    }
    decoder.emplace(std::move(signing), trailer);
  }
  bool hash_sha = !chunked && declared.size() == 64;
  core::hasher md5(core::hasher::kind::md5);
  std::optional<core::hasher> sha;
  if (hash_sha) sha.emplace(core::hasher::kind::sha256);

  // A checksum named by a header (value given) or by x-amz-trailer (value follows).
  std::string checksum_expected;
  for (const auto& field : c.ex.header()) {
    auto name = core::to_lower(field.name_string());
    if (name.rfind("x-amz-checksum-", 0) == 0 && name != "x-amz-checksum-mode" && name != "x-amz-checksum-type") {
      out.checksum_name = name;
      checksum_expected = std::string(core::trim(field.value()));
    }
  }
  auto trailer_name = core::to_lower(core::trim(c.header("x-amz-trailer")));
  if (out.checksum_name.empty() && trailer_name.rfind("x-amz-checksum-", 0) == 0) out.checksum_name = trailer_name;
  if (out.checksum_name.empty()) {
    auto algo = core::to_lower(core::trim(c.header("x-amz-sdk-checksum-algorithm")));
    if (!algo.empty()) out.checksum_name = "x-amz-checksum-" + algo;
  }
  std::optional<core::hasher> checksum;
  if (!out.checksum_name.empty()) {
    auto kind = checksum_kind(std::string_view(out.checksum_name).substr(15));
    if (!kind)
      co_return core::error{std::make_error_code(std::errc::invalid_argument),
                            "Unsupported checksum algorithm " + out.checksum_name};
    checksum.emplace(*kind);
  }

  std::uint64_t limit = settings_.max_object_bytes;
  auto sink = [&](std::string_view piece) -> core::result<void> {
    out.size += piece.size();
    if (out.size > limit)
      return core::error{std::make_error_code(std::errc::file_too_large), "Your proposed upload exceeds the maximum allowed size"};
    md5.update(piece);
    if (sha) sha->update(piece);
    if (checksum) checksum->update(piece);
    return writer.write(piece);
  };
  std::vector<char> buf(io_piece);
  while (true) {
    boost::system::error_code ec;
    auto n = co_await c.ex.read_body(buf, ec);
    if (ec) co_return core::make_error(s3::chunked_errc::malformed, "The request body ended early: " + ec.message());
    if (n == 0) break;
    std::string_view piece(buf.data(), n);
    auto r = decoder ? decoder->feed(piece, sink) : sink(piece);
    if (!r) co_return r.error();
  }
  if (decoder) {
    if (!decoder->done())
      co_return core::make_error(s3::chunked_errc::malformed, "The aws-chunked body ended before its last chunk");
    auto decoded = c.header("x-amz-decoded-content-length");
    if (!decoded.empty() && decoded != std::to_string(out.size))
      co_return core::make_error(s3::chunked_errc::malformed,
                                 "x-amz-decoded-content-length does not match the decoded body");
    for (const auto& [k, v] : decoder->trailers())
      if (k == out.checksum_name) checksum_expected = v;
  }
  out.md5_raw = md5.finish_raw();
  if (sha && hex_of(sha->finish_raw()) != core::to_lower(declared))
    co_return core::error{std::make_error_code(std::errc::bad_message),
                          "The provided 'x-amz-content-sha256' header does not match what was computed."};
  if (auto given = c.header("content-md5"); !given.empty()) {
    auto raw = core::base64_decode(core::trim(given));
    if (!raw || raw->size() != 16)
      co_return core::error{std::make_error_code(std::errc::illegal_byte_sequence),
                            "The Content-MD5 you specified was invalid."};
    if (*raw != out.md5_raw)
      co_return core::error{std::make_error_code(std::errc::io_error),
                            "The Content-MD5 you specified did not match what we received."};
  }
  if (checksum) {
    out.checksum_value = core::base64_encode(checksum->finish_raw());
    if (!checksum_expected.empty() && checksum_expected != out.checksum_value)
      co_return core::error{std::make_error_code(std::errc::io_error),
                            "The " + upper(std::string_view(out.checksum_name).substr(15)) +
                                " you specified did not match the calculated checksum."};
  }
  co_return out;
}

namespace {

// x-amz-meta-*, stored headers, the checksum and the encryption flag.
std::string object_headers(const http::request_header& h, const std::string& checksum_name,
                           const std::string& checksum_value) {
  json::object o;
  for (const auto& field : h) {
    auto name = core::to_lower(field.name_string());
    bool keep = name.rfind("x-amz-meta-", 0) == 0;
    for (auto s : stored_headers) keep = keep || name == s;
    if (keep) o[name] = std::string(field.value());
  }
  if (!checksum_name.empty() && !checksum_value.empty()) o[checksum_name] = checksum_value;
  return json::serialize(o);
}

std::uint64_t metadata_bytes(const http::request_header& h) {
  std::uint64_t n = 0;
  for (const auto& field : h) {
    auto name = core::to_lower(field.name_string());
    if (name.rfind("x-amz-meta-", 0) == 0) n += name.size() - 11 + field.value().size();
  }
  return n;
}

std::optional<std::string> content_type_of(const http::request_header& h) {
  auto it = h.find(bhttp::field::content_type);
  if (it == h.end()) return std::nullopt;
  return std::string(it->value());
}
}  // namespace

// ---------------------------------------------------------------------------
// Buckets.

asio::awaitable<void> s3_api::create_bucket(call& c) {
  if (!valid_bucket_name(c.bucket))
    co_return co_await c.fail(invalid_bucket_name(c.bucket));
  auto body = co_await read_document(c);
  if (!body) co_return co_await c.fail(ingest_error(body.error()));
  std::string region = settings_.region;
  if (!core::trim(*body).empty()) {
    auto doc = s3::parse_xml(*body);
    if (!doc || doc->name != "CreateBucketConfiguration") co_return co_await c.fail(malformed_xml());
    if (auto loc = doc->child("LocationConstraint")) {
      if (loc->text.empty() || loc->text.size() > 32)
        co_return co_await c.fail(err(bhttp::status::bad_request, "InvalidLocationConstraint", "The specified location-constraint is not valid"));
      region = loc->text;
    }
  }
  storage::s3_bucket_row row{c.bucket, region, core::to_epoch_millis(clock_.now()), "", std::nullopt};
  auto created = co_await on_blocking([&] { return store_.create_bucket(row); });
  if (!created) co_return co_await c.fail(from_core(created.error()));
  auto res = empty_response(bhttp::status::ok);
  res.set(bhttp::field::location, "/" + c.bucket);
  co_await c.ex.respond(std::move(res));
}

asio::awaitable<void> s3_api::delete_bucket(call& c) {
  auto deleted = co_await on_blocking([&] { return store_.delete_bucket(c.bucket); });
  if (!deleted) {
    auto e = from_core(deleted.error());
    if (e.code == "NoSuchBucket") e = no_such_bucket(c.bucket);
    if (e.code == "BucketNotEmpty") e = bucket_not_empty(c.bucket);
    co_return co_await c.fail(e);
  }
  co_await c.ex.respond(empty_response(bhttp::status::no_content));
}

asio::awaitable<void> s3_api::put_versioning(call& c) {
  auto doc = co_await read_xml(c, "VersioningConfiguration");
  if (!doc) co_return;
  auto status = doc->child("Status");
  if (!status || (status->text != "Enabled" && status->text != "Suspended")) co_return co_await c.fail(malformed_xml());
  if (doc->child("MfaDelete") && doc->child("MfaDelete")->text == "Enabled")
    co_return co_await c.fail(err(bhttp::status::not_implemented, "NotImplemented", "MFA delete is not implemented"));
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  auto set = co_await on_blocking([&] { return store_.set_versioning(c.bucket, status->text); });
  if (!set) co_return co_await c.fail(from_core(set.error()));
  co_await c.ex.respond(empty_response(bhttp::status::ok));
}

asio::awaitable<void> s3_api::put_encryption(call& c) {
  auto doc = co_await read_xml(c, "ServerSideEncryptionConfiguration");
  if (!doc) co_return;
  auto rule = doc->child("Rule");
  auto by_default = rule ? rule->child("ApplyServerSideEncryptionByDefault") : nullptr;
  auto algo = by_default ? by_default->child("SSEAlgorithm") : nullptr;
  if (!algo) co_return co_await c.fail(malformed_xml());
  if (algo->text != "AES256") {
    if (algo->text == "aws:kms" || algo->text == "aws:kms:dsse")
      co_return co_await c.fail(err(bhttp::status::not_implemented, "NotImplemented", "airfleet encrypts with its own keys (AES256); " + algo->text + " is not available"));
    co_return co_await c.fail(malformed_xml());
  }
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  auto set = co_await on_blocking([&] { return store_.set_encryption(c.bucket, std::string("AES256")); });
  if (!set) co_return co_await c.fail(from_core(set.error()));
  co_await c.ex.respond(empty_response(bhttp::status::ok));
}

asio::awaitable<void> s3_api::delete_encryption(call& c) {
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  auto set = co_await on_blocking([&] { return store_.set_encryption(c.bucket, std::nullopt); });
  if (!set) co_return co_await c.fail(from_core(set.error()));
  co_await c.ex.respond(empty_response(bhttp::status::no_content));
}

asio::awaitable<void> s3_api::list_buckets(call& c) {
  auto all = store_.list_buckets();
  if (!all) co_return co_await c.fail(from_core(all.error()));
  std::string body = "<ListAllMyBucketsResult xmlns=\"" + std::string(xmlns) + "\"><Owner><ID>" +
                     xml_escape(settings_.owner_id) + "</ID><DisplayName>airfleet</DisplayName></Owner><Buckets>";
  for (const auto& b : *all)
    body += "<Bucket><Name>" + xml_escape(b.name) + "</Name><CreationDate>" + last_modified_iso(b.created_ms) +
            "</CreationDate></Bucket>";
  body += "</Buckets></ListAllMyBucketsResult>";
  co_await c.ex.respond(xml_response(std::move(body)));
}

// ListObjects (v1) and ListObjectsV2.
asio::awaitable<void> s3_api::list_objects(call& c, bool v2) {
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  auto prefix = c.param("prefix").value_or("");
  auto delimiter = c.param("delimiter").value_or("");
  auto encoding = c.param("encoding-type");
  if (encoding && *encoding != "url") co_return co_await c.fail(invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", *encoding));
  bool url = encoding.has_value();
  auto max_keys_given = count_param(c.param("max-keys"), max_list, max_list);
  if (!max_keys_given)
    co_return co_await c.fail(invalid_argument("Provided max-keys not an integer or within integer range", "max-keys",
                                               c.param("max-keys").value_or("")));
  int max_keys = *max_keys_given;
  std::string cursor;
  bool inclusive = false;
  auto token = c.param("continuation-token");
  auto start_after = c.param("start-after");
  auto marker = c.param("marker");
  if (v2 && token) {
    auto t = token_decode(*token);
    if (!t) co_return co_await c.fail(invalid_argument("The continuation token provided is incorrect", "continuation-token", *token));
    cursor = t->first;
    inclusive = t->second;
  } else if (v2 && start_after) {
    cursor = *start_after;
  } else if (!v2 && marker) {
    cursor = *marker;
  }
  // A cursor inside a rolled-up common prefix skips the rest of it.
  if (!delimiter.empty() && !inclusive && cursor.size() > prefix.size() && cursor.rfind(prefix, 0) == 0) {
    auto at = cursor.find(delimiter, prefix.size());
    if (at != std::string::npos) {
      cursor = after_prefix(cursor.substr(0, at + delimiter.size()));
      inclusive = true;
    }
  }
  auto enc = [&](const std::string& s) { return xml_escape(url ? core::uri_encode(s, true) : s); };
  std::string contents, prefixes;
  int count = 0;
  bool truncated = false;
  std::string last;  // the last key or prefix returned (v1 NextMarker)
  while (true) {
    if (count >= max_keys) {
      auto more = store_.list_current(c.bucket, prefix, cursor, inclusive, 1);
      if (!more) co_return co_await c.fail(from_core(more.error()));
      truncated = !more->empty();
      break;
    }
    auto asked = static_cast<std::size_t>(max_keys - count);
    auto rows = store_.list_current(c.bucket, prefix, cursor, inclusive, asked);
    if (!rows) co_return co_await c.fail(from_core(rows.error()));
    if (rows->empty()) break;
    bool jumped = false;
    for (const auto& row : *rows) {
      if (count >= max_keys) break;
      if (!delimiter.empty()) {
        auto at = row.key.find(delimiter, prefix.size());
        if (at != std::string::npos) {
          auto common = row.key.substr(0, at + delimiter.size());
          prefixes += "<CommonPrefixes><Prefix>" + enc(common) + "</Prefix></CommonPrefixes>";
          ++count;
          last = common;
          cursor = after_prefix(common);
          inclusive = true;
          jumped = true;
          break;
        }
      }
      contents += "<Contents><Key>" + enc(row.key) + "</Key><LastModified>" + last_modified_iso(row.last_modified_ms) +
                  "</LastModified><ETag>" + xml_escape(row.etag) + "</ETag><Size>" + std::to_string(row.size) +
                  "</Size>";
      if (!v2 || c.param("fetch-owner") == "true")
        contents += "<Owner><ID>" + xml_escape(settings_.owner_id) + "</ID><DisplayName>airfleet</DisplayName></Owner>";
      contents += "<StorageClass>STANDARD</StorageClass></Contents>";
      ++count;
      last = row.key;
      cursor = row.key;
      inclusive = false;
    }
    if (!jumped && rows->size() < asked) break;  // nothing more to list
  }
  std::string body = "<ListBucketResult xmlns=\"" + std::string(xmlns) + "\"><Name>" + xml_escape(c.bucket) +
                     "</Name><Prefix>" + enc(prefix) + "</Prefix>";
  if (v2) {
    if (token) body += "<ContinuationToken>" + xml_escape(*token) + "</ContinuationToken>";
    if (start_after) body += "<StartAfter>" + enc(*start_after) + "</StartAfter>";
    body += "<KeyCount>" + std::to_string(count) + "</KeyCount>";
  } else {
    body += "<Marker>" + enc(marker.value_or("")) + "</Marker>";
  }
  body += "<MaxKeys>" + std::to_string(max_keys) + "</MaxKeys>";
  if (!delimiter.empty()) body += "<Delimiter>" + enc(delimiter) + "</Delimiter>";
  if (url) body += "<EncodingType>url</EncodingType>";
  body += std::string("<IsTruncated>") + (truncated ? "true" : "false") + "</IsTruncated>";
  if (truncated) {
    if (v2) body += "<NextContinuationToken>" + xml_escape(token_encode(cursor, inclusive)) + "</NextContinuationToken>";
    else if (!delimiter.empty()) body += "<NextMarker>" + enc(last) + "</NextMarker>";
  }
  body += contents + prefixes + "</ListBucketResult>";
  co_await c.ex.respond(xml_response(std::move(body)));
}

asio::awaitable<void> s3_api::list_versions(call& c) {
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  auto prefix = c.param("prefix").value_or("");
  auto delimiter = c.param("delimiter").value_or("");
  bool url = c.param("encoding-type") == "url";
  auto max_keys_given = count_param(c.param("max-keys"), max_list, max_list);
  if (!max_keys_given)
    co_return co_await c.fail(invalid_argument("Provided max-keys not an integer or within integer range", "max-keys",
                                               c.param("max-keys").value_or("")));
  int max_keys = *max_keys_given;
  auto key_marker = c.param("key-marker").value_or("");
  auto version_marker = c.param("version-id-marker").value_or("");
  std::int64_t before_seq = 0;
  if (!version_marker.empty()) {
    if (key_marker.empty())
      co_return co_await c.fail(invalid_argument("A version-id marker cannot be specified without a key marker.",
                                               "version-id-marker", version_marker));
    auto v = store_.find_object(c.bucket, key_marker, version_marker);
    if (!v) co_return co_await c.fail(from_core(v.error()));
    if (!*v) co_return co_await c.fail(invalid_argument("Invalid version id specified", "version-id-marker", version_marker));
    before_seq = (*v)->seq;
  }
  auto enc = [&](const std::string& s) { return xml_escape(url ? core::uri_encode(s, true) : s); };
  std::string from_key = key_marker;
  bool from_inclusive = false;
  if (!delimiter.empty() && before_seq == 0 && from_key.size() > prefix.size() && from_key.rfind(prefix, 0) == 0) {
    auto at = from_key.find(delimiter, prefix.size());
    if (at != std::string::npos) {
      from_key = after_prefix(from_key.substr(0, at + delimiter.size()));
      from_inclusive = true;
    }
  }
  std::string items, prefixes;
  int count = 0;
  bool truncated = false;
  std::string next_key, next_version;
  std::string owner = "<Owner><ID>" + xml_escape(settings_.owner_id) + "</ID><DisplayName>airfleet</DisplayName></Owner>";
  while (true) {
    auto asked = static_cast<std::size_t>(max_keys - count + 1);  // one more tells whether it is truncated
    auto rows = store_.list_versions(c.bucket, prefix, from_key, before_seq, from_inclusive, asked);
    if (!rows) co_return co_await c.fail(from_core(rows.error()));
    if (rows->empty()) break;
    bool jumped = false, stop = false;
    for (const auto& row : *rows) {
      if (count >= max_keys) {
        truncated = true;
        stop = true;
        break;
      }
      if (!delimiter.empty()) {
        auto at = row.key.find(delimiter, prefix.size());
        if (at != std::string::npos) {
          auto common = row.key.substr(0, at + delimiter.size());
          prefixes += "<CommonPrefixes><Prefix>" + enc(common) + "</Prefix></CommonPrefixes>";
          ++count;
          next_key = common;
          next_version.clear();
          from_key = after_prefix(common);
          from_inclusive = true;
          before_seq = 0;
          jumped = true;
          break;
        }
      }
      std::string common = "<Key>" + enc(row.key) + "</Key><VersionId>" + xml_escape(row.version_id) +
                           "</VersionId><IsLatest>" + (row.is_latest ? "true" : "false") + "</IsLatest><LastModified>" +
                           last_modified_iso(row.last_modified_ms) + "</LastModified>";
      if (row.delete_marker) {
        items += "<DeleteMarker>" + common + owner + "</DeleteMarker>";
      } else {
        items += "<Version>" + common + "<ETag>" + xml_escape(row.etag) + "</ETag><Size>" + std::to_string(row.size) +
                 "</Size><StorageClass>STANDARD</StorageClass>" + owner + "</Version>";
      }
      ++count;
      next_key = row.key;
      next_version = row.version_id;
      from_key = row.key;
      before_seq = row.seq;
      from_inclusive = false;
    }
    if (stop) break;
    if (!jumped && rows->size() < asked) break;  // nothing more to list
  }
  std::string body = "<ListVersionsResult xmlns=\"" + std::string(xmlns) + "\"><Name>" + xml_escape(c.bucket) +
                     "</Name><Prefix>" + enc(prefix) + "</Prefix><KeyMarker>" + enc(key_marker) +
                     "</KeyMarker><VersionIdMarker>" + xml_escape(version_marker) + "</VersionIdMarker><MaxKeys>" +
                     std::to_string(max_keys) + "</MaxKeys>";
  if (!delimiter.empty()) body += "<Delimiter>" + enc(delimiter) + "</Delimiter>";
  if (url) body += "<EncodingType>url</EncodingType>";
  body += std::string("<IsTruncated>") + (truncated ? "true" : "false") + "</IsTruncated>";
  if (truncated) {
    body += "<NextKeyMarker>" + enc(next_key) + "</NextKeyMarker>";
    if (!next_version.empty()) body += "<NextVersionIdMarker>" + xml_escape(next_version) + "</NextVersionIdMarker>";
  }
  body += items + prefixes + "</ListVersionsResult>";
  co_await c.ex.respond(xml_response(std::move(body)));
}

asio::awaitable<void> s3_api::list_uploads(call& c) {
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  auto prefix = c.param("prefix").value_or("");
  auto key_marker = c.param("key-marker").value_or("");
  auto upload_marker = c.param("upload-id-marker").value_or("");
  auto max_given = count_param(c.param("max-uploads"), max_list, max_list);
  if (!max_given)
    co_return co_await c.fail(invalid_argument("Provided max-uploads not an integer or within integer range",
                                               "max-uploads", c.param("max-uploads").value_or("")));
  int max = *max_given;
  auto rows = store_.list_uploads(c.bucket, prefix, key_marker, upload_marker, static_cast<std::size_t>(max + 1));
  if (!rows) co_return co_await c.fail(from_core(rows.error()));
  bool truncated = static_cast<int>(rows->size()) > max;
  if (truncated) rows->resize(static_cast<std::size_t>(max));
  std::string body = "<ListMultipartUploadsResult xmlns=\"" + std::string(xmlns) + "\"><Bucket>" +
                     xml_escape(c.bucket) + "</Bucket><KeyMarker>" + xml_escape(key_marker) +
                     "</KeyMarker><UploadIdMarker>" + xml_escape(upload_marker) + "</UploadIdMarker>";
  if (truncated && !rows->empty())
    body += "<NextKeyMarker>" + xml_escape(rows->back().key) + "</NextKeyMarker><NextUploadIdMarker>" +
            xml_escape(rows->back().upload_id) + "</NextUploadIdMarker>";
  body += "<Prefix>" + xml_escape(prefix) + "</Prefix><MaxUploads>" + std::to_string(max) +
          "</MaxUploads><IsTruncated>" + (truncated ? "true" : "false") + "</IsTruncated>";
  for (const auto& u : *rows)
    body += "<Upload><Key>" + xml_escape(u.key) + "</Key><UploadId>" + xml_escape(u.upload_id) +
            "</UploadId><Initiated>" + last_modified_iso(u.created_ms) +
            "</Initiated><StorageClass>STANDARD</StorageClass></Upload>";
  body += "</ListMultipartUploadsResult>";
  co_await c.ex.respond(xml_response(std::move(body)));
}

// Deletes as DeleteObject does; fills whether a marker was involved and the version id.
core::result<std::vector<std::string>> s3_api::delete_one(const std::string& bucket_name, const std::string& key,
                                                          const std::optional<std::string>& version_id,
                                                          const storage::s3_bucket_row& b, bool& marker,
                                                          std::string& version_out) {
  marker = false;
  version_out.clear();
  if (version_id) {
    auto existing = store_.find_object(bucket_name, key, *version_id);
    if (!existing) return existing.error();
    if (!*existing) {
      // S3 answers a missing version of a missing key with success.
      version_out = *version_id;
      return std::vector<std::string>{};
    }
    marker = (*existing)->delete_marker;
    version_out = *version_id;
    auto freed = store_.delete_version(bucket_name, key, *version_id);
    if (!freed && freed.error().code == storage::make_error_code(storage::s3_store_errc::no_such_version))
      return std::vector<std::string>{};
    return freed;
  }
  if (b.versioning.empty()) {
    auto freed = store_.delete_version(bucket_name, key, "null");
    if (!freed && freed.error().code == storage::make_error_code(storage::s3_store_errc::no_such_version))
      return std::vector<std::string>{};
    return freed;
  }
  storage::s3_object_row m;
  m.bucket = bucket_name;
  m.key = key;
  m.version_id = b.versioning == "Enabled" ? new_version_id() : "null";
  m.delete_marker = true;
  m.etag = "";
  m.last_modified_ms = core::to_epoch_millis(clock_.now());
  marker = true;
  version_out = m.version_id;
  return store_.put_object(std::move(m));
}

asio::awaitable<void> s3_api::delete_objects(call& c) {
  auto doc = co_await read_xml(c, "Delete");
  if (!doc) co_return;
  auto objects = doc->all("Object");
  if (objects.empty() || objects.size() > 1000) co_return co_await c.fail(malformed_xml());
  bool quiet = doc->child("Quiet") && doc->child("Quiet")->text == "true";
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  std::string out = "<DeleteResult xmlns=\"" + std::string(xmlns) + "\">";
  for (const auto* o : objects) {
    auto key = o->child("Key");
    if (!key) co_return co_await c.fail(malformed_xml());
    std::optional<std::string> vid;
    if (auto v = o->child("VersionId")) vid = v->text;
    bool marker = false;
    std::string version;
    auto freed = co_await on_blocking([&] { return delete_one(c.bucket, key->text, vid, *b, marker, version); });
    if (!freed) {
      auto e = from_core(freed.error());
      out += "<Error><Key>" + xml_escape(key->text) + "</Key>" +
             (vid ? "<VersionId>" + xml_escape(*vid) + "</VersionId>" : std::string()) + "<Code>" + e.code +
             "</Code><Message>" + xml_escape(e.message) + "</Message></Error>";
      continue;
    }
    remove_blobs(*freed);
    if (quiet) continue;
    out += "<Deleted><Key>" + xml_escape(key->text) + "</Key>";
    if (vid) out += "<VersionId>" + xml_escape(*vid) + "</VersionId>";
    if (marker) {
      out += "<DeleteMarker>true</DeleteMarker>";
      if (!vid) out += "<DeleteMarkerVersionId>" + xml_escape(version) + "</DeleteMarkerVersionId>";
    }
    out += "</Deleted>";
  }
  out += "</DeleteResult>";
  co_await c.ex.respond(xml_response(std::move(out)));
}

// ---------------------------------------------------------------------------
// Objects.

namespace {
// Whether an upload asks for encryption; an error for what is not offered.
std::optional<s3_error> encryption_request(const http::request_header& h, bool& encrypt) {
  auto it = h.find("x-amz-server-side-encryption");
  if (it != h.end()) {
    if (it->value() == "AES256") {
      encrypt = true;
    } else if (it->value().starts_with("aws:kms")) {
      return s3_error{bhttp::status::not_implemented, "NotImplemented",
                      "airfleet encrypts with its own keys (AES256); KMS is not available"};
    } else {
      return invalid_argument("The encryption method specified is not supported", "x-amz-server-side-encryption",
                              std::string(it->value()));
    }
  }
  if (h.find("x-amz-server-side-encryption-customer-algorithm") != h.end())
    return s3_error{bhttp::status::not_implemented, "NotImplemented", "SSE-C is not implemented"};
  return std::nullopt;
}
}  // namespace

asio::awaitable<void> s3_api::put_object(call& c) {
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  if (metadata_bytes(c.ex.header()) > 2048)
    co_return co_await c.fail(err(bhttp::status::bad_request, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size."));
  bool encrypt = b->encryption.has_value();
  if (auto e = encryption_request(c.ex.header(), encrypt)) co_return co_await c.fail(*e);
  auto writer = blobs_.create(encrypt);
  if (!writer) co_return co_await c.fail(internal(writer.error().message));
  auto in = co_await ingest(c, *writer);
  if (!in) co_return co_await c.fail(ingest_error(in.error()));
  auto info = co_await on_blocking([&] { return writer->commit(); });
  if (!info) co_return co_await c.fail(internal(info.error().message));

  storage::s3_object_row row;
  row.bucket = c.bucket;
  row.key = c.key;
  row.version_id = b->versioning == "Enabled" ? new_version_id() : "null";
  row.size = static_cast<std::int64_t>(in->size);
  row.etag = quote_etag(hex_of(in->md5_raw));
  row.last_modified_ms = core::to_epoch_millis(clock_.now());
  row.content_type = content_type_of(c.ex.header());
  row.headers = object_headers(c.ex.header(), in->checksum_name, in->checksum_value);
  row.encrypted = encrypt;
  row.blobs = {{info->id, static_cast<std::int64_t>(info->size)}};
  auto freed = co_await on_blocking([&] { return store_.put_object(row); });
  if (!freed) {
    blobs_.remove(info->id);
    auto e = from_core(freed.error());
    if (e.code == "NoSuchBucket") e = no_such_bucket(c.bucket);
    co_return co_await c.fail(e);
  }
  remove_blobs(*freed);
  auto res = empty_response(bhttp::status::ok);
  res.set(bhttp::field::etag, row.etag);
  if (!b->versioning.empty()) res.set("x-amz-version-id", row.version_id);
  if (encrypt) res.set("x-amz-server-side-encryption", "AES256");
  if (!in->checksum_name.empty()) res.set(in->checksum_name, in->checksum_value);
  co_await c.ex.respond(std::move(res));
}

asio::awaitable<void> s3_api::copy_object(call& c) {
  auto source = c.header("x-amz-copy-source");
  std::string_view src = source;
  if (!src.empty() && src[0] == '/') src.remove_prefix(1);
  std::optional<std::string> src_version;
  if (auto q = src.find('?'); q != std::string_view::npos) {
    auto qs = src.substr(q + 1);
    src = src.substr(0, q);
    if (qs.rfind("versionId=", 0) == 0) src_version = core::uri_decode(qs.substr(10)).value_or("");
  }
  auto slash = src.find('/');
  if (slash == std::string_view::npos)
    co_return co_await c.fail(invalid_argument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                                             "x-amz-copy-source", source));
  auto src_bucket = core::uri_decode(src.substr(0, slash));
  auto src_key = core::uri_decode(src.substr(slash + 1));
  if (!src_bucket || !src_key || src_key->empty())
    co_return co_await c.fail(invalid_argument("Invalid copy source encoding", "x-amz-copy-source", source));
  auto target_bucket = bucket(c.bucket);
  if (!target_bucket) co_return co_await c.fail(no_such_bucket(c.bucket));
  if (!bucket(*src_bucket)) co_return co_await c.fail(no_such_bucket(*src_bucket));
  auto from = store_.find_object(*src_bucket, *src_key, src_version);
  if (!from) co_return co_await c.fail(from_core(from.error()));
  if (!*from || (*from)->delete_marker) {
    if (src_version) co_return co_await c.fail(err(bhttp::status::bad_request, "InvalidRequest", "The source of a copy request may not specifically refer to a delete marker by version id."));
    co_return co_await c.fail(no_such_key(*src_key));
  }
  auto& obj = **from;
  bool replace = c.header("x-amz-metadata-directive") == "REPLACE";
  if (*src_bucket == c.bucket && *src_key == c.key && !src_version && !replace &&
      !c.has_header("x-amz-server-side-encryption"))
    co_return co_await c.fail(err(bhttp::status::bad_request, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without "
                             "changing the object's metadata, storage class, website redirect location or encryption "
                             "attributes."));
  bool encrypt = target_bucket->encryption.has_value();
  if (auto e = encryption_request(c.ex.header(), encrypt)) co_return co_await c.fail(*e);
  // The copy streams blob to blob on the blocking pool.
  auto copied = co_await on_blocking([&]() -> core::result<std::pair<s3::blob_info, std::string>> {
    auto writer = blobs_.create(encrypt);
    if (!writer) return writer.error();
    core::hasher md5(core::hasher::kind::md5);
    std::vector<char> buf(io_piece);
    for (const auto& ref : obj.blobs) {
      auto reader = blobs_.open(ref.id);
      if (!reader) return reader.error();
      std::uint64_t off = 0;
      while (off < reader->size()) {
        auto n = reader->read(off, buf.data(), buf.size());
        if (!n) return n.error();
        if (*n == 0) break;
        std::string_view piece(buf.data(), *n);
        md5.update(piece);
        if (auto w = writer->write(piece); !w) return w.error();
        off += *n;
      }
    }
    auto info = writer->commit();
    if (!info) return info.error();
    return std::make_pair(*info, md5.finish_raw());
  });
  if (!copied) co_return co_await c.fail(internal(copied.error().message));
  storage::s3_object_row row;
  row.bucket = c.bucket;
  row.key = c.key;
  row.version_id = target_bucket->versioning == "Enabled" ? new_version_id() : "null";
  row.size = static_cast<std::int64_t>(copied->first.size);
  row.etag = obj.blobs.size() <= 1 ? obj.etag : quote_etag(hex_of(copied->second));
  row.last_modified_ms = core::to_epoch_millis(clock_.now());
  if (replace) {
    row.content_type = content_type_of(c.ex.header());
    row.headers = object_headers(c.ex.header(), "", "");
  } else {
    row.content_type = obj.content_type;
    row.headers = obj.headers;
  }
  row.encrypted = encrypt;
  row.blobs = {{copied->first.id, static_cast<std::int64_t>(copied->first.size)}};
  auto freed = co_await on_blocking([&] { return store_.put_object(row); });
  if (!freed) {
    blobs_.remove(copied->first.id);
    co_return co_await c.fail(from_core(freed.error()));
  }
  remove_blobs(*freed);
  auto res = xml_response("<CopyObjectResult xmlns=\"" + std::string(xmlns) + "\"><LastModified>" +
                          last_modified_iso(row.last_modified_ms) + "</LastModified><ETag>" + xml_escape(row.etag) +
                          "</ETag></CopyObjectResult>");
  if (!target_bucket->versioning.empty()) res.set("x-amz-version-id", row.version_id);
  if (obj.version_id != "null") res.set("x-amz-copy-source-version-id", obj.version_id);
  if (encrypt) res.set("x-amz-server-side-encryption", "AES256");
  co_await c.ex.respond(std::move(res));
}

asio::awaitable<void> s3_api::get_object(call& c, bool head) {
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  auto version = c.param("versionId");
  if (version && version->empty()) co_return co_await c.fail(invalid_argument("Version id cannot be the empty string", "versionId", ""));
  auto found = store_.find_object(c.bucket, c.key, version);
  if (!found) co_return co_await c.fail(from_core(found.error()));
  if (!*found) {
    if (version) {
      if (!valid_bucket_name(c.bucket) || version->size() > 64)
        co_return co_await c.fail(invalid_argument("Invalid version id specified", "versionId", *version));
      co_return co_await c.fail(no_such_version(c.key, *version));
    }
    co_return co_await c.fail(no_such_key(c.key));
  }
  auto& obj = **found;
  if (obj.delete_marker) {
    auto e = no_such_key(c.key);
    if (version) e = method_not_allowed();
    auto res = error_response(e, c.request_id, c.resource());
    res.set("x-amz-delete-marker", "true");
    if (!b->versioning.empty()) res.set("x-amz-version-id", obj.version_id);
    {
    co_await c.ex.respond(std::move(res));
    co_return;
  }
  }
  auto last_modified = core::from_epoch_millis(obj.last_modified_ms);
  auto lm_seconds = std::chrono::floor<std::chrono::seconds>(last_modified);

  // Conditional requests (RFC 7232 order, as S3 applies it).
  auto etag_matches = [&](std::string_view list) {
    for (auto part : core::split(list, ',')) {
      auto t = core::trim(part);
      if (t == "*" || unquote(t) == unquote(obj.etag)) return true;
    }
    return false;
  };
  auto if_match = c.header("if-match");
  auto if_none_match = c.header("if-none-match");
  auto if_modified_since = c.header("if-modified-since");
  auto if_unmodified_since = c.header("if-unmodified-since");
  auto base_headers = [&](http::response_header& h) {
    h.set(bhttp::field::etag, obj.etag);
    h.set(bhttp::field::last_modified, core::format_http_date(last_modified));
    if (!b->versioning.empty()) h.set("x-amz-version-id", obj.version_id);
  };
  auto not_modified = [&]() -> asio::awaitable<void> {
    http::response res{bhttp::status::not_modified, 11};
    base_headers(res.base());
    co_await c.ex.respond(std::move(res));
  };
  auto precondition = [&]() -> asio::awaitable<void> {
    co_await c.fail(err(bhttp::status::precondition_failed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"));
  };
  if (!if_match.empty()) {
    if (!etag_matches(if_match)) co_return co_await precondition();
  } else if (!if_unmodified_since.empty()) {
    auto t = core::parse_http_date(if_unmodified_since);
    if (t && lm_seconds > *t) co_return co_await precondition();
  }
  if (!if_none_match.empty()) {
    if (etag_matches(if_none_match)) co_return co_await not_modified();
  } else if (!if_modified_since.empty()) {
    auto t = core::parse_http_date(if_modified_since);
    if (t && *t <= clock_.now() && lm_seconds <= *t)
      co_return co_await not_modified();
  }

  // Range.
  std::uint64_t size = static_cast<std::uint64_t>(obj.size);
  std::uint64_t first = 0, last = size == 0 ? 0 : size - 1;
  bool ranged = false;
  auto range = c.header("range");
  if (!range.empty() && range.rfind("bytes=", 0) == 0 && range.find(',') == std::string::npos) {
    auto spec = std::string_view(range).substr(6);
    auto dash = spec.find('-');
    bool ok = dash != std::string_view::npos;
    std::uint64_t a = 0, z = 0;
    auto parse = [](std::string_view s, std::uint64_t& v) {
      if (s.empty()) return false;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      return ec == std::errc{} && p == s.data() + s.size();
    };
    if (ok) {
      auto left = core::trim(spec.substr(0, dash)), right = core::trim(spec.substr(dash + 1));
      if (left.empty()) {  // suffix: the last z bytes
        ok = parse(right, z);
        if (ok) {
          if (z == 0 || size == 0) {
            auto res = error_response(invalid_range(range, size), c.request_id, c.resource());
            res.set(bhttp::field::content_range, "bytes */" + std::to_string(size));
            {
    co_await c.ex.respond(std::move(res));
    co_return;
  }
          }
          first = z >= size ? 0 : size - z;
          last = size - 1;
          ranged = true;
        }
      } else {
        ok = parse(left, a) && (right.empty() || parse(right, z));
        if (ok) {
          if (!right.empty() && z < a) {
            ok = false;  // syntactically invalid: ignored, the whole object follows
          } else if (a >= size) {
            auto res = error_response(invalid_range(range, size), c.request_id, c.resource());
            res.set(bhttp::field::content_range, "bytes */" + std::to_string(size));
            {
    co_await c.ex.respond(std::move(res));
    co_return;
  }
          } else {
            first = a;
            last = right.empty() ? size - 1 : std::min(z, size - 1);
            ranged = true;
          }
        }
      }
    }
  } else if (auto pn = c.param("partNumber")) {
    if (*pn != "1")
      co_return co_await c.fail(invalid_argument("Part number must be 1 for objects uploaded whole", "partNumber", *pn));
  }
  std::uint64_t length = size == 0 ? 0 : last - first + 1;

  http::response_header h;
  h.result(ranged ? bhttp::status::partial_content : bhttp::status::ok);
  base_headers(h);
  h.set(bhttp::field::content_length, std::to_string(length));
  h.set(bhttp::field::accept_ranges, "bytes");
  if (ranged)
    h.set(bhttp::field::content_range,
          "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size));
  h.set(bhttp::field::content_type, obj.content_type.value_or("binary/octet-stream"));
  if (obj.encrypted) h.set("x-amz-server-side-encryption", "AES256");
  if (obj.blobs.size() > 1) h.set("x-amz-mp-parts-count", std::to_string(obj.blobs.size()));
  bool checksum_mode = core::iequals(c.header("x-amz-checksum-mode"), "ENABLED");
  if (auto stored = json::parse(obj.headers); stored.is_object()) {
    for (const auto& [k, v] : stored.as_object()) {
      if (!v.is_string()) continue;
      if (k.starts_with("x-amz-checksum-") && !checksum_mode) continue;
      h.set(std::string_view(k), std::string_view(v.as_string()));
    }
  }
  static const std::pair<std::string_view, bhttp::field> overrides[] = {
      {"response-content-type", bhttp::field::content_type},
      {"response-content-language", bhttp::field::content_language},
      {"response-expires", bhttp::field::expires},
      {"response-cache-control", bhttp::field::cache_control},
      {"response-content-disposition", bhttp::field::content_disposition},
      {"response-content-encoding", bhttp::field::content_encoding}};
  for (const auto& [name, field] : overrides)
    if (auto v = c.param(name)) h.set(field, *v);

  if (head) {
    co_await c.ex.write_header(h);
    co_return;
  }
  // Open every blob before the first byte goes out, and read the first
  // piece, so a missing or damaged blob is still a clean 500.
  std::vector<s3::blob_reader> readers;
  for (const auto& ref : obj.blobs) {
    auto r = blobs_.open(ref.id);
    if (!r) co_return co_await c.fail(internal("object " + c.bucket + "/" + c.key + ": " + r.error().message));
    readers.push_back(std::move(*r));
  }
  // Which segments the range covers.
  struct span {
    std::size_t index;
    std::uint64_t offset, length;
  };
  std::vector<span> spans;
  {
    std::uint64_t base = 0;
    for (std::size_t i = 0; i < readers.size() && length > 0; ++i) {
      std::uint64_t seg = readers[i].size();
      std::uint64_t seg_first = base, seg_last = base + seg;  // [first, last)
      std::uint64_t want_first = first, want_last = last + 1;
      auto lo = std::max(seg_first, want_first), hi = std::min(seg_last, want_last);
      if (lo < hi) spans.push_back({i, lo - base, hi - lo});
      base += seg;
    }
  }
  // Plain blobs go out with sendfile and need no buffer; encrypted ones are
  // decrypted one chunk at a time, so 1,000 downloads hold 1,000 chunks.
  std::vector<char> buf;
  bool any_encrypted = false;
  for (const auto& sp : spans) any_encrypted = any_encrypted || readers[sp.index].plain_fd() < 0;
  if (any_encrypted) buf.resize(s3::encrypted_chunk_bytes);
  std::optional<std::size_t> prefetched;
  if (!spans.empty() && readers[spans[0].index].plain_fd() < 0) {
    auto n = readers[spans[0].index].read(spans[0].offset, buf.data(),
                                          static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), spans[0].length)));
    if (!n || *n == 0) {
      std::string why = n ? std::string("short blob") : n.error().message;
      co_return co_await c.fail(internal("object " + c.bucket + "/" + c.key + " cannot be read: " + why));
    }
    prefetched = *n;
  }
  if (!co_await c.ex.write_header(h)) co_return;
  for (std::size_t s = 0; s < spans.size(); ++s) {
    auto& reader = readers[spans[s].index];
    std::uint64_t off = spans[s].offset, left = spans[s].length;
    if (reader.plain_fd() >= 0) {
      if (!co_await c.ex.write_file(reader.plain_fd(), off, left)) co_return;
      continue;
    }
    while (left > 0) {
      std::size_t n;
      if (s == 0 && prefetched) {
        n = *prefetched;
        prefetched.reset();
      } else {
        auto r = reader.read(off, buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), left)));
        if (!r || *r == 0) {
          // Headers are out: the only honest thing left is to cut the body short.
          spdlog::error("s3: object {}/{} failed mid-read: {}", c.bucket, c.key,
                        r ? std::string("short blob") : r.error().message);
          c.ex.abort();
          co_return;
        }
        n = *r;
      }
      if (!co_await c.ex.write_body(std::string_view(buf.data(), n))) co_return;
      off += n;
      left -= n;
    }
  }
}

asio::awaitable<void> s3_api::delete_object(call& c) {
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  auto version = c.param("versionId");
  bool marker = false;
  std::string version_out;
  auto freed = co_await on_blocking([&] { return delete_one(c.bucket, c.key, version, *b, marker, version_out); });
  if (!freed) co_return co_await c.fail(from_core(freed.error()));
  remove_blobs(*freed);
  auto res = empty_response(bhttp::status::no_content);
  if (marker) res.set("x-amz-delete-marker", "true");
  if (!version_out.empty() && (version || !b->versioning.empty())) res.set("x-amz-version-id", version_out);
  co_await c.ex.respond(std::move(res));
}

// ---------------------------------------------------------------------------
// Multipart uploads.

asio::awaitable<void> s3_api::create_upload(call& c) {
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  if (auto body = co_await read_document(c); !body) co_return co_await c.fail(ingest_error(body.error()));
  bool encrypt = b->encryption.has_value();
  if (auto e = encryption_request(c.ex.header(), encrypt)) co_return co_await c.fail(*e);
  storage::s3_upload_row row;
  // Letters and digits only: an id that starts with '-' reads as an option to the CLI.
  row.upload_id = core::random_string(48, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
  row.bucket = c.bucket;
  row.key = c.key;
  row.created_ms = core::to_epoch_millis(clock_.now());
  row.content_type = content_type_of(c.ex.header());
  row.headers = object_headers(c.ex.header(), "", "");
  row.encrypted = encrypt;
  auto created = co_await on_blocking([&] { return store_.create_upload(row); });
  if (!created) co_return co_await c.fail(from_core(created.error()));
  auto res = xml_response("<InitiateMultipartUploadResult xmlns=\"" + std::string(xmlns) + "\"><Bucket>" +
                          xml_escape(c.bucket) + "</Bucket><Key>" + xml_escape(c.key) + "</Key><UploadId>" +
                          row.upload_id + "</UploadId></InitiateMultipartUploadResult>");
  if (encrypt) res.set("x-amz-server-side-encryption", "AES256");
  co_await c.ex.respond(std::move(res));
}

asio::awaitable<void> s3_api::upload_part(call& c) {
  auto upload_id = c.param("uploadId").value_or("");
  auto pn = c.param("partNumber").value_or("");
  int part = 0;
  auto [p, ec] = std::from_chars(pn.data(), pn.data() + pn.size(), part);
  if (ec != std::errc{} || p != pn.data() + pn.size() || part < 1 || part > 10000)
    co_return co_await c.fail(invalid_argument("Part number must be an integer between 1 and 10000, inclusive",
                                             "partNumber", pn));
  if (c.has_header("x-amz-copy-source"))
    co_return co_await c.fail(err(bhttp::status::not_implemented, "NotImplemented", "UploadPartCopy is not implemented"));
  auto upload = store_.find_upload(upload_id);
  if (!upload) co_return co_await c.fail(from_core(upload.error()));
  if (!*upload || (*upload)->bucket != c.bucket || (*upload)->key != c.key)
    co_return co_await c.fail(no_such_upload(upload_id));
  auto writer = blobs_.create((*upload)->encrypted);
  if (!writer) co_return co_await c.fail(internal(writer.error().message));
  auto in = co_await ingest(c, *writer);
  if (!in) co_return co_await c.fail(ingest_error(in.error()));
  auto info = co_await on_blocking([&] { return writer->commit(); });
  if (!info) co_return co_await c.fail(internal(info.error().message));
  storage::s3_part_row row{upload_id, part, static_cast<std::int64_t>(in->size), quote_etag(hex_of(in->md5_raw)),
                           info->id, core::to_epoch_millis(clock_.now())};
  auto freed = co_await on_blocking([&] { return store_.put_part(row); });
  if (!freed) {
    blobs_.remove(info->id);
    co_return co_await c.fail(from_core(freed.error()));
  }
  remove_blobs(*freed);
  auto res = empty_response(bhttp::status::ok);
  res.set(bhttp::field::etag, row.etag);
  if ((*upload)->encrypted) res.set("x-amz-server-side-encryption", "AES256");
  if (!in->checksum_name.empty()) res.set(in->checksum_name, in->checksum_value);
  co_await c.ex.respond(std::move(res));
}

asio::awaitable<void> s3_api::complete_upload(call& c) {
  auto upload_id = c.param("uploadId").value_or("");
  auto body = co_await read_document(c);
  if (!body) co_return co_await c.fail(ingest_error(body.error()));
  auto upload = store_.find_upload(upload_id);
  if (!upload) co_return co_await c.fail(from_core(upload.error()));
  if (!*upload || (*upload)->bucket != c.bucket || (*upload)->key != c.key)
    co_return co_await c.fail(no_such_upload(upload_id));
  auto doc = s3::parse_xml(*body);
  if (!doc || doc->name != "CompleteMultipartUpload") co_return co_await c.fail(malformed_xml());
  auto listed = doc->all("Part");
  if (listed.empty())
    co_return co_await c.fail(err(bhttp::status::bad_request, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published "
                             "schema"));
  auto stored = store_.list_parts(upload_id, 0, 10001);
  if (!stored) co_return co_await c.fail(from_core(stored.error()));
  std::map<int, storage::s3_part_row> by_number;
  for (auto& p : *stored) by_number.emplace(p.part_number, p);
  int previous = 0;
  std::string md5s;
  storage::s3_object_row row;
  for (std::size_t i = 0; i < listed.size(); ++i) {
    auto number = listed[i]->child("PartNumber");
    auto etag = listed[i]->child("ETag");
    int n = 0;
    if (!number || !etag) co_return co_await c.fail(malformed_xml());
    auto [p, ec] = std::from_chars(number->text.data(), number->text.data() + number->text.size(), n);
    if (ec != std::errc{}) co_return co_await c.fail(malformed_xml());
    if (n <= previous)
      co_return co_await c.fail(invalid_part_order(upload_id));
    previous = n;
    auto it = by_number.find(n);
    if (it == by_number.end() || unquote(it->second.etag) != unquote(etag->text))
      co_return co_await c.fail(invalid_part(upload_id, n, etag->text));
    if (i + 1 < listed.size() && static_cast<std::uint64_t>(it->second.size) < settings_.min_part_bytes)
      co_return co_await c.fail(entity_too_small(upload_id, n, it->second.size, settings_.min_part_bytes));
    auto raw = core::to_lower(unquote(it->second.etag));
    for (std::size_t k = 0; k + 1 < raw.size(); k += 2) md5s += static_cast<char>(std::stoi(raw.substr(k, 2), nullptr, 16));
    row.size += it->second.size;
    row.blobs.push_back({it->second.blob, it->second.size});
  }
  auto b = bucket(c.bucket);
  if (!b) co_return co_await c.fail(no_such_bucket(c.bucket));
  core::hasher md5(core::hasher::kind::md5);
  md5.update(md5s);
  row.bucket = c.bucket;
  row.key = c.key;
  row.version_id = b->versioning == "Enabled" ? new_version_id() : "null";
  row.etag = quote_etag(hex_of(md5.finish_raw()) + "-" + std::to_string(listed.size()));
  row.last_modified_ms = core::to_epoch_millis(clock_.now());
  row.content_type = (*upload)->content_type;
  row.headers = (*upload)->headers;
  row.encrypted = (*upload)->encrypted;
  auto freed = co_await on_blocking([&] { return store_.finish_upload(upload_id, row); });
  if (!freed) co_return co_await c.fail(from_core(freed.error()));
  remove_blobs(*freed);
  auto res = xml_response("<CompleteMultipartUploadResult xmlns=\"" + std::string(xmlns) + "\"><Location>/" +
                          xml_escape(c.bucket) + "/" + xml_escape(core::uri_encode(c.key, true)) +
                          "</Location><Bucket>" + xml_escape(c.bucket) + "</Bucket><Key>" + xml_escape(c.key) +
                          "</Key><ETag>" + xml_escape(row.etag) + "</ETag></CompleteMultipartUploadResult>");
  if (!b->versioning.empty()) res.set("x-amz-version-id", row.version_id);
  if (row.encrypted) res.set("x-amz-server-side-encryption", "AES256");
  co_await c.ex.respond(std::move(res));
}

asio::awaitable<void> s3_api::abort_upload(call& c) {
  auto upload_id = c.param("uploadId").value_or("");
  auto upload = store_.find_upload(upload_id);
  if (!upload) co_return co_await c.fail(from_core(upload.error()));
  if (!*upload || (*upload)->bucket != c.bucket || (*upload)->key != c.key)
    co_return co_await c.fail(no_such_upload(upload_id));
  auto freed = co_await on_blocking([&] { return store_.finish_upload(upload_id, std::nullopt); });
  if (!freed) co_return co_await c.fail(from_core(freed.error()));
  remove_blobs(*freed);
  co_await c.ex.respond(empty_response(bhttp::status::no_content));
}

asio::awaitable<void> s3_api::list_parts(call& c) {
  auto upload_id = c.param("uploadId").value_or("");
  auto upload = store_.find_upload(upload_id);
  if (!upload) co_return co_await c.fail(from_core(upload.error()));
  if (!*upload || (*upload)->bucket != c.bucket || (*upload)->key != c.key)
    co_return co_await c.fail(no_such_upload(upload_id));
  auto marker_given = count_param(c.param("part-number-marker"), 0, 10000);
  auto max_given = count_param(c.param("max-parts"), max_list, max_list);
  if (!marker_given || !max_given)
    co_return co_await c.fail(invalid_argument("part-number-marker and max-parts are non-negative integers"));
  int marker = *marker_given, max = *max_given;
  auto parts = store_.list_parts(upload_id, marker, static_cast<std::size_t>(max + 1));
  if (!parts) co_return co_await c.fail(from_core(parts.error()));
  bool truncated = static_cast<int>(parts->size()) > max;
  if (truncated) parts->resize(static_cast<std::size_t>(max));
  std::string body = "<ListPartsResult xmlns=\"" + std::string(xmlns) + "\"><Bucket>" + xml_escape(c.bucket) +
                     "</Bucket><Key>" + xml_escape(c.key) + "</Key><UploadId>" + xml_escape(upload_id) +
                     "</UploadId><PartNumberMarker>" + std::to_string(marker) + "</PartNumberMarker>";
  if (!parts->empty()) body += "<NextPartNumberMarker>" + std::to_string(parts->back().part_number) + "</NextPartNumberMarker>";
  body += "<MaxParts>" + std::to_string(max) + "</MaxParts><IsTruncated>" + (truncated ? "true" : "false") +
          "</IsTruncated>";
  for (const auto& p : *parts)
    body += "<Part><PartNumber>" + std::to_string(p.part_number) + "</PartNumber><LastModified>" +
            last_modified_iso(p.last_modified_ms) + "</LastModified><ETag>" + xml_escape(p.etag) + "</ETag><Size>" +
            std::to_string(p.size) + "</Size></Part>";
  body += "<StorageClass>STANDARD</StorageClass></ListPartsResult>";
  co_await c.ex.respond(xml_response(std::move(body)));
}

// ---------------------------------------------------------------------------
// Housekeeping and the jobs engine's reads.

void s3_api::sweep_orphans() {
  blobs_.clear_temporary();
  auto referenced = store_.referenced_blobs();
  if (!referenced) {
    spdlog::warn("s3: cannot list referenced blobs: {}", referenced.error().message);
    return;
  }
  std::set<std::string> keep(referenced->begin(), referenced->end());
  std::size_t removed = 0;
  for (const auto& id : blobs_.list())
    if (!keep.count(id)) {
      blobs_.remove(id);
      ++removed;
    }
  if (removed) spdlog::info("s3: removed {} blobs no object or part refers to", removed);
}

void s3_api::sweep_uploads(std::chrono::seconds max_age) {
  auto cutoff = core::to_epoch_millis(clock_.now()) -
                std::chrono::duration_cast<std::chrono::milliseconds>(max_age).count();
  auto stale = store_.stale_uploads(cutoff);
  if (!stale) return;
  for (const auto& id : *stale) {
    auto freed = store_.finish_upload(id, std::nullopt);
    if (freed) {
      remove_blobs(*freed);
      spdlog::info("s3: aborted abandoned multipart upload {}", id);
    }
  }
}

core::result<std::string> s3_api::read_object(const std::string& bucket_name, const std::string& key,
                                              std::size_t max_bytes) {
  auto found = store_.find_object(bucket_name, key, std::nullopt);
  if (!found) return found.error();
  if (!*found || (*found)->delete_marker)
    return core::make_error(storage::s3_store_errc::no_such_version, "s3://" + bucket_name + "/" + key + " does not exist");
  if (static_cast<std::size_t>((*found)->size) > max_bytes)
    return core::error{std::make_error_code(std::errc::file_too_large),
                       "s3://" + bucket_name + "/" + key + " is larger than " + std::to_string(max_bytes) + " bytes"};
  std::string out;
  for (const auto& ref : (*found)->blobs) {
    auto reader = blobs_.open(ref.id);
    if (!reader) return reader.error();
    std::string piece(reader->size(), '\0');
    std::uint64_t off = 0;
    while (off < piece.size()) {
      auto n = reader->read(off, piece.data() + off, piece.size() - off);
      if (!n) return n.error();
      if (*n == 0) break;
      off += *n;
    }
    out += piece;
  }
  return out;
}

}  // namespace airfleet::aws
