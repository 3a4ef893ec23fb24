#include "sim/connections_command.hpp"

#include "sim/fleet.hpp"
#include "sim/json_line.hpp"
#include "sim/proc_stats.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <random>

namespace airfleet::sim {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct memory_figures {
  std::optional<std::int64_t> broker_rss_kib;
  std::optional<tcp_sockstat> sockstat;
  std::optional<std::int64_t> slab_kib;
  std::optional<std::int64_t> socket_slab_bytes;
  std::optional<std::int64_t> sim_rss_kib;
};

memory_figures measure_memory(int broker_pid) {
  memory_figures m;
  if (broker_pid > 0) m.broker_rss_kib = process_rss_kib(broker_pid);
  m.sockstat = read_tcp_sockstat();
  m.slab_kib = slab_kib();
  m.socket_slab_bytes = socket_slab_bytes();
  m.sim_rss_kib = process_rss_kib(::getpid());
  return m;
}

double per_connection(std::int64_t delta_bytes, std::uint64_t connections) {
  if (connections == 0) return 0;
  return static_cast<double>(delta_bytes) / static_cast<double>(connections);
}

}  // namespace

int run_connections(const connections_options& o) {
  auto fail = [](const std::string& message) {
    std::cerr << "airfleet-sim connections: " << message << "\n";
    return 2;
  };
  if (o.count == 0) return fail("--count must be at least 1");
  if (auto no_room = check_open_file_room(o.count)) return fail("--count: " + *no_room);
  if (o.connection.source_addresses.empty() && o.count > 20000)
    spdlog::warn("{} connections from one source address may run out of ephemeral ports; see --source-addresses",
                 o.count);

  std::random_device entropy;
  scoreboard board(entropy(), 0, 0);
  auto made = fleet::make(o.connection, board);
  if (!made) return fail(made.error().message);
  fleet& f = **made;
  const auto connect_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.connection.connect_timeout * 1000));
  for (std::size_t i = 0; i < o.count; ++i) {
    client_config c;
    c.client_id = o.connection.client_prefix + "-" + std::to_string(i);
    c.protocol_level = f.protocol_level();
    c.keep_alive = o.connection.keep_alive;
    c.read_buffer_size = 512;  // idle: CONNACK and PINGRESP only
    c.index = i;
    c.connect_timeout = connect_timeout;
    f.add(std::move(c));
  }

  const int pid = o.connection.broker_pid;
  memory_figures before, after;
  std::optional<double> broker_cpu_before, broker_cpu_after;
  double own_cpu_before = 0, own_cpu_after = 0;
  double connect_seconds = 0;
  std::uint64_t connected = 0, still_connected = 0;
  f.run([&]() -> asio::awaitable<void> {
    before = measure_memory(pid);
    if (pid > 0) broker_cpu_before = process_cpu_seconds(pid);
    own_cpu_before = own_cpu_seconds();
    const auto t0 = clock_type::now();
    spdlog::info("opening {} connections", o.count);
    co_await f.connect(0, o.count, o.rate);
    connect_seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (pid > 0) broker_cpu_after = process_cpu_seconds(pid);
    own_cpu_after = own_cpu_seconds();
    connected = board.ready.load();
    spdlog::info("{} connected, {} failed in {:.2f} s; holding them for {} s", connected, board.failed.load(),
                 connect_seconds, o.hold);
    if (connected > 0)
      co_await f.sleep(std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.hold)));
    after = measure_memory(pid);
    for (auto& c : f.clients())
      if (c->state() == session_state::ready) ++still_connected;
    co_await f.disconnect_all(30s);
  });

  const bool ok = board.failed.load() == 0 && still_connected == o.count;
  json_line out;
  out.add("count", o.count)
      .add("tls", o.connection.tls)
      .add("mqtt_version", o.connection.mqtt_version)
      .add("connected", connected)
      .add("failed", board.failed.load())
      .add("connect_s", connect_seconds, 3)
      .add("connections_per_s", connect_seconds > 0 ? static_cast<double>(connected) / connect_seconds : 0.0, 0)
      .add("rate_cap", o.rate, 0)
      .add("parallel", o.connection.connect_parallel)
      .add("hold_s", o.hold, 1)
      .add("still_connected", still_connected);
  if (broker_cpu_before && broker_cpu_after)
    out.add("broker_cpu_s_connecting", *broker_cpu_after - *broker_cpu_before, 2);
  out.add("sim_cpu_s_connecting", own_cpu_after - own_cpu_before, 2);
  if (before.broker_rss_kib && after.broker_rss_kib) {
    out.add("broker_rss_kib_before", *before.broker_rss_kib)
        .add("broker_rss_kib_after", *after.broker_rss_kib)
        .add("broker_rss_bytes_per_connection",
             per_connection((*after.broker_rss_kib - *before.broker_rss_kib) * 1024, still_connected), 0);
  }
  if (before.sockstat && after.sockstat) {
    const std::int64_t page = ::sysconf(_SC_PAGESIZE);
    out.add("tcp_sockets_in_use_before", before.sockstat->in_use)
        .add("tcp_sockets_in_use_after", after.sockstat->in_use)
        .add("tcp_mem_pages_before", before.sockstat->memory_pages)
        .add("tcp_mem_pages_after", after.sockstat->memory_pages)
        .add("tcp_mem_bytes_per_connection_both_ends",
             per_connection((after.sockstat->memory_pages - before.sockstat->memory_pages) * page, still_connected), 0);
    // On loopback each connection is two TCP sockets. If the system-wide
    // count moved by much else, other processes opened or closed sockets
    // meanwhile and the kernel figures (all system-wide) are not ours alone.
    const std::int64_t expected = 2 * static_cast<std::int64_t>(still_connected);
    const std::int64_t seen = after.sockstat->in_use - before.sockstat->in_use;
    out.add("kernel_figures_undisturbed", std::abs(seen - expected) <= expected / 50 + 10);
  }
  if (before.slab_kib && after.slab_kib) {
    out.add("slab_kib_before", *before.slab_kib)
        .add("slab_kib_after", *after.slab_kib)
        .add("slab_bytes_per_connection_both_ends",
             per_connection((*after.slab_kib - *before.slab_kib) * 1024, still_connected), 0);
  }
  if (before.socket_slab_bytes && after.socket_slab_bytes)
    out.add("socket_slab_bytes_per_connection_both_ends",
            per_connection(*after.socket_slab_bytes - *before.socket_slab_bytes, still_connected), 0);
  if (before.sim_rss_kib && after.sim_rss_kib) {
    out.add("sim_rss_kib_after", *after.sim_rss_kib)
        .add("sim_rss_bytes_per_connection", per_connection((*after.sim_rss_kib - *before.sim_rss_kib) * 1024, o.count),
             0);
  }
  if (auto first = board.first_error(); !first.empty()) out.add("first_error", first);
  out.add("ok", ok);
  std::cout << out.str() << std::endl;
  return ok ? 0 : 1;
}

}  // namespace airfleet::sim
