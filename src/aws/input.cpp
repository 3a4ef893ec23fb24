#include "aws/input.hpp"

#include "core/strings.hpp"

namespace airfleet::aws {

namespace json = boost::json;

namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.aws"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::invalid_input: return "invalid input";
      case errc::unknown_operation: return "unknown operation";
      case errc::method_not_allowed: return "method not allowed";
      case errc::unsupported_service: return "unsupported service";
    }
    return "unknown aws error";
  }
};

std::string describe(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: return "a string";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::bool_: return "a boolean";
    case json::kind::array: return "a list";
    case json::kind::object: return "an object";
    case json::kind::null: return "null";
  }
  return "a value";
}

}  // namespace

core::error wrong_type(const std::string& where, const std::string& want, const json::value& got) {
  return invalid_input("Member '" + where + "' must be " + want + ", not " + describe(got));
}

std::error_code make_error_code(errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

core::error invalid_input(std::string message) { return core::make_error(errc::invalid_input, std::move(message)); }

core::result<input> input::from(const http::request& request, std::map<std::string, std::string> path_params) {
  input in;
  in.path_ = std::move(path_params);
  auto target = request.target();
  auto q = target.find('?');
  if (q != std::string_view::npos) {
    for (auto part : core::split(target.substr(q + 1), '&')) {
      if (part.empty()) continue;
      auto eq = part.find('=');
      auto name = core::uri_decode(part.substr(0, eq));
      auto value = core::uri_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
      if (!name || !value) return invalid_input("The query string is not valid percent-encoding");
      in.query_.emplace_back(std::move(*name), std::move(*value));
    }
  }
  in.request_ = &request;
  const auto& body = request.body();
  if (!core::trim(body).empty()) {
    boost::system::error_code ec;
    json::parse_options opts;
    opts.max_depth = 32;
    auto value = json::parse(body, ec, {}, opts);
    if (ec) return invalid_input("The request body is not valid JSON: " + ec.message());
    if (!value.is_object()) return invalid_input("The request body must be a JSON object");
    in.body_ = std::move(value.as_object());
  }
  return in;
}

std::optional<std::string> input::query(const std::string& name) const {
  for (const auto& [k, v] : query_)
    if (k == name) return v;
  return std::nullopt;
}

core::result<std::optional<std::int64_t>> input::query_int(const std::string& name) const {
  auto v = query(name);
  if (!v) return std::optional<std::int64_t>{};
  if (v->empty() || v->size() > 18 || v->find_first_not_of("-0123456789") != std::string::npos ||
      v->find('-', 1) != std::string::npos)
    return invalid_input("Query parameter '" + name + "' must be an integer");
  return std::optional<std::int64_t>{std::stoll(*v)};
}

core::result<std::optional<bool>> input::query_bool(const std::string& name) const {
  auto v = query(name);
  if (!v) return std::optional<bool>{};
  if (*v == "true") return std::optional<bool>{true};
  if (*v == "false") return std::optional<bool>{false};
  return invalid_input("Query parameter '" + name + "' must be true or false");
}

std::optional<std::string> input::header(const std::string& name) const {
  auto it = request_->base().find(name);
  if (it == request_->base().end()) return std::nullopt;
  return std::string(it->value());
}

core::result<std::optional<std::string>> input::string_in(const json::object& o, const std::string& name,
                                                          const std::string& where) {
  auto* v = o.if_contains(name);
  if (!v || v->is_null()) return std::optional<std::string>{};
  if (!v->is_string()) return wrong_type(where, "a string", *v);
  return std::optional<std::string>{std::string(v->as_string())};
}

core::result<std::optional<bool>> input::bool_in(const json::object& o, const std::string& name,
                                                 const std::string& where) {
  auto* v = o.if_contains(name);
  if (!v || v->is_null()) return std::optional<bool>{};
  if (!v->is_bool()) return wrong_type(where, "a boolean", *v);
  return std::optional<bool>{v->as_bool()};
}

core::result<std::optional<std::map<std::string, std::string>>> input::string_map_in(const json::object& o,
                                                                                     const std::string& name,
                                                                                     const std::string& where) {
  auto* v = o.if_contains(name);
  if (!v || v->is_null()) return std::optional<std::map<std::string, std::string>>{};
  if (!v->is_object()) return wrong_type(where, "an object of strings", *v);
  std::map<std::string, std::string> out;
  for (const auto& [k, val] : v->as_object()) {
    if (!val.is_string()) return wrong_type(where + "." + std::string(k), "a string", val);
    out.emplace(std::string(k), std::string(val.as_string()));
  }
  return std::optional<std::map<std::string, std::string>>{std::move(out)};
}

core::result<std::optional<std::string>> input::string(const std::string& name) const {
  return string_in(body_, name, name);
}

core::result<std::optional<std::int64_t>> input::integer(const std::string& name) const {
  auto* v = body_.if_contains(name);
  if (!v || v->is_null()) return std::optional<std::int64_t>{};
  if (v->is_int64()) return std::optional<std::int64_t>{v->as_int64()};
  if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return std::optional<std::int64_t>{static_cast<std::int64_t>(v->as_uint64())};
  if (v->is_double() && v->as_double() == static_cast<double>(static_cast<std::int64_t>(v->as_double())))
    return std::optional<std::int64_t>{static_cast<std::int64_t>(v->as_double())};
  return wrong_type(name, "an integer", *v);
}

core::result<std::optional<bool>> input::boolean(const std::string& name) const {
  return bool_in(body_, name, name);
}

core::result<std::optional<std::vector<std::string>>> input::string_list(const std::string& name) const {
  auto* v = body_.if_contains(name);
  if (!v || v->is_null()) return std::optional<std::vector<std::string>>{};
  if (!v->is_array()) return wrong_type(name, "a list of strings", *v);
  std::vector<std::string> out;
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) return wrong_type(name + "[]", "a string", item);
    out.emplace_back(item.as_string());
  }
  return std::optional<std::vector<std::string>>{std::move(out)};
}

const json::object* input::object(const std::string& name) const {
  auto* v = body_.if_contains(name);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

core::result<const json::object*> input::object_member(const std::string& name) const {
  auto* v = body_.if_contains(name);
  if (!v || v->is_null()) return static_cast<const json::object*>(nullptr);
  if (!v->is_object()) return wrong_type(name, "an object", *v);
  return &v->as_object();
}

}  // namespace airfleet::aws
