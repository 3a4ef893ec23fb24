#include "aws/jobs_mqtt.hpp"

#include "aws/input.hpp"
#include "aws/jobs_data_api.hpp"
#include "core/crypto.hpp"
#include "core/strings.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <variant>

namespace airfleet::aws {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr std::string_view things_prefix = "$aws/things/";
constexpr std::size_t max_client_token_chars = 64;  // AWS: ClientRequestToken, 1..64
constexpr int max_payload_depth = 32;

// ---- rejections -------------------------------------------------------------

struct rejection {
  std::string_view code;
  std::string message;
};

constexpr std::string_view invalid_topic = "InvalidTopic";
constexpr std::string_view invalid_json = "InvalidJson";
constexpr std::string_view invalid_request = "InvalidRequest";
constexpr std::string_view invalid_state_transition = "InvalidStateTransition";
constexpr std::string_view resource_not_found = "ResourceNotFound";
constexpr std::string_view version_mismatch = "VersionMismatch";
constexpr std::string_view internal_error = "InternalError";
constexpr std::string_view request_throttled = "RequestThrottled";
constexpr std::string_view terminal_state_reached = "TerminalStateReached";

bool is_jobs_error(const core::error& e, jobs::errc which) { return e.code == jobs::make_error_code(which); }

// Engine and input errors -> the MQTT jobs API's rejection codes, in one
// place (the HTTP surface's mapping is aws/errors.cpp's to_wire).
rejection to_rejection(const core::error& e) {
  const auto& cat = e.code.category();
  if (cat == jobs::make_error_code(jobs::errc::not_found).category()) {
    switch (static_cast<jobs::errc>(e.code.value())) {
      case jobs::errc::not_found: return {resource_not_found, e.message};
      case jobs::errc::already_exists:
      case jobs::errc::conflict:
      case jobs::errc::invalid_request:
      case jobs::errc::limit_exceeded: return {invalid_request, e.message};
      case jobs::errc::invalid_state_transition: return {invalid_state_transition, e.message};
      case jobs::errc::version_conflict: return {version_mismatch, e.message};
      case jobs::errc::terminal_state: return {terminal_state_reached, e.message};
      case jobs::errc::internal: break;
    }
  } else if (cat == make_error_code(errc::invalid_input).category()) {
    switch (static_cast<errc>(e.code.value())) {
      case errc::invalid_input: return {invalid_request, e.message};
      case errc::unknown_operation:
      case errc::method_not_allowed:
      case errc::unsupported_service: return {invalid_topic, e.message};
    }
  }
  return {internal_error, "Internal failure: " + e.message};
}

// The rejections that carry the execution's current state.
bool wants_execution_state(std::string_view code) {
  return code == version_mismatch || code == invalid_state_transition;
}

// The engine attaches the execution's state at the moment it refused an
// update to the error's details (status, versionNumber, statusDetails as a
// JSON object); nullopt when they are not all there.
std::optional<json::object> state_from_details(const core::error& e) {
  const std::string* status = nullptr;
  const std::string* version = nullptr;
  const std::string* details = nullptr;
  for (const auto& [k, v] : e.details) {
    if (k == "status") status = &v;
    else if (k == "versionNumber") version = &v;
    else if (k == "statusDetails") details = &v;
  }
  if (!status || !version || !details || !core::all_digits(*version) || version->empty() || version->size() > 18)
    return std::nullopt;
  boost::system::error_code ec;
  auto map = json::parse(*details, ec);
  if (ec || !map.is_object()) return std::nullopt;
  return json::object{{"status", *status},
                      {"statusDetails", std::move(map.as_object())},
                      {"versionNumber", std::stoll(*version)}};
}

// ---- topics -----------------------------------------------------------------

enum class operation {
  get_pending,  // jobs/get
  start_next,   // jobs/start-next
  describe,     // jobs/<jobId>/get
  update,       // jobs/<jobId>/update
  ours,         // a reply or notification topic: never answered
  unknown,      // anything else under jobs/: InvalidTopic
};

struct request_topic {
  std::string thing;
  std::string job_id;  // describe and update
  operation op = operation::unknown;
};

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// nullopt: not under $aws/things/<thing>/jobs (the broker's filter should
// never hand us one).
std::optional<request_topic> parse_topic(std::string_view topic) {
  if (!core::starts_with(topic, things_prefix)) return std::nullopt;
  auto rest = topic.substr(things_prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  request_topic out;
  out.thing = std::string(rest.substr(0, slash));
  rest = rest.substr(slash + 1);
  if (rest == "jobs") return out;  // unknown
  if (!core::starts_with(rest, "jobs/")) return std::nullopt;
  rest = rest.substr(5);
  if (rest == "get") {
    out.op = operation::get_pending;
  } else if (rest == "start-next") {
    out.op = operation::start_next;
  } else if (rest == "notify" || rest == "notify-next" || ends_with(rest, "/accepted") ||
             ends_with(rest, "/rejected")) {
    out.op = operation::ours;
  } else if (auto s = rest.find('/'); s != std::string_view::npos && s > 0) {
    auto action = rest.substr(s + 1);
    if (action == "get") out.op = operation::describe;
    else if (action == "update") out.op = operation::update;
    if (out.op != operation::unknown) out.job_id = std::string(rest.substr(0, s));
  }
  return out;
}

// ---- payloads ---------------------------------------------------------------

struct parsed_payload {
  json::object body;
  std::optional<std::string> client_token;
  std::optional<rejection> problem;  // set: answer with this instead
};

parsed_payload parse_payload(std::string_view payload, std::size_t max_bytes) {
  parsed_payload out;
  if (payload.size() > max_bytes) {
    out.problem = rejection{invalid_json, "The payload exceeds " + std::to_string(max_bytes) + " bytes"};
    return out;
  }
  if (!core::trim(payload).empty()) {
    boost::system::error_code ec;
    json::parse_options opts;
    opts.max_depth = max_payload_depth;
    auto value = json::parse(payload, ec, {}, opts);
    if (ec) {
      out.problem = rejection{invalid_json, "The payload is not valid UTF-8 JSON: " + ec.message()};
      return out;
    }
    if (!value.is_object()) {
      out.problem = rejection{invalid_json, "The payload must be a JSON object"};
      return out;
    }
    out.body = std::move(value.as_object());
  }
  if (auto* token = out.body.if_contains("clientToken"); token && !token->is_null()) {
    if (!token->is_string()) {
      out.problem = rejection{invalid_request, "Member 'clientToken' must be a string"};
    } else if (token->as_string().empty() || token->as_string().size() > max_client_token_chars) {
      out.problem = rejection{invalid_request, "Member 'clientToken' must be 1 to 64 characters long"};
    } else {
      out.client_token = std::string(token->as_string());
    }
  }
  return out;
}

// ---- notifications and events -------------------------------------------------

enum class pending_change { none, entered, moved, left };

pending_change change_of(const jobs::execution_event& x) {
  bool before = x.previous && !jobs::is_terminal(*x.previous);
  bool after = !x.deleted && !jobs::is_terminal(x.state.status);
  if (x.deleted) before = before || !jobs::is_terminal(x.state.status);
  if (before && !after) return pending_change::left;
  if (!before && after) return pending_change::entered;
  if (before && after && x.previous && *x.previous != x.state.status) return pending_change::moved;
  return pending_change::none;
}

// The `$aws/events/jobExecution/<jobId>/<operation>` an execution event
// publishes, if any: on reaching a terminal status, and on deletion.
std::optional<std::string> execution_operation(const jobs::execution_event& x) {
  if (x.deleted) return std::string("deleted");
  if (!jobs::is_terminal(x.state.status)) return std::nullopt;
  if (x.previous && *x.previous == x.state.status) return std::nullopt;
  return core::to_lower(jobs::to_string(x.state.status));  // SUCCEEDED -> succeeded, TIMED_OUT -> timed_out
}

std::string_view job_operation(jobs::job_event::kind k) {
  switch (k) {
    case jobs::job_event::kind::completed: return "completed";
    case jobs::job_event::kind::canceled: return "canceled";
    case jobs::job_event::kind::deleted: return "deleted";
    case jobs::job_event::kind::cancellation_in_progress: return "cancellation_in_progress";
    case jobs::job_event::kind::deletion_in_progress: return "deletion_in_progress";
  }
  return "";
}

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c); });
  return out;
}

}  // namespace

