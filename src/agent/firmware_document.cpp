#include "agent/firmware_document.hpp"

#include "agent/errors.hpp"
#include "core/strings.hpp"

#include <boost/json.hpp>

#include <algorithm>

namespace airfleet::agent {

namespace json = boost::json;

namespace {

core::error refuse(std::string reason) { return core::make_error(errc::invalid_document, std::move(reason)); }

std::optional<std::string> string_member(const json::object& o, std::string_view name) {
  auto* v = o.if_contains(name);
  if (!v || !v->is_string() || v->as_string().empty()) return std::nullopt;
  return std::string(v->as_string());
}

std::optional<std::int64_t> integer_member(const json::object& o, std::string_view name) {
  auto* v = o.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(std::min<std::uint64_t>(v->as_uint64(), 1u << 30));
  if (v->is_double() && v->as_double() >= 0 && v->as_double() < (1 << 30))
    return static_cast<std::int64_t>(v->as_double());
  if (v->is_string() && core::all_digits(v->as_string()) && v->as_string().size() < 9)
    return core::digits_value(v->as_string());
  return std::nullopt;
}

bool is_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); });
}

}  // namespace

core::result<firmware_update> parse_firmware_document(const json::object& document) {
  auto operation = string_member(document, "operation");
  if (!operation) return refuse("the job document has no operation");
  if (*operation != "firmwareUpdate") return refuse("unsupported operation '" + *operation + "'");

  firmware_update out;
  auto version = string_member(document, "firmwareVersion");
  if (!version) return refuse("the job document has no firmwareVersion");
  out.version = *version;

  auto url = string_member(document, "downloadUrl");
  if (!url) return refuse("the job document has no downloadUrl");
  if (core::starts_with(*url, "${")) return refuse("downloadUrl is an unresolved placeholder: " + *url);
  auto scheme = core::to_lower(url->substr(0, url->find(':')));
  if (scheme != "http" && scheme != "https") return refuse("downloadUrl must be an http or https URL");
  out.url = *url;

  auto algorithm = string_member(document, "checksumAlgorithm").value_or("SHA256");
  auto folded = core::to_lower(algorithm);
  folded.erase(std::remove(folded.begin(), folded.end(), '-'), folded.end());
  if (folded != "sha256") return refuse("unsupported checksumAlgorithm '" + algorithm + "' (only SHA256)");
  auto checksum = string_member(document, "checksum");
  if (!checksum || checksum->size() != 64 || !is_hex(*checksum))
    return refuse("the job document's checksum must be 64 hex digits (SHA-256)");
  out.checksum = core::to_lower(*checksum);

  if (auto* rollback = document.if_contains("rollbackInstructions"); rollback && rollback->is_object()) {
    const auto& r = rollback->as_object();
    bool enabled = true;
    if (auto* e = r.if_contains("enabled"); e && e->is_bool()) enabled = e->as_bool();
    if (enabled)
      if (auto n = integer_member(r, "maxAttempts"))
        out.max_attempts = static_cast<int>(std::clamp<std::int64_t>(*n, 1, max_install_attempts));
  }
  if (auto* timeouts = document.if_contains("timeoutConfig"); timeouts && timeouts->is_object())
    if (auto n = integer_member(timeouts->as_object(), "stepTimeoutInMinutes"); n && *n >= 1 && *n <= 10080)
      out.step_timeout_minutes = static_cast<int>(*n);
  return out;
}

}  // namespace airfleet::agent
