#include "sim/proc_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <sstream>
#include <string>

namespace airfleet::sim {

namespace {

std::optional<std::string> read_all(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The number after "key" on the line that starts with it, as in
// "VmRSS:\t  1234 kB".
std::optional<std::int64_t> field_after(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(key, 0) != 0) continue;
    std::istringstream rest(line.substr(key.size()));
    std::int64_t value = 0;
    if (rest >> value) return value;
    return std::nullopt;
  }
  return std::nullopt;
}

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

}  // namespace

std::optional<double> process_cpu_seconds(pid_t pid) {
  auto text = read_all("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces; the
  // fields after the last ')' start with field 3 (state).
  auto close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text->substr(close + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int n = 3; n <= 15 && fields >> field; ++n) {
    if (n == 14) utime = std::stoull(field);
    if (n == 15) stime = std::stoull(field);
  }
  if (!fields) return std::nullopt;
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  return static_cast<double>(utime + stime) / static_cast<double>(ticks);
}

double own_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::optional<std::int64_t> process_rss_kib(pid_t pid) {
  auto text = read_all("/proc/" + std::to_string(pid) + "/status");
  if (!text) return std::nullopt;
  return field_after(*text, "VmRSS:");
}

std::optional<std::int64_t> process_peak_rss_kib(pid_t pid) {
  auto text = read_all("/proc/" + std::to_string(pid) + "/status");
  if (!text) return std::nullopt;
  return field_after(*text, "VmHWM:");
}

std::optional<tcp_sockstat> read_tcp_sockstat() {
  auto text = read_all("/proc/net/sockstat");
  if (!text) return std::nullopt;
  // "TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1"
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("TCP:", 0) != 0) continue;
    std::istringstream words(line.substr(4));
    std::string name;
    std::int64_t value = 0;
    tcp_sockstat out;
    bool have_mem = false;
    while (words >> name >> value) {
      if (name == "inuse") out.in_use = value;
      if (name == "mem") {
        out.memory_pages = value;
        have_mem = true;
      }
    }
    if (have_mem) return out;
  }
  return std::nullopt;
}

std::optional<std::int64_t> slab_kib() {
  auto text = read_all("/proc/meminfo");
  if (!text) return std::nullopt;
  return field_after(*text, "Slab:");
}

std::optional<std::int64_t> socket_slab_bytes() {
  auto text = read_all("/proc/slabinfo");
  if (!text || text->empty()) return std::nullopt;
  static const std::array<std::string, 5> caches = {"TCP", "request_sock_TCP", "tw_sock_TCP", "tcp_bind_bucket",
                                                    "sock_inode_cache"};
  // "name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : ..."
  std::istringstream lines(*text);
  std::string line;
  std::int64_t total = 0;
  bool found = false;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name;
    std::int64_t active = 0, objects = 0, size = 0;
    if (!(words >> name >> active >> objects >> size)) continue;
    for (const auto& cache : caches) {
      if (name == cache) {
        total += objects * size;
        found = true;
      }
    }
  }
  if (!found) return std::nullopt;
  return total;
}

std::uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<std::uint64_t>(limit.rlim_cur);
}

}  // namespace airfleet::sim

namespace airfleet::sim {

std::optional<std::string> check_open_file_room(std::uint64_t sockets) {
  constexpr std::uint64_t reserved = 64;
  const std::uint64_t open_files = raise_open_file_limit();
  if (sockets + reserved <= open_files) return std::nullopt;
  return std::to_string(sockets) + " connections need more than this process's " + std::to_string(open_files) +
         " open files (RLIMIT_NOFILE) minus " + std::to_string(reserved) + " kept in reserve; at most " +
         std::to_string(open_files > reserved ? open_files - reserved : 0);
}

}  // namespace airfleet::sim
