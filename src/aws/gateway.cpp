#include "aws/gateway.hpp"

#include "aws/errors.hpp"
#include "auth/presign.hpp"
#include "aws/input.hpp"
#include "core/strings.hpp"

namespace airfleet::aws {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {
std::string_view path_of(std::string_view target) {
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

// application/x-www-form-urlencoded: '+' is a space.
std::vector<std::pair<std::string, std::string>> form_params(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto part : core::split(text, '&')) {
    if (part.empty()) continue;
    std::string raw(part);
    for (char& c : raw)
      if (c == '+') c = ' ';
    auto eq = raw.find('=');
    auto name = core::uri_decode(std::string_view(raw).substr(0, eq));
    auto value = core::uri_decode(eq == std::string::npos ? std::string_view{} : std::string_view(raw).substr(eq + 1));
    if (name && value) out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}
}  // namespace

gateway::gateway(auth::authenticator& authenticator, iot_api& iot, iot_api& jobs_data, asio::thread_pool& blocking,
                 settings s)
    : authenticator_(authenticator), iot_(iot), jobs_data_(jobs_data), blocking_(blocking), settings_(std::move(s)) {}

http::response gateway::transport_error(bhttp::status status, std::string_view code, std::string_view message,
                                        const http::request_context&) const {
  return json_error(wire_error{status, std::string(code), std::string(message), {}});
}

bool gateway::claims_stream(const http::request_header& header) const {
  if (!s3_) return false;
  auto target = header.target();
  auto path = path_of(target);
  if (path == "/healthz") return false;
  auth::signed_request signed_req;
  signed_req.method = header.method_string();
  signed_req.target = target;
  for (const auto& field : header) signed_req.headers.emplace_back(field.name_string(), field.value());
  if (auth::parse_sigv2_query(target)) return true;
  auto claim = auth::parse_claim(signed_req);
  if (claim) return claim->service == "s3";
  if (claim.error().code != auth::make_error_code(auth::errc::missing_authentication)) return false;
  return !iot_.find(header.method(), path) && !jobs_data_.find(header.method(), path);
}

asio::awaitable<http::response> gateway::handle(http::request& request, http::request_context& ctx) {
  auto target = request.target();
  auto path = path_of(target);
  if (path == "/healthz" && (request.method() == bhttp::verb::get || request.method() == bhttp::verb::head)) {
    ctx.operation = "Healthz";
    http::response res{ready_ ? bhttp::status::ok : bhttp::status::service_unavailable, request.version()};
    res.set(bhttp::field::content_type, "text/plain");
    res.body() = ready_ ? "ok\n" : "starting\n";
    co_return res;
  }

  auth::signed_request signed_req;
  auto method = request.method_string();
  signed_req.method = method;
  signed_req.target = target;
  for (const auto& field : request.base()) signed_req.headers.emplace_back(field.name_string(), field.value());
  signed_req.body = std::string_view(request.body());

  auto claim = auth::parse_claim(signed_req);
  if (!claim) {
    ctx.operation = "Unauthenticated";
    auto wire = to_wire(claim.error());
    if (claim.error().code == auth::make_error_code(auth::errc::missing_authentication))
      wire.message = "Missing Authentication Token";
    co_return json_error(wire, request.version());
  }
  bool xml = claim->service == "sts";
  auto who = authenticator_.authenticate(signed_req, *claim);
  if (!who) {
    ctx.operation = "Unauthenticated";
    auto wire = to_wire(who.error());
    if (xml) {
      if (wire.code == "InvalidSignatureException") wire.code = "SignatureDoesNotMatch";
      if (wire.code == "UnrecognizedClientException") wire.code = "InvalidClientTokenId";
      co_return xml_error(wire, ctx.request_id, request.version());
    }
    co_return json_error(wire, request.version());
  }

  if (claim->service == "execute-api" || claim->service == "iot")
    co_return co_await rest_json(iot_, request, ctx, path);
  if (claim->service == "iot-jobs-data") co_return co_await rest_json(jobs_data_, request, ctx, path);
  if (xml) {
    ctx.operation = "GetCallerIdentity";
    co_return sts(request, ctx, *who);
  }
  ctx.operation = "Unsupported";
  co_return json_error(core::make_error(errc::unsupported_service,
                                        "Service '" + claim->service + "' is not served by this endpoint yet"),
                       request.version());
}

asio::awaitable<http::response> gateway::rest_json(const iot_api& api, http::request& request,
                                                   http::request_context& ctx, std::string_view path) {
  auto m = api.find(request.method(), path);
  if (!m) {
    ctx.operation = "Unknown";
    co_return json_error(m.error(), request.version());
  }
  ctx.operation = m->route->operation;
  if (!m->route->mutating) co_return api.invoke(*m, request);
  // Writes wait for a group commit: run them off the I/O threads.
  co_return co_await asio::co_spawn(
      blocking_, [&api, &m, &request]() -> asio::awaitable<http::response> { co_return api.invoke(*m, request); },
      asio::use_awaitable);
}

http::response gateway::sts(const http::request& request, const http::request_context& ctx,
                            const auth::identity& who) const {
  auto params = form_params(request.body());
  std::string action;
  for (const auto& [k, v] : params)
    if (k == "Action") action = v;
  if (action.empty()) {
    auto target = request.target();
    auto q = target.find('?');
    if (q != std::string_view::npos)
      for (const auto& [k, v] : form_params(target.substr(q + 1)))
        if (k == "Action") action = v;
  }
  if (action != "GetCallerIdentity") {
    return xml_error(wire_error{bhttp::status::bad_request, "InvalidAction",
                                "Could not find operation " + action + " for version 2011-06-15", {}},
                     ctx.request_id, request.version());
  }
  http::response res{bhttp::status::ok, request.version()};
  res.set(bhttp::field::content_type, "text/xml");
  res.body() =
      "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
      "<GetCallerIdentityResult><Arn>arn:aws:iam::" + settings_.account_id + ":root</Arn><UserId>" +
      settings_.account_id + "</UserId><Account>" + settings_.account_id +
      "</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>" + ctx.request_id +
      "</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
  (void)who;
  return res;
}

}  // namespace airfleet::aws
