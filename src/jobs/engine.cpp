#include "jobs/engine.hpp"

#include "jobs/schedule.hpp"
#include "storage/jobs_store.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <future>
#include <map>
#include <set>
#include <unordered_map>

namespace airfleet::jobs {

namespace json = boost::json;
using storage::execution_row;
using storage::job_row;
using storage::jobs_reader;
using storage::jobs_writer;

namespace {

constexpr std::string_view abort_reason_code = "ABORT_CRITERIA_MET";
constexpr std::int64_t max_timeout_minutes = 10080;
constexpr std::string_view placeholder_prefix = "${aws:iot:s3-presigned-url:";

core::error invalid(std::string message) { return core::make_error(errc::invalid_request, std::move(message)); }
core::error not_found(std::string message) { return core::make_error(errc::not_found, std::move(message)); }

// Storage failures become internal errors; the engine's own codes pass through.
core::error as_engine_error(core::error e) {
  if (e.code.category() == make_error_code(errc::internal).category()) return e;
  return core::make_error(errc::internal, "storage failure: " + e.message);
}

#define JOBS_TRY(var, expr)                                            \
  auto var##_result = (expr);                                          \
  if (!var##_result) return as_engine_error(var##_result.error());     \
  auto var = std::move(*var##_result)
#define JOBS_CHECK(expr)                                               \
  do {                                                                 \
    auto check_result_ = (expr);                                       \
    if (!check_result_) return as_engine_error(check_result_.error()); \
  } while (0)

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
bool valid_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), id_char);
}

// ---- the spec: targets and configuration, as stored ---------------------------

struct job_spec {
  std::vector<std::string> targets;
  job_config config;
  std::optional<std::string> template_arn;
  std::optional<scheduling_config> scheduling;
};

json::value opt_string(const std::optional<std::string>& s) { return s ? json::value(*s) : json::value(nullptr); }
json::value opt_int(const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }

std::optional<std::string> get_string(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}
std::optional<std::int64_t> get_int(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_int64()) return std::nullopt;
  return v->as_int64();
}
double get_double(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  return 0;
}

json::object encode_config(const job_config& c) {
  json::object o;
  o["description"] = opt_string(c.description);
  o["document"] = opt_string(c.document);
  o["documentSource"] = opt_string(c.document_source);
  if (c.presigned_url)
    o["presignedUrl"] = json::object{{"roleArn", opt_string(c.presigned_url->role_arn)},
                                     {"expiresInSec", opt_int(c.presigned_url->expires_in_sec)}};
  if (c.rollout) {
    json::object r{{"maximumPerMinute", opt_int(c.rollout->maximum_per_minute)}};
    if (c.rollout->exponential) {
      const auto& e = *c.rollout->exponential;
      r["exponential"] = json::object{{"base", e.base_rate_per_minute},
                                      {"factor", e.increment_factor},
                                      {"notified", opt_int(e.criteria.number_of_notified_things)},
                                      {"succeeded", opt_int(e.criteria.number_of_succeeded_things)}};
    }
    o["rollout"] = std::move(r);
  }
  if (c.abort) {
    json::array a;
    for (const auto& cr : *c.abort)
      a.emplace_back(json::object{{"type", to_string(cr.type)},
                                  {"action", cr.action},
                                  {"threshold", cr.threshold_percentage},
                                  {"min", cr.min_executed_things}});
    o["abort"] = std::move(a);
  }
  o["inProgressTimeout"] = opt_int(c.in_progress_timeout_minutes);
  if (c.retry) {
    json::array a;
    for (const auto& cr : *c.retry) a.emplace_back(json::object{{"type", to_string(cr.type)}, {"retries", cr.retries}});
    o["retry"] = std::move(a);
  }
  return o;
}

job_config decode_config(const json::object& o) {
  job_config c;
  c.description = get_string(o, "description");
  c.document = get_string(o, "document");
  c.document_source = get_string(o, "documentSource");
  if (auto* p = o.if_contains("presignedUrl"); p && p->is_object())
    c.presigned_url = presigned_url_config{get_string(p->as_object(), "roleArn"),
                                           get_int(p->as_object(), "expiresInSec")};
  if (auto* r = o.if_contains("rollout"); r && r->is_object()) {
    rollout_config rc;
    rc.maximum_per_minute = get_int(r->as_object(), "maximumPerMinute");
    if (auto* e = r->as_object().if_contains("exponential"); e && e->is_object()) {
      const auto& eo = e->as_object();
      rc.exponential = exponential_rate{get_int(eo, "base").value_or(1), get_double(eo, "factor"),
                                        rate_increase_criteria{get_int(eo, "notified"), get_int(eo, "succeeded")}};
    }
    c.rollout = rc;
  }
  if (auto* a = o.if_contains("abort"); a && a->is_array()) {
    std::vector<abort_criterion> list;
    for (const auto& v : a->as_array()) {
      const auto& co = v.as_object();
      list.push_back(abort_criterion{parse_failure_type(get_string(co, "type").value_or("")).value_or(failure_type::all),
                                     get_string(co, "action").value_or("CANCEL"), get_double(co, "threshold"),
                                     get_int(co, "min").value_or(1)});
    }
    c.abort = std::move(list);
  }
  c.in_progress_timeout_minutes = get_int(o, "inProgressTimeout");
  if (auto* a = o.if_contains("retry"); a && a->is_array()) {
    std::vector<retry_criterion> list;
    for (const auto& v : a->as_array()) {
      const auto& co = v.as_object();
      list.push_back(retry_criterion{parse_failure_type(get_string(co, "type").value_or("")).value_or(failure_type::all),
                                     get_int(co, "retries").value_or(0)});
    }
    c.retry = std::move(list);
  }
  return c;
}

std::string encode_spec(const job_spec& s) {
  json::object o;
  json::array targets;
  for (const auto& t : s.targets) targets.emplace_back(t);
  o["targets"] = std::move(targets);
  o["config"] = encode_config(s.config);
  o["template"] = opt_string(s.template_arn);
  if (s.scheduling) {
    json::array windows;
    for (const auto& w : s.scheduling->maintenance_windows)
      windows.emplace_back(json::object{{"start", w.start}, {"minutes", w.duration_minutes}});
    o["scheduling"] = json::object{
        {"start", opt_string(s.scheduling->start_time)},
        {"end", opt_string(s.scheduling->end_time)},
        {"behavior", s.scheduling->behavior ? json::value(to_string(*s.scheduling->behavior)) : json::value(nullptr)},
        {"windows", std::move(windows)}};
  }
  return json::serialize(o);
}

job_spec decode_spec(const std::string& text) {
  job_spec s;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return s;
  const auto& o = v.as_object();
  if (auto* t = o.if_contains("targets"); t && t->is_array())
    for (const auto& a : t->as_array())
      if (a.is_string()) s.targets.emplace_back(a.as_string());
  if (auto* c = o.if_contains("config"); c && c->is_object()) s.config = decode_config(c->as_object());
  s.template_arn = get_string(o, "template");
  if (auto* sc = o.if_contains("scheduling"); sc && sc->is_object()) {
    const auto& so = sc->as_object();
    scheduling_config cfg;
    cfg.start_time = get_string(so, "start");
    cfg.end_time = get_string(so, "end");
    if (auto b = get_string(so, "behavior")) cfg.behavior = parse_end_behavior(*b);
    if (auto* w = so.if_contains("windows"); w && w->is_array())
      for (const auto& item : w->as_array())
        if (item.is_object())
          cfg.maintenance_windows.push_back(maintenance_window_spec{get_string(item.as_object(), "start").value_or(""),
                                                                    get_int(item.as_object(), "minutes").value_or(0)});
    s.scheduling = std::move(cfg);
  }
  return s;
}

std::string encode_details(const details_map& d) {
  json::object o;
  for (const auto& [k, v] : d) o[k] = v;
  return json::serialize(o);
}

details_map decode_details(const std::string& text) {
  details_map out;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return out;
  for (const auto& [k, val] : v.as_object())
    if (val.is_string()) out.emplace(std::string(k), std::string(val.as_string()));
  return out;
}

// ---- validation ---------------------------------------------------------------

core::result<void> validate_rate(std::int64_t rate, std::string_view what, std::int64_t ceiling) {
  if (rate < 1 || rate > ceiling)
    return invalid(std::string(what) + " must be between 1 and " + std::to_string(ceiling) + ", got " +
                   std::to_string(rate));
  return {};
}

