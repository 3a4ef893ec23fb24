// The IoT control plane's identity operations: certificates, CA
// certificates, thing principals, policies, attachments, TestAuthorization.
#pragma once

#include "aws/iot_api.hpp"
#include "identity/identity.hpp"

namespace airfleet::aws {

void add_identity_operations(iot_api& api, identity::identity& id);

}  // namespace airfleet::aws
