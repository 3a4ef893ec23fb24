#include "sim/jobs_device.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace airfleet::sim {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view update_accepted_suffix = "/update/accepted";
constexpr std::string_view update_rejected_suffix = "/update/rejected";

std::uint64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sets `slot` to `value` when it is 0 or (keep_smallest) larger / (else) smaller.
template <typename T>
void keep_extreme(std::atomic<T>& slot, T value, bool keep_smallest) {
  T seen = slot.load(std::memory_order_relaxed);
  while ((seen == 0 || (keep_smallest ? value < seen : value > seen)) &&
         !slot.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

std::uint64_t micros_since(std::chrono::steady_clock::time_point t, std::chrono::steady_clock::time_point now) {
  return now > t ? static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - t).count())
                 : 0;
}

std::string_view as_text(const mqtt::bytes& payload) {
  return {reinterpret_cast<const char*>(payload.data()), payload.size()};
}

// The payload's "execution" object, when it is a JSON object that has one.
const json::object* execution_of(const json::value& v) {
  const auto* body = v.if_object();
  if (!body) return nullptr;
  const auto* execution = body->if_contains("execution");
  return execution ? execution->if_object() : nullptr;
}

}  // namespace

std::optional<std::string> string_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

std::string string_or_empty(const json::object& o, std::string_view key) {
  return string_member(o, key).value_or(std::string());
}

jobs_device_config device_config(const connection_options& c, std::size_t i) {
  jobs_device_config d;
  d.client_id = c.client_prefix + "-" + std::to_string(i);
  d.protocol_level = static_cast<std::uint8_t>(c.mqtt_version);
  d.keep_alive = c.keep_alive;
  d.index = i;
  d.connect_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(c.connect_timeout * 1000));
  d.read_buffer_size = 4096;  // replies carry the job document; 4 KiB holds several of them
  return d;
}

jobs_device::jobs_device(asio::any_io_executor strand, tls_client* tls, jobs_device_config config, jobs_tally& tally)
    : session(std::move(strand), tls, config, tally),
      start_next_on_connect_(config.start_next_on_connect),
      client_tokens_(config.client_tokens),
      tally_(tally),
      prefix_("$aws/things/" + config.client_id + "/jobs/"),
      notify_next_topic_(prefix_ + "notify-next"),
      start_next_topic_(prefix_ + "start-next"),
      start_next_accepted_topic_(start_next_topic_ + "/accepted"),
      start_next_rejected_topic_(start_next_topic_ + "/rejected") {}

std::vector<mqtt::subscription> jobs_device::subscriptions() const {
  std::vector<mqtt::subscription> topics;
  for (const auto* suffix :
       {"notify-next", "start-next/accepted", "start-next/rejected", "+/update/accepted", "+/update/rejected"})
    topics.push_back(mqtt::subscription{prefix_ + suffix, mqtt::qos::at_least_once});
  return topics;
}

std::string jobs_device::grant_problem(std::size_t, mqtt::reason_code granted) const {
  if (granted == mqtt::reason_code::granted_qos_1) return {};
  return "the broker granted QoS " + std::to_string(static_cast<int>(granted)) + " instead of 1";
}

void jobs_device::on_ready() {
  if (start_next_on_connect_) request_start_next();
}

void jobs_device::on_publish(const mqtt::publish_packet& p) {
  if (p.qos == mqtt::qos::at_least_once) queue(mqtt::puback_packet{p.packet_id});
  else if (p.qos == mqtt::qos::exactly_once) return fail("QoS 2 PUBLISH, which the device never asks for");
  const std::string_view topic = p.topic;
  const std::string_view payload = as_text(p.payload);
  if (topic == notify_next_topic_) return on_notify_next(payload);
  if (topic == start_next_accepted_topic_) return on_start_next_accepted(payload);
  if (topic == start_next_rejected_topic_) return on_rejected("start-next", payload);
  if (topic.starts_with(prefix_)) {
    auto rest = topic.substr(prefix_.size());
    if (rest.size() > update_accepted_suffix.size() && rest.ends_with(update_accepted_suffix))
      return on_update_accepted(rest.substr(0, rest.size() - update_accepted_suffix.size()));
    if (rest.size() > update_rejected_suffix.size() && rest.ends_with(update_rejected_suffix))
      return on_rejected(std::string(rest.substr(0, rest.size() - update_rejected_suffix.size())) + "/update",
                         payload);
  }
  tally_.foreign.fetch_add(1, std::memory_order_relaxed);
}

void jobs_device::on_puback(const mqtt::puback_packet& p) {
  if (!ids().release(p.packet_id))
    return fail("PUBACK for packet id " + std::to_string(p.packet_id) + ", which is not in flight");
  if (mqtt::is_failure(p.reason)) {
    tally_.publish_refused.fetch_add(1, std::memory_order_relaxed);
    tally_.note_rejection(client_id() + ": PUBACK " + std::string(mqtt::to_string(p.reason)));
  }
}