core::result<void> validate_config(const job_config& c, const engine_settings& s) {
  if (c.description && c.description->size() > 2028) return invalid("description is longer than 2028 characters");
  if (c.document && static_cast<std::int64_t>(c.document->size()) > s.max_document_bytes)
    return invalid("The job document is " + std::to_string(c.document->size()) + " bytes; the limit is " +
                   std::to_string(s.max_document_bytes));
  if (c.document) {
    boost::system::error_code ec;
    auto v = json::parse(*c.document, ec);
    if (ec || !v.is_object()) return invalid("The job document must be a JSON object");
  }
  if (c.presigned_url && c.presigned_url->expires_in_sec &&
      (*c.presigned_url->expires_in_sec < 60 || *c.presigned_url->expires_in_sec > 3600))
    return invalid("presignedUrlConfig.expiresInSec must be between 60 and 3600");
  if (c.rollout) {
    if (c.rollout->maximum_per_minute)
      if (auto r = validate_rate(*c.rollout->maximum_per_minute, "maximumPerMinute", s.max_rate_per_minute); !r)
        return r;
    if (const auto& e = c.rollout->exponential) {
      if (auto r = validate_rate(e->base_rate_per_minute, "exponentialRate.baseRatePerMinute", s.max_rate_per_minute);
          !r)
        return r;
      if (!(e->increment_factor >= 1.1 && e->increment_factor <= 5))
        return invalid("exponentialRate.incrementFactor must be between 1.1 and 5");
      const auto& k = e->criteria;
      if (!k.number_of_notified_things && !k.number_of_succeeded_things)
        return invalid("rateIncreaseCriteria needs numberOfNotifiedThings or numberOfSucceededThings");
      if ((k.number_of_notified_things && *k.number_of_notified_things < 1) ||
          (k.number_of_succeeded_things && *k.number_of_succeeded_things < 1))
        return invalid("rateIncreaseCriteria values must be at least 1");
      if (c.rollout->maximum_per_minute && *c.rollout->maximum_per_minute < e->base_rate_per_minute)
        return invalid("maximumPerMinute must not be below exponentialRate.baseRatePerMinute");
    }
  }
  if (c.abort) {
    if (c.abort->empty()) return invalid("abortConfig.criteriaList must not be empty");
    for (const auto& cr : *c.abort) {
      if (cr.action != "CANCEL") return invalid("abortConfig action must be CANCEL");
      if (!(cr.threshold_percentage >= 0 && cr.threshold_percentage <= 100))
        return invalid("abortConfig thresholdPercentage must be between 0 and 100");
      if (cr.min_executed_things < 1) return invalid("abortConfig minNumberOfExecutedThings must be at least 1");
    }
  }
  if (c.in_progress_timeout_minutes &&
      (*c.in_progress_timeout_minutes < 1 || *c.in_progress_timeout_minutes > max_timeout_minutes))
    return invalid("timeoutConfig.inProgressTimeoutInMinutes must be between 1 and 10080");
  if (c.retry) {
    if (c.retry->empty() || c.retry->size() > 2)
      return invalid("jobExecutionsRetryConfig.criteriaList holds 1 or 2 criteria");
    std::int64_t total = 0;
    for (const auto& cr : *c.retry) {
      if (cr.type == failure_type::rejected) return invalid("REJECTED executions are not retried");
      if (cr.retries < 0 || cr.retries > 10) return invalid("numberOfRetries must be between 0 and 10");
      total += cr.retries;
    }
    if (total > 10) return invalid("At most 10 retries per device across all failure types");
  }
  return {};
}

// Counters of jobProcessDetails, by execution status.
std::int64_t& counter(job_row& j, execution_status s) {
  switch (s) {
    case execution_status::queued: return j.queued;
    case execution_status::in_progress: return j.in_progress;
    case execution_status::succeeded: return j.succeeded;
    case execution_status::failed: return j.failed;
    case execution_status::timed_out: return j.timed_out;
    case execution_status::rejected: return j.rejected;
    case execution_status::removed: return j.removed;
    case execution_status::canceled: return j.canceled;
  }
  return j.queued;
}

execution_status status_of(const execution_row& e) {
  return parse_execution_status(e.status).value_or(execution_status::queued);
}
job_status status_of(const job_row& j) { return parse_job_status(j.status).value_or(job_status::in_progress); }

std::int64_t failures_of(const job_row& j, failure_type t) {
  switch (t) {
    case failure_type::failed: return j.failed;
    case failure_type::rejected: return j.rejected;
    case failure_type::timed_out: return j.timed_out;
    case failure_type::all: return j.failed + j.rejected + j.timed_out;
  }
  return 0;
}

// "arn:aws:iot:<region>:<account>:<kind>/<name>" -> (kind, name)
std::optional<std::pair<std::string, std::string>> split_arn(std::string_view arn) {
  if (!arn.starts_with("arn:")) return std::nullopt;
  std::size_t colons = 0, pos = 0;
  for (; pos < arn.size() && colons < 5; ++pos)
    if (arn[pos] == ':') ++colons;
  if (colons < 5) return std::nullopt;
  auto resource = arn.substr(pos);
  auto slash = resource.find('/');
  if (slash == std::string_view::npos || slash + 1 >= resource.size()) return std::nullopt;
  return std::pair{std::string(resource.substr(0, slash)), std::string(resource.substr(slash + 1))};
}

template <class T>
struct write_state {
  std::optional<core::result<T>> out;
  std::vector<event> events;
};

}  // namespace

// ---- the engine's inner workings ------------------------------------------------

struct engine::impl {
  engine& self;
  storage::jobs_store& store;
  fleet& things;
  const core::clock& clock;
  engine_settings settings;
  core::page_token_codec tokens;

  std::mutex subscribers_mutex;
  std::vector<std::function<void(const std::vector<event>&)>> subscribers;  // guarded by subscribers_mutex
  std::function<void()> wake;                                               // set once before use
  int group_hook = 0;                                                       // the store's group-end handle

  std::mutex specs_mutex;
  std::map<std::string, std::shared_ptr<const job_spec>> specs;  // decoded specs by job id; guarded by specs_mutex

  impl(engine& e, storage::jobs_store& st, fleet& f, const core::clock& c, engine_settings s)
      : self(e), store(st), things(f), clock(c), settings(std::move(s)), tokens(settings.token_secret) {}

  std::int64_t now_ms() const { return core::to_epoch_millis(clock.now()); }
  std::int64_t minute_ms() const {
    return std::max<std::int64_t>(1, std::llround(60000.0 / std::max(settings.time_scale, 1e-6)));
  }

  // The decoded spec of a job. Rows come without it: it is cached once
  // decoded (create/update prime the cache in their own transaction, so a
  // job made in the current commit group is found) and read from the
  // committed database otherwise.
  std::shared_ptr<const job_spec> spec_of(const job_row& j) {
    if (j.spec.empty()) {
      auto found = spec_by_id(j.job_id);
      // A failed read decodes as an empty spec; the row's counters still answer.
      if (found && *found) return *found;
      return std::make_shared<const job_spec>();
    }
    auto decoded = std::make_shared<const job_spec>(decode_spec(j.spec));
    std::lock_guard lock(specs_mutex);
    return specs.emplace(j.job_id, decoded).first->second;
  }
  // The spec of a job by id: from the cache, else one read; nullptr when
  // there is no such job (not cached).
  core::result<std::shared_ptr<const job_spec>> spec_by_id(const std::string& job_id) {
    {
      std::lock_guard lock(specs_mutex);
      auto it = specs.find(job_id);
      if (it != specs.end()) return it->second;
    }
    std::optional<std::string> text;
    auto stored = store.read([&](jobs_reader& r) -> core::result<void> {
      auto found = r.find_job_spec(job_id);
      if (!found) return found.error();
      text = std::move(*found);
      return {};
    });
    if (!stored) return as_engine_error(stored.error());
    if (!text) return std::shared_ptr<const job_spec>{};
    auto decoded = std::make_shared<const job_spec>(decode_spec(*text));
    std::lock_guard lock(specs_mutex);
    return specs.emplace(job_id, decoded).first->second;
  }
  void prime_spec(const std::string& job_id, job_spec spec) {
    std::lock_guard lock(specs_mutex);
    specs[job_id] = std::make_shared<const job_spec>(std::move(spec));
  }
  void forget_spec(const std::string& job_id) {
    std::lock_guard lock(specs_mutex);
    specs.erase(job_id);
  }

  void emit(const std::vector<event>& events) {
    if (events.empty()) return;
    std::lock_guard lock(subscribers_mutex);
    for (const auto& s : subscribers) s(events);
  }

  // Runs `work` on the writer; `done` hears the result after the commit.
  template <class T, class Work, class Done>
  void write_async(Work work, Done done) {
    auto state = std::make_shared<write_state<T>>();
    store.submit(
        [this, state, work = std::move(work)](jobs_writer& w) -> core::result<void> {
          begin_write();
          auto r = work(w, state->events);
          bool ok = r.has_value();
          state->out.emplace(std::move(r));
          if (!ok) {
            state->events.clear();
            abort_write();  // the savepoint's changes are rolled back
            return state->out->error();
          }
          undo.clear();
          undo_new_dirty.clear();
          return {};
        },
        [this, state, done = std::move(done)](const core::error* failure) mutable {
          if (failure) {
            // The whole group is rolled back (every write in it hears so).
            job_cache.clear();
            dirty_jobs.clear();
            return done(core::result<T>(as_engine_error(*failure)));
          }
          if (!state->out) return done(core::result<T>(core::make_error(errc::internal, "write did not run")));
          if (state->out->has_value()) emit(state->events);
          done(std::move(*state->out));
        });
  }

  template <class T, class Work>
  core::result<T> write(Work work) {
    std::promise<core::result<T>> promise;
    auto future = promise.get_future();
    write_async<T>(std::move(work), [&promise](core::result<T> r) { promise.set_value(std::move(r)); });
    return future.get();
  }

  template <class T, class Work>
  core::result<T> read(Work work) {
    std::optional<core::result<T>> out;
    auto r = store.read([&](jobs_reader& reader) -> core::result<void> {
      out.emplace(work(reader));
      return {};
    });
    if (!r) return as_engine_error(r.error());
    return std::move(*out);
  }

  // ---- conversions ----

  execution make_execution(const execution_row& e) const {
    execution x;
    x.job_id = e.job_id;
    x.thing_name = e.thing_name;
    x.thing_arn = self.thing_arn(e.thing_name);
    x.status = status_of(e);
    x.force_canceled = e.force_canceled;
    x.status_details = decode_details(e.status_details);
    x.queued_at = core::from_epoch_millis(e.queued_ms);
    if (e.started_ms) x.started_at = core::from_epoch_millis(*e.started_ms);
    x.last_updated_at = core::from_epoch_millis(e.updated_ms);
    x.execution_number = e.number;
    x.version_number = e.version;
    x.retry_attempt = e.retries_failed + e.retries_timed_out;
    if (x.status == execution_status::in_progress) {
      std::optional<std::int64_t> deadline = e.in_progress_deadline_ms;
      if (e.step_deadline_ms && (!deadline || *e.step_deadline_ms < *deadline)) deadline = e.step_deadline_ms;
      if (deadline) x.approximate_seconds_before_timed_out = std::max<std::int64_t>(0, (*deadline - now_ms()) / 1000);
    }
    return x;
  }

