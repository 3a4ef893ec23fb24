#include "sim/bench_command.hpp"

#include "sim/fleet.hpp"
#include "sim/json_line.hpp"
#include "sim/payload.hpp"
#include "sim/proc_stats.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <functional>
#include <iostream>
#include <random>

namespace airfleet::sim {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// Who publishes where, and who listens.
struct topology {
  std::size_t publishers = 0;
  std::size_t subscribers = 0;
  std::size_t fanout = 1;                          // subscribers each message goes to
  std::function<std::string(std::size_t)> topic;   // publisher i's topic
  std::function<std::string(std::size_t)> filter;  // subscriber j's filter
};

core::result<topology> make_topology(const bench_options& o) {
  auto invalid = [](std::string message) {
    return core::error{std::make_error_code(std::errc::invalid_argument), std::move(message)};
  };
  const std::string prefix = o.topic_prefix;
  topology t;
  if (o.scenario == "fan-in") {
    t.publishers = o.publishers;
    t.subscribers = 1;
    t.topic = [prefix](std::size_t i) { return prefix + "/in/" + std::to_string(i); };
    t.filter = [prefix](std::size_t) { return prefix + "/in/+"; };
  } else if (o.scenario == "fan-out") {
    t.publishers = 1;
    t.subscribers = o.subscribers;
    t.fanout = o.subscribers;
    t.topic = [prefix](std::size_t) { return prefix + "/out"; };
    t.filter = [prefix](std::size_t) { return prefix + "/out"; };
  } else if (o.scenario == "pairs") {
    t.publishers = o.pairs;
    t.subscribers = o.pairs;
    t.topic = [prefix](std::size_t i) { return prefix + "/pair/" + std::to_string(i); };
    t.filter = [prefix](std::size_t j) { return prefix + "/pair/" + std::to_string(j); };
  } else {
    return invalid("--scenario must be fan-in, fan-out or pairs");
  }
  if (t.publishers == 0 || t.subscribers == 0) return invalid("a scenario needs at least one client on each side");
  return t;
}

struct snapshot {
  clock_type::time_point at;
  std::uint64_t sent = 0;
  std::uint64_t delivered = 0;
  std::optional<double> broker_cpu;
  double own_cpu = 0;
};

snapshot take_snapshot(scoreboard& board, int broker_pid) {
  snapshot s;
  s.at = clock_type::now();
  s.sent = board.total_sent();
  s.delivered = board.total_delivered();
  if (broker_pid > 0) s.broker_cpu = process_cpu_seconds(broker_pid);
  s.own_cpu = own_cpu_seconds();
  return s;
}

// Sleeps `seconds`, logging the counters once a second at debug level.
asio::awaitable<void> watch(fleet& f, double seconds) {
  auto& board = f.board();
  const auto end =
      clock_type::now() + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  for (auto now = clock_type::now(); now < end; now = clock_type::now()) {
    co_await f.sleep(std::min<clock_type::duration>(end - now, 1s));
    spdlog::debug("sent {} acked {} delivered {} window stalls {} failed {}", board.total_sent(), board.total_acked(),
                  board.total_delivered(), board.window_stalls.load(), board.failed.load());
  }
}

}  // namespace

