#include "sim/jobs_command.hpp"

#include "sim/fleet.hpp"
#include "sim/jobs_device.hpp"
#include "sim/json_line.hpp"
#include "sim/proc_stats.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <iostream>
#include <memory>
#include <vector>

namespace airfleet::sim {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct cpu_snapshot {
  clock_type::time_point at;
  std::optional<double> broker;
  double own = 0;
};

cpu_snapshot take_cpu(int broker_pid) {
  cpu_snapshot s;
  s.at = clock_type::now();
  if (broker_pid > 0) s.broker = process_cpu_seconds(broker_pid);
  s.own = own_cpu_seconds();
  return s;
}

double seconds_between_ns(std::uint64_t from, std::uint64_t to) {
  return from == 0 || to < from ? 0.0 : static_cast<double>(to - from) / 1e9;
}

}  // namespace

int run_jobs(const jobs_options& o) {
  auto fail = [](const std::string& message) {
    std::cerr << "airfleet-sim jobs: " << message << "\n";
    return 2;
  };
  const auto& c = o.connection;
  if (o.devices == 0) return fail("--connections must be at least 1");
  if (c.mqtt_version != 4 && c.mqtt_version != 5) return fail("--mqtt-version must be 4 or 5");
  if (o.timeout <= 0) return fail("--timeout must be positive");
  if (auto no_room = check_open_file_room(o.devices)) return fail("--connections: " + *no_room);
  const std::uint64_t expected = o.expect_succeeded > 0 ? o.expect_succeeded : o.devices;

  if (c.source_addresses.empty() && o.devices > 20000)
    spdlog::warn("{} connections from one source address may run out of ephemeral ports; see --source-addresses",
                 o.devices);
  jobs_tally tally;
  auto made = fleet_of<jobs_device, jobs_tally>::make(c, tally);
  if (!made) return fail(made.error().message);
  auto& f = **made;
  f.clients().reserve(o.devices);
  for (std::size_t i = 0; i < o.devices; ++i) {
    auto d = device_config(c, i);
    d.start_next_on_connect = o.start_next_on_connect;
    d.client_tokens = o.client_tokens;
    f.add(std::move(d));
  }

  const int pid = c.broker_pid;
  double connect_seconds = 0;
  bool connected_all = false, timed_out = false, lost = false;
  std::optional<cpu_snapshot> connect_start, ready_at, work_start, work_end;
  std::uint64_t failed_connecting = 0;

  auto coordinator = [&]() -> asio::awaitable<void> {
    // 1. Connect.
    connect_start = take_cpu(pid);
    spdlog::info("connecting {} devices ({})", o.devices, c.tls ? "TLS" : "plain TCP");
    co_await f.connect(0, o.devices, 0);
    ready_at = take_cpu(pid);
    connect_seconds = std::chrono::duration<double>(ready_at->at - connect_start->at).count();
    failed_connecting = tally.failed.load();
    connected_all = failed_connecting == 0;

    json_line ready;
    ready.add("phase", "ready")
        .add("devices", o.devices)
        .add("tls", c.tls)
        .add("mqtt_version", c.mqtt_version)
        .add("threads", c.threads)
        .add("parallel", c.connect_parallel)
        .add("connected", tally.ready.load())
        .add("failed", failed_connecting)
        .add("connect_s", connect_seconds, 3)
        .add("connections_per_s", connect_seconds > 0 ? static_cast<double>(tally.ready.load()) / connect_seconds : 0.0,
             0);
    if (connect_start->broker && ready_at->broker)
      ready.add("broker_cpu_s_connecting", *ready_at->broker - *connect_start->broker, 2);
    ready.add("sim_cpu_s_connecting", ready_at->own - connect_start->own, 2);
    if (pid > 0)
      if (auto rss = process_rss_kib(pid)) ready.add("broker_rss_kib", *rss);
    if (auto rss = process_rss_kib(::getpid())) ready.add("sim_rss_kib", *rss);
    if (auto first = tally.first_error(); !first.empty()) ready.add("first_error", first);
    ready.add("ok", connected_all);
    std::cout << ready.str() << std::endl;  // endl flushes: the driver waits for this line
    if (!connected_all) {
      spdlog::error("{} devices failed to connect; first error: {}", failed_connecting, tally.first_error());
    } else {
      // 2. Work until the expected updates were accepted.
      spdlog::info("{} devices ready in {:.2f} s; waiting for jobs (at most {} s)", o.devices, connect_seconds,
                   o.timeout);
      const auto deadline =
          ready_at->at + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.timeout));
      auto next_report = clock_type::now() + 2s;
      for (;;) {
        if (!work_start && tally.first_notify_ns.load() != 0) work_start = take_cpu(pid);
        if (tally.update_accepted.load() >= expected) break;
        if (tally.failed.load() > 0) {
          lost = true;
          spdlog::error("a device lost its connection: {}", tally.first_error());
          break;
        }
        const auto now = clock_type::now();
        if (now >= deadline) {
          timed_out = true;
          spdlog::error("timed out: {} of {} updates accepted", tally.update_accepted.load(), expected);
          break;
        }
        if (now >= next_report && work_start) {
          spdlog::info("notified {} started {} succeeded {} rejected {}", tally.notify_next_execution.load(),
                       tally.start_next_accepted.load(), tally.update_accepted.load(),
                       tally.start_next_rejected.load() + tally.update_rejected.load());
          next_report = now + 2s;
        }
        co_await f.sleep(2ms);
      }
      work_end = take_cpu(pid);
    }
    // 3. Disconnect (the report is printed once the loop has stopped).
    co_await f.disconnect_all(10s);
  };

  f.run(coordinator);

  // Every device has finished: their counts may be read.
  std::uint64_t once = 0, none = 0, several = 0;
  for (const auto& d : f.clients()) {
    const auto n = d->succeeded();
    if (n == 0) ++none;
    else if (n == 1) ++once;
    else ++several;
  }
  const std::uint64_t accepted = tally.update_accepted.load();
  const std::uint64_t rejected = tally.start_next_rejected.load() + tally.update_rejected.load();
  const bool ok = connected_all && !lost && !timed_out && accepted >= expected && rejected == 0 &&
                  tally.publish_refused.load() == 0 && tally.unreadable.load() == 0;

  json_line out;
  out.add("phase", "done")
      .add("devices", o.devices)
      .add("tls", c.tls)
      .add("connect_s", connect_seconds, 3)
      .add("expect_succeeded", expected)
      .add("notify_next_execution", tally.notify_next_execution.load())
      .add("notify_next_empty", tally.notify_next_empty.load())
      .add("notify_next_stale", tally.notify_next_stale.load())
      .add("start_next_sent", tally.start_next_sent.load())
      .add("start_next_accepted", tally.start_next_accepted.load())
      .add("start_next_nothing", tally.start_next_nothing.load())
      .add("start_next_rejected", tally.start_next_rejected.load())
      .add("update_sent", tally.update_sent.load())
      .add("update_accepted", accepted)
      .add("update_rejected", tally.update_rejected.load())
      .add("devices_succeeded_once", once)
      .add("devices_succeeded_never", none)
      .add("devices_succeeded_several", several)
      .add("unreadable", tally.unreadable.load())
      .add("publish_refused", tally.publish_refused.load())
      .add("foreign", tally.foreign.load());
  const std::uint64_t first_notify = tally.first_notify_ns.load();
  if (first_notify != 0) {
    out.add("first_notify_to_last_accepted_s", seconds_between_ns(first_notify, tally.last_accepted_ns.load()), 3)
        .add("notify_spread_s", seconds_between_ns(first_notify, tally.last_first_notify_ns.load()), 3)
        .add("first_notify_to_first_accepted_s", seconds_between_ns(first_notify, tally.first_accepted_ns.load()), 3)
        .add("first_notify_epoch_ms", tally.first_notify_wall_ms.load())
        .add("last_accepted_epoch_ms", tally.last_accepted_wall_ms.load())
        .add("notify_to_started_p50_ms", tally.notify_to_started.percentile(0.50) / 1000, 1)
        .add("notify_to_started_p99_ms", tally.notify_to_started.percentile(0.99) / 1000, 1)
        .add("notify_to_started_max_ms", static_cast<double>(tally.notify_to_started.max()) / 1000, 1)
        .add("notify_to_succeeded_p50_ms", tally.notify_to_succeeded.percentile(0.50) / 1000, 1)
        .add("notify_to_succeeded_p99_ms", tally.notify_to_succeeded.percentile(0.99) / 1000, 1)
        .add("notify_to_succeeded_max_ms", static_cast<double>(tally.notify_to_succeeded.max()) / 1000, 1);
  }
  if (work_start && work_end) {
    const double seconds = std::chrono::duration<double>(work_end->at - work_start->at).count();
    out.add("measured_s", seconds, 3);
    if (work_start->broker && work_end->broker) {
      const double cpu = *work_end->broker - *work_start->broker;
      out.add("broker_cpu_s", cpu, 2).add("broker_cpu_percent", seconds > 0 ? cpu / seconds * 100 : 0.0, 1);
    }
    const double own = work_end->own - work_start->own;
    out.add("sim_cpu_s", own, 2).add("sim_cpu_percent", seconds > 0 ? own / seconds * 100 : 0.0, 1);
    // From the ready line on: also what CreateJob and the rollout cost before any device heard of the job.
    if (ready_at->broker && work_end->broker)
      out.add("broker_cpu_s_since_ready", *work_end->broker - *ready_at->broker, 2);
  }
  out.add("failed", tally.failed.load()).add("timed_out", timed_out);
  if (auto first = tally.first_error(); !first.empty()) out.add("first_error", first);
  if (auto first = tally.first_rejection(); !first.empty()) out.add("first_rejection", first);
  out.add("ok", ok);
  std::cout << out.str() << std::endl;
  return ok ? 0 : 1;
}

}  // namespace airfleet::sim