// ---- the service's state ------------------------------------------------------

struct jobs_mqtt::state : std::enable_shared_from_this<state> {
  using lane = asio::strand<asio::thread_pool::executor_type>;

  state(jobs::engine& e, asio::thread_pool& pool, publish_fn p, jobs_mqtt_settings s)
      : engine(e), blocking(pool), publish(std::move(p)), settings(s), events_lane(asio::make_strand(pool)) {
    auto count = std::max<std::size_t>(1, settings.ordering_lanes);
    lanes.reserve(count);
    for (std::size_t i = 0; i < count; ++i) lanes.push_back(asio::make_strand(pool));
  }

  // One of max_inflight_requests, given back when the last copy of the
  // request's callback is gone (reply published, or the work dropped).
  struct request_slot {
    explicit request_slot(std::shared_ptr<state> s) : owner(std::move(s)) {}
    ~request_slot() { owner->inflight.fetch_sub(1, std::memory_order_relaxed); }
    request_slot(const request_slot&) = delete;
    request_slot& operator=(const request_slot&) = delete;
    std::shared_ptr<state> owner;
  };
  std::shared_ptr<request_slot> acquire() {
    if (inflight.fetch_add(1, std::memory_order_relaxed) >= settings.max_inflight_requests) {
      inflight.fetch_sub(1, std::memory_order_relaxed);
      return nullptr;
    }
    return std::make_shared<request_slot>(shared_from_this());
  }

