#include "agent/agent.hpp"

#include "agent/backoff.hpp"
#include "agent/errors.hpp"
#include "agent/files.hpp"
#include "agent/job_runner.hpp"
#include "agent/jobs_protocol.hpp"
#include "agent/shell_commands.hpp"
#include "agent/state_dir.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <random>

namespace airfleet::agent {

namespace {

constexpr auto first_connect_wait = std::chrono::seconds(10);
constexpr auto idle_wait = std::chrono::milliseconds(500);

}  // namespace

int run_agent(agent_settings settings, const std::atomic<bool>& stopping_flag) {
  auto stopping = [&stopping_flag] { return stopping_flag.load(); };
  auto opened = state_dir::open(settings.state_dir);
  if (!opened) {
    spdlog::error("{}", opened.error().message);
    return 1;
  }
  state_dir state = std::move(*opened);
  auto active = state.active_slot();
  auto version = state.version();
  if (!active || !version) {
    spdlog::error("{}", !active ? active.error().message : version.error().message);
    return 1;
  }
  spdlog::info("agent for {}: state {}, slot {} active, version {}", settings.thing_name, settings.state_dir, *active,
               version->value_or("(none)"));

  settings.mqtt.client_id = settings.thing_name;
  settings.mqtt.subscriptions = jobs_protocol::subscriptions(settings.thing_name);
  event_queue events;
  mqtt_link link(settings.mqtt, events);
  if (auto r = link.start(); !r) {
    spdlog::error("{}", r.error().message);
    return 1;
  }
  jobs_client client(link, events, settings.thing_name, {}, stopping);
  curl_downloader downloader(settings.download, stopping);
  shell_commands commands(settings.command_timeout, stopping);
  core::system_clock clock;
  runner_settings rs;
  rs.health_check = settings.health_check;
  rs.reboot_command = settings.reboot_command;
  rs.default_step_timeout_minutes = settings.step_timeout_minutes;
  job_runner runner(state, client, downloader, commands, clock, rs, runner_hooks{{}, stopping});
  backoff retry(std::chrono::seconds(1), std::chrono::seconds(60), std::random_device{}());

  client.wait_online(first_connect_wait);
  while (!stopping()) {
    auto journal = state.load_journal();
    if (!journal && journal.error().code != make_error_code(errc::corrupt_state)) {
      spdlog::error("{}", journal.error().message);
      client.pause(retry.next());
      continue;
    }
    if (!journal) {
      // Never written by this agent: keep it for a person to look at and
      // start over; start-next hands back the execution if it is still ours.
      auto aside = state.journal_path();
      aside += ".corrupt";
      spdlog::error("{}; moving it to {}", journal.error().message, aside.string());
      std::error_code ec;
      std::filesystem::rename(state.journal_path(), aside, ec);
      continue;
    }
    if (*journal) {
      auto& job = **journal;
      spdlog::info("job {}: at step {}", job.job_id, to_string(job.step));
      auto r = runner.run(job);
      if (r == run_status::interrupted && !stopping())
        client.pause(retry.next());
      else
        retry.reset();
      client.want_work();
      continue;
    }
    if (client.online() && client.take_work_hint()) {
      auto answer = client.start_next(settings.step_timeout_minutes);
      if (!answer) {
        client.want_work();  // unanswered: ask again
        continue;
      }
      if (!answer->accepted || (!answer->job && !answer->error.empty())) {
        auto delay = retry.next();
        spdlog::warn("jobs: start-next failed ({}); again in {} ms", answer->error, delay.count());
        client.pause(delay);
        client.want_work();
        continue;
      }
      retry.reset();
      if (!answer->job) {
        spdlog::info("jobs: nothing pending; waiting for notify-next");
        continue;
      }
      auto& job = *answer->job;
      spdlog::info("job {}: started (execution {}, version {})", job.job_id, job.execution_number, job.version_number);
      if (auto r = state.save_journal(job); !r) {
        spdlog::error("job {}: cannot write the journal: {}", job.job_id, r.error().message);
        client.pause(retry.next());
        client.want_work();
      }
      continue;
    }
    client.wait(idle_wait);
  }
  spdlog::info("stopping");
  link.stop();
  return 0;
}

}  // namespace airfleet::agent
