// Policy decisions per second: the AWS IoT jobs recipe's device policy and a
// ten-statement policy with variables and conditions, compiled once and
// evaluated per request as the broker will (per CONNECT, SUBSCRIBE, PUBLISH).
//
//   build/policy-release/bin/policy_bench --benchmark_min_time=1
#include "policy/policy.hpp"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

using namespace airfleet::policy;

const std::string arn = "arn:aws:iot:us-east-1:123456789012:";

const std::string recipe =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect"],"Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"},{"Effect":"Allow","Action":["iot:Publish","iot:Subscribe","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*","arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*"]}]})";

// Ten statements: one Deny (checked first for every request), nine Allows
// using thing, attribute and client-id variables and three conditions.
const std::string fleet = R"({"Version":"2012-10-17","Statement":[
 {"Sid":"connect","Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}",
  "Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}},
 {"Sid":"shadowPublish","Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"},
 {"Sid":"shadowSubscribe","Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"},
 {"Sid":"shadowReceive","Effect":"Allow","Action":"iot:Receive","Resource":"arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"},
 {"Sid":"jobs","Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*"},
 {"Sid":"jobsSubscribe","Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*"},
 {"Sid":"telemetry","Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/telemetry/${iot:Connection.Thing.Attributes[site]}/${iot:ClientId}"},
 {"Sid":"commands","Effect":"Allow","Action":["iot:Subscribe","iot:Receive"],"Resource":["arn:aws:iot:us-east-1:123456789012:topicfilter/commands/${iot:Connection.Thing.Attributes[site]}/*","arn:aws:iot:us-east-1:123456789012:topic/commands/${iot:Connection.Thing.Attributes[site]}/*"]},
 {"Sid":"noAdmin","Effect":"Deny","Action":"iot:*","Resource":["arn:aws:iot:us-east-1:123456789012:topic/admin/*","arn:aws:iot:us-east-1:123456789012:topicfilter/admin/*"]},
 {"Sid":"sensorData","Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/dt/${iot:ClientId}/*",
  "Condition":{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"sensor"},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}}
]})";

std::shared_ptr<const compiled_policy> must_compile(const std::string& document) {
  auto p = compile(document);
  if (!p) {
    std::fprintf(stderr, "policy does not compile: %s\n", p.error().message.c_str());
    std::abort();
  }
  return *p;
}

request_context device(std::string name) {
  request_context ctx;
  ctx.client_id = name;
  ctx.thing = thing_info{name, "sensor", {{"site", "berlin-3"}, {"fw", "1.4.2"}, {"model", "m2"}}};
  ctx.certificate = {{"Subject.CommonName", name}, {"Issuer.Organization", "Example Corp"}};
  ctx.source_ip = "10.1.2.3";
  return ctx;
}

void decide(benchmark::State& state, const std::string& document, const std::string& action,
            const std::string& resource, decision expected) {
  auto policy = must_compile(document);
  const compiled_policy* policies[] = {policy.get()};
  request_context ctx = device("IoTDevice-abc-1");
  if (evaluate(policies, action, resource, ctx) != expected) {
    std::fprintf(stderr, "unexpected decision for %s on %s\n", action.c_str(), resource.c_str());
    std::abort();
  }
  for (auto _ : state) benchmark::DoNotOptimize(evaluate(policies, action, resource, ctx));
  state.SetItemsProcessed(state.iterations());
}

void compile_document(benchmark::State& state, const std::string& document) {
  for (auto _ : state) benchmark::DoNotOptimize(compile(document));
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(decide, recipe_publish_own_jobs_allowed, recipe, "iot:Publish",
                  arn + "topic/$aws/things/IoTDevice-abc-1/jobs/get", decision::allowed);
BENCHMARK_CAPTURE(decide, recipe_publish_other_thing_denied, recipe, "iot:Publish",
                  arn + "topic/$aws/things/IoTDevice-abc-2/jobs/get", decision::implicit_deny);
BENCHMARK_CAPTURE(decide, recipe_connect_allowed, recipe, "iot:Connect", arn + "client/IoTDevice-abc-1",
                  decision::allowed);
BENCHMARK_CAPTURE(decide, fleet10_connect_allowed_first_statement, fleet, "iot:Connect",
                  arn + "client/IoTDevice-abc-1", decision::allowed);
BENCHMARK_CAPTURE(decide, fleet10_publish_allowed_last_statement, fleet, "iot:Publish",
                  arn + "topic/dt/IoTDevice-abc-1/temperature", decision::allowed);
BENCHMARK_CAPTURE(decide, fleet10_publish_nothing_applies, fleet, "iot:Publish",
                  arn + "topic/dt/IoTDevice-abc-2/temperature", decision::implicit_deny);
BENCHMARK_CAPTURE(decide, fleet10_subscribe_admin_explicit_deny, fleet, "iot:Subscribe",
                  arn + "topicfilter/admin/#", decision::explicit_deny);
BENCHMARK_CAPTURE(compile_document, recipe, recipe);
BENCHMARK_CAPTURE(compile_document, fleet10, fleet);

}  // namespace

BENCHMARK_MAIN();