  std::int64_t now_seconds() const {
    return jobs_wire::epoch_seconds(settings.clock ? settings.clock->now() : system_clock.now());
  }

  void accept(const std::string& request_topic, json::object body, const std::optional<std::string>& token) {
    body["timestamp"] = now_seconds();
    if (token) body["clientToken"] = *token;
    publish(request_topic + "/accepted", json::serialize(body));
  }

  void reject(const std::string& request_topic, const rejection& r, const std::optional<std::string>& token,
              std::optional<json::object> execution_state = std::nullopt) {
    json::object body{{"code", r.code}, {"message", r.message}, {"timestamp", now_seconds()}};
    if (token) body["clientToken"] = *token;
    if (execution_state) body["executionState"] = std::move(*execution_state);
    publish(request_topic + "/rejected", json::serialize(body));
  }

  void throttled(const std::string& request_topic, const std::optional<std::string>& token) {
    reject(request_topic, {request_throttled, "Too many jobs requests are waiting; retry later"}, token);
  }

  // ---- requests ----

  void get_pending(std::string thing, std::string topic, std::optional<std::string> token) {
    auto slot = acquire();
    if (!slot) return throttled(topic, token);
    asio::post(blocking, [slot, thing = std::move(thing), topic = std::move(topic), token = std::move(token)] {
      auto& s = *slot->owner;
      auto pending = s.engine.pending(thing);
      if (!pending) return s.reject(topic, to_rejection(pending.error()), token);
      s.accept(topic, jobs_wire::pending_json(*pending), token);
    });
  }

  void start_next(std::string thing, const json::object& body, std::string topic, std::optional<std::string> token) {
    auto request = jobs_wire::start_next_in(body, std::move(thing));
    if (!request) return reject(topic, to_rejection(request.error()), token);
    auto slot = acquire();
    if (!slot) return throttled(topic, token);
    // The callback runs on the writer thread: build the reply and publish only.
    engine.start_next_async(std::move(*request), [slot, topic = std::move(topic), token = std::move(token)](
                                                     core::result<std::optional<jobs::execution_with_document>> r) {
      auto& s = *slot->owner;
      if (!r) return s.reject(topic, to_rejection(r.error()), token);
      json::object out;
      if (*r) out["execution"] = jobs_wire::execution_json(**r, jobs_wire::document_form::object);
      s.accept(topic, std::move(out), token);
    });
  }

