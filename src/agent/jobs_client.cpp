#include "agent/jobs_client.hpp"

#include "agent/backoff.hpp"
#include "agent/jobs_protocol.hpp"
#include "core/crypto.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <random>

namespace airfleet::agent {

namespace json = boost::json;

namespace {

constexpr int max_version_adoptions = 5;

std::optional<json::object> parse_object(std::string_view payload) {
  boost::system::error_code ec;
  auto v = json::parse(payload, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

jobs_client::jobs_client(mqtt_link& link, event_queue& events, std::string thing, jobs_client_settings settings,
                         std::function<bool()> stopping)
    : link_(link),
      events_(events),
      thing_(std::move(thing)),
      settings_(settings),
      stopping_(std::move(stopping)),
      token_prefix_(core::random_string(8, "abcdefghijklmnopqrstuvwxyz0123456789")) {}

std::string jobs_client::next_token() { return token_prefix_ + "-" + std::to_string(++token_counter_); }

// ---- events ---------------------------------------------------------------------------

void jobs_client::wait(std::chrono::milliseconds timeout) {
  if (auto e = events_.pop_for(timeout)) handle(std::move(*e));
  // Drain what else is there without waiting.
  while (auto e = events_.pop_for(std::chrono::milliseconds(0))) handle(std::move(*e));
}

bool jobs_client::wait_online(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!online_ && !(stopping_ && stopping_())) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    wait(std::min<std::chrono::milliseconds>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                                             std::chrono::milliseconds(200)));
  }
  return online_;
}

bool jobs_client::take_work_hint() {
  bool hint = work_hint_;
  work_hint_ = false;
  return hint;
}

void jobs_client::handle(link_event e) {
  switch (e.type) {
    case link_event::kind::online:
      online_ = true;
      work_hint_ = true;
      if (outstanding_) {
        spdlog::info("jobs: sending {} again after the reconnect", outstanding_->topic);
        link_.publish(outstanding_->topic, outstanding_->payload);
      }
      return;
    case link_event::kind::offline: online_ = false; return;
    case link_event::kind::message: break;
  }
  auto body = parse_object(e.payload);
  if (!body) {
    spdlog::warn("jobs: ignoring a message on {} that is not a JSON object", e.topic);
    return;
  }
  if (e.topic == jobs_protocol::topic(thing_, "notify-next")) {
    if (auto* ex = body->if_contains("execution"); ex && ex->is_object()) {
      auto* id = ex->as_object().if_contains("jobId");
      spdlog::info("jobs: notify-next announces job {}", id && id->is_string() ? std::string(id->as_string()) : "?");
      work_hint_ = true;
    }
    return;
  }
  if (!outstanding_) return;
  bool accepted = ends_with(e.topic, "/accepted");
  if (!accepted && !ends_with(e.topic, "/rejected")) return;
  auto base = e.topic.substr(0, e.topic.rfind('/'));
  auto* token = body->if_contains("clientToken");
  if (base != outstanding_->topic || !token || !token->is_string() || token->as_string() != outstanding_->token) return;
  answer_ = answer{accepted, std::move(*body)};
}

std::optional<jobs_client::answer> jobs_client::call(const std::string& suffix, json::object body,
                                                     std::chrono::milliseconds timeout, bool wait_for_link) {
  // Earlier events first, so that `online_` is current.
  wait(std::chrono::milliseconds(0));
  if (!online_ && !wait_for_link) return std::nullopt;
  auto token = next_token();
  body["clientToken"] = token;
  outstanding_ = outstanding{jobs_protocol::topic(thing_, suffix), json::serialize(body), token};
  answer_.reset();
  if (online_) link_.publish(outstanding_->topic, outstanding_->payload);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!answer_ && !(stopping_ && stopping_())) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (!online_ && !wait_for_link) break;
    wait(std::min<std::chrono::milliseconds>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now),
                                             std::chrono::milliseconds(200)));
  }
  outstanding_.reset();
  auto out = std::move(answer_);
  answer_.reset();
  return out;
}

void jobs_client::pause(std::chrono::milliseconds delay) {
  auto until = std::chrono::steady_clock::now() + delay;
  while (!(stopping_ && stopping_()) && std::chrono::steady_clock::now() < until) wait(std::chrono::milliseconds(100));
}

// ---- requests -------------------------------------------------------------------------

std::optional<jobs_client::start_next_answer> jobs_client::start_next(std::optional<int> step_timeout_minutes) {
  spdlog::info("jobs: asking for the next job (start-next)");
  auto a = call("start-next", jobs_protocol::start_next_request(step_timeout_minutes), settings_.answer_timeout, false);
  if (!a) return std::nullopt;
  start_next_answer out;
  if (!a->accepted) {
    out.error = jobs_protocol::judge_update_rejection(a->body).reason;
    return out;
  }
  out.accepted = true;
  if (auto* ex = a->body.if_contains("execution"); ex && ex->is_object()) {
    auto job = jobs_protocol::job_from_execution(ex->as_object());
    if (job)
      out.job = std::move(*job);
    else
      out.error = job.error().message;
  }
  return out;
}

