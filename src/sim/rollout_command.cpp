#include "sim/rollout_command.hpp"

#include "auth/client_signer.hpp"
#include "core/crypto.hpp"
#include "sim/api_client.hpp"
#include "sim/download_pool.hpp"
#include "sim/firmware_device.hpp"
#include "sim/fleet.hpp"
#include "sim/json_line.hpp"
#include "sim/proc_stats.hpp"
#include "sim/progress.hpp"
#include "sim/shorthand.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <spdlog/spdlog.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>

namespace airfleet::sim {

namespace asio = boost::asio;
namespace json = boost::json;
using verb = boost::beast::http::verb;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t max_firmware_size = 256ull * 1024 * 1024;  // held in memory once, to upload it
constexpr int max_attempts = 6;                                     // per API call, on throttling
constexpr std::chrono::milliseconds request_timeout{60000};

// Errors made by functions, never braced inside co_await/co_return (GCC 12;
// see http_connection.cpp).
core::error run_error(const std::string& message) {
  return core::error{std::make_error_code(std::errc::io_error), message};
}

core::result<std::pair<std::string, std::uint16_t>> parse_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  unsigned port = 0;
  if (colon != std::string::npos) {
    auto [end, ec] = std::from_chars(text.data() + colon + 1, text.data() + text.size(), port);
    if (ec == std::errc() && end == text.data() + text.size() && port > 0 && port <= 65535 && colon > 0) {
      std::string host = text.substr(0, colon);
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      return std::pair{host, static_cast<std::uint16_t>(port)};
    }
  }
  return core::error{std::make_error_code(std::errc::invalid_argument), "--mqtt takes HOST:PORT, not '" + text + "'"};
}

std::string make_firmware(std::uint64_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x6669726d77617265ull);
  std::string image(size, '\0');
  for (std::size_t i = 0; i < image.size(); i += 8) {
    const std::uint64_t word = rng();
    for (std::size_t b = 0; b < 8 && i + b < image.size(); ++b) image[i + b] = static_cast<char>(word >> (8 * b));
  }
  return image;
}

// arn:aws:iot:<region>:<account>:thinggroup/<name> -> region, account
std::optional<std::pair<std::string, std::string>> region_and_account(std::string_view arn) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (int i = 0; i < 5; ++i) {
    const auto colon = arn.find(':', start);
    if (colon == std::string_view::npos) return std::nullopt;
    parts.push_back(arn.substr(start, colon - start));
    start = colon + 1;
  }
  if (parts[0] != "arn" || parts[3].empty() || parts[4].empty()) return std::nullopt;
  return std::pair{std::string(parts[3]), std::string(parts[4])};
}

std::uint64_t count_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_int64() && v->get_int64() > 0 ? static_cast<std::uint64_t>(v->get_int64()) : 0;
}

std::optional<double> number_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  return std::nullopt;
}

struct job_view {
  std::string status;
  job_counts counts;
  std::optional<double> created_at, completed_at;
  std::string reason_code;

  bool final() const { return status == "COMPLETED" || status == "CANCELED" || status == "DELETION_IN_PROGRESS"; }
};

std::optional<job_view> read_job(const json::value& v) {
  const auto* body = v.if_object();
  const auto* job = body ? body->if_contains("job") : nullptr;
  if (!job || !job->is_object()) return std::nullopt;
  const auto& j = job->get_object();
  job_view out;
  out.status = string_or_empty(j, "status");
  if (const auto* d = j.if_contains("jobProcessDetails"); d && d->is_object()) {
    const auto& p = d->get_object();
    out.counts.queued = count_of(p, "numberOfQueuedThings");
    out.counts.in_progress = count_of(p, "numberOfInProgressThings");
    out.counts.succeeded = count_of(p, "numberOfSucceededThings");
    out.counts.failed = count_of(p, "numberOfFailedThings");
    out.counts.rejected = count_of(p, "numberOfRejectedThings");
    out.counts.timed_out = count_of(p, "numberOfTimedOutThings");
    out.counts.canceled = count_of(p, "numberOfCanceledThings");
    out.counts.removed = count_of(p, "numberOfRemovedThings");
  }
  out.created_at = number_of(j, "createdAt");
  out.completed_at = number_of(j, "completedAt");
  out.reason_code = string_or_empty(j, "reasonCode");
  return out;
}