void jobs_device::on_notify_next(std::string_view payload) {
  boost::system::error_code ec;
  auto body = json::parse(payload, ec);
  if (ec || !body.is_object()) {
    tally_.unreadable.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto* execution = execution_of(body);
  if (!execution) {
    tally_.notify_next_empty.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto job_id = string_member(*execution, "jobId");
  if (!job_id) {
    tally_.unreadable.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  tally_.notify_next_execution.fetch_add(1, std::memory_order_relaxed);
  if (finished_jobs_.contains(*job_id)) {
    tally_.notify_next_stale.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto now = clock::now();
  if (!seen_execution_) {
    seen_execution_ = true;
    const std::uint64_t ns = steady_ns(now);
    std::uint64_t none = 0;
    if (tally_.first_notify_ns.compare_exchange_strong(none, ns, std::memory_order_relaxed))
      tally_.first_notify_wall_ms.store(wall_ms(), std::memory_order_relaxed);
    keep_extreme(tally_.last_first_notify_ns, ns, false);
  }
  if (start_next_outstanding_ || !working_on_.empty()) {
    // Busy: the announcement is about the job under way (it started) or
    // about another; for another, ask start-next once idle.
    if (*job_id != working_on_ && !recheck_) {
      recheck_ = true;
      recheck_job_ = std::move(*job_id);
      recheck_since_ = now;
    }
    return;
  }
  notified_at_ = now;
  request_start_next();
}

void jobs_device::on_start_next_accepted(std::string_view payload) {
  start_next_outstanding_ = false;
  boost::system::error_code ec;
  auto body = json::parse(payload, ec);
  if (ec || !body.is_object()) {
    tally_.unreadable.fetch_add(1, std::memory_order_relaxed);
    return become_idle();
  }
  if (client_tokens_ && !body.as_object().contains("clientToken"))
    tally_.unreadable.fetch_add(1, std::memory_order_relaxed);
  const auto* execution = execution_of(body);
  if (!execution) {
    tally_.start_next_nothing.fetch_add(1, std::memory_order_relaxed);
    return become_idle();
  }
  auto job_id = string_member(*execution, "jobId");
  const auto* version = execution->if_contains("versionNumber");
  if (!job_id || job_id->empty() || !version || !version->is_int64()) {
    tally_.unreadable.fetch_add(1, std::memory_order_relaxed);
    return become_idle();
  }
  tally_.start_next_accepted.fetch_add(1, std::memory_order_relaxed);
  if (recheck_ && recheck_job_ == *job_id) {
    // Announced while the start-next was on its way (one asked on connect):
    // this answer is that announcement's.
    recheck_ = false;
    if (!notified_at_) notified_at_ = recheck_since_;
  }
  if (notified_at_) tally_.notify_to_started.add(micros_since(*notified_at_, clock::now()));
  working_on_ = *job_id;
  on_execution(working_on_, version->get_int64(), *execution);
}

void jobs_device::on_execution(const std::string&, std::int64_t version, const json::object&) {
  report(version, "SUCCEEDED", R"({"step":"done"})");
}

void jobs_device::report(std::int64_t expected_version, std::string_view status, std::string_view status_details) {
  if (working_on_.empty()) return;
  reported_status_ = std::string(status);
  std::string update = R"({"status":")" + reported_status_ + R"(","expectedVersion":)" +
                       std::to_string(expected_version) + R"(,"statusDetails":)" + std::string(status_details);
  if (client_tokens_) update += R"(,"clientToken":")" + client_id() + "-" + std::to_string(++requests_) + '"';
  update += '}';
  tally_.update_sent.fetch_add(1, std::memory_order_relaxed);
  request(prefix_ + working_on_ + "/update", std::move(update));
}

void jobs_device::on_update_accepted(std::string_view job_id) {
  const auto now = clock::now();
  if (job_id == working_on_ && reported_status_ == "SUCCEEDED") ++succeeded_;
  tally_.update_accepted.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t ns = steady_ns(now);
  keep_extreme(tally_.first_accepted_ns, ns, true);
  keep_extreme(tally_.last_accepted_ns, ns, false);
  keep_extreme(tally_.last_accepted_wall_ms, wall_ms(), false);
  if (notified_at_) tally_.notify_to_succeeded.add(micros_since(*notified_at_, now));
  finished_jobs_.emplace(job_id);
  if (job_id == working_on_) {
    working_on_.clear();
    on_outcome_accepted(std::string(job_id), reported_status_);
  }
  become_idle();
}

void jobs_device::on_rejected(std::string_view what, std::string_view payload) {
  if (what == "start-next") {
    tally_.start_next_rejected.fetch_add(1, std::memory_order_relaxed);
    start_next_outstanding_ = false;
  } else {
    tally_.update_rejected.fetch_add(1, std::memory_order_relaxed);
    if (!working_on_.empty()) on_outcome_rejected(working_on_, payload);
    working_on_.clear();
  }
  tally_.note_rejection(client_id() + " " + std::string(what) + ": " + std::string(payload.substr(0, 300)));
  become_idle();
}

// Between jobs: forget the finished one's notification time, and ask for the
// next if another job was announced while busy.
void jobs_device::become_idle() {
  if (start_next_outstanding_ || !working_on_.empty()) return;
  notified_at_.reset();
  if (!recheck_) return;
  recheck_ = false;
  if (finished_jobs_.contains(recheck_job_)) return;  // the announcement was about what just finished
  notified_at_ = recheck_since_;
  request_start_next();
}

void jobs_device::request_start_next() {
  start_next_outstanding_ = true;
  tally_.start_next_sent.fetch_add(1, std::memory_order_relaxed);
  std::string body = "{}";
  if (client_tokens_) body = R"({"clientToken":")" + client_id() + "-" + std::to_string(++requests_) + "\"}";
  request(start_next_topic_, std::move(body));
}

void jobs_device::request(const std::string& topic, std::string payload) {
  mqtt::publish_packet p;
  p.qos = mqtt::qos::at_least_once;
  p.topic = topic;
  p.payload.assign(payload.begin(), payload.end());
  p.packet_id = ids().allocate();
  queue(p);
  notify_writer();
}

}  // namespace airfleet::sim