  job_template make_template(const storage::job_template_row& row) const {
    return job_template{row.template_id, self.template_arn(row.template_id), decode_spec(row.spec).config,
                        core::from_epoch_millis(row.created_ms)};
  }

  job make_job(const job_row& r) {
    auto spec = spec_of(r);
    job j;
    j.id = r.job_id;
    j.arn = self.job_arn(r.job_id);
    j.status = status_of(r);
    j.selection = parse_target_selection(r.selection).value_or(target_selection::snapshot);
    j.force_canceled = r.force_canceled;
    j.reason_code = r.reason_code;
    j.comment = r.comment;
    j.targets = spec->targets;
    j.config = spec->config;
    j.template_arn = spec->template_arn;
    j.scheduling = spec->scheduling;
    j.created_at = core::from_epoch_millis(r.created_ms);
    j.last_updated_at = core::from_epoch_millis(r.updated_ms);
    if (r.completed_ms) j.completed_at = core::from_epoch_millis(*r.completed_ms);
    j.details = process_details{r.canceled, r.succeeded, r.failed,  r.rejected, r.queued,
                                r.in_progress, r.removed, r.timed_out, {}};
    if (r.pending_targets > 0 && j.status == job_status::in_progress) j.details.processing_targets = spec->targets;
    return j;
  }

  // ---- one write's context: the state machines ----

  struct tx {
    impl& self;
    jobs_writer& w;
    std::vector<event>& events;
    std::int64_t now;
  };

  void emit_execution(tx& t, const execution_row& e, std::optional<execution_status> previous, bool deleted = false) {
    // Built in place: GCC 12 warns falsely about a moved variant here.
    t.events.emplace_back(std::in_place_type<execution_event>, execution_event{make_execution(e), previous, deleted});
  }
  void emit_job(tx& t, job_event::kind kind, const job_row& j) {
    t.events.emplace_back(std::in_place_type<job_event>, job_event{kind, make_job(j)});
  }

  bool retry_allowed(const job_spec& spec, const execution_row& e, execution_status failure) const {
    if (!spec.config.retry) return false;
    std::int64_t used = e.retries_failed + e.retries_timed_out;
    for (const auto& cr : *spec.config.retry) {
      bool matches = cr.type == failure_type::all ||
                     (cr.type == failure_type::failed && failure == execution_status::failed) ||
                     (cr.type == failure_type::timed_out && failure == execution_status::timed_out);
      if (!matches) continue;
      std::int64_t used_of_type = cr.type == failure_type::all             ? used
                                  : failure == execution_status::failed ? e.retries_failed
                                                                         : e.retries_timed_out;
      if (used_of_type < cr.retries && used < 10) return true;
    }
    return false;
  }

  void maybe_increase_rate(job_row& j, const job_spec& spec) {
    if (!spec.config.rollout || !spec.config.rollout->exponential || j.rate <= 0) return;
    const auto& e = *spec.config.rollout->exponential;
    bool hit = (e.criteria.number_of_notified_things && j.notified_since_increase >= *e.criteria.number_of_notified_things) ||
               (e.criteria.number_of_succeeded_things &&
                j.succeeded_since_increase >= *e.criteria.number_of_succeeded_things);
    if (!hit) return;
    std::int64_t cap = spec.config.rollout->maximum_per_minute.value_or(settings.max_rate_per_minute);
    auto next = static_cast<std::int64_t>(std::ceil(static_cast<double>(j.rate) * e.increment_factor));
    j.rate = std::min(cap, std::max(next, j.rate));
    j.notified_since_increase = 0;
    j.succeeded_since_increase = 0;
  }

  core::result<void> maybe_complete(tx& t, job_row& j) {
    if (status_of(j) != job_status::in_progress || j.selection != "SNAPSHOT") return {};
    if (j.pending_targets > 0 || j.queued > 0 || j.in_progress > 0) return {};
    j.status = std::string(to_string(job_status::completed));
    j.completed_ms = t.now;
    j.updated_ms = t.now;
    emit_job(t, job_event::kind::completed, j);
    return {};
  }

  // Moves an execution to `to`, keeping counters, timers, retries, the abort
  // rules and completion right. Writes the execution; the caller writes `j`.
  core::result<void> change(tx& t, job_row& j, const job_spec& spec, execution_row& e, execution_status to,
                            bool force = false) {
    auto from = status_of(e);
    --counter(j, from);
    ++counter(j, to);
    e.status = std::string(to_string(to));
    ++e.version;
    e.updated_ms = t.now;
    if (to == execution_status::in_progress && from == execution_status::queued) {
      e.started_ms = t.now;
      if (spec.config.in_progress_timeout_minutes)
        e.in_progress_deadline_ms = t.now + *spec.config.in_progress_timeout_minutes * minute_ms();
    }
    if (to == execution_status::canceled && force) e.force_canceled = true;
    if (is_terminal(to)) {
      e.in_progress_deadline_ms.reset();
      e.step_deadline_ms.reset();
    }
    j.updated_ms = t.now;
    bool retried = false;
    if ((to == execution_status::failed || to == execution_status::timed_out) && retry_allowed(spec, e, to)) {
      emit_execution(t, e, from);
      if (to == execution_status::failed) ++e.retries_failed;
      else ++e.retries_timed_out;
      --counter(j, to);
      ++counter(j, execution_status::queued);
      e.status = std::string(to_string(execution_status::queued));
      ++e.version;
      e.queued_ms = t.now;
      e.started_ms.reset();
      retried = true;
      from = to;
    }
    JOBS_CHECK(t.w.update_execution(e));
    emit_execution(t, e, from);
    if (retried) return {};
    if (to == execution_status::succeeded) {
      ++j.succeeded_since_increase;
      maybe_increase_rate(j, spec);
    }
    if (is_terminal(to)) {
      if (auto r = check_abort(t, j, spec); !r) return r;
      return maybe_complete(t, j);
    }
    return {};
  }

  core::result<void> check_abort(tx& t, job_row& j, const job_spec& spec) {
    if (!spec.config.abort || status_of(j) != job_status::in_progress) return {};
    std::int64_t executed = j.succeeded + j.failed + j.rejected + j.timed_out;
    for (const auto& cr : *spec.config.abort) {
      if (executed < cr.min_executed_things || executed == 0) continue;
      double share = 100.0 * static_cast<double>(failures_of(j, cr.type)) / static_cast<double>(executed);
      if (share < cr.threshold_percentage) continue;
      char threshold[32];
      std::snprintf(threshold, sizeof threshold, "%g", cr.threshold_percentage);
      std::string comment = "Canceled by the abort configuration: " + std::string(to_string(cr.type)) + " reached " +
                            threshold + "% of " + std::to_string(executed) + " executed things (at least " +
                            std::to_string(cr.min_executed_things) + " required)";
      return cancel(t, j, spec, false, std::string(abort_reason_code), comment);
    }
    return {};
  }

  // Cancels the job: pending targets dropped, QUEUED executions CANCELED,
  // IN_PROGRESS ones too when forced.
  core::result<void> cancel(tx& t, job_row& j, const job_spec& spec, bool force,
                            std::optional<std::string> reason_code, std::optional<std::string> comment) {
    j.status = std::string(to_string(job_status::canceled));
    if (reason_code) j.reason_code = std::move(reason_code);
    if (comment) j.comment = std::move(comment);
    if (force) j.force_canceled = true;
    j.updated_ms = t.now;
    JOBS_CHECK(t.w.delete_targets(j.job_id));
    j.pending_targets = 0;
    std::vector<std::string> statuses{"QUEUED"};
    if (force) statuses.emplace_back("IN_PROGRESS");
    for (const auto& status : statuses) {
      std::optional<std::string> after;
      while (true) {
        JOBS_TRY(batch, t.w.executions_for_job(j.job_id, status, after, 1000));
        if (batch.empty()) break;
        for (auto& e : batch) JOBS_CHECK(change(t, j, spec, e, execution_status::canceled, force));
        after = batch.back().thing_name;
      }
    }
    emit_job(t, job_event::kind::canceled, j);
    return {};
  }

