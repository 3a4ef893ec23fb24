// airfleet-sim: simulated MQTT devices on one event loop.
//
//   airfleet-sim bench --scenario fan-in|fan-out|pairs --qos 0|1 ...   message throughput
//   airfleet-sim connections --count N ...                              connection setup and idle cost
//   airfleet-sim jobs --connections N ...                               devices working through IoT jobs
//   airfleet-sim rollout --endpoint URL --credentials FILE --devices N ...  a firmware rollout rehearsed
//
// Results go to stdout as one JSON line, progress to stderr. See
// bench_command.hpp, connections_command.hpp, jobs_command.hpp and
// rollout_command.hpp for what each does and measures.
#include "sim/bench_command.hpp"
#include "sim/connections_command.hpp"
#include "sim/jobs_command.hpp"
#include "sim/options.hpp"
#include "sim/rollout_command.hpp"

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

  sim::rollout_options rollout;
  auto* rollout_command = app.add_subcommand(
      "rollout",
      "Rehearse a firmware rollout: provision N things with certificates, upload an image, connect them all over "
      "MQTT/TLS, create a job and let every simulated device run it");
  auto& r = rollout;
  auto* ro = rollout_command;
  ro->add_option("--endpoint", r.endpoint, "airfleet's HTTP(S) API")->capture_default_str();
  ro->add_option("--credentials", r.credentials, "AWS shared-credentials file (airfleet: DATA/admin-credentials)")
      ->required();
  ro->add_option("--profile", r.profile, "Profile in --credentials")->capture_default_str();
  ro->add_option("--ca", r.ca, "CA to trust for MQTT/TLS and https (airfleet: DATA/pki/root-ca.pem)");
  ro->add_option("--mqtt", r.mqtt, "MQTT broker HOST:PORT")->capture_default_str();
  ro->add_option("--transport", r.transport, "tls (each device presents its certificate) or plain")
      ->check(CLI::IsMember({"tls", "plain"}))
      ->capture_default_str();
  ro->add_option("--server-name", r.server_name, "Name to expect in the broker's certificate (default: the --mqtt host)");
  ro->add_option("--devices", r.devices, "Simulated devices (things <prefix>-0 .. <prefix>-N-1)")->capture_default_str();
  ro->add_option("--prefix", r.prefix, "Thing names start with this")->capture_default_str();
  ro->add_option("--thing-group", r.thing_group, "Thing group the job targets (default <prefix>-fleet; may hold other things)");
  ro->add_option("--policy", r.policy, "IoT policy for the devices' certificates (default <prefix>-device-policy)");
  ro->add_option("--fail-rate", r.fail_rate, "Share of devices that report FAILED")->capture_default_str();
  ro->add_option("--reject-rate", r.reject_rate, "Share of devices that report REJECTED")->capture_default_str();
  ro->add_option("--hang-rate", r.hang_rate, "Share of devices that start and never answer (TIMED_OUT)")
      ->capture_default_str();
  ro->add_option("--seed", r.seed, "Picks which devices fail, reject or hang, and the image's bytes")
      ->capture_default_str();
  ro->add_option("--firmware-size", r.firmware_size, "Bytes of firmware each device downloads (0: no download)")
      ->capture_default_str();
  ro->add_option("--firmware-version", r.firmware_version, "Version the job installs")->capture_default_str();
  ro->add_option("--bucket", r.bucket, "S3 bucket for the image")->capture_default_str();
  ro->add_option("--job-id", r.job_id, "Job id (default <prefix>-firmware-<unix time>)");
  ro->add_option("--rollout", r.rollout,
                 "jobExecutionsRolloutConfig as the AWS CLI takes it, e.g. 'maximumPerMinute=500' or "
                 "'exponentialRate={baseRatePerMinute=50,incrementFactor=2,rateIncreaseCriteria={numberOfSucceededThings=50}}'");
  ro->add_option("--abort", r.abort,
                 "abortConfig, e.g. 'criteriaList=[{failureType=FAILED,action=CANCEL,thresholdPercentage=20,"
                 "minNumberOfExecutedThings=10}]'");
  ro->add_option("--in-progress-timeout", r.in_progress_timeout,
                 "timeoutConfig.inProgressTimeoutInMinutes (0: none; 1 when --hang-rate is set)")
      ->capture_default_str();
  ro->add_option("--api-parallel", r.api_parallel, "API connections provisioning at once")->capture_default_str();
  ro->add_option("--download-parallel", r.download_parallel, "Downloads at once, each on its own connection")
      ->capture_default_str();
  ro->add_option("--connect-parallel", r.connect_parallel, "MQTT connections being set up at once")
      ->capture_default_str();
  ro->add_option("--connect-timeout", r.connect_timeout, "Seconds each device has to connect and subscribe")
      ->capture_default_str();
  ro->add_option("--keepalive", r.keep_alive, "MQTT keep-alive in seconds")->capture_default_str();
  ro->add_option("--mqtt-version", r.mqtt_version, "MQTT protocol level: 4 (3.1.1) or 5")
      ->check(CLI::IsMember({4, 5}))
      ->capture_default_str();
  ro->add_option("--threads", r.threads, "I/O threads")->check(CLI::Range(1u, 64u))->capture_default_str();
  ro->add_option("--source-addresses", r.source_addresses,
                 "Bind device i to the i-th host address of this IPv4 range (e.g. 127.0.0.0/8)");
  ro->add_option("--timeout", r.timeout, "Seconds the job may take after CreateJob")->capture_default_str();
  ro->add_option("--poll-ms", r.poll_ms, "DescribeJob every this many milliseconds")
      ->check(CLI::Range(10u, 60000u))
      ->capture_default_str();
  ro->add_option("--progress", r.progress, "auto (a bar on a terminal, lines otherwise), bar, lines or none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}))
      ->capture_default_str();
  ro->add_option("--devices-report", r.devices_report, "Write one JSON line per device to this file");
  ro->add_option("--server-pid", r.server_pid, "Report this process's CPU time and peak memory (from /proc)");

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
  if (rollout_command->parsed()) return sim::run_rollout(rollout);
  return sim::run_connections(connections);
}