  void describe(std::string thing, std::string job_id, const json::object& body, std::string topic,
                std::optional<std::string> token) {
    auto number = jobs_wire::integer_in(body, "executionNumber");
    if (!number) return reject(topic, to_rejection(number.error()), token);
    auto include = input::bool_in(body, "includeJobDocument", "includeJobDocument");
    if (!include) return reject(topic, to_rejection(include.error()), token);
    auto slot = acquire();
    if (!slot) return throttled(topic, token);
    asio::post(blocking, [slot, thing = std::move(thing), job_id = std::move(job_id), number = *number,
                          include_document = include->value_or(true), topic = std::move(topic),
                          token = std::move(token)] {
      auto& s = *slot->owner;
      auto found = s.engine.describe_for_device(job_id, thing, number, include_document);
      if (!found) return s.reject(topic, to_rejection(found.error()), token);
      json::object out;
      if (*found) out["execution"] = jobs_wire::execution_json(**found, jobs_wire::document_form::object);
      s.accept(topic, std::move(out), token);
    });
  }

  void update(std::string thing, std::string job_id, const json::object& body, std::string topic,
              std::optional<std::string> token) {
    auto update = jobs_wire::update_in(body, std::move(thing), std::move(job_id));
    if (!update) return reject(topic, to_rejection(update.error()), token);
    auto slot = acquire();
    if (!slot) return throttled(topic, token);
    bool include_state = update->include_state;
    bool include_document = update->request.include_document;
    auto request = update->request;  // the callback needs job, thing and execution number
    engine.update_execution_async(
        std::move(update->request),
        [slot, request = std::move(request), include_state, include_document, topic = std::move(topic),
         token = std::move(token)](core::result<jobs::execution_with_document> r) {
          auto& s = *slot->owner;
          if (r) {
            json::object out;
            if (include_state) out["executionState"] = jobs_wire::state_json(r->state);
            if (include_document && r->document)
              out["jobDocument"] = jobs_wire::document_json(*r->document, jobs_wire::document_form::object);
            return s.accept(topic, std::move(out), token);
          }
          auto why = to_rejection(r.error());
          if (!wants_execution_state(why.code)) return s.reject(topic, why, token);
          if (auto found = state_from_details(r.error())) return s.reject(topic, why, token, std::move(found));
          // Without it, read the current state: not on the writer thread.
          asio::post(s.blocking, [slot, request, why = std::move(why), topic, token] {
            auto& service = *slot->owner;
            auto current =
                service.engine.describe_execution(request.job_id, request.thing_name, request.execution_number);
            std::optional<json::object> found;
            if (current) found = jobs_wire::state_json(*current);
            service.reject(topic, why, token, std::move(found));
          });
        });
  }

  // ---- notify / notify-next ----

  lane& lane_of(const std::string& thing) { return lanes[std::hash<std::string>{}(thing) % lanes.size()]; }

  void mark_dirty(const std::string& thing, bool left) {
    {
      std::lock_guard lock(mutex);
      auto [it, inserted] = dirty.try_emplace(thing, left);
      if (!inserted) {
        it->second = it->second || left;
        return;  // a computation for this thing is queued and will see this change
      }
    }
    asio::post(lane_of(thing), [self = shared_from_this(), thing] { self->notify(thing); });
  }