  // Creates executions for up to `budget` pending targets at the job's rate.
  core::result<std::int64_t> roll_out(tx& t, job_row& j, const job_spec& spec, std::int64_t budget) {
    if (status_of(j) != job_status::in_progress || j.pending_targets <= 0 || j.rollout_stopped) return 0;
    if (spec.scheduling && !spec.scheduling->maintenance_windows.empty()) {
      std::vector<maintenance_window> windows;
      for (const auto& w : spec.scheduling->maintenance_windows)
        if (auto mw = make_maintenance_window(w.start, w.duration_minutes)) windows.push_back(std::move(*mw));
      if (!in_maintenance_window(windows, core::from_epoch_millis(t.now))) return 0;
    }
    // A window's allowance is the rate in force when it opened: an
    // exponential increase during a window applies from the next one.
    std::int64_t allowed = budget;
    if (t.now >= j.window_start_ms + minute_ms()) {
      j.window_start_ms = t.now;
      j.window_count = 0;
      j.window_rate = j.rate;
    }
    if (j.window_rate > 0) allowed = std::min(allowed, j.window_rate - j.window_count);
    if (allowed <= 0) return 0;
    JOBS_TRY(things, t.w.next_targets(j.job_id, static_cast<int>(allowed)));
    std::int64_t created = 0;
    for (const auto& thing : things) {
      JOBS_CHECK(t.w.delete_target(j.job_id, thing));
      --j.pending_targets;
      JOBS_TRY(existing, t.w.latest_execution(j.job_id, thing));
      if (existing) continue;
      execution_row e;
      e.job_id = j.job_id;
      e.thing_name = thing;
      e.number = 1;
      e.status = std::string(to_string(execution_status::queued));
      e.status_details = "{}";
      e.queued_ms = t.now;
      e.updated_ms = t.now;
      e.version = 1;
      JOBS_CHECK(t.w.insert_execution(e));
      ++j.queued;
      ++j.window_count;
      ++j.notified_since_increase;
      ++created;
      emit_execution(t, e, std::nullopt);
      maybe_increase_rate(j, spec);
    }
    if (things.size() < static_cast<std::size_t>(allowed) && j.pending_targets > 0) j.pending_targets = 0;
    j.updated_ms = t.now;
    if (auto r = maybe_complete(t, j); !r) return r.error();
    return created;
  }

  // The things a target list names today.
  core::result<std::vector<std::string>> resolve_targets(const std::vector<std::string>& targets) {
    std::set<std::string> out;
    for (const auto& arn : targets) {
      auto parts = split_arn(arn);
      if (!parts || (parts->first != "thing" && parts->first != "thinggroup"))
        return invalid("Target " + arn + " is not a thing or thing group ARN");
      if (parts->first == "thing") {
        JOBS_TRY(exists, things.thing_exists(parts->second));
        if (!exists) return not_found("Thing " + parts->second + " not found");
        out.insert(parts->second);
      } else {
        JOBS_TRY(exists, things.group_exists(parts->second));
        if (!exists) return not_found("Thing group " + parts->second + " not found");
        JOBS_TRY(members, things.things_in_group_tree(parts->second));
        out.insert(members.begin(), members.end());
      }
    }
    return std::vector<std::string>(out.begin(), out.end());
  }

  // Whether `targets` still cover a thing that is in `groups` (with ancestors).
  bool covers(const std::vector<std::string>& targets, const std::string& thing,
              const std::vector<std::string>& groups) const {
    for (const auto& arn : targets) {
      auto parts = split_arn(arn);
      if (!parts) continue;
      if (parts->first == "thing" && parts->second == thing) return true;
      if (parts->first == "thinggroup" && std::find(groups.begin(), groups.end(), parts->second) != groups.end())
        return true;
    }
    return false;
  }

  core::result<std::optional<core::time_point>> schedule_time(const std::optional<std::string>& text,
                                                               std::string_view what) {
    if (!text) return std::optional<core::time_point>{};
    auto t = parse_schedule_time(*text);
    if (!t) return invalid(std::string(what) + " '" + *text + "' is not a time of the form YYYY-MM-DDTHH:MM");
    return std::optional<core::time_point>(*t);
  }

  core::result<void> validate_scheduling(const scheduling_config& s) {
    auto now = clock.now();
    auto minutes = [&](std::int64_t n) { return std::chrono::milliseconds(n * minute_ms()); };
    JOBS_TRY(start, schedule_time(s.start_time, "schedulingConfig.startTime"));
    JOBS_TRY(end, schedule_time(s.end_time, "schedulingConfig.endTime"));
    if (start && (*start < now + minutes(30) || *start > now + minutes(365LL * 24 * 60)))
      return invalid("schedulingConfig.startTime must be between 30 minutes and one year from now");
    if (end) {
      auto from = start.value_or(now);
      if (*end < from + minutes(30) || *end > from + minutes(2LL * 365 * 24 * 60))
        return invalid("schedulingConfig.endTime must be between 30 minutes and two years after the start");
    }
    for (const auto& w : s.maintenance_windows) {
      if (w.duration_minutes < 1 || w.duration_minutes > 1430)
        return invalid("maintenanceWindows durationInMinutes must be between 1 and 1430");
      if (auto mw = make_maintenance_window(w.start, w.duration_minutes); !mw)
        return invalid("maintenanceWindows startTime: " + mw.error().message);
    }
    return {};
  }

  core::result<std::string> resolve_document(const std::string& document, const job_config& config) {
    if (!config.presigned_url || !self.presigner_ || document.find(placeholder_prefix) == std::string::npos)
      return document;
    std::int64_t expires = config.presigned_url->expires_in_sec.value_or(3600);
    std::string out;
    std::size_t pos = 0;
    while (true) {
      auto at = document.find(placeholder_prefix, pos);
      if (at == std::string::npos) break;
      auto close = document.find('}', at);
      if (close == std::string::npos) break;
      out.append(document, pos, at - pos);
      auto url = document.substr(at + placeholder_prefix.size(), close - at - placeholder_prefix.size());
      auto signed_url = self.presigner_->presign(url, expires);
      if (!signed_url) return signed_url.error();
      out += *signed_url;
      pos = close + 1;
    }
    out.append(document, pos);
    return out;
  }

  // The document a device reads (fresh presigned URLs), for `job_id`.
  core::result<std::optional<std::string>> device_document(const std::string& job_id) {
    auto found = spec_by_id(job_id);
    if (!found) return found.error();
    if (!*found) return std::optional<std::string>{};
    const auto& spec = *found;
    if (!spec->config.document) return std::optional<std::string>{};
    auto doc = resolve_document(*spec->config.document, spec->config);
    if (!doc) return doc.error();
    return std::optional<std::string>(std::move(*doc));
  }

  core::result<std::optional<std::int64_t>> step_deadline(std::optional<std::int64_t> minutes, std::int64_t now) {
    if (!minutes) return std::optional<std::int64_t>{};
    if (*minutes == -1) return std::optional<std::int64_t>{-1};
    if (*minutes < 1 || *minutes > max_timeout_minutes)
      return invalid("stepTimeoutInMinutes must be between 1 and 10080, or -1");
    return std::optional<std::int64_t>(now + *minutes * minute_ms());
  }

  static void apply_step(execution_row& e, const std::optional<std::int64_t>& deadline) {
    if (!deadline) return;
    if (*deadline == -1) e.step_deadline_ms.reset();
    else e.step_deadline_ms = *deadline;
  }

  static core::error with_state(core::error err, const execution_row& e) {
    err.details.emplace_back("status", e.status);
    err.details.emplace_back("versionNumber", std::to_string(e.version));
    err.details.emplace_back("statusDetails", e.status_details);
    return err;
  }

  static std::optional<execution_row> next_pending(std::vector<execution_row> pending) {
    std::optional<execution_row> best;
    for (auto& e : pending) {
      bool in_progress = e.status == "IN_PROGRESS";
      if (!best) {
        best = e;
        continue;
      }
      bool best_in_progress = best->status == "IN_PROGRESS";
      if (in_progress != best_in_progress) {
        if (in_progress) best = e;
        continue;
      }
      auto key = in_progress ? e.started_ms.value_or(0) : e.queued_ms;
      auto best_key = best_in_progress ? best->started_ms.value_or(0) : best->queued_ms;
      if (key < best_key) best = e;
    }
    return best;
  }

  // Job rows as the writer last changed them (writer thread only). Every job
  // write goes through the writer, so the cache is the truth inside the
  // current commit group. A change to a job row (its counters move with every
  // transition) only marks it dirty; the group-end hook writes each dirty row
  // once, before the commit, so a thousand transitions of one job in a group
  // cost one row write, not a thousand. A write that fails restores the rows
  // it touched (its savepoint is rolled back); a failed commit drops the cache.
  std::unordered_map<std::string, job_row> job_cache;
  std::set<std::string> dirty_jobs;
  std::vector<std::pair<std::string, std::optional<job_row>>> undo;  // this write's first touches
  std::vector<std::string> undo_new_dirty;                            // rows this write made dirty

  void begin_write() { undo.clear(); }
  void remember(const std::string& job_id) {
    for (const auto& [id, row] : undo)
      if (id == job_id) return;
    auto it = job_cache.find(job_id);
    std::optional<job_row> before;
    if (it != job_cache.end()) before = it->second;
    undo.emplace_back(job_id, std::move(before));
    if (dirty_jobs.count(job_id) == 0) undo_new_dirty.push_back(job_id);
  }
  void abort_write() {
    for (auto& [id, row] : undo) {
      if (row) job_cache[id] = std::move(*row);
      else job_cache.erase(id);
    }
    for (const auto& id : undo_new_dirty) dirty_jobs.erase(id);
    undo.clear();
    undo_new_dirty.clear();
  }
  core::result<void> flush_jobs(jobs_writer& w) {
    for (const auto& id : dirty_jobs) {
      auto it = job_cache.find(id);
      if (it != job_cache.end()) JOBS_CHECK(w.update_job(it->second));
    }
    dirty_jobs.clear();
    return {};
  }

