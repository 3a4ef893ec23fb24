// airfleet: the server (`airfleet serve`) and its operator subcommands.
#include "core/config_file.hpp"
#include "core/time.hpp"
#include "server/data_dir.hpp"
#include "server/serve.hpp"
#include "server/settings.hpp"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

using namespace airfleet;

namespace {

// Settings from the config file and the environment become flags placed
// before the real ones: file first, then environment, then the command line.
// With "last one wins" the precedence is flag > environment > file.
std::vector<std::string> env_arguments(CLI::App& command) {
  std::vector<std::string> out;
  for (const CLI::Option* opt : command.get_options()) {
    const auto& names = opt->get_lnames();
    if (names.empty() || names.front() == "help" || names.front() == "config") continue;
    std::string env = "AIRFLEET_";
    for (char c : names.front()) env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (const char* value = std::getenv(env.c_str())) out.push_back("--" + names.front() + "=" + value);
  }
  return out;
}


int keys_command(const std::string& action, const std::string& data_dir, const std::string& key_id) {
  auto dir = server::data_dir::open(data_dir);
  if (!dir) {
    std::cerr << "airfleet keys: " << dir.error().message << "\n";
    return 1;
  }
  auto& keys = (*dir)->keys();
  if (action == "create") {
    auto key = server::make_access_key(core::to_epoch_millis(core::system_clock().now()));
    if (auto r = keys.insert(key); !r) {
      std::cerr << "airfleet keys create: " << r.error().message << "\n";
      return 1;
    }
    boost::json::object out{{"access_key_id", key.access_key_id}, {"secret_access_key", key.secret}};
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  }
  if (action == "list") {
    auto all = keys.list();
    if (!all) {
      std::cerr << "airfleet keys list: " << all.error().message << "\n";
      return 1;
    }
    for (const auto& k : *all)
      std::cout << k.access_key_id << "\t" << core::format_iso8601(core::from_epoch_millis(k.created_ms)) << "\n";
    return 0;
  }
  // delete
  if (key_id.empty()) {
    std::cerr << "airfleet keys delete: name the access key id to delete\n";
    return 2;
  }
  auto removed = keys.remove(key_id);
  if (!removed) {
    std::cerr << "airfleet keys delete: " << removed.error().message << "\n";
    return 1;
  }
  if (!*removed) {
    std::cerr << "airfleet keys delete: no access key " << key_id << "\n";
    return 1;
  }
  std::cout << "deleted " << key_id << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"airfleet: self-hosted IoT fleet management and OTA updates, compatible with the AWS tools"};
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  server::serve_settings s;
  auto* serve = app.add_subcommand("serve", "Run the server");
  std::string config_file;
  serve->add_option("--config", config_file, "TOML file with settings (keys are the flag names without --)");
  serve->add_option("--data-dir", s.data_dir, "Data directory (database, keys, credentials)")->capture_default_str();
  serve->add_option("--http-listen", s.http_listen, "HTTP API listener HOST:PORT (port 0 picks one)")->capture_default_str();
  serve->add_option("--https-listen", s.https_listen, "HTTPS API listener HOST:PORT (the server certificate)")->capture_default_str();
  serve->add_option("--tls-hostname", s.tls_hostnames, "Extra host name or address for the server certificate (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->delimiter(',');
  serve->add_option("--pki-key-type", s.pki_key_type, "Key type for the CA, server and device keys: ec (P-256) or rsa (2048)")->capture_default_str();
  serve->add_option("--mqtt-listen", s.mqtt_listen, "MQTT over TLS listener HOST:PORT (client certificates required)")->capture_default_str();
  serve->add_option("--mqtt-plain", s.mqtt_plain, "Plain-TCP MQTT listener HOST:PORT for development and benchmarks (off by default; needs --mqtt-plain-policy)");
  serve->add_option("--mqtt-plain-policy", s.mqtt_plain_policy, "The IoT policy that judges every plain-TCP MQTT client");
  serve->add_option("--mqtt-max-connections", s.mqtt_max_connections, "MQTT connections per node")->capture_default_str();
  serve->add_option("--mqtt-max-packet-size", s.mqtt_max_packet_size, "Largest MQTT packet accepted, bytes")->capture_default_str();
  serve->add_option("--mqtt-max-inflight", s.mqtt_max_inflight, "Unacknowledged QoS 1/2 deliveries per connection")->capture_default_str();
  serve->add_option("--mqtt-receive-maximum", s.mqtt_receive_maximum, "Unacknowledged QoS 2 publishes a client may send")->capture_default_str();
  serve->add_option("--mqtt-max-queued-messages", s.mqtt_max_queued_messages, "Messages queued per session (offline or beyond the in-flight window)")->capture_default_str();
  serve->add_option("--mqtt-max-subscriptions", s.mqtt_max_subscriptions, "Subscriptions per session")->capture_default_str();
  serve->add_option("--mqtt-max-keep-alive", s.mqtt_max_keep_alive, "Longest keep-alive granted, seconds")->capture_default_str();
  serve->add_option("--mqtt-max-session-expiry", s.mqtt_max_session_expiry, "Longest time a persistent session outlives its connection, seconds")->capture_default_str();
  serve->add_option("--mqtt-max-retained", s.mqtt_max_retained, "Retained topics kept")->capture_default_str();
  serve->add_option("--jobs-max-rate", s.jobs_max_rate, "Highest rollout rate a job may ask for, per minute (AWS allows 1000)")->capture_default_str();
  serve->add_option("--jobs-default-rate", s.jobs_default_rate, "Rollout rate for jobs without a rollout config, per minute (0 = unlimited)")->capture_default_str();
  serve->add_option("--jobs-time-scale", s.jobs_time_scale, "Test only: job minutes per real minute (timeouts and rollout windows run this much faster)")->capture_default_str();
  serve->add_option("--jobs-tick-ms", s.jobs_tick_ms, "Milliseconds between scheduler passes (rollouts, timeouts, schedules)")->capture_default_str();
  serve->add_option("--region", s.region, "Region (stored at first start; default us-east-1)");
  serve->add_option("--account-id", s.account_id, "12-digit account id (stored at first start; default generated)");
  serve->add_option("--ready-file", s.ready_file, "Write a JSON object with the endpoints here once listening");
  serve->add_option("--public-url", s.public_url, "Base URL devices use to download firmware (presigned links in job documents); default: the HTTP endpoint");
  serve->add_option("--s3-abandoned-upload-hours", s.s3_abandoned_upload_hours, "Hours after which an unfinished multipart upload is aborted")->capture_default_str();
  serve->add_option("--endpoint-address", s.endpoint_address, "Host name DescribeEndpoint returns")->capture_default_str();
  serve->add_option("--api-rate-limit", s.api_rate_limit, "Requests per second per access key (0 = unlimited)")->capture_default_str();
  serve->add_option("--http-max-connections", s.http_max_connections, "HTTP connections open at once")->capture_default_str();
  serve->add_option("--http-body-limit", s.http_body_limit, "Largest request body in bytes")->capture_default_str();
  serve->add_option("--http-header-limit", s.http_header_limit, "Largest request header block in bytes")->capture_default_str();
  serve->add_option("--http-header-timeout", s.http_header_timeout, "Seconds a new connection has to send its headers")->capture_default_str();
  serve->add_option("--http-idle-timeout", s.http_idle_timeout, "Seconds a keep-alive connection may sit idle")->capture_default_str();
  serve->add_option("--threads", s.threads, "I/O threads (0 = one per core)")->capture_default_str();
  serve->add_option("--blocking-threads", s.blocking_threads, "Threads that wait for durable writes")->capture_default_str();
  serve->add_option("--log-level", s.log_level, "trace, debug, info, warn, error")->capture_default_str();
  serve->add_option("--access-log", s.access_log, "One log line per request (true/false)")->capture_default_str();

  std::string keys_action, keys_dir = "./airfleet-data", key_id;
  auto* keys = app.add_subcommand("keys", "Manage access keys (works while the server runs)");
  keys->add_option("action", keys_action, "create, list or delete")->required()->check(CLI::IsMember({"create", "list", "delete"}));
  keys->add_option("access-key-id", key_id, "The key to delete");
  keys->add_option("--data-dir", keys_dir, "Data directory")->capture_default_str();

  app.add_subcommand("version", "Print the version");

  // Put environment-derived flags first (see env_arguments).
  std::vector<std::string> args;
  if (argc > 1 && std::string(argv[1]) == "serve") {
    args.push_back(argv[0]);
    args.push_back("serve");
    try {
      for (auto& f : core::config_arguments(core::find_config(argc, argv, 2, "AIRFLEET_CONFIG"), "serve")) args.push_back(f);
    } catch (const CLI::Error& e) {
      std::cerr << "airfleet: cannot read the config file: " << e.what() << "\n";
      return 2;
    }
    for (auto& e : env_arguments(*serve)) args.push_back(e);
    for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  } else {
    for (int i = 0; i < argc; ++i) args.push_back(argv[i]);
  }
  std::vector<char*> raw;
  for (auto& a : args) raw.push_back(a.data());
  try {
    app.parse(static_cast<int>(raw.size()), raw.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (app.got_subcommand("version")) {
    std::cout << "airfleet 0.1.0\n";
    return 0;
  }
  if (app.got_subcommand("keys")) return keys_command(keys_action, keys_dir, key_id);

  spdlog::set_level(spdlog::level::from_str(s.log_level));
  if (!s.access_log) spdlog::set_level(std::max(spdlog::level::warn, spdlog::get_level()));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  return server::serve(s);
}
