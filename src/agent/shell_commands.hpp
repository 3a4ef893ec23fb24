// Runs the operator's health check and reboot commands: `/bin/sh -c CMD` in a
// process group of its own, stdin from /dev/null, stdout and stderr shared
// with the agent (so its output lands in the agent's log), with a time limit.
// When the time limit passes, or the agent is asked to stop, the whole group
// is killed.
#pragma once

#include "agent/job_runner.hpp"

#include <chrono>
#include <functional>

namespace airfleet::agent {

class shell_commands final : public command_runner {
 public:
  shell_commands(std::chrono::seconds time_limit, std::function<bool()> stopping)
      : time_limit_(time_limit), stopping_(std::move(stopping)) {}

  command_result run(const std::string& command, const std::map<std::string, std::string>& environment) override;

 private:
  std::chrono::seconds time_limit_;
  std::function<bool()> stopping_;
};

}  // namespace airfleet::agent