  core::result<std::optional<job_row>> find_job_for_write(jobs_writer& w, const std::string& job_id) {
    if (auto it = job_cache.find(job_id); it != job_cache.end()) return std::optional<job_row>(it->second);
    JOBS_TRY(row, w.find_job(job_id));
    if (row) job_cache.emplace(job_id, *row);
    return row;
  }
  // Rows read from the database inside a write may be older than the cache
  // (dirty rows are written at the end of the group): the cache wins. Every
  // job row a write looks at must come through here or find_job_for_write.
  std::vector<job_row> current(std::vector<job_row> rows) const {
    for (auto& row : rows)
      if (auto it = job_cache.find(row.job_id); it != job_cache.end()) row = it->second;
    return rows;
  }
  core::result<job_row> writer_job(jobs_writer& w, const std::string& job_id) {
    JOBS_TRY(row, find_job_for_write(w, job_id));
    if (!row) return not_found("Job " + job_id + " not found");
    return std::move(*row);
  }
  core::result<void> save_job(jobs_writer&, const job_row& j) {
    remember(j.job_id);
    auto& cached = job_cache[j.job_id];
    cached = j;
    cached.spec.clear();
    dirty_jobs.insert(j.job_id);
    return {};
  }
  core::result<void> insert_job(jobs_writer& w, const job_row& j) {
    remember(j.job_id);
    JOBS_CHECK(w.insert_job(j));
    auto& cached = job_cache[j.job_id];
    cached = j;
    cached.spec.clear();
    return {};
  }
  core::result<void> delete_job(jobs_writer& w, const std::string& job_id) {
    remember(job_id);
    JOBS_CHECK(w.delete_job(job_id));
    job_cache.erase(job_id);
    dirty_jobs.erase(job_id);
    return {};
  }

  // ---- pages (maxResults / nextToken) ----

  core::result<int> page_limit(std::optional<int> max_results) const {
    int limit = max_results.value_or(settings.default_results);
    if (limit < 1 || limit > settings.max_results)
      return invalid("maxResults must be between 1 and " + std::to_string(settings.max_results));
    return limit;
  }
  // The key a next token of `query` resumes after; nullopt on the first page.
  core::result<std::optional<std::string>> page_after(const std::string& query,
                                                      const std::optional<std::string>& token) const {
    if (!token) return std::optional<std::string>{};
    auto fields = tokens.decode(query, *token);
    if (!fields || fields->size() != 1) return invalid("The nextToken is not valid for this request");
    return std::optional<std::string>((*fields)[0]);
  }
  // Up to limit + 1 rows in key order -> the first `limit` items, and a token
  // naming the last one's key when a further row exists.
  template <class Item, class Row, class Convert, class Key>
  page<Item> make_page(const std::vector<Row>& rows, int limit, const std::string& query, Convert convert,
                       Key key) const {
    page<Item> out;
    for (const auto& row : rows) {
      if (static_cast<int>(out.items.size()) == limit) {
        out.next_token = tokens.encode(query, {key(out.items.back())});
        break;
      }
      out.items.push_back(convert(row));
    }
    return out;
  }

  core::result<job_row> load_job(jobs_reader& r, const std::string& job_id) {
    JOBS_TRY(row, r.find_job(job_id));
    if (!row) return not_found("Job " + job_id + " not found");
    return std::move(*row);
  }

  // Membership: re-judges the thing for every CONTINUOUS job in progress.
  core::result<void> rejudge(const std::string& thing, bool deleted) {
    std::vector<std::string> groups;
    if (!deleted) {
      auto g = things.group_trees_of_thing(thing);
      if (!g) return as_engine_error(g.error());
      groups = std::move(*g);
    }
    auto r = write<bool>([this, thing, groups, deleted](jobs_writer& w, std::vector<event>& events) -> core::result<bool> {
      tx t{*this, w, events, now_ms()};
      bool added = false;
      JOBS_TRY(stored, deleted ? w.list_jobs(std::nullopt, std::nullopt, std::nullopt, 1 << 30)
                               : w.continuous_jobs_in_progress());
      auto jobs = current(std::move(stored));
      for (auto& j : jobs) {
        auto spec = spec_of(j);
        bool continuous = j.selection == "CONTINUOUS";
        bool covered = !deleted && covers(spec->targets, thing, groups);
        JOBS_TRY(existing, w.latest_execution(j.job_id, thing));
        if (covered) {
          if (!continuous || status_of(j) != job_status::in_progress || existing) continue;
          JOBS_TRY(inserted, w.insert_targets(j.job_id, {thing}));
          j.pending_targets += inserted;
          added = added || inserted > 0;
          JOBS_CHECK(save_job(w, j));
          continue;
        }
        if (!continuous && !deleted) continue;
        bool changed = false;
        JOBS_TRY(dropped, w.delete_target(j.job_id, thing));
        if (dropped) {
          --j.pending_targets;
          changed = true;
        }
        if (existing) {
          auto s = status_of(*existing);
          if (s == execution_status::queued || (deleted && s == execution_status::in_progress)) {
            JOBS_CHECK(change(t, j, *spec, *existing, execution_status::removed));
            changed = true;
          }
        }
        if (changed) {
          if (auto c = maybe_complete(t, j); !c) return c.error();
          JOBS_CHECK(save_job(w, j));
        }
      }
      return added;
    });
    if (!r) return r.error();
    if (*r && wake) wake();
    return {};
  }
};

// ---- public API -------------------------------------------------------------------

engine::engine(storage::jobs_store& store, fleet& fleet, const core::clock& clock, engine_settings s)
    : impl_(std::make_unique<impl>(*this, store, fleet, clock, std::move(s))) {
  impl_->group_hook = store.on_group_end([m = impl_.get()](jobs_writer& w) { return m->flush_jobs(w); });
}
engine::~engine() { impl_->store.remove_group_end(impl_->group_hook); }

std::string engine::job_arn(std::string_view id) const {
  return "arn:aws:iot:" + impl_->settings.region + ":" + impl_->settings.account_id + ":job/" + std::string(id);
}
std::string engine::template_arn(std::string_view id) const {
  return "arn:aws:iot:" + impl_->settings.region + ":" + impl_->settings.account_id + ":jobtemplate/" +
         std::string(id);
}
std::string engine::thing_arn(std::string_view thing) const {
  return "arn:aws:iot:" + impl_->settings.region + ":" + impl_->settings.account_id + ":thing/" + std::string(thing);
}

void engine::subscribe(std::function<void(const std::vector<event>&)> subscriber) {
  std::lock_guard lock(impl_->subscribers_mutex);
  impl_->subscribers.push_back(std::move(subscriber));
}
void engine::set_wake(std::function<void()> wake) { impl_->wake = std::move(wake); }
std::int64_t engine::minute_ms() const { return impl_->minute_ms(); }

core::result<job> engine::create_job(const create_job_request& request) {
  auto& m = *impl_;
  if (!valid_id(request.job_id)) return invalid("jobId must be 1-64 characters of [a-zA-Z0-9_-]");
  if (request.targets.empty()) return invalid("targets must name at least one thing or thing group");
  if (static_cast<int>(request.targets.size()) > m.settings.max_targets)
    return core::make_error(errc::limit_exceeded,
                            "A job may have at most " + std::to_string(m.settings.max_targets) + " targets");
  job_spec spec;
  spec.targets = request.targets;
  spec.config = request.config;
  spec.scheduling = request.scheduling;
  if (request.template_arn) {
    auto parts = split_arn(*request.template_arn);
    if (!parts || parts->first != "jobtemplate") return invalid("jobTemplateArn " + *request.template_arn + " is not a job template ARN");
    auto tmpl = describe_template(parts->second);
    if (!tmpl) return tmpl.error();
    spec.template_arn = tmpl->arn;
    auto& c = spec.config;
    const auto& t = tmpl->config;
    if (!c.document && !c.document_source) {
      c.document = t.document;
      c.document_source = t.document_source;
    }
    if (!c.description) c.description = t.description;
    if (!c.presigned_url) c.presigned_url = t.presigned_url;
    if (!c.rollout) c.rollout = t.rollout;
    if (!c.abort) c.abort = t.abort;
    if (!c.in_progress_timeout_minutes) c.in_progress_timeout_minutes = t.in_progress_timeout_minutes;
    if (!c.retry) c.retry = t.retry;
  }
  if (spec.config.document && spec.config.document_source)
    return invalid("Give either document or documentSource, not both");
  if (spec.config.document_source && !spec.config.document) {
    if (!document_source_) return invalid("documentSource needs the firmware store, which is not configured");
    auto doc = document_source_->read(*spec.config.document_source);
    if (!doc) return invalid("documentSource " + *spec.config.document_source + ": " + doc.error().message);
    spec.config.document = std::move(*doc);
  }
  if (!spec.config.document) return invalid("A job needs a document or a documentSource");
  if (auto v = validate_config(spec.config, m.settings); !v) return v.error();
  bool scheduled = false;
  if (spec.scheduling) {
    if (auto v = m.validate_scheduling(*spec.scheduling); !v) return v.error();
    scheduled = spec.scheduling->start_time.has_value();
  }
  auto selection = request.selection.value_or(target_selection::snapshot);
  auto things = m.resolve_targets(spec.targets);
  if (!things) return things.error();

  std::int64_t rate = m.settings.default_rate_per_minute;
  if (spec.config.rollout) {
    if (spec.config.rollout->exponential) rate = spec.config.rollout->exponential->base_rate_per_minute;
    else if (spec.config.rollout->maximum_per_minute) rate = *spec.config.rollout->maximum_per_minute;
  }
  auto encoded = encode_spec(spec);
  auto created = m.write<job_row>([&, encoded, rate, scheduled, selection](jobs_writer& w,
                                                                         std::vector<event>& events) -> core::result<job_row> {
    impl::tx t{m, w, events, m.now_ms()};
    JOBS_TRY(existing, m.find_job_for_write(w, request.job_id));
    if (existing)
      return core::make_error(errc::already_exists, "Job " + request.job_id + " already exists");
    job_row j;
    j.job_id = request.job_id;
    j.status = std::string(to_string(scheduled ? job_status::scheduled : job_status::in_progress));
    j.selection = std::string(to_string(selection));
    j.spec = encoded;
    j.created_ms = t.now;
    j.updated_ms = t.now;
    j.rate = rate;
    j.has_schedule = spec.scheduling.has_value();
    m.prime_spec(j.job_id, spec);
    JOBS_CHECK(m.insert_job(w, j));
    JOBS_TRY(added, w.insert_targets(j.job_id, *things));
    j.pending_targets = added;
    if (auto c = m.maybe_complete(t, j); !c) return c.error();
    JOBS_CHECK(m.save_job(w, j));
    return j;
  });
  if (!created) {
    m.forget_spec(request.job_id);
    return created.error();
  }
  if (m.wake) m.wake();
  return m.make_job(*created);
}

