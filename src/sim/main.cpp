// airfleet-sim: simulated MQTT devices on one event loop.
//
//   airfleet-sim bench --scenario fan-in|fan-out|pairs --qos 0|1 ...   message throughput
//   airfleet-sim connections --count N ...                              connection setup and idle cost
//   airfleet-sim jobs --connections N ...                               devices working through IoT jobs
//
// Results go to stdout as one JSON line, progress to stderr. See
// bench_command.hpp, connections_command.hpp and jobs_command.hpp for what
// each measures.
#include "sim/bench_command.hpp"
#include "sim/connections_command.hpp"
#include "sim/jobs_command.hpp"
#include "sim/options.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <csignal>

using namespace airfleet;

namespace {

void add_connection_options(CLI::App& command, sim::connection_options& c) {
  command.add_option("--host", c.host, "Broker host")->capture_default_str();
  command.add_option("--port", c.port, "Broker port")->capture_default_str();
  command.add_flag("--tls", c.tls, "Connect with TLS");
  command.add_option("--ca", c.tls_files.ca_file, "CA file to verify the broker with (TLS; none: no verification)");
  command.add_option("--cert", c.tls_files.cert_file, "Client certificate (PEM) every client presents");
  command.add_option("--key", c.tls_files.key_file, "Key of --cert (PEM)");
  command.add_option("--cert-dir", c.tls_files.cert_dir,
                     "Directory of NAME.crt + NAME.key pairs; client i presents pair i mod count");
  command.add_option("--server-name", c.tls_files.server_name,
                     "Name to expect in the broker's certificate, and SNI (default: --host)");
  command.add_option("--mqtt-version", c.mqtt_version, "MQTT protocol level: 4 (3.1.1) or 5")
      ->check(CLI::IsMember({4, 5}))
      ->capture_default_str();
  command.add_option("--source-addresses", c.source_addresses,
                     "Bind client i to the i-th host address of this IPv4 range (e.g. 127.0.0.0/8)");
  command.add_option("--threads", c.threads, "I/O threads")->check(CLI::Range(1u, 64u))->capture_default_str();
  command.add_option("--keepalive", c.keep_alive, "MQTT keep-alive in seconds (0 = off)")->capture_default_str();
  command.add_option("--connect-timeout", c.connect_timeout, "Seconds each client has to become ready")
      ->capture_default_str();
  command.add_option("--connect-parallel", c.connect_parallel, "Connections being set up at once")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  command.add_option("--client-prefix", c.client_prefix, "Client ids start with this")->capture_default_str();
  command.add_option("--broker-pid", c.broker_pid, "Report this process's CPU time and memory (from /proc)");
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("airfleet-sim"));
  spdlog::set_pattern("%H:%M:%S.%e %^%l%$ %v");
  // A broker closing a connection must not end the sim with SIGPIPE (TLS
  // writes go through OpenSSL, which does not ask for MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"airfleet-sim: simulated MQTT clients for load tests"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();

  sim::bench_options bench;
  auto* bench_command = app.add_subcommand("bench", "Message throughput: fan-in, fan-out or pairs");
  add_connection_options(*bench_command, bench.connection);
  bench_command->add_option("--scenario", bench.scenario, "fan-in (N->1), fan-out (1->N) or pairs (N x 1->1)")
      ->required()
      ->check(CLI::IsMember({"fan-in", "fan-out", "pairs"}));
  bench_command->add_option("--qos", bench.qos, "QoS of publications and subscriptions")
      ->check(CLI::IsMember({0, 1}))
      ->capture_default_str();
  auto* publishers =
      bench_command->add_option("--publishers", bench.publishers, "fan-in: publishers")->capture_default_str();
  auto* subscribers =
      bench_command->add_option("--subscribers", bench.subscribers, "fan-out: subscribers")->capture_default_str();
  auto* pairs =
      bench_command->add_option("--pairs", bench.pairs, "pairs: publisher/subscriber pairs")->capture_default_str();
  bench_command->add_option("--payload", bench.payload, "Payload bytes")->capture_default_str();
  bench_command->add_option("--duration", bench.duration, "Seconds measured")->capture_default_str();
  bench_command->add_option("--warmup", bench.warmup, "Seconds published before measuring")->capture_default_str();
  bench_command->add_option("--inflight", bench.inflight, "QoS 1: unacknowledged PUBLISH per publisher")
      ->capture_default_str();
  bench_command
      ->add_option("--window", bench.window,
                   "Messages per publisher sent but not yet received by all its subscribers (0 = no limit)")
      ->capture_default_str();
  bench_command->add_option("--rate", bench.rate, "Messages per second, all publishers together (0 = max)")
      ->capture_default_str();
  bench_command
      ->add_option("--drain-timeout", bench.drain_timeout, "Seconds to wait for deliveries after publishing stops")
      ->capture_default_str();
  bench_command->add_option("--topic-prefix", bench.topic_prefix, "First topic level")->capture_default_str();

  sim::connections_options connections;
  // Idle connections: a long keep-alive unless asked otherwise.
  connections.connection.keep_alive = 300;
  auto* connections_command =
      app.add_subcommand("connections", "Connection setup rate and the memory idle connections cost");
  add_connection_options(*connections_command, connections.connection);
  connections_command->add_option("--count", connections.count, "Connections to open")->required();
  connections_command->add_option("--rate", connections.rate, "Connections started per second at most (0 = no cap)")
      ->capture_default_str();
  connections_command->add_option("--hold", connections.hold, "Seconds to hold them idle")->capture_default_str();

  sim::jobs_options jobs;
  jobs.connection.keep_alive = 300;  // devices mostly wait for a job
  std::string jobs_transport;
  auto* jobs_command =
      app.add_subcommand("jobs", "Devices working through IoT jobs over MQTT: notify-next, start-next, update");
  add_connection_options(*jobs_command, jobs.connection);
  jobs_command->add_option("--transport", jobs_transport, "plain or tls (the same as --tls)")
      ->check(CLI::IsMember({"plain", "tls"}));
  jobs_command->add_option("--connections,--devices", jobs.devices, "Devices (client id and thing name <prefix>-<i>)")
      ->capture_default_str();
  jobs_command
      ->add_option("--expect-succeeded", jobs.expect_succeeded,
                   "Stop once this many updates to SUCCEEDED were accepted (0 = one per device)")
      ->capture_default_str();
  jobs_command->add_option("--timeout", jobs.timeout, "Seconds to wait for them after the ready line")
      ->capture_default_str();
  jobs_command->add_flag("--start-next-on-connect", jobs.start_next_on_connect,
                         "Each device asks start-next once when subscribed");
  jobs_command->add_flag("--client-tokens", jobs.client_tokens, "Requests carry a clientToken");

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (bench_command->parsed()) {
    // A count that does not belong to the scenario is a mistake worth saying.
    const std::string& s = bench.scenario;
    if ((s != "fan-in" && publishers->count()) || (s != "fan-out" && subscribers->count()) ||
        (s != "pairs" && pairs->count())) {
      std::cerr << "airfleet-sim bench: fan-in takes --publishers, fan-out --subscribers, pairs --pairs\n";
      return 2;
    }
    return sim::run_bench(bench);
  }
  if (jobs_command->parsed()) {
    if (jobs_transport == "tls") jobs.connection.tls = true;
    else if (jobs_transport == "plain" && jobs.connection.tls) {
      std::cerr << "airfleet-sim jobs: --transport plain contradicts --tls\n";
      return 2;
    }
    return sim::run_jobs(jobs);
  }
  return sim::run_connections(connections);
}
