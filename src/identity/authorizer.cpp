#include "identity/authorizer.hpp"

namespace airfleet::identity {

connection_authorizer::connection_authorizer(identity& id, certificate cert, std::string client_id,
                                             std::optional<std::string> source_ip,
                                             std::optional<std::map<std::string, std::string>> fields)
    : identity_(id),
      cert_(std::move(cert)),
      client_id_(std::move(client_id)),
      source_ip_(std::move(source_ip)),
      fields_(std::move(fields)),
      resource_prefix_(id.resource_arn("", "")) {
  resource_prefix_.resize(resource_prefix_.size() - 1);  // drop the "/" of the empty resource
}

connection_authorizer::connection_authorizer(identity& id, std::string policy, std::string client_id,
                                             std::optional<std::string> source_ip)
    : connection_authorizer(id, certificate{}, std::move(client_id), std::move(source_ip)) {
  policy_ = std::move(policy);
}

core::result<void> connection_authorizer::refresh() {
  if (policy_) {
    auto granted = identity_.grants_for_policy(*policy_, client_id_, source_ip_);
    if (!granted) return granted.error();
    grants_ = std::move(*granted);
    compiled_.clear();
    for (const auto& p : grants_.policies) compiled_.push_back(p.compiled.get());
    return {};
  }
  auto current = identity_.describe_certificate(cert_.id);
  if (!current) return current.error();
  if (current->status != "ACTIVE")
    return core::make_error(errc::certificate_state, "Certificate " + cert_.id + " is " + current->status);
  auto granted = identity_.grants_for(*current, client_id_, source_ip_, fields_ ? &*fields_ : nullptr);
  if (!granted) return granted.error();
  if (!fields_) fields_ = granted->context.certificate;
  cert_ = std::move(*current);
  cert_.pem = {};  // not needed once the fields are known; a live connection keeps only what judges it
  grants_ = std::move(*granted);
  compiled_.clear();
  for (const auto& p : grants_.policies) compiled_.push_back(p.compiled.get());
  return {};
}

policy::decision connection_authorizer::authorize(std::string_view action, std::string_view type,
                                                  std::string_view name) {
  resource_.assign(resource_prefix_);
  resource_.append(type);
  resource_.push_back('/');
  resource_.append(name);
  grants_.context.now = identity_.clock().now();
  return policy::evaluate(compiled_, action, resource_, grants_.context);
}

}  // namespace airfleet::identity
