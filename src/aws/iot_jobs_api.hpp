// The IoT control plane's jobs operations (service model `iot`): jobs, their
// executions as an operator sees them, and job templates. Each operation
// reads its members from path, query and JSON body with type checks only,
// hands the jobs engine one of its request structs (the engine validates
// values, ranges and states), and writes the response under the model's
// member names. Devices reach the same engine through iot-jobs-data and the
// MQTT jobs API.
#pragma once

#include "aws/iot_api.hpp"
#include "jobs/engine.hpp"

namespace airfleet::aws {

void add_jobs_operations(iot_api& api, jobs::engine& engine);

}  // namespace airfleet::aws