int run_bench(const bench_options& o) {
  auto fail = [](const std::string& message) {
    std::cerr << "airfleet-sim bench: " << message << "\n";
    return 2;
  };
  auto topo_result = make_topology(o);
  if (!topo_result) return fail(topo_result.error().message);
  const topology topo = *topo_result;
  if (o.qos != 0 && o.qos != 1) return fail("--qos must be 0 or 1");
  if (o.payload < payload_stamp_size || o.payload > 128 * 1024)
    return fail("--payload must be " + std::to_string(payload_stamp_size) + " to 131072 bytes");
  if (o.inflight < 1 || o.inflight > 65535) return fail("--inflight must be 1..65535");
  if (o.duration <= 0 || o.warmup < 0) return fail("--duration must be positive and --warmup not negative");

  const std::uint64_t clients = topo.publishers + topo.subscribers;
  if (auto no_room = check_open_file_room(clients)) return fail(*no_room);

  std::random_device entropy;
  scoreboard board(entropy(), topo.publishers, topo.subscribers, topo.fanout, o.window);
  auto made = fleet::make(o.connection, board);
  if (!made) return fail(made.error().message);
  fleet& f = **made;

  const auto qos = o.qos == 1 ? mqtt::qos::at_least_once : mqtt::qos::at_most_once;
  const auto& prefix = o.connection.client_prefix;
  const auto connect_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.connection.connect_timeout * 1000));
  for (std::size_t j = 0; j < topo.subscribers; ++j) {
    client_config c;
    c.client_id = prefix + "-sub-" + std::to_string(j);
    c.protocol_level = f.protocol_level();
    c.keep_alive = o.connection.keep_alive;
    c.read_buffer_size = 64 * 1024;
    c.index = f.clients().size();
    c.connect_timeout = connect_timeout;
    c.subscribe = subscribe_plan{topo.filter(j), qos, static_cast<std::uint32_t>(j), o.payload};
    f.add(std::move(c));
  }
  board.wake_publisher = [&f, first = topo.subscribers](std::size_t i) { f.clients()[first + i]->wake(); };
  const double rate_per_publisher = o.rate > 0 ? o.rate / static_cast<double>(topo.publishers) : 0;
  for (std::size_t i = 0; i < topo.publishers; ++i) {
    client_config c;
    c.client_id = prefix + "-pub-" + std::to_string(i);
    c.protocol_level = f.protocol_level();
    c.keep_alive = o.connection.keep_alive;
    c.read_buffer_size = 4096;
    c.index = f.clients().size();
    c.connect_timeout = connect_timeout;
    c.publish = publish_plan{
        topo.topic(i),     qos, o.payload, static_cast<std::uint32_t>(i), static_cast<std::uint16_t>(o.inflight),
        rate_per_publisher};
    f.add(std::move(c));
  }

  snapshot before, after;
  double connect_seconds = 0, drain_seconds = 0;
  bool aborted = false;
  f.run([&]() -> asio::awaitable<void> {
    auto t0 = clock_type::now();
    spdlog::info("{}: connecting {} subscribers", o.scenario, topo.subscribers);
    co_await f.connect(0, topo.subscribers, 0);
    if (board.failed.load() == 0) {
      spdlog::info("{}: connecting {} publishers", o.scenario, topo.publishers);
      co_await f.connect(topo.subscribers, clients, 0);
    }
    connect_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (board.failed.load() > 0) {
      aborted = true;
      spdlog::error("{} clients failed to connect; first error: {}", board.failed.load(), board.first_error());
      co_await f.disconnect_all(5s);
      co_return;
    }

    auto& all = f.clients();
    for (std::size_t i = topo.subscribers; i < clients; ++i) all[i]->start_publishing();
    spdlog::info("{}: publishing; warm-up {} s, then measuring {} s", o.scenario, o.warmup, o.duration);
    co_await watch(f, o.warmup);
    before = take_snapshot(board, o.connection.broker_pid);
    board.measuring = true;
    co_await watch(f, o.duration);
    board.measuring = false;
    after = take_snapshot(board, o.connection.broker_pid);
    for (std::size_t i = topo.subscribers; i < clients; ++i) all[i]->stop_publishing();

    // Drain: let acknowledgements and deliveries catch up with what was sent.
    const auto drain_start = clock_type::now();
    auto last_progress = drain_start;
    std::uint64_t last_seen = 0;
    for (;;) {
      co_await f.sleep(10ms);
      const auto now = clock_type::now();
      const std::uint64_t sent = board.total_sent();
      const std::uint64_t acked = board.total_acked();
      const std::uint64_t delivered = board.total_delivered();
      if ((o.qos == 0 || acked >= sent) && delivered >= sent * topo.fanout) break;
      if (acked + delivered != last_seen) {
        last_seen = acked + delivered;
        last_progress = now;
      }
      if (now - last_progress > 2s || now - drain_start > std::chrono::duration<double>(o.drain_timeout)) break;
      if (board.failed.load() > 0) break;
      if ((now - drain_start) % 1s < 10ms)
        spdlog::debug("draining: sent {} acked {} delivered {}", sent, acked, delivered);
    }
    drain_seconds = std::chrono::duration<double>(clock_type::now() - drain_start).count();
    co_await f.disconnect_all(10s);
  });

  // Every client has finished: their trackers may be read.
  std::uint64_t unique = 0, duplicates = 0, out_of_order = 0;
  for (auto& c : f.clients()) {
    for (const auto& [publisher, tracker] : c->trackers()) {
      unique += tracker.unique();
      duplicates += tracker.duplicates();
      out_of_order += tracker.out_of_order();
    }
  }
  const std::uint64_t sent_total = board.total_sent();
  const std::uint64_t expected = sent_total * topo.fanout;
  const std::uint64_t lost = expected > unique ? expected - unique : 0;
  const double seconds = std::chrono::duration<double>(after.at - before.at).count();

  const bool ok = !aborted && board.failed.load() == 0 && board.wrong_size.load() == 0 &&
                  board.out_of_range.load() == 0 && (o.qos == 0 || (lost == 0 && board.publish_refused.load() == 0));
  json_line out;
  out.add("scenario", o.scenario)
      .add("qos", o.qos)
      .add("mqtt_version", o.connection.mqtt_version)
      .add("tls", o.connection.tls)
      .add("publishers", topo.publishers)
      .add("subscribers", topo.subscribers)
      .add("clients", clients)
      .add("payload", o.payload);
  if (o.qos == 1) out.add("inflight", o.inflight);
  out.add("window", o.window);
  out.add("rate", o.rate, 0).add("threads", o.connection.threads).add("connect_s", connect_seconds, 3);
  if (!aborted) {
    const std::uint64_t published = after.sent - before.sent;
    const std::uint64_t delivered = after.delivered - before.delivered;
    const double delivered_per_s = static_cast<double>(delivered) / seconds;
    out.add("seconds", seconds, 3)
        .add("published", published)
        .add("published_per_s", static_cast<double>(published) / seconds, 0)
        .add("delivered", delivered)
        .add("delivered_per_s", delivered_per_s, 0)
        .add("latency_p50_ms", board.latency.percentile(0.50) / 1000, 3)
        .add("latency_p99_ms", board.latency.percentile(0.99) / 1000, 3)
        .add("latency_max_ms", static_cast<double>(board.latency.max()) / 1000, 3);
    if (before.broker_cpu && after.broker_cpu) {
      const double broker_cpu = *after.broker_cpu - *before.broker_cpu;
      out.add("broker_cpu_s", broker_cpu, 2).add("broker_cpu_percent", broker_cpu / seconds * 100, 1);
      // On a shared machine the broker may not get a whole core; deliveries
      // per CPU second it did get compare better across runs.
      if (broker_cpu > 0) out.add("delivered_per_broker_cpu_s", static_cast<double>(delivered) / broker_cpu, 0);
    }
    out.add("sim_cpu_s", after.own_cpu - before.own_cpu, 2)
        .add("sim_cpu_percent", (after.own_cpu - before.own_cpu) / seconds * 100, 1)
        .add("drain_s", drain_seconds, 3);
  }
  out.add("published_total", sent_total);
  if (o.qos == 1) out.add("acked_total", board.total_acked());
  out.add("expected_total", expected)
      .add("delivered_total", board.total_delivered())
      .add("lost", lost)
      .add("duplicates", duplicates)
      .add("out_of_order", out_of_order)
      .add("foreign", board.foreign.load())
      .add("wrong_size", board.wrong_size.load())
      .add("out_of_range", board.out_of_range.load());
  if (o.qos == 1) out.add("publish_refused", board.publish_refused.load());
  out.add("window_stalls", board.window_stalls.load());
  out.add("failed_clients", board.failed.load());
  if (auto first = board.first_error(); !first.empty()) out.add("first_error", first);
  out.add("ok", ok);
  std::cout << out.str() << std::endl;
  return ok ? 0 : 1;
}

}  // namespace airfleet::sim