report_result jobs_client::progress(job_record& job, const details_map& details, std::optional<int> step_timeout) {
  for (int round = 0; round < 2; ++round) {
    auto a = call(job.job_id + "/update",
                  jobs_protocol::update_request("IN_PROGRESS", details, job.version_number, step_timeout),
                  settings_.progress_timeout, false);
    if (!a) return report_result::unanswered;
    if (a->accepted) {
      job.version_number = jobs_protocol::accepted_version(a->body).value_or(job.version_number + 1);
      return report_result::accepted;
    }
    auto v = jobs_protocol::judge_update_rejection(a->body);
    switch (v.action) {
      case jobs_protocol::verdict::kind::gone:
        spdlog::warn("jobs: job {}: the server ended the execution ({})", job.job_id, v.reason);
        return report_result::gone;
      case jobs_protocol::verdict::kind::adopt_version:
        spdlog::info("jobs: job {}: version {} was stale; the server has {}", job.job_id, job.version_number,
                     v.version);
        job.version_number = v.version;
        continue;
      case jobs_protocol::verdict::kind::describe: {
        auto r = describe(job, nullptr);
        if (r != report_result::accepted) return r;
        continue;
      }
      case jobs_protocol::verdict::kind::retry_later:
      case jobs_protocol::verdict::kind::invalid:
        spdlog::warn("jobs: job {}: progress refused ({})", job.job_id, v.reason);
        return report_result::unanswered;
    }
  }
  return report_result::unanswered;
}

report_result jobs_client::outcome(job_record& job) {
  backoff delays(settings_.retry_initial, settings_.retry_maximum, std::random_device{}());
  int adoptions = 0;
  while (!(stopping_ && stopping_())) {
    if (!online_) {
      wait_online(std::chrono::seconds(1));
      continue;
    }
    auto a = call(job.job_id + "/update",
                  jobs_protocol::update_request(job.outcome->status, job.outcome->status_details, job.version_number,
                                                std::nullopt),
                  settings_.answer_timeout, true);
    if (!a) continue;  // lost with the connection, or slow: send again
    if (a->accepted) {
      if (auto v = jobs_protocol::accepted_version(a->body)) job.version_number = *v;
      return report_result::accepted;
    }
    auto v = jobs_protocol::judge_update_rejection(a->body);
    switch (v.action) {
      case jobs_protocol::verdict::kind::gone:
        spdlog::info("jobs: job {}: {} (the server already has a final status)", job.job_id, v.reason);
        return report_result::gone;
      case jobs_protocol::verdict::kind::adopt_version:
        if (++adoptions > max_version_adoptions) {
          pause(delays.next());
          adoptions = 0;
        }
        spdlog::info("jobs: job {}: expectedVersion {} was stale; sending the outcome with version {}", job.job_id,
                     job.version_number, v.version);
        job.version_number = v.version;
        continue;
      case jobs_protocol::verdict::kind::describe:
        if (auto r = describe(job, nullptr); r == report_result::gone) return r;
        continue;
      case jobs_protocol::verdict::kind::retry_later: {
        auto delay = delays.next();
        spdlog::warn("jobs: job {}: outcome refused for now ({}); again in {} ms", job.job_id, v.reason, delay.count());
        pause(delay);
        continue;
      }
      case jobs_protocol::verdict::kind::invalid:
        // Sending the same request again cannot help; the server's timeouts
        // will settle the execution.
        spdlog::error("jobs: job {}: the server refused the outcome: {}", job.job_id, v.reason);
        return report_result::gone;
    }
  }
  return report_result::unanswered;
}

report_result jobs_client::describe(job_record& job, std::optional<json::object>* document) {
  auto a =
      call(job.job_id + "/get", jobs_protocol::describe_request(job.execution_number), settings_.answer_timeout, false);
  if (!a) return report_result::unanswered;
  if (!a->accepted) {
    auto v = jobs_protocol::judge_update_rejection(a->body);
    return v.action == jobs_protocol::verdict::kind::gone ? report_result::gone : report_result::unanswered;
  }
  auto* ex = a->body.if_contains("execution");
  if (!ex || !ex->is_object()) return report_result::gone;
  const auto& execution = ex->as_object();
  if (auto* status = execution.if_contains("status");
      status && status->is_string() && jobs_protocol::is_terminal(status->as_string()))
    return report_result::gone;
  if (auto* version = execution.if_contains("versionNumber"); version && version->is_int64())
    job.version_number = version->as_int64();
  if (document)
    if (auto* d = execution.if_contains("jobDocument"); d && d->is_object()) *document = d->as_object();
  return report_result::accepted;
}

std::optional<json::object> jobs_client::refresh_document(const job_record& job) {
  auto copy = job;
  std::optional<json::object> document;
  if (describe(copy, &document) != report_result::accepted) return std::nullopt;
  return document;
}

}  // namespace airfleet::agent
