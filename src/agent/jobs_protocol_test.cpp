#include "agent/jobs_protocol.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace airfleet::agent::jobs_protocol {
namespace {

namespace json = boost::json;

json::object parse(std::string_view text) { return json::parse(text).as_object(); }

TEST(JobsProtocol, TopicsAreTheThingsOwn) {
  EXPECT_EQ(topic("dev1", "start-next"), "$aws/things/dev1/jobs/start-next");
  auto subs = subscriptions("dev1");
  EXPECT_LE(subs.size(), 8u);  // AWS takes at most 8 filters per SUBSCRIBE
  for (const auto& s : subs) EXPECT_EQ(s.rfind("$aws/things/dev1/jobs/", 0), 0u) << s;
  EXPECT_NE(std::find(subs.begin(), subs.end(), "$aws/things/dev1/jobs/notify-next"), subs.end());
  EXPECT_NE(std::find(subs.begin(), subs.end(), "$aws/things/dev1/jobs/+/update/rejected"), subs.end());
}

TEST(JobsProtocol, UpdateCarriesExpectedVersionAndStepTimeout) {
  auto body = update_request("IN_PROGRESS", {{"step", "downloading"}, {"progress", "25%"}}, 4, 10);
  EXPECT_EQ(body, parse(R"({"status":"IN_PROGRESS","statusDetails":{"progress":"25%","step":"downloading"},
                            "includeJobExecutionState":true,"expectedVersion":4,"stepTimeoutInMinutes":10})"));
  auto outcome = update_request("SUCCEEDED", {{"newVersion", "2.1.0"}}, 9, std::nullopt);
  EXPECT_FALSE(outcome.contains("stepTimeoutInMinutes"));
  EXPECT_EQ(outcome.at("expectedVersion"), 9);
  EXPECT_EQ(start_next_request(10), parse(R"({"stepTimeoutInMinutes":10})"));
}

TEST(JobsProtocol, ReadsAnExecution) {
  auto job = job_from_execution(parse(R"({"jobId":"j1","thingName":"dev1","status":"IN_PROGRESS",
      "versionNumber":2,"executionNumber":1,"jobDocument":{"operation":"firmwareUpdate"}})"));
  ASSERT_TRUE(job) << job.error().message;
  EXPECT_EQ(job->job_id, "j1");
  EXPECT_EQ(job->version_number, 2);
  EXPECT_EQ(job->execution_number, 1);
  EXPECT_EQ(job->step, job_step::received);
  EXPECT_EQ(job->document.at("operation"), "firmwareUpdate");
  // A document sent as a JSON string is read too.
  auto stringly = job_from_execution(parse(R"({"jobId":"j2","versionNumber":1,"jobDocument":"{\"a\":1}"})"));
  ASSERT_TRUE(stringly);
  EXPECT_EQ(stringly->document.at("a"), 1);
  EXPECT_FALSE(job_from_execution(parse(R"({"versionNumber":1,"jobDocument":{}})")));
  EXPECT_FALSE(job_from_execution(parse(R"({"jobId":"j","versionNumber":1})")));
}

TEST(JobsProtocol, JudgesRejections) {
  using k = verdict::kind;
  // The outcome already landed (a resend after a crash): delivered.
  auto v = judge_update_rejection(parse(R"({"code":"VersionMismatch","message":"m",
      "executionState":{"status":"SUCCEEDED","statusDetails":{},"versionNumber":5}})"));
  EXPECT_EQ(v.action, k::gone);
  // A stale expectedVersion: adopt the server's and send again.
  v = judge_update_rejection(parse(R"({"code":"VersionMismatch","message":"m",
      "executionState":{"status":"IN_PROGRESS","statusDetails":{},"versionNumber":6}})"));
  EXPECT_EQ(v.action, k::adopt_version);
  EXPECT_EQ(v.version, 6);
  EXPECT_EQ(judge_update_rejection(parse(R"({"code":"VersionMismatch","message":"m"})")).action, k::describe);
  EXPECT_EQ(judge_update_rejection(parse(R"({"code":"InvalidStateTransition","message":"m",
      "executionState":{"status":"CANCELED","statusDetails":{},"versionNumber":3}})"))
                .action,
            k::gone);
  EXPECT_EQ(judge_update_rejection(parse(R"({"code":"TerminalStateReached"})")).action, k::gone);
  EXPECT_EQ(judge_update_rejection(parse(R"({"code":"ResourceNotFound"})")).action, k::gone);
  EXPECT_EQ(judge_update_rejection(parse(R"({"code":"RequestThrottled"})")).action, k::retry_later);
  EXPECT_EQ(judge_update_rejection(parse(R"({"code":"InternalError"})")).action, k::retry_later);
  EXPECT_EQ(judge_update_rejection(parse(R"({"code":"InvalidRequest","message":"bad"})")).action, k::invalid);
  EXPECT_EQ(judge_update_rejection(parse(R"({"code":"InvalidRequest","message":"bad"})")).reason,
            "InvalidRequest: bad");
}

TEST(JobsProtocol, ReadsTheAcceptedVersion) {
  EXPECT_EQ(accepted_version(parse(R"({"executionState":{"status":"IN_PROGRESS","versionNumber":4}})")), 4);
  EXPECT_FALSE(accepted_version(parse(R"({"timestamp":1})")));
}

}  // namespace
}  // namespace airfleet::agent::jobs_protocol