// The recipe's device policy: a certificate connects as its own thing and
// uses only that thing's jobs topics.
std::string device_policy(const std::string& region, const std::string& account) {
  const std::string arn = "arn:aws:iot:" + region + ":" + account;
  const std::string thing = "${iot:Connection.Thing.ThingName}";
  json::object connect{{"Effect", "Allow"}, {"Action", "iot:Connect"}, {"Resource", arn + ":client/" + thing}};
  json::array actions{"iot:Publish", "iot:Subscribe", "iot:Receive"};
  json::array resources{arn + ":topic/$aws/things/" + thing + "/jobs/*",
                        arn + ":topicfilter/$aws/things/" + thing + "/jobs/*"};
  json::object jobs{{"Effect", "Allow"}, {"Action", std::move(actions)}, {"Resource", std::move(resources)}};
  json::array statements{std::move(connect), std::move(jobs)};
  json::object document{{"Version", "2012-10-17"}, {"Statement", std::move(statements)}};
  return json::serialize(document);
}

struct identity_pem {
  std::string certificate;
  std::string key;
};

// What the coordinator and the provisioning workers share (one thread runs
// them all, or they hand over through the atomics).
struct provisioning {
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  std::atomic<unsigned> workers_running{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;  // guards error
  std::string error;
  std::vector<identity_pem> identities;  // [i] written by the worker that provisions device i

  void fail(const std::string& why) {
    std::lock_guard lock(mutex);
    if (error.empty()) error = why;
    failed = true;
  }
};

// One IoT call; an HTTP error is an error unless it is `tolerated`;
// throttling is retried with backoff.
asio::awaitable<core::result<api_response>> call_iot(api_client& api, verb method, std::string target,
                                                     std::string body, api_client::header_list headers,
                                                     std::string what, std::string tolerated = {}) {
  for (int attempt = 1;; ++attempt) {
    auto response = co_await api.iot(method, target, body, headers);
    if (!response) co_return run_error(what + ": " + response.error().message);
    if (response->ok() || (!tolerated.empty() && response->error_code == tolerated)) co_return response;
    const bool throttled = response->status == 429 || response->status == 503 ||
                           response->error_code == "ThrottlingException";
    if (!throttled || attempt >= max_attempts) co_return run_error(what + ": " + response->describe());
    asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(50 << attempt));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<core::result<void>> provision_device(api_client& api, const std::string& thing,
                                                     const std::string& group, const std::string& policy,
                                                     identity_pem& identity) {
  const std::string thing_path = "/things/" + path_segment(thing);
  const api_client::header_list none;
  std::string what = "CreateThing " + thing;
  auto created = co_await call_iot(api, verb::post, thing_path, "{}", none, what, "ResourceAlreadyExistsException");
  if (!created) co_return created.error();

  json::object membership{{"thingGroupName", group}, {"thingName", thing}};
  what = "AddThingToThingGroup " + thing;
  auto added = co_await call_iot(api, verb::put, "/thing-groups/addThingToThingGroup", json::serialize(membership),
                                 none, what);
  if (!added) co_return added.error();

  what = "CreateKeysAndCertificate for " + thing;
  auto keys = co_await call_iot(api, verb::post, "/keys-and-certificate?setAsActive=true", "{}", none, what);
  if (!keys) co_return keys.error();
  const auto answer = keys->json();
  const auto* o = answer.if_object();
  const auto* key_pair = o ? o->if_contains("keyPair") : nullptr;
  std::string certificate_arn = o ? string_or_empty(*o, "certificateArn") : std::string();
  identity.certificate = o ? string_or_empty(*o, "certificatePem") : std::string();
  identity.key = key_pair && key_pair->is_object() ? string_or_empty(key_pair->get_object(), "PrivateKey") : std::string();
  if (certificate_arn.empty() || identity.certificate.empty() || identity.key.empty())
    co_return run_error(what + ": the answer lacks certificateArn, certificatePem or keyPair.PrivateKey");

  json::object target{{"target", certificate_arn}};
  what = "AttachPolicy for " + thing;
  auto attached = co_await call_iot(api, verb::put, "/target-policies/" + path_segment(policy),
                                    json::serialize(target), none, what);
  if (!attached) co_return attached.error();

  api_client::header_list principal;
  principal.emplace_back("x-amzn-principal", certificate_arn);
  what = "AttachThingPrincipal " + thing;
  auto bound = co_await call_iot(api, verb::put, thing_path + "/principals", "", principal, what);
  if (!bound) co_return bound.error();
  co_return core::result<void>();
}

// One rollout rehearsal: the settings worked out from the options, the
// fleet, and what each phase found. The coordinator runs the phases in
// order on the fleet's loop; report() prints what they found once the loop
// has stopped.
class rollout_run {
 public:
  explicit rollout_run(const rollout_options& o) : o_(o), https_(asio::ssl::context::tls_client) {}

  // Checks the options and sets up everything that needs no network; the
  // message when they will not do.
  std::optional<std::string> prepare();
  int run();

 private:
  asio::awaitable<void> coordinate();
  asio::awaitable<core::result<void>> provision();
  asio::awaitable<core::result<void>> upload_firmware();
  asio::awaitable<core::result<void>> connect_devices();
  asio::awaitable<void> count_targets();
  std::string job_request() const;
  asio::awaitable<core::result<void>> create_and_watch_job();
  asio::awaitable<std::optional<job_view>> describe_job(api_client& monitor);
  progress_snapshot snapshot(const job_view& j, const rollout_rate& rate, clock_type::time_point t_create) const;
  void show(const progress_snapshot& s, bool last);
  void write_devices_report();
  int report();

  const rollout_options& o_;
  // From the options (prepare()).
  auth::client_credentials credentials_;
  http_origin endpoint_;
  std::string group_, policy_, job_id_, job_path_;
  std::int64_t in_progress_timeout_ = 0;
  std::optional<json::value> rollout_config_, abort_config_;
  connection_options connection_;
  asio::ssl::context https_;  // the API and presigned links over https
  bool show_bar_ = false, show_lines_ = false;
  std::size_t columns_ = 0, bar_width_ = 30;
  std::vector<device_fate> fates_;

  // The fleet (made in prepare()).
  rollout_tally tally_;
  std::unique_ptr<fleet_of<firmware_device, rollout_tally>> fleet_;
  std::optional<download_pool> downloads_;
  std::unique_ptr<api_client> control_;  // the coordinator's own API connection

  // What the phases found, on the coordinator only until the loop stops.
  std::string region_, account_, group_arn_;
  provisioning provisioning_;
  std::string firmware_key_, firmware_sha256_;
  std::string fatal_;  // why the run stopped early
  double provision_s_ = 0, connect_s_ = 0, seconds_ = 0;
  bool job_created_ = false, timed_out_ = false, lost_ = false;
  std::uint64_t targets_ = 0;
  std::optional<job_view> final_job_;
  std::optional<double> server_cpu_start_, server_cpu_end_;
  double sim_cpu_start_ = 0, sim_cpu_end_ = 0;
  clock_type::time_point next_draw_{}, next_line_{};
};

std::optional<std::string> rollout_run::prepare() {
  if (o_.devices == 0) return "--devices must be at least 1";
  for (auto [name, rate] : {std::pair{"--fail-rate", o_.fail_rate}, std::pair{"--reject-rate", o_.reject_rate},
                            std::pair{"--hang-rate", o_.hang_rate}})
    if (!(rate >= 0 && rate <= 1)) return std::string(name) + " must be between 0 and 1";
  if (o_.fail_rate + o_.reject_rate + o_.hang_rate > 1 + 1e-9)
    return "--fail-rate, --reject-rate and --hang-rate add up to more than 1";
  if (o_.firmware_size > max_firmware_size)
    return "--firmware-size: at most " + std::to_string(max_firmware_size) + " bytes";
  if (o_.timeout <= 0) return "--timeout must be positive";
  if (o_.api_parallel == 0 || o_.download_parallel == 0 || o_.connect_parallel == 0)
    return "--api-parallel, --download-parallel and --connect-parallel must be at least 1";
  if (o_.in_progress_timeout < 0) return "--in-progress-timeout must not be negative";
  if (o_.credentials.empty()) return "--credentials is required (airfleet writes DATA/admin-credentials)";
  if (o_.transport != "tls" && o_.transport != "plain") return "--transport takes tls or plain";
  if (o_.progress != "auto" && o_.progress != "bar" && o_.progress != "lines" && o_.progress != "none")
    return "--progress takes auto, bar, lines or none";
  if (o_.prefix.empty() || o_.prefix.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                               std::string::npos)
    return "--prefix takes letters, digits, '_' and '-'";
  if (!o_.rollout.empty()) {
    auto v = parse_shorthand(o_.rollout);
    if (!v) return "--rollout: " + v.error().message;
    rollout_config_ = std::move(*v);
  }
  if (!o_.abort.empty()) {
    auto v = parse_shorthand(o_.abort);
    if (!v) return "--abort: " + v.error().message;
    abort_config_ = std::move(*v);
  }
  auto credentials = auth::read_shared_credentials(o_.credentials, o_.profile);
  if (!credentials) return "--credentials: " + credentials.error().message;
  credentials_ = std::move(*credentials);
  auto endpoint = parse_http_url(o_.endpoint);
  if (!endpoint) return "--endpoint: " + endpoint.error().message;
  if (endpoint->target != "/") return "--endpoint takes scheme://host:port with no path";
  endpoint_ = endpoint->origin;
  auto broker = parse_host_port(o_.mqtt);
  if (!broker) return broker.error().message;
  // Each device's MQTT connection, the API and download connections, and the
  // process's own descriptors.
  if (auto no_room = check_open_file_room(o_.devices + o_.api_parallel + o_.download_parallel + 8))
    return "--devices: " + *no_room;
  if (o_.source_addresses.empty() && o_.devices > 20000)
    spdlog::warn("{} connections from one source address may run out of ephemeral ports; see --source-addresses",
                 o_.devices);

  group_ = o_.thing_group.empty() ? o_.prefix + "-fleet" : o_.thing_group;
  policy_ = o_.policy.empty() ? o_.prefix + "-device-policy" : o_.policy;
  job_id_ = o_.job_id;
  if (job_id_.empty()) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    job_id_ = o_.prefix + "-firmware-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  }
  job_path_ = "/jobs/" + path_segment(job_id_);
  in_progress_timeout_ = o_.in_progress_timeout;
  if (in_progress_timeout_ == 0 && o_.hang_rate > 0) in_progress_timeout_ = 1;  // or hung devices hold the job forever
  targets_ = o_.devices;

  boost::system::error_code ec;
  if (!o_.ca.empty()) https_.load_verify_file(o_.ca, ec);
  else https_.set_default_verify_paths(ec);
  if (ec) return "--ca " + o_.ca + ": " + ec.message();
  https_.set_verify_mode(asio::ssl::verify_peer);

  show_bar_ = o_.progress == "bar" || (o_.progress == "auto" && ::isatty(STDERR_FILENO));
  show_lines_ = o_.progress == "lines" || (o_.progress == "auto" && !show_bar_);
  if (winsize w{}; show_bar_ && ::ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) columns_ = w.ws_col;
  bar_width_ = columns_ == 0 || columns_ >= 120 ? 30 : 16;
  fates_ = assign_fates(o_.devices, o_.fail_rate, o_.reject_rate, o_.hang_rate, o_.seed);

  auto& c = connection_;
  c.host = broker->first;
  c.port = broker->second;
  c.tls = o_.transport == "tls";
  c.tls_files.ca_file = o_.ca;
  c.tls_files.server_name = o_.server_name;
  c.mqtt_version = o_.mqtt_version;
  c.source_addresses = o_.source_addresses;
  c.threads = o_.threads;
  c.keep_alive = o_.keep_alive;
  c.connect_timeout = o_.connect_timeout;
  c.connect_parallel = o_.connect_parallel;
  c.client_prefix = o_.prefix;
  auto made = fleet_of<firmware_device, rollout_tally>::make(c, tally_);
  if (!made) return made.error().message;
  fleet_ = std::move(*made);
  if (o_.firmware_size > 0)
    downloads_.emplace(fleet_->executor(), &https_, o_.download_parallel, request_timeout, o_.firmware_size + 1);
  control_ = std::make_unique<api_client>(fleet_->executor(), &https_, endpoint_, credentials_, request_timeout);
  provisioning_.identities.resize(o_.devices);
  return std::nullopt;
}

int rollout_run::run() {
  fleet_->run([this] { return coordinate(); });
  return report();
}

asio::awaitable<void> rollout_run::coordinate() {
  auto provisioned = co_await provision();
  if (!provisioned) {
    fatal_ = provisioned.error().message;
    co_return;
  }
  if (o_.firmware_size > 0) {
    auto uploaded = co_await upload_firmware();
    if (!uploaded) {
      fatal_ = uploaded.error().message;
      co_return;
    }
  }
  auto connected = co_await connect_devices();
  if (connected) {
    co_await count_targets();
    auto ran = co_await create_and_watch_job();
    if (!ran) fatal_ = ran.error().message;
  } else {
    fatal_ = connected.error().message;
  }
  if (downloads_) downloads_->stop();
  co_await fleet_->disconnect_all(std::chrono::seconds(10));
}

// ---- 1. Provision: the group, the policy, and every device's thing and certificate ----
asio::awaitable<core::result<void>> rollout_run::provision() {
  const auto start = clock_type::now();
  const api_client::header_list none;
  spdlog::info("provisioning thing group {}, policy {} and {} things with certificates at {}", group_, policy_,
               o_.devices, o_.endpoint);
  const std::string group_path = "/thing-groups/" + path_segment(group_);
  auto made_group = co_await call_iot(*control_, verb::post, group_path, "{}", none, "CreateThingGroup " + group_,
                                      "ResourceAlreadyExistsException");
  if (!made_group) co_return made_group.error();
  auto described = co_await call_iot(*control_, verb::get, group_path, "", none, "DescribeThingGroup " + group_);
  if (!described) co_return described.error();
  const auto group_json = described->json();
  if (group_json.is_object()) group_arn_ = string_or_empty(group_json.get_object(), "thingGroupArn");
  auto where = region_and_account(group_arn_);
  if (!where) co_return run_error("DescribeThingGroup gave no usable thingGroupArn: " + described->body.substr(0, 300));
  region_ = where->first;
  account_ = where->second;
  json::object policy_request{{"policyDocument", device_policy(region_, account_)}};
  auto made_policy = co_await call_iot(*control_, verb::post, "/policies/" + path_segment(policy_),
                                       json::serialize(policy_request), none, "CreatePolicy " + policy_,
                                       "ResourceAlreadyExistsException");
  if (!made_policy) co_return made_policy.error();

  auto& p = provisioning_;
  const unsigned workers = static_cast<unsigned>(std::min<std::size_t>(o_.api_parallel, o_.devices));
  p.workers_running = workers;
  for (unsigned w = 0; w < workers; ++w) {
    // co_spawn keeps the lambda alive while its coroutine runs; `this`
    // outlives the loop.
    asio::co_spawn(
        fleet_->executor(),
        [this]() -> asio::awaitable<void> {
          auto& p = provisioning_;
          api_client api(fleet_->executor(), &https_, endpoint_, credentials_, request_timeout);
          while (!p.failed) {
            const std::size_t i = p.next.fetch_add(1);
            if (i >= o_.devices) break;
            const std::string thing = o_.prefix + "-" + std::to_string(i);
            auto r = co_await provision_device(api, thing, group_, policy_, p.identities[i]);
            if (!r) {
              p.fail(r.error().message);
              break;
            }
            p.done.fetch_add(1);
          }
          p.workers_running.fetch_sub(1);
        },
        asio::detached);
  }
  auto next_report = clock_type::now() + 2s;
  while (p.workers_running.load() > 0) {
    co_await fleet_->sleep(5ms);
    if (clock_type::now() >= next_report) {
      spdlog::info("provisioned {} of {} things", p.done.load(), o_.devices);
      next_report += 2s;
    }
  }
  if (p.failed) {
    std::lock_guard lock(p.mutex);
    co_return run_error("provisioning failed: " + p.error);
  }
  provision_s_ = std::chrono::duration<double>(clock_type::now() - start).count();
  spdlog::info("provisioned {} things in {:.1f} s ({:.0f} API calls/s)", o_.devices, provision_s_,
               static_cast<double>(o_.devices * 5) / std::max(provision_s_, 1e-3));
  co_return core::result<void>();
}

// ---- 2. Firmware: a random image (from --seed) in the bucket ----
asio::awaitable<core::result<void>> rollout_run::upload_firmware() {
  std::string image = make_firmware(o_.firmware_size, o_.seed);
  firmware_sha256_ = core::sha256_hex(image);
  firmware_key_ = "firmware/" + o_.prefix + "-" + o_.firmware_version + "-" + firmware_sha256_.substr(0, 12) + ".bin";
  const std::string bucket_path = "/" + o_.bucket;
  auto bucket = co_await control_->s3(verb::put, bucket_path, "");
  if (!bucket) co_return run_error("CreateBucket " + o_.bucket + ": " + bucket.error().message);
  if (!bucket->ok() && bucket->error_code != "BucketAlreadyOwnedByYou")
    co_return run_error("CreateBucket " + o_.bucket + ": " + bucket->describe());
  const std::string object_path = bucket_path + "/" + firmware_key_;
  auto put = co_await control_->s3(verb::put, object_path, std::move(image));
  if (!put) co_return run_error("PutObject " + firmware_key_ + ": " + put.error().message);
  if (!put->ok()) co_return run_error("PutObject " + firmware_key_ + ": " + put->describe());
  spdlog::info("uploaded a {} byte image to s3://{}/{} (SHA-256 {})", o_.firmware_size, o_.bucket, firmware_key_,
               firmware_sha256_);
  co_return core::result<void>();
}

// ---- 3. Connect every device with its own certificate ----
asio::awaitable<core::result<void>> rollout_run::connect_devices() {
  auto& f = *fleet_;
  if (auto* tls = f.tls()) {
    for (const auto& id : provisioning_.identities)
      if (auto added = tls->add_identity(id.certificate, id.key); !added)
        co_return run_error("a device certificate: " + added.error().message);
  }
  provisioning_.identities = {};  // OpenSSL holds them now
  f.clients().reserve(o_.devices);
  for (std::size_t i = 0; i < o_.devices; ++i) {
    firmware_device_config d;
    static_cast<jobs_device_config&>(d) = device_config(connection_, i);
    d.start_next_on_connect = true;  // as the SDK sample does: pick up what was queued before
    d.fate = fates_[i];
    f.add(std::move(d), downloads_ ? &*downloads_ : nullptr);
  }
  spdlog::info("connecting {} devices over MQTT{} to {}", o_.devices, connection_.tls ? "/TLS" : " (plain TCP)",
               o_.mqtt);
  const auto start = clock_type::now();
  co_await f.connect(0, o_.devices, 0);
  connect_s_ = std::chrono::duration<double>(clock_type::now() - start).count();
  if (tally_.failed.load() > 0)
    co_return run_error(std::to_string(tally_.failed.load()) +
                        " devices failed to connect; first error: " + tally_.first_error());
  spdlog::info("{} devices connected in {:.1f} s ({:.0f}/s)", o_.devices, connect_s_,
               static_cast<double>(o_.devices) / std::max(connect_s_, 1e-3));
  // Let the start-next each device asked on connecting come back, so the
  // job's clock starts with an idle fleet.
  const auto settle_until = clock_type::now() + 10s;
  while (tally_.start_next_nothing.load() + tally_.start_next_accepted.load() + tally_.start_next_rejected.load() <
             o_.devices &&
         clock_type::now() < settle_until)
    co_await f.sleep(5ms);
  co_return core::result<void>();
}

// The things the job will be for: the group may hold more than ours (real
// agents, say). Only for the progress bar's total.
asio::awaitable<void> rollout_run::count_targets() {
  const api_client::header_list none;
  std::uint64_t members = 0;
  std::string token;
  for (;;) {
    std::string target = "/thing-groups/" + path_segment(group_) + "/things?maxResults=250";
    if (!token.empty()) target += "&nextToken=" + path_segment(token);
    auto page = co_await call_iot(*control_, verb::get, target, "", none, "ListThingsInThingGroup " + group_);
    if (!page) co_return;
    const auto body = page->json();
    if (!body.is_object()) co_return;
    if (const auto* things = body.get_object().if_contains("things"); things && things->is_array())
      members += things->get_array().size();
    targets_ = std::max<std::uint64_t>(members, o_.devices);
    token = string_or_empty(body.get_object(), "nextToken");
    if (token.empty()) co_return;
  }
}

// The CreateJob body: the recipe's firmwareUpdate document for the group.
std::string rollout_run::job_request() const {
  json::object document{{"operation", "firmwareUpdate"}, {"firmwareVersion", o_.firmware_version}};
  if (o_.firmware_size > 0) {
    document["downloadUrl"] = "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/" + o_.bucket + "/" + firmware_key_ + "}";
    document["checksumAlgorithm"] = "SHA256";
    document["checksum"] = firmware_sha256_;
    document["fileSize"] = o_.firmware_size;
  }
  document["installationSteps"] = json::array{"Download firmware package from specified URL",
                                              "Validate package integrity using checksum",
                                              "Install new firmware version", "Report installation status to AWS IoT"};
  document["rollbackInstructions"] = json::object{{"enabled", true}, {"maxAttempts", 1}, {"fallbackVersion", "1.0.0"}};
  json::object job{{"targets", json::array{group_arn_}},
                   {"document", json::serialize(document)},
                   {"targetSelection", "SNAPSHOT"},
                   {"description", "airfleet-sim rollout: " + std::to_string(o_.devices) + " simulated devices"}};
  if (rollout_config_) job["jobExecutionsRolloutConfig"] = *rollout_config_;
  if (abort_config_) job["abortConfig"] = *abort_config_;
  if (in_progress_timeout_ > 0) job["timeoutConfig"] = json::object{{"inProgressTimeoutInMinutes", in_progress_timeout_}};
  if (o_.firmware_size > 0)
    job["presignedUrlConfig"] =
        json::object{{"roleArn", "arn:aws:iam::" + account_ + ":role/airfleet-sim-firmware"}, {"expiresInSec", 3600}};
  return json::serialize(job);
}

asio::awaitable<std::optional<job_view>> rollout_run::describe_job(api_client& monitor) {
  auto answer = co_await monitor.iot(verb::get, job_path_, "");
  if (!answer) {
    spdlog::warn("DescribeJob {}: {}", job_id_, answer.error().message);
    co_return std::nullopt;
  }
  if (!answer->ok()) {
    spdlog::warn("DescribeJob {}: {}", job_id_, answer->describe());
    co_return std::nullopt;
  }
  co_return read_job(answer->json());
}

// ---- 4. and 5. CreateJob, then watch it until it is final ----
asio::awaitable<core::result<void>> rollout_run::create_and_watch_job() {
  auto& f = *fleet_;
  const std::string body = job_request();
  const api_client::header_list none;
  api_client monitor(f.executor(), &https_, endpoint_, credentials_, request_timeout);
  co_await monitor.iot(verb::get, job_path_, "");  // opens its connection outside the measured time
  const int pid = o_.server_pid;
  if (pid > 0) server_cpu_start_ = process_cpu_seconds(pid);
  sim_cpu_start_ = own_cpu_seconds();
  spdlog::info("creating job {} for {} things", job_id_, targets_);
  const auto t_create = clock_type::now();
  auto created = co_await call_iot(*control_, verb::put, job_path_, body, none, "CreateJob " + job_id_);
  if (!created) co_return created.error();
  job_created_ = true;

  rollout_rate rate(10s);
  next_draw_ = t_create;
  next_line_ = t_create + 2s;
  std::optional<job_view> seen;
  for (;;) {
    const auto poll_start = clock_type::now();
    if (auto j = co_await describe_job(monitor)) {
      seen = std::move(j);
      rate.add(clock_type::now(), seen->counts.created());
    }
    const auto now = clock_type::now();
    if (seen && seen->final()) {
      seconds_ = std::chrono::duration<double>(now - t_create).count();
      break;
    }
    if (tally_.failed.load() > 0) {
      lost_ = true;
      fatal_ = "a device lost its connection: " + tally_.first_error();
      break;
    }
    if (now - t_create > std::chrono::duration<double>(o_.timeout)) {
      timed_out_ = true;
      fatal_ = "the job did not end within --timeout " + std::to_string(static_cast<long>(o_.timeout)) + " s";
      break;
    }
    if (seen) show(snapshot(*seen, rate, t_create), false);
    const auto next_poll = poll_start + std::chrono::milliseconds(o_.poll_ms);
    if (next_poll > clock_type::now()) co_await f.sleep(next_poll - clock_type::now());
  }
  if (pid > 0) server_cpu_end_ = process_cpu_seconds(pid);
  sim_cpu_end_ = own_cpu_seconds();

  // Devices still at work on a canceled job finish (hung ones never do);
  // then the job's final counts.
  const auto drain_until = clock_type::now() + 15s;
  while (!lost_ && tally_.working.load() > tally_.hung.load() && clock_type::now() < drain_until)
    co_await f.sleep(10ms);
  if (auto j = co_await describe_job(monitor)) seen = std::move(j);
  final_job_ = seen;
  if (seen) show(snapshot(*seen, rate, t_create), true);
  co_return core::result<void>();
}

progress_snapshot rollout_run::snapshot(const job_view& j, const rollout_rate& rate,
                                        clock_type::time_point t_create) const {
  progress_snapshot s;
  s.elapsed_s = std::chrono::duration<double>(clock_type::now() - t_create).count();
  s.status = j.status;
  s.counts = j.counts;
  s.targets = targets_;
  s.rate_per_minute = rate.per_minute();
  if (downloads_) {
    const auto& d = downloads_->stats();
    const std::uint64_t ended = d.succeeded.load() + d.failed.load();
    s.downloads_active = d.waiting.load() + (d.started.load() > ended ? d.started.load() - ended : 0);
  }
  return s;
}

void rollout_run::show(const progress_snapshot& s, bool last) {
  const auto now = clock_type::now();
  if (show_bar_ && (last || now >= next_draw_)) {
    std::cerr << '\r' << render_bar(s, bar_width_, columns_) << "\033[K" << (last ? "\n" : "") << std::flush;
    next_draw_ = now + 250ms;
  }
  if (show_lines_ && (last || now >= next_line_)) {
    spdlog::info("{}", render_line(s));
    next_line_ = now + 2s;
  }
}

void rollout_run::write_devices_report() {
  std::ofstream out(o_.devices_report);
  for (const auto& d : fleet_->clients()) {
    json_line line;
    line.add("thing", d->thing_name())
        .add("fate", to_string(d->fate()))
        .add("executions", d->executions())
        .add("outcome", d->last_outcome())
        .add("downloaded_bytes", d->downloaded_bytes())
        .add("version", d->version());
    out << line.str() << "\n";
  }
  out.flush();
  if (!out) spdlog::error("cannot write --devices-report {}", o_.devices_report);
}

// ---- 6. The final line ----
int rollout_run::report() {
  std::uint64_t updated = 0, untouched = 0, downloaded = 0;
  for (const auto& d : fleet_->clients()) {
    if (d->version() == o_.firmware_version) ++updated;
    if (d->executions() == 0) ++untouched;
    downloaded += d->downloaded_bytes();
  }
  untouched += o_.devices - fleet_->clients().size();  // never even made (the run stopped before connecting)
  if (!o_.devices_report.empty()) write_devices_report();

  const bool finished = final_job_ && final_job_->final();
  const bool ok = fatal_.empty() && finished && !lost_ && !timed_out_ && tally_.failed.load() == 0 &&
                  tally_.unreadable.load() == 0 && tally_.publish_refused.load() == 0 &&
                  tally_.downloads_failed.load() == 0 && tally_.checksum_mismatches.load() == 0 &&
                  tally_.bad_documents.load() == 0;
  json_line out;
  out.add("devices", o_.devices).add("things", targets_);
  if (final_job_) {
    const auto& n = final_job_->counts;
    out.add("succeeded", n.succeeded)
        .add("failed", n.failed)
        .add("rejected", n.rejected)
        .add("timed_out", n.timed_out)
        .add("canceled", n.canceled)
        .add("removed", n.removed)
        .add("queued", n.queued)
        .add("in_progress", n.in_progress)
        .add("status", final_job_->status);
    if (!final_job_->reason_code.empty()) out.add("reason_code", final_job_->reason_code);
  }
  if (job_created_) out.add("job_id", job_id_);
  if (finished) out.add("seconds", seconds_, 3);
  if (final_job_ && final_job_->created_at && final_job_->completed_at)
    out.add("server_seconds", *final_job_->completed_at - *final_job_->created_at, 3);
  if (tally_.notify_to_started.count() > 0)
    out.add("p50_notify_to_start_ms", tally_.notify_to_started.percentile(0.50) / 1000, 1)
        .add("p99_notify_to_start_ms", tally_.notify_to_started.percentile(0.99) / 1000, 1);
  if (tally_.notify_to_succeeded.count() > 0)
    out.add("p50_notify_to_outcome_ms", tally_.notify_to_succeeded.percentile(0.50) / 1000, 1)
        .add("p99_notify_to_outcome_ms", tally_.notify_to_succeeded.percentile(0.99) / 1000, 1);
  out.add("provision_s", provision_s_, 3).add("connect_s", connect_s_, 3);
  out.add("devices_updated", updated).add("devices_untouched", untouched).add("devices_hung", tally_.hung.load());
  if (o_.firmware_size > 0) {
    out.add("firmware_bytes", o_.firmware_size)
        .add("firmware_sha256", firmware_sha256_)
        .add("firmware_object", "s3://" + o_.bucket + "/" + firmware_key_)
        .add("downloads", downloads_ ? downloads_->stats().succeeded.load() : std::uint64_t{0})
        .add("download_failures", tally_.downloads_failed.load())
        .add("checksum_mismatches", tally_.checksum_mismatches.load())
        .add("downloaded_bytes", downloaded);
  }
  out.add("updates_refused", tally_.outcome_refused.load());
  if (server_cpu_start_ && server_cpu_end_) out.add("server_cpu_s", *server_cpu_end_ - *server_cpu_start_, 2);
  if (o_.server_pid > 0)
    if (auto peak = process_peak_rss_kib(o_.server_pid)) out.add("server_peak_rss_kib", *peak);
  if (sim_cpu_end_ > 0) out.add("sim_cpu_s", sim_cpu_end_ - sim_cpu_start_, 2);
  if (!fatal_.empty()) out.add("error", fatal_);
  if (auto first = tally_.first_error(); !first.empty()) out.add("first_device_error", first);
  out.add("ok", ok);
  std::cout << out.str() << std::endl;
  if (!fatal_.empty()) spdlog::error("{}", fatal_);
  return ok ? 0 : 1;
}

}  // namespace

int run_rollout(const rollout_options& options) {
  rollout_run run(options);
  if (auto problem = run.prepare()) {
    std::cerr << "airfleet-sim rollout: " << *problem << "\n";
    return 2;
  }
  return run.run();
}

}  // namespace airfleet::sim
