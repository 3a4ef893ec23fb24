#include "agent/shell_commands.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

extern char** environ;

namespace airfleet::agent {

namespace {

constexpr auto poll_interval = std::chrono::milliseconds(20);
constexpr auto grace_after_term = std::chrono::seconds(5);

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

command_result shell_commands::run(const std::string& command, const std::map<std::string, std::string>& environment) {
  // Everything the child needs is prepared before fork(): after it, in a
  // threaded process, the child may only call async-signal-safe functions.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    auto name = entry.substr(0, entry.find('='));
    if (!environment.contains(std::string(name))) env_strings.emplace_back(entry);
  }
  for (const auto& [k, v] : environment) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string shell = "/bin/sh", dash_c = "-c", text = command;
  char* argv[] = {shell.data(), dash_c.data(), text.data(), nullptr};

  pid_t pid = ::fork();
  if (pid < 0) return command_result{false, 127, std::string("cannot fork: ") + std::strerror(errno)};
  if (pid == 0) {
    ::setpgid(0, 0);
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::execve("/bin/sh", argv, envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also in the parent, so the group exists before any kill below

  auto deadline = std::chrono::steady_clock::now() + time_limit_;
  std::optional<std::chrono::steady_clock::time_point> terminated_at;
  bool interrupted = false, timed_out = false;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      if (interrupted) return command_result{true, exit_code_of(status), {}};
      if (timed_out)
        return command_result{false, exit_code_of(status),
                              "did not finish within " + std::to_string(time_limit_.count()) + " s"};
      return command_result{false, exit_code_of(status), {}};
    }
    if (done < 0 && errno != EINTR) return command_result{false, 127, std::string("waitpid: ") + std::strerror(errno)};
    auto now = std::chrono::steady_clock::now();
    if (!terminated_at) {
      if (stopping_ && stopping_()) {
        interrupted = true;
      } else if (now >= deadline) {
        timed_out = true;
        spdlog::warn("'{}' did not finish within {} s; killing it", command, time_limit_.count());
      }
      if (interrupted || timed_out) {
        ::kill(-pid, timed_out ? SIGKILL : SIGTERM);
        terminated_at = now;
      }
    } else if (now - *terminated_at >= grace_after_term) {
      ::kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(poll_interval);
  }
}

}  // namespace airfleet::agent