  // On the thing's lane.
  void notify(const std::string& thing) {
    bool left = false;
    {
      std::lock_guard lock(mutex);
      auto it = dirty.find(thing);
      if (it == dirty.end()) return;
      left = it->second;
      dirty.erase(it);
    }
    // A thing that is gone has nothing pending; any other failure leaves
    // nothing trustworthy to announce (the next change announces again).
    auto gone = [](const core::error& e) { return is_jobs_error(e, jobs::errc::not_found); };
    jobs::pending_executions pending;
    if (auto p = engine.pending(thing)) pending = std::move(*p);
    else if (!gone(p.error())) return;

    auto now = now_seconds();
    json::object jobs_by_status;
    auto list = [](const std::vector<jobs::execution>& executions) {
      json::array out;
      for (const auto& e : executions) out.emplace_back(jobs_wire::summary_json(e));
      return out;
    };
    if (!pending.in_progress.empty()) jobs_by_status["IN_PROGRESS"] = list(pending.in_progress);
    if (!pending.queued.empty()) jobs_by_status["QUEUED"] = list(pending.queued);
    auto prefix = std::string(things_prefix) + thing + "/jobs/";
    publish(prefix + "notify", json::serialize(json::object{{"timestamp", now}, {"jobs", std::move(jobs_by_status)}}));

    // notify-next names the next execution with its document (fresh
    // presigned links): built only when the next execution changed, which
    // the pending list just read already tells.
    std::optional<jobs::execution_with_document> next;
    if (const auto* first = pending.next()) {
      if (announced_already(thing, announcement_key(*first))) return;
      auto n = engine.describe_for_device(first->job_id, thing, std::nullopt, true);
      // Finished or gone since the list was read: the change that did it
      // announces again.
      if (!n || !*n) return;
      next = std::move(*n);
    }
    if (!announce_next(thing, next, left)) return;
    json::object body{{"timestamp", now}};
    if (next) body["execution"] = jobs_wire::execution_json(*next, jobs_wire::document_form::object);
    publish(prefix + "notify-next", json::serialize(body));
  }

  // AWS sends notify-next only when the next job changes, not when its
  // status or details do; a retry (queued again) counts as a new one.
  static std::string announcement_key(const jobs::execution& e) {
    return e.job_id + ' ' + std::to_string(e.retry_attempt);
  }

  bool announced_already(const std::string& thing, const std::string& key) {
    std::lock_guard lock(mutex);
    auto it = announced.find(thing);
    return it != announced.end() && it->second == key;
  }

  // Whether notify-next should go out, remembering what it will say.
  bool announce_next(const std::string& thing, const std::optional<jobs::execution_with_document>& next,
                     bool left) {
    std::lock_guard lock(mutex);
    auto it = announced.find(thing);
    if (!next) {
      // Nothing pending: announce it if we had announced something, or if
      // the last pending execution just left (after a restart we may not
      // remember having announced it).
      bool send = it != announced.end() || left;
      if (it != announced.end()) announced.erase(it);
      return send;
    }
    auto key = announcement_key(next->state);
    if (it != announced.end()) {
      if (it->second == key) return false;
      it->second = std::move(key);
      return true;
    }
    if (announced.size() >= settings.max_announced_things && !announced.empty()) announced.erase(announced.begin());
    announced.emplace(thing, std::move(key));
    return true;
  }

  // ---- $aws/events ----

  void publish_event(const jobs::event& ev) {
    json::object body{{"eventType", ""}, {"eventId", core::random_uuid()}, {"timestamp", now_seconds()}};
    if (const auto* x = std::get_if<jobs::execution_event>(&ev)) {
      auto op = execution_operation(*x);
      if (!op) return;
      const auto& e = x->state;
      body["eventType"] = "JOB_EXECUTION";
      body["operation"] = *op;
      body["jobId"] = e.job_id;
      body["thingArn"] = e.thing_arn;
      body["status"] = jobs::to_string(e.status);
      if (!e.status_details.empty()) {
        json::object details;
        for (const auto& [k, v] : e.status_details) details[k] = v;
        body["statusDetails"] = std::move(details);
      }
      publish("$aws/events/jobExecution/" + e.job_id + "/" + *op, json::serialize(body));
      return;
    }
    const auto& j = std::get<jobs::job_event>(ev);
    const auto& job = j.state;
    auto op = job_operation(j.what);
    body["eventType"] = "JOB";
    body["operation"] = op;
    body["jobId"] = job.id;
    body["status"] = upper(op);  // COMPLETED, CANCELED, DELETED, CANCELLATION_IN_PROGRESS, DELETION_IN_PROGRESS
    body["targetSelection"] = jobs::to_string(job.selection);
    json::array targets;
    for (const auto& t : job.targets) targets.emplace_back(t);
    body["targets"] = std::move(targets);
    if (job.config.description) body["description"] = *job.config.description;
    // The guide's examples give these three in milliseconds.
    if (j.what == jobs::job_event::kind::completed && job.completed_at)
      body["completedAt"] = core::to_epoch_millis(*job.completed_at);
    body["createdAt"] = core::to_epoch_millis(job.created_at);
    body["lastUpdatedAt"] = core::to_epoch_millis(job.last_updated_at);
    if (j.what == jobs::job_event::kind::completed) {
      const auto& d = job.details;
      body["jobProcessDetails"] = json::object{{"numberOfCanceledThings", d.canceled},
                                               {"numberOfRejectedThings", d.rejected},
                                               {"numberOfFailedThings", d.failed},
                                               {"numberOfRemovedThings", d.removed},
                                               {"numberOfSucceededThings", d.succeeded}};
    }
    bool commented = j.what == jobs::job_event::kind::deleted ||
                     j.what == jobs::job_event::kind::cancellation_in_progress ||
                     j.what == jobs::job_event::kind::deletion_in_progress;
    if (commented && job.comment) body["comment"] = *job.comment;
    publish("$aws/events/job/" + job.id + "/" + std::string(op), json::serialize(body));
  }

