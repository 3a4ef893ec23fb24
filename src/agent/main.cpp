// airfleet-agent: the device agent. Speaks to the server only through public
// protocols (MQTT over mutual TLS with libmosquitto, HTTP(S) downloads with
// libcurl) and installs firmware into A/B slots with rollback.
#include "core/config_file.hpp"
#include "agent/agent.hpp"

#include <CLI/CLI.hpp>
#include <curl/curl.h>
#include <mosquitto.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>

using namespace airfleet;

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int) { stop_requested = true; }


// "host:port", "[v6]:port".
bool split_host_port(const std::string& text, std::string& host, int& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    std::size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    return used == text.size() - colon - 1 && port > 0 && port < 65536;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"airfleet-agent: the device agent (IoT Jobs over MQTT, firmware updates into A/B slots)"};
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  agent::agent_settings s;
  std::string mqtt_address, config_file, log_level = "info";
  std::uint64_t rate_limit = 0, max_image = s.download.max_image_bytes;
  long command_timeout = s.command_timeout.count();
  app.add_option("--config", config_file, "TOML file with settings (keys are the flag names without --)");
  app.add_option("--mqtt", mqtt_address, "The server's MQTT over TLS endpoint, HOST:PORT")->required();
  app.add_option("--ca", s.mqtt.ca_file,
                 "CA certificate(s) that sign the server's certificates (MQTT and https downloads)")
      ->required();
  app.add_option("--cert", s.mqtt.cert_file, "The device's certificate (PEM)")->required();
  app.add_option("--key", s.mqtt.key_file, "The device's private key (PEM)")->required();
  app.add_option("--thing-name", s.thing_name, "The thing this device is; also the MQTT client id")->required();
  app.add_option("--state-dir", s.state_dir, "Directory for the slots, the active slot, the version and the journal")
      ->required();
  app.add_option("--health-check", s.health_check,
                 "Command (/bin/sh -c) that exits 0 when the new firmware is healthy");
  app.add_option("--reboot-command", s.reboot_command, "Command (/bin/sh -c) run after switching slots");
  app.add_option("--download-rate-limit", rate_limit, "Largest download speed, bytes per second (0 = unlimited)")
      ->capture_default_str();
  app.add_option("--max-image-size", max_image, "Largest firmware image accepted, bytes")->capture_default_str();
  app.add_option("--step-timeout-minutes", s.step_timeout_minutes,
                 "stepTimeoutInMinutes sent with start-next and progress when the document has none")
      ->capture_default_str()
      ->check(CLI::Range(1, 10080));
  app.add_option("--command-timeout", command_timeout, "Seconds a health check or reboot command may run")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--keep-alive", s.mqtt.keep_alive_seconds, "MQTT keep-alive, seconds")
      ->capture_default_str()
      ->check(CLI::Range(5, 1200));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();

  std::vector<std::string> args{argv[0]};
  try {
    for (auto& f : core::config_arguments(core::find_config(argc, argv, 1), "agent")) args.push_back(f);
  } catch (const CLI::Error& e) {
    std::cerr << "airfleet-agent: cannot read the config file: " << e.what() << "\n";
    return 2;
  }
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  std::vector<char*> raw;
  for (auto& a : args) raw.push_back(a.data());
  try {
    app.parse(static_cast<int>(raw.size()), raw.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!split_host_port(mqtt_address, s.mqtt.host, s.mqtt.port)) {
    std::cerr << "airfleet-agent: --mqtt must be HOST:PORT, not '" << mqtt_address << "'\n";
    return 2;
  }
  s.download.ca_file = s.mqtt.ca_file;
  s.download.max_bytes_per_second = rate_limit;
  s.download.max_image_bytes = max_image;
  s.command_timeout = std::chrono::seconds(command_timeout);

  auto logger = spdlog::stderr_logger_mt("airfleet-agent");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::flush_on(spdlog::level::trace);

  std::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  curl_global_init(CURL_GLOBAL_DEFAULT);
  mosquitto_lib_init();
  int rc = agent::run_agent(std::move(s), stop_requested);
  mosquitto_lib_cleanup();
  curl_global_cleanup();
  return rc;
}
