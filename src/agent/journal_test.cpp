#include "agent/journal.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace airfleet::agent {
namespace {

TEST(Journal, RoundTripsEveryField) {
  job_record r;
  r.job_id = "fw-2-1-0";
  r.execution_number = 3;
  r.version_number = 7;
  r.document = boost::json::parse(R"({"operation":"firmwareUpdate","firmwareVersion":"2.1.0"})").as_object();
  r.step = job_step::unconfirmed;
  r.attempt = 2;
  r.previous_slot = "a";
  r.target_slot = "b";
  r.restarted_download = true;
  r.last_failure = "the health check exited with status 1";
  r.outcome = job_outcome{"FAILED", {{"reason", "why"}, {"step", "health-check"}}};

  auto back = job_record_from_json(to_json(r));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->job_id, r.job_id);
  EXPECT_EQ(back->execution_number, 3);
  EXPECT_EQ(back->version_number, 7);
  EXPECT_EQ(back->document, r.document);
  EXPECT_EQ(back->step, job_step::unconfirmed);
  EXPECT_EQ(back->attempt, 2);
  EXPECT_EQ(back->previous_slot, "a");
  EXPECT_EQ(back->target_slot, "b");
  EXPECT_TRUE(back->restarted_download);
  EXPECT_EQ(back->last_failure, r.last_failure);
  ASSERT_TRUE(back->outcome);
  EXPECT_EQ(back->outcome->status, "FAILED");
  EXPECT_EQ(back->outcome->status_details, r.outcome->status_details);
}

TEST(Journal, StepNamesRoundTrip) {
  for (auto s : {job_step::received, job_step::downloading, job_step::verified, job_step::installed,
                 job_step::unconfirmed, job_step::reporting})
    EXPECT_EQ(parse_job_step(to_string(s)), s);
  EXPECT_EQ(to_string(job_step::unconfirmed), "installed-unconfirmed");
  EXPECT_FALSE(parse_job_step("rebooting"));
}

TEST(Journal, RefusesWhatItNeverWrites) {
  for (const char* text : {"", "not json", "[]", R"({"jobId":"j"})",
                           R"({"jobId":"j","executionNumber":1,"versionNumber":1,"document":{},"step":"flying"})",
                           R"({"jobId":"j","executionNumber":1,"versionNumber":1,"document":{},"step":"reporting"})",
                           R"({"jobId":"j","executionNumber":1,"versionNumber":1,"document":{},"step":"installed"})",
                           R"({"jobId":"","executionNumber":1,"versionNumber":1,"document":{},"step":"received"})"}) {
    auto r = job_record_from_json(text);
    EXPECT_FALSE(r) << text;
  }
}

}  // namespace
}  // namespace airfleet::agent
