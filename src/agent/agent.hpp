// airfleet-agent's top level: open the state directory, connect, finish the
// job the journal holds (if any), then ask for work (start-next) whenever
// the link comes up or notify-next announces a job, and run each job with
// the job_runner.
#pragma once

#include "agent/curl_downloader.hpp"
#include "agent/jobs_client.hpp"
#include "agent/mqtt_link.hpp"

#include <atomic>
#include <chrono>
#include <string>

namespace airfleet::agent {

struct agent_settings {
  mqtt_settings mqtt;  // host, port, files; client_id and subscriptions are filled in from thing_name
  std::string thing_name;
  std::string state_dir;
  std::string health_check;
  std::string reboot_command;
  download_settings download;
  int step_timeout_minutes = 10;
  std::chrono::seconds command_timeout{600};
};

// Runs until `stopping` becomes true. Returns the process exit code
// (0 after a stop, 1 when start-up failed).
int run_agent(agent_settings settings, const std::atomic<bool>& stopping);

}  // namespace airfleet::agent
