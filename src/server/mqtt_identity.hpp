// The broker's authenticator on airfleet's identity engine: a TLS client
// certificate becomes a connection_authorizer (its policies, its thing's
// groups' policies, the policy variables), a plain-TCP client is judged by
// the operator's named policy. Runs on the blocking pool, never on the
// broker thread.
#pragma once

#include "identity/authorizer.hpp"
#include "mqtt/broker.hpp"

#include <boost/asio/thread_pool.hpp>

namespace airfleet::server {

class mqtt_identity final : public mqtt::authenticator {
 public:
  // `plain_policy`: the policy for connections without a certificate (empty: refused).
  mqtt_identity(identity::identity& id, boost::asio::thread_pool& pool, std::string plain_policy)
      : identity_(id), pool_(pool), plain_policy_(std::move(plain_policy)) {}

  void authenticate(const mqtt::peer& who, const std::string& client_id,
                    std::function<void(core::result<std::shared_ptr<mqtt::access>>)> done) override;

  // Synchronous form (what authenticate runs on the pool).
  core::result<std::shared_ptr<mqtt::access>> resolve(const mqtt::peer& who, const std::string& client_id);

 private:
  identity::identity& identity_;
  boost::asio::thread_pool& pool_;
  std::string plain_policy_;
};

}  // namespace airfleet::server
