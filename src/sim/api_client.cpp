#include "sim/api_client.hpp"

#include "core/crypto.hpp"
#include "core/strings.hpp"

#include <boost/json/parse.hpp>

namespace airfleet::sim {

namespace bhttp = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::size_t max_response_bytes = 16 * 1024 * 1024;

// S3's <Code>...</Code>, the error documents being small and flat.
std::string xml_code(const std::string& body) {
  const auto open = body.find("<Code>");
  if (open == std::string::npos) return {};
  const auto close = body.find("</Code>", open);
  return close == std::string::npos ? std::string() : body.substr(open + 6, close - open - 6);
}

}  // namespace

std::string api_response::describe() const {
  std::string message;
  if (auto v = json(); v.is_object()) {
    if (auto* m = v.as_object().if_contains("message"); m && m->is_string()) message = m->as_string().c_str();
  } else if (auto open = body.find("<Message>"); open != std::string::npos) {
    message = body.substr(open + 9, body.find("</Message>", open) - open - 9);
  }
  std::string out = error_code.empty() ? std::string("error") : error_code;
  if (!message.empty()) out += ": " + message;
  return out + " (HTTP " + std::to_string(status) + ")";
}

json::value api_response::json() const {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  return ec ? json::value() : v;
}

std::string path_segment(std::string_view name) { return core::uri_encode(name); }

api_client::api_client(boost::asio::any_io_executor executor, boost::asio::ssl::context* tls, http_origin origin,
                       auth::client_credentials credentials, std::chrono::milliseconds timeout)
    : connection_(std::move(executor), tls, std::move(origin), timeout), credentials_(std::move(credentials)) {}

boost::asio::awaitable<core::result<api_response>> api_client::iot(bhttp::verb method, std::string target,
                                                                   std::string body, header_list headers) {
  return call(method, std::move(target), std::move(body), std::move(headers), "execute-api");
}

boost::asio::awaitable<core::result<api_response>> api_client::s3(bhttp::verb method, std::string target,
                                                                  std::string body) {
  return call(method, std::move(target), std::move(body), {}, "s3");
}

boost::asio::awaitable<core::result<api_response>> api_client::call(bhttp::verb method, std::string target,
                                                                    std::string body, header_list headers,
                                                                    const char* service) {
  const std::string_view method_name = bhttp::to_string(method);
  auth::request_to_sign to_sign{method_name, target, std::move(headers), core::sha256_hex(body)};
  to_sign.headers.emplace_back("host", connection_.origin().host_header());
  const bool json_body = std::string_view(service) != "s3";
  if (!body.empty()) to_sign.headers.emplace_back("content-type", json_body ? "application/json" : "application/octet-stream");
  const auto authorization = auth::sign_request(to_sign, credentials_, service, core::system_clock().now());

  http_request request(method, target, 11);
  for (const auto& [name, value] : to_sign.headers) request.set(name, value);
  request.set(bhttp::field::authorization, authorization);
  request.body() = std::move(body);
  auto response = co_await connection_.send(std::move(request), max_response_bytes);
  if (!response) co_return response.error();
  api_response out;
  out.status = response->status;
  out.body = std::move(response->body);
  if (!out.ok()) {
    if (auto type = response->header("x-amzn-ErrorType")) out.error_code = std::string(type->substr(0, type->find(':')));
    else out.error_code = xml_code(out.body);
  }
  co_return out;
}

}  // namespace airfleet::sim