  jobs::engine& engine;
  asio::thread_pool& blocking;
  const publish_fn publish;
  const jobs_mqtt_settings settings;
  const core::system_clock system_clock;
  std::atomic<std::size_t> inflight{0};  // requests holding a request_slot
  std::vector<lane> lanes;               // per-thing order of notify / notify-next
  lane events_lane;                      // commit order of $aws/events messages

  std::mutex mutex;
  // Things with a pending-set change whose notify has not run yet -> whether
  // a pending execution left the set. Guarded by mutex.
  std::unordered_map<std::string, bool> dirty;
  // Thing -> "<jobId> <retryAttempt>" of the next execution last announced on
  // notify-next; absent when nothing is pending. Guarded by mutex.
  std::unordered_map<std::string, std::string> announced;
};

// ---- jobs_mqtt ------------------------------------------------------------------

jobs_mqtt::jobs_mqtt(jobs::engine& engine, asio::thread_pool& blocking, publish_fn publish,
                     jobs_mqtt_settings settings)
    : state_(std::make_shared<state>(engine, blocking, std::move(publish), settings)) {}

jobs_mqtt::~jobs_mqtt() = default;

void jobs_mqtt::handle(const std::string& topic, std::string payload) {
  auto parsed = parse_topic(topic);
  if (!parsed || parsed->op == operation::ours) return;
  auto& s = *state_;
  auto in = parse_payload(payload, s.settings.max_payload_bytes);
  if (parsed->op == operation::unknown)
    return s.reject(topic, {invalid_topic, "No jobs operation is served at " + topic}, in.client_token);
  if (in.problem) return s.reject(topic, *in.problem, in.client_token);
  switch (parsed->op) {
    case operation::get_pending: return s.get_pending(std::move(parsed->thing), topic, std::move(in.client_token));
    case operation::start_next:
      return s.start_next(std::move(parsed->thing), in.body, topic, std::move(in.client_token));
    case operation::describe:
      return s.describe(std::move(parsed->thing), std::move(parsed->job_id), in.body, topic,
                        std::move(in.client_token));
    case operation::update:
      return s.update(std::move(parsed->thing), std::move(parsed->job_id), in.body, topic,
                      std::move(in.client_token));
    case operation::ours:
    case operation::unknown: return;
  }
}

void jobs_mqtt::on_events(const std::vector<jobs::event>& events) {
  auto& s = *state_;
  std::vector<jobs::event> reported;  // those with a $aws/events message
  for (const auto& ev : events) {
    if (const auto* x = std::get_if<jobs::execution_event>(&ev)) {
      auto change = change_of(*x);
      if (change != pending_change::none) s.mark_dirty(x->state.thing_name, change == pending_change::left);
      if (execution_operation(*x)) reported.push_back(ev);
    } else {
      reported.push_back(ev);
    }
  }
  if (reported.empty()) return;
  asio::post(s.events_lane, [self = state_, reported = std::move(reported)] {
    for (const auto& ev : reported) self->publish_event(ev);
  });
}

}  // namespace airfleet::aws