core::result<job> engine::describe_job(const std::string& job_id) {
  auto row = impl_->read<job_row>([&](jobs_reader& r) { return impl_->load_job(r, job_id); });
  if (!row) return row.error();
  return impl_->make_job(*row);
}

core::result<std::string> engine::job_document(const std::string& job_id) {
  auto j = describe_job(job_id);
  if (!j) return j.error();
  return j->config.document.value_or("");
}

core::result<page<job>> engine::list_jobs(const list_jobs_request& request) {
  auto& m = *impl_;
  auto limit_r = m.page_limit(request.max_results);
  if (!limit_r) return limit_r.error();
  int limit = *limit_r;
  std::string query = "ListJobs|" + std::string(request.status ? to_string(*request.status) : "") + "|" +
                      std::string(request.selection ? to_string(*request.selection) : "") + "|" +
                      request.thing_group_name.value_or("");
  auto after_r = m.page_after(query, request.next_token);
  if (!after_r) return after_r.error();
  auto after = *after_r;
  std::optional<std::string> status, selection;
  if (request.status) status = std::string(to_string(*request.status));
  if (request.selection) selection = std::string(to_string(*request.selection));
  std::string group_arn;
  if (request.thing_group_name)
    group_arn = "arn:aws:iot:" + m.settings.region + ":" + m.settings.account_id + ":thinggroup/" +
                *request.thing_group_name;
  // Rows are read in batches and filtered here (the group is inside the
  // spec); a next token is given only once another matching job is seen.
  page<job> out;
  while (true) {
    auto rows = m.read<std::vector<job_row>>(
        [&](jobs_reader& r) { return r.list_jobs(status, selection, after, limit + 1); });
    if (!rows) return rows.error();
    for (const auto& row : *rows) {
      after = row.job_id;
      auto j = m.make_job(row);
      if (request.thing_group_name && std::find(j.targets.begin(), j.targets.end(), group_arn) == j.targets.end())
        continue;
      if (static_cast<int>(out.items.size()) == limit) {
        out.next_token = m.tokens.encode(query, {out.items.back().id});
        return out;
      }
      out.items.push_back(std::move(j));
    }
    if (static_cast<int>(rows->size()) < limit + 1) break;
  }
  return out;
}

core::result<void> engine::update_job(const update_job_request& request) {
  auto& m = *impl_;
  auto r = m.write<bool>([&](jobs_writer& w, std::vector<event>&) -> core::result<bool> {
    JOBS_TRY(j, m.writer_job(w, request.job_id));
    if (status_of(j) == job_status::deletion_in_progress)
      return invalid("Job " + request.job_id + " is being deleted");
    auto spec = *m.spec_of(j);
    if (request.description) spec.config.description = request.description;
    if (request.presigned_url) spec.config.presigned_url = request.presigned_url;
    bool new_rate = false;
    if (request.rollout) {
      spec.config.rollout = request.rollout;
      new_rate = true;
    }
    if (request.abort) spec.config.abort = request.abort;
    if (request.in_progress_timeout_minutes) spec.config.in_progress_timeout_minutes = request.in_progress_timeout_minutes;
    if (request.retry) spec.config.retry = request.retry;
    if (auto v = validate_config(spec.config, m.settings); !v) return v.error();
    if (new_rate) {
      j.rate = spec.config.rollout->exponential ? spec.config.rollout->exponential->base_rate_per_minute
                                                : spec.config.rollout->maximum_per_minute.value_or(
                                                      m.settings.default_rate_per_minute);
      j.notified_since_increase = 0;
      j.succeeded_since_increase = 0;
    }
    j.updated_ms = m.now_ms();
    JOBS_CHECK(w.update_job_spec(j.job_id, encode_spec(spec)));
    JOBS_CHECK(m.save_job(w, j));
    m.prime_spec(j.job_id, spec);
    return true;
  });
  if (!r) {
    m.forget_spec(request.job_id);
    return r.error();
  }
  return {};
}

core::result<job> engine::cancel_job(const cancel_job_request& request) {
  auto& m = *impl_;
  if (request.reason_code) {
    const auto& rc = *request.reason_code;
    if (rc.empty() || rc.size() > 128 ||
        !std::all_of(rc.begin(), rc.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }))
      return invalid("reasonCode must be 1-128 characters of [A-Z0-9_]");
  }
  if (request.comment && request.comment->size() > 2028) return invalid("comment is longer than 2028 characters");
  auto r = m.write<job_row>([&](jobs_writer& w, std::vector<event>& events) -> core::result<job_row> {
    impl::tx t{m, w, events, m.now_ms()};
    JOBS_TRY(j, m.writer_job(w, request.job_id));
    auto status = status_of(j);
    if (status == job_status::completed) return invalid("Job " + request.job_id + " is COMPLETED and cannot be canceled");
    if (status == job_status::deletion_in_progress)
      return invalid("Job " + request.job_id + " is being deleted and cannot be canceled");
    if (status == job_status::canceled && !request.force)
      return invalid("Job " + request.job_id + " is already CANCELED; only a forced cancel can go further");
    auto spec = m.spec_of(j);
    JOBS_CHECK(m.cancel(t, j, *spec, request.force, request.reason_code, request.comment));
    JOBS_CHECK(m.save_job(w, j));
    return j;
  });
  if (!r) return r.error();
  return m.make_job(*r);
}

core::result<void> engine::delete_job(const std::string& job_id, bool force) {
  auto& m = *impl_;
  auto r = m.write<bool>([&](jobs_writer& w, std::vector<event>& events) -> core::result<bool> {
    impl::tx t{m, w, events, m.now_ms()};
    JOBS_TRY(j, m.writer_job(w, job_id));
    auto status = status_of(j);
    if (status == job_status::deletion_in_progress)
      return core::make_error(errc::invalid_state_transition, "Job " + job_id + " is already being deleted");
    if ((status == job_status::in_progress || status == job_status::scheduled) && !force)
      return core::make_error(errc::invalid_state_transition,
                              "Job " + job_id + " is " + j.status + "; delete it with force or cancel it first");
    j.status = std::string(to_string(job_status::deletion_in_progress));
    j.updated_ms = t.now;
    JOBS_CHECK(w.delete_targets(job_id));
    j.pending_targets = 0;
    JOBS_CHECK(m.save_job(w, j));
    m.emit_job(t, job_event::kind::deletion_in_progress, j);
    return true;
  });
  if (!r) return r.error();
  if (m.wake) m.wake();
  return {};
}

core::result<job> engine::associate_targets(const std::string& job_id, const std::vector<std::string>& targets,
                                            const std::optional<std::string>& comment) {
  auto& m = *impl_;
  if (targets.empty()) return invalid("targets must name at least one thing or thing group");
  auto things = m.resolve_targets(targets);
  if (!things) return things.error();
  auto r = m.write<job_row>([&](jobs_writer& w, std::vector<event>&) -> core::result<job_row> {
    JOBS_TRY(j, m.writer_job(w, job_id));
    if (j.selection != "CONTINUOUS") return invalid("Targets can be added only to a CONTINUOUS job");
    if (status_of(j) != job_status::in_progress) return invalid("Job " + job_id + " is " + j.status);
    auto spec = *m.spec_of(j);
    for (const auto& t : targets)
      if (std::find(spec.targets.begin(), spec.targets.end(), t) == spec.targets.end()) spec.targets.push_back(t);
    if (static_cast<int>(spec.targets.size()) > m.settings.max_targets)
      return core::make_error(errc::limit_exceeded,
                              "A job may have at most " + std::to_string(m.settings.max_targets) + " targets");
    std::vector<std::string> fresh;
    for (const auto& thing : *things) {
      JOBS_TRY(existing, w.latest_execution(job_id, thing));
      if (!existing) fresh.push_back(thing);
    }
    JOBS_TRY(added, w.insert_targets(job_id, fresh));
    j.pending_targets += added;
    if (comment) j.comment = comment;
    j.updated_ms = m.now_ms();
    JOBS_CHECK(w.update_job_spec(job_id, encode_spec(spec)));
    JOBS_CHECK(m.save_job(w, j));
    m.prime_spec(job_id, spec);
    return j;
  });
  if (!r) {
    m.forget_spec(job_id);
    return r.error();
  }
  if (m.wake) m.wake();
  return m.make_job(*r);
}

core::result<page<execution>> engine::list_executions_for_job(const list_executions_request& request) {
  auto& m = *impl_;
  auto limit = m.page_limit(request.max_results);
  if (!limit) return limit.error();
  std::optional<std::string> status;
  if (request.status) status = std::string(to_string(*request.status));
  std::string query = "ForJob|" + request.key + "|" + status.value_or("");
  auto after = m.page_after(query, request.next_token);
  if (!after) return after.error();
  auto rows = m.read<std::vector<execution_row>>([&](jobs_reader& r) -> core::result<std::vector<execution_row>> {
    JOBS_TRY(j, r.find_job(request.key));
    if (!j) return not_found("Job " + request.key + " not found");
    return r.executions_for_job(request.key, status, *after, *limit + 1);
  });
  if (!rows) return rows.error();
  return m.make_page<execution>(
      *rows, *limit, query, [&](const execution_row& e) { return m.make_execution(e); },
      [](const execution& e) { return e.thing_name; });
}

