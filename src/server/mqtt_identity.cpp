#include "server/mqtt_identity.hpp"

#include <boost/asio/post.hpp>

namespace airfleet::server {

namespace {

class identity_access final : public mqtt::access {
 public:
  identity_access(identity::connection_authorizer authorizer, std::string principal)
      : authorizer_(std::move(authorizer)), principal_(std::move(principal)) {}

  bool allowed(mqtt::action what, std::string_view name) override {
    switch (what) {
      case mqtt::action::connect: return ok(authorizer_.authorize("iot:Connect", "client", name));
      case mqtt::action::publish: return ok(authorizer_.authorize("iot:Publish", "topic", name));
      case mqtt::action::subscribe: return ok(authorizer_.authorize("iot:Subscribe", "topicfilter", name));
      case mqtt::action::receive: return ok(authorizer_.authorize("iot:Receive", "topic", name));
    }
    return false;
  }
  const std::string& principal() const override { return principal_; }

  bool concerned_by(std::string_view subject) const override {
    const auto& cert = authorizer_.cert();
    if (!cert.id.empty() && (subject == cert.id || subject == cert.arn || (cert.ca_id && subject == *cert.ca_id)))
      return true;
    if (subject == authorizer_.client_id()) return true;  // principals of the thing named like the client changed
    const auto& g = authorizer_.current();
    for (const auto& p : g.policies)
      if (p.name == subject) return true;
    // A thing group's policies changed: it may be one of this thing's groups.
    return g.context.thing.has_value() && subject.find(":thinggroup/") != std::string_view::npos;
  }

 private:
  static bool ok(policy::decision d) { return d == policy::decision::allowed; }
  identity::connection_authorizer authorizer_;
  std::string principal_;
};

}  // namespace

core::result<std::shared_ptr<mqtt::access>> mqtt_identity::resolve(const mqtt::peer& who,
                                                                    const std::string& client_id) {
  std::optional<std::string> source_ip;
  if (!who.address.empty()) source_ip = who.address;
  if (!who.certificate) {
    if (plain_policy_.empty()) return core::make_error(identity::errc::invalid_request, "no client certificate");
    identity::connection_authorizer a(identity_, plain_policy_, client_id, source_ip);
    if (auto r = a.refresh(); !r) return r.error();
    return std::make_shared<identity_access>(std::move(a), "plain:" + plain_policy_);
  }
  auto* presented = static_cast<X509*>(who.certificate.get());
  auto cert = identity_.validate_device_certificate(presented);
  if (!cert) return cert.error();
  auto id = cert->id;
  identity::connection_authorizer a(identity_, std::move(*cert), client_id, source_ip,
                                    identity::pki::certificate_fields(presented));
  if (auto r = a.refresh(); !r) return r.error();
  return std::make_shared<identity_access>(std::move(a), id);
}

void mqtt_identity::authenticate(const mqtt::peer& who, const std::string& client_id,
                                 std::function<void(core::result<std::shared_ptr<mqtt::access>>)> done) {
  boost::asio::post(pool_, [this, who, client_id, done = std::move(done)] { done(resolve(who, client_id)); });
}

}  // namespace airfleet::server