core::result<page<execution>> engine::list_executions_for_thing(const list_executions_request& request) {
  auto& m = *impl_;
  auto limit = m.page_limit(request.max_results);
  if (!limit) return limit.error();
  std::optional<std::string> status;
  if (request.status) status = std::string(to_string(*request.status));
  std::string query = "ForThing|" + request.key + "|" + status.value_or("") + "|" + request.job_id.value_or("");
  auto after = m.page_after(query, request.next_token);
  if (!after) return after.error();
  auto rows = m.read<std::vector<execution_row>>([&](jobs_reader& r) -> core::result<std::vector<execution_row>> {
    if (!request.job_id) return r.executions_for_thing(request.key, status, *after, *limit + 1);
    JOBS_TRY(e, r.latest_execution(*request.job_id, request.key));
    std::vector<execution_row> one;
    if (e && (!status || e->status == *status) && (!*after || e->job_id > **after)) one.push_back(std::move(*e));
    return one;
  });
  if (!rows) return rows.error();
  return m.make_page<execution>(
      *rows, *limit, query, [&](const execution_row& e) { return m.make_execution(e); },
      [](const execution& e) { return e.job_id; });
}

core::result<execution> engine::describe_execution(const std::string& job_id, const std::string& thing,
                                                   std::optional<std::int64_t> execution_number) {
  auto& m = *impl_;
  auto row = m.read<std::optional<execution_row>>([&](jobs_reader& r) {
    return execution_number ? r.find_execution(job_id, thing, *execution_number) : r.latest_execution(job_id, thing);
  });
  if (!row) return row.error();
  if (!*row) return not_found("No execution of job " + job_id + " on thing " + thing);
  return m.make_execution(**row);
}

core::result<void> engine::cancel_execution(const cancel_execution_request& request) {
  auto& m = *impl_;
  auto r = m.write<bool>([&](jobs_writer& w, std::vector<event>& events) -> core::result<bool> {
    impl::tx t{m, w, events, m.now_ms()};
    JOBS_TRY(j, m.writer_job(w, request.job_id));
    JOBS_TRY(e, w.latest_execution(request.job_id, request.thing_name));
    if (!e) return not_found("No execution of job " + request.job_id + " on thing " + request.thing_name);
    if (request.expected_version && *request.expected_version != e->version)
      return impl::with_state(core::make_error(errc::version_conflict,
                                               "Expected version " + std::to_string(*request.expected_version) +
                                                   " but found version " + std::to_string(e->version)),
                              *e);
    auto s = status_of(*e);
    if (is_terminal(s))
      return impl::with_state(core::make_error(errc::invalid_state_transition,
                                               "The execution is " + e->status + " and cannot be canceled"),
                              *e);
    if (s == execution_status::in_progress && !request.force)
      return impl::with_state(core::make_error(errc::invalid_state_transition,
                                               "The execution is IN_PROGRESS; cancel it with force"),
                              *e);
    if (request.status_details) e->status_details = encode_details(*request.status_details);
    auto spec = m.spec_of(j);
    JOBS_CHECK(m.change(t, j, *spec, *e, execution_status::canceled, request.force));
    JOBS_CHECK(m.save_job(w, j));
    return true;
  });
  if (!r) return r.error();
  return {};
}

core::result<void> engine::delete_execution(const std::string& job_id, const std::string& thing,
                                            std::int64_t execution_number, bool force) {
  auto& m = *impl_;
  auto r = m.write<bool>([&](jobs_writer& w, std::vector<event>& events) -> core::result<bool> {
    impl::tx t{m, w, events, m.now_ms()};
    JOBS_TRY(e, w.find_execution(job_id, thing, execution_number));
    if (!e) return not_found("No execution " + std::to_string(execution_number) + " of job " + job_id + " on thing " + thing);
    auto s = status_of(*e);
    if (!is_terminal(s) && !force)
      return core::make_error(errc::invalid_state_transition,
                              "The execution is " + e->status + "; delete it with force");
    JOBS_CHECK(w.delete_execution(job_id, thing, execution_number));
    JOBS_TRY(j, m.find_job_for_write(w, job_id));
    if (j) {
      --counter(*j, s);
      j->updated_ms = t.now;
      if (auto c = m.maybe_complete(t, *j); !c) return c.error();
      JOBS_CHECK(m.save_job(w, *j));
    }
    m.emit_execution(t, *e, s, true);
    return true;
  });
  if (!r) return r.error();
  return {};
}

// ---- templates ----

core::result<job_template> engine::create_template(const std::string& id, const job_config& config,
                                                   const std::optional<std::string>& from_job_arn) {
  auto& m = *impl_;
  if (!valid_id(id)) return invalid("jobTemplateId must be 1-64 characters of [a-zA-Z0-9_-]");
  job_config c = config;
  if (from_job_arn) {
    auto parts = split_arn(*from_job_arn);
    if (!parts || parts->first != "job") return invalid("jobArn " + *from_job_arn + " is not a job ARN");
    auto source = describe_job(parts->second);
    if (!source) return source.error();
    const auto& t = source->config;
    if (!c.document && !c.document_source) c.document = t.document;
    if (!c.presigned_url) c.presigned_url = t.presigned_url;
    if (!c.rollout) c.rollout = t.rollout;
    if (!c.abort) c.abort = t.abort;
    if (!c.in_progress_timeout_minutes) c.in_progress_timeout_minutes = t.in_progress_timeout_minutes;
    if (!c.retry) c.retry = t.retry;
  }
  if (!c.description) return invalid("A job template needs a description");
  if (c.document && c.document_source) return invalid("Give either document or documentSource, not both");
  if (!c.document && !c.document_source) return invalid("A job template needs a document, a documentSource or a jobArn");
  if (auto v = validate_config(c, m.settings); !v) return v.error();
  job_spec spec;
  spec.config = c;
  auto encoded = encode_spec(spec);
  auto r = m.write<storage::job_template_row>(
      [&](jobs_writer& w, std::vector<event>&) -> core::result<storage::job_template_row> {
        JOBS_TRY(existing, w.find_template(id));
        if (existing) return core::make_error(errc::conflict, "Job template " + id + " already exists");
        storage::job_template_row row{id, encoded, m.now_ms()};
        JOBS_CHECK(w.insert_template(row));
        return row;
      });
  if (!r) return r.error();
  return job_template{id, template_arn(id), c, core::from_epoch_millis(r->created_ms)};
}

core::result<job_template> engine::describe_template(const std::string& id) {
  auto& m = *impl_;
  auto row = m.read<std::optional<storage::job_template_row>>([&](jobs_reader& r) { return r.find_template(id); });
  if (!row) return row.error();
  if (!*row) return not_found("Job template " + id + " not found");
  return m.make_template(**row);
}

core::result<page<job_template>> engine::list_templates(std::optional<int> max_results,
                                                        const std::optional<std::string>& next_token) {
  auto& m = *impl_;
  auto limit = m.page_limit(max_results);
  if (!limit) return limit.error();
  const std::string query = "ListJobTemplates";
  auto after = m.page_after(query, next_token);
  if (!after) return after.error();
  auto rows = m.read<std::vector<storage::job_template_row>>(
      [&](jobs_reader& r) { return r.list_templates(*after, *limit + 1); });
  if (!rows) return rows.error();
  return m.make_page<job_template>(
      *rows, *limit, query,
      [&](const storage::job_template_row& row) { return m.make_template(row); },
      [](const job_template& t) { return t.id; });
}

core::result<void> engine::delete_template(const std::string& id) {
  auto& m = *impl_;
  auto r = m.write<bool>([&](jobs_writer& w, std::vector<event>&) -> core::result<bool> {
    JOBS_TRY(existing, w.find_template(id));
    if (!existing) return not_found("Job template " + id + " not found");
    JOBS_CHECK(w.delete_template(id));
    return true;
  });
  if (!r) return r.error();
  return {};
}

// ---- data plane ----

core::result<pending_executions> engine::pending(const std::string& thing) {
  auto& m = *impl_;
  auto rows = m.read<std::vector<execution_row>>([&](jobs_reader& r) { return r.pending_for_thing(thing); });
  if (!rows) return rows.error();
  pending_executions out;
  for (const auto& e : *rows) {
    if (e.status == "IN_PROGRESS") out.in_progress.push_back(m.make_execution(e));
    else out.queued.push_back(m.make_execution(e));
  }
  std::stable_sort(out.in_progress.begin(), out.in_progress.end(),
                   [](const execution& a, const execution& b) { return a.started_at < b.started_at; });
  return out;
}

void engine::start_next_async(start_next_request request,
                              std::function<void(core::result<std::optional<execution_with_document>>)> done) {
  auto& m = *impl_;
  using out_t = std::optional<execution_with_document>;
  m.write_async<out_t>(
      [&m, request](jobs_writer& w, std::vector<event>& events) -> core::result<out_t> {
        impl::tx t{m, w, events, m.now_ms()};
        auto step = m.step_deadline(request.step_timeout_minutes, t.now);
        if (!step) return step.error();
        JOBS_TRY(pending, w.pending_for_thing(request.thing_name));
        auto next = impl::next_pending(std::move(pending));
        if (!next) return out_t{};
        auto& e = *next;
        JOBS_TRY(j, m.writer_job(w, e.job_id));
        auto spec = m.spec_of(j);
        if (request.status_details) e.status_details = encode_details(*request.status_details);
        impl::apply_step(e, *step);
        if (e.status == "QUEUED") {
          JOBS_CHECK(m.change(t, j, *spec, e, execution_status::in_progress));
          JOBS_CHECK(m.save_job(w, j));
        } else if (request.status_details || *step) {
          ++e.version;
          e.updated_ms = t.now;
          JOBS_CHECK(w.update_execution(e));
        }
        return out_t(execution_with_document{m.make_execution(e), spec->config.document});
      },
      [&m, done = std::move(done)](core::result<out_t> r) {
        if (r && *r && (*r)->document) {
          auto spec_doc = m.device_document((*r)->state.job_id);
          if (!spec_doc) return done(spec_doc.error());
          (*r)->document = *spec_doc;
        }
        done(std::move(r));
      });
}

core::result<std::optional<execution_with_document>> engine::start_next(const start_next_request& request) {
  std::promise<core::result<std::optional<execution_with_document>>> promise;
  auto future = promise.get_future();
  start_next_async(request, [&](auto r) { promise.set_value(std::move(r)); });
  return future.get();
}

core::result<std::optional<execution_with_document>> engine::describe_for_device(
    const std::string& job_id, const std::string& thing, std::optional<std::int64_t> execution_number,
    bool include_document) {
  auto& m = *impl_;
  auto row = m.read<std::optional<execution_row>>([&](jobs_reader& r) -> core::result<std::optional<execution_row>> {
    if (job_id == "$next") {
      JOBS_TRY(pending, r.pending_for_thing(thing));
      return impl::next_pending(std::move(pending));
    }
    return execution_number ? r.find_execution(job_id, thing, *execution_number) : r.latest_execution(job_id, thing);
  });
  if (!row) return row.error();
  if (!*row) {
    if (job_id == "$next") return std::optional<execution_with_document>{};
    return not_found("No execution of job " + job_id + " on thing " + thing);
  }
  execution_with_document out{m.make_execution(**row), std::nullopt};
  if (is_terminal(out.state.status))
    return impl::with_state(core::make_error(errc::terminal_state, "The execution of job " + (*row)->job_id +
                                                                         " on " + thing + " is " + (*row)->status),
                            **row);
  if (include_document) {
    auto doc = m.device_document((*row)->job_id);
    if (!doc) return doc.error();
    out.document = std::move(*doc);
  }
  return std::optional<execution_with_document>(std::move(out));
}

void engine::update_execution_async(update_execution_request request,
                                    std::function<void(core::result<execution_with_document>)> done) {
  auto& m = *impl_;
  auto to = request.status;
  if (to != execution_status::in_progress && to != execution_status::succeeded && to != execution_status::failed &&
      to != execution_status::rejected)
    return done(invalid("A device may set IN_PROGRESS, SUCCEEDED, FAILED or REJECTED, not " +
                        std::string(to_string(to))));
  m.write_async<execution_with_document>(
      [&m, request](jobs_writer& w, std::vector<event>& events) -> core::result<execution_with_document> {
        impl::tx t{m, w, events, m.now_ms()};
        auto step = m.step_deadline(request.step_timeout_minutes, t.now);
        if (!step) return step.error();
        JOBS_TRY(j, m.writer_job(w, request.job_id));
        JOBS_TRY(found, w.latest_execution(request.job_id, request.thing_name));
        if (!found) return not_found("No execution of job " + request.job_id + " on thing " + request.thing_name);
        auto& e = *found;
        if (request.execution_number && *request.execution_number != e.number)
          return not_found("No execution " + std::to_string(*request.execution_number) + " of job " +
                           request.job_id + " on thing " + request.thing_name);
        if (request.expected_version && *request.expected_version != e.version)
          return impl::with_state(core::make_error(errc::version_conflict,
                                                   "Expected version " + std::to_string(*request.expected_version) +
                                                       " but found version " + std::to_string(e.version)),
                                  e);
        auto from = status_of(e);
        if (is_terminal(from))
          return impl::with_state(core::make_error(errc::invalid_state_transition,
                                                   "The execution is " + e.status + "; it cannot become " +
                                                       std::string(to_string(request.status))),
                                  e);
        auto spec = m.spec_of(j);
        if (request.status_details) e.status_details = encode_details(*request.status_details);
        impl::apply_step(e, *step);
        if (request.status == execution_status::in_progress && from == execution_status::in_progress) {
          ++e.version;
          e.updated_ms = t.now;
          JOBS_CHECK(w.update_execution(e));
          m.emit_execution(t, e, from);
        } else {
          JOBS_CHECK(m.change(t, j, *spec, e, request.status));
          JOBS_CHECK(m.save_job(w, j));
        }
        execution_with_document out{m.make_execution(e), std::nullopt};
        if (request.include_document) out.document = spec->config.document;
        return out;
      },
      [&m, done = std::move(done)](core::result<execution_with_document> r) {
        if (r && r->document) {
          auto doc = m.device_document(r->state.job_id);
          if (!doc) return done(doc.error());
          r->document = *doc;
        }
        done(std::move(r));
      });
}

core::result<execution_with_document> engine::update_execution(const update_execution_request& request) {
  std::promise<core::result<execution_with_document>> promise;
  auto future = promise.get_future();
  update_execution_async(request, [&](auto r) { promise.set_value(std::move(r)); });
  return future.get();
}

// ---- fleet changes ----

void engine::thing_joined_group(const std::string& thing, const std::string&) { (void)impl_->rejudge(thing, false); }
void engine::thing_left_group(const std::string& thing, const std::string&) { (void)impl_->rejudge(thing, false); }
void engine::thing_deleted(const std::string& thing) { (void)impl_->rejudge(thing, true); }

// ---- the clock ----

bool engine::tick() {
  auto& m = *impl_;
  auto r = m.write<bool>([&m](jobs_writer& w, std::vector<event>& events) -> core::result<bool> {
    impl::tx t{m, w, events, m.now_ms()};
    std::int64_t budget = m.settings.tick_batch;
    bool more = false;
    std::map<std::string, job_row> touched;

    // Deadlines: IN_PROGRESS executions whose timer ran out.
    JOBS_TRY(due, w.due_executions(t.now, static_cast<int>(budget)));
    if (static_cast<std::int64_t>(due.size()) == budget) more = true;
    for (auto& e : due) {
      auto it = touched.find(e.job_id);
      if (it == touched.end()) {
        JOBS_TRY(j, m.find_job_for_write(w, e.job_id));
        if (!j) continue;
        it = touched.emplace(e.job_id, std::move(*j)).first;
      }
      auto spec = m.spec_of(it->second);
      if (status_of(e) == execution_status::in_progress) {
        JOBS_CHECK(m.change(t, it->second, *spec, e, execution_status::timed_out));
      } else {
        e.in_progress_deadline_ms.reset();
        e.step_deadline_ms.reset();
        JOBS_CHECK(w.update_execution(e));
      }
      --budget;
    }
    for (auto& [id, j] : touched) JOBS_CHECK(m.save_job(w, j));

    // Schedules, rollouts and deletions.
    JOBS_TRY(stored, w.jobs_to_drive());
    auto jobs = m.current(std::move(stored));
    for (auto& j : jobs) {
      if (budget <= 0) {
        more = true;
        break;
      }
      auto spec = m.spec_of(j);
      auto status = status_of(j);
      bool changed = false;
      if (status == job_status::deletion_in_progress) {
        JOBS_TRY(gone, w.delete_executions(j.job_id, static_cast<int>(budget)));
        for (const auto& e : gone) m.emit_execution(t, e, status_of(e), true);
        budget -= static_cast<std::int64_t>(gone.size());
        if (budget > 0) {
          JOBS_CHECK(w.delete_targets(j.job_id));
          JOBS_CHECK(m.delete_job(w, j.job_id));
          m.forget_spec(j.job_id);
          m.emit_job(t, job_event::kind::deleted, j);
        } else {
          more = true;
        }
        continue;
      }
      if (spec->scheduling) {
        auto start = spec->scheduling->start_time ? parse_schedule_time(*spec->scheduling->start_time)
                                                  : core::result<core::time_point>(core::time_point{});
        auto end = spec->scheduling->end_time ? parse_schedule_time(*spec->scheduling->end_time)
                                              : core::result<core::time_point>(core::time_point::max());
        auto now = core::from_epoch_millis(t.now);
        if (status == job_status::scheduled && start && now >= *start) {
          j.status = std::string(to_string(job_status::in_progress));
          j.window_start_ms = 0;
          j.window_count = 0;
          j.updated_ms = t.now;
          status = job_status::in_progress;
          changed = true;
        }
        if (end && now >= *end && (status == job_status::in_progress || status == job_status::scheduled) &&
            !j.rollout_stopped) {
          auto behavior = spec->scheduling->behavior.value_or(end_behavior::stop_rollout);
          if (behavior == end_behavior::stop_rollout) {
            j.rollout_stopped = true;
            JOBS_CHECK(w.delete_targets(j.job_id));
            j.pending_targets = 0;
            if (status == job_status::scheduled) j.status = std::string(to_string(job_status::in_progress));
            j.updated_ms = t.now;
            if (auto c = m.maybe_complete(t, j); !c) return c.error();
          } else {
            JOBS_CHECK(m.cancel(t, j, *spec, behavior == end_behavior::force_cancel, std::nullopt,
                                std::string("Canceled at the scheduled end time")));
          }
          changed = true;
        }
      }
      JOBS_TRY(created, m.roll_out(t, j, *spec, budget));
      budget -= created;
      if (created > 0) changed = true;
      if (j.pending_targets > 0 && budget <= 0) more = true;
      if (changed) JOBS_CHECK(m.save_job(w, j));
    }
    return more;
  });
  if (!r) return false;
  return *r;
}

}  // namespace airfleet::jobs
