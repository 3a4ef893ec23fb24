// What Linux tells about a process and the kernel's socket memory, read from
// /proc, for reporting a broker's cost next to the load that caused it.
//
// Each reader returns nullopt when the file is missing or unreadable (the
// broker exited, /proc/slabinfo needs root), so a report can leave a figure
// out instead of failing the run.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace airfleet::sim {

// User plus system CPU time of a process (fields 14 and 15 of
// /proc/PID/stat), in seconds.
std::optional<double> process_cpu_seconds(pid_t pid);

// This process's user plus system CPU time, all threads, in seconds.
double own_cpu_seconds();

// VmRSS of /proc/PID/status, in KiB.
std::optional<std::int64_t> process_rss_kib(pid_t pid);
// VmHWM: the most VmRSS has been over the process's life, in KiB.
std::optional<std::int64_t> process_peak_rss_kib(pid_t pid);

// The "TCP:" line of /proc/net/sockstat: sockets in use and the pages
// (4 KiB) of buffer memory TCP holds, system-wide.
struct tcp_sockstat {
  std::int64_t in_use = 0;
  std::int64_t memory_pages = 0;
};
std::optional<tcp_sockstat> read_tcp_sockstat();

// Slab memory from /proc/meminfo ("Slab:", KiB): the kernel objects behind a
// socket (struct tcp_sock, inode, dentry, file, epoll item) live there.
std::optional<std::int64_t> slab_kib();

// Bytes held by the slab caches that exist only for TCP sockets ("TCP",
// "request_sock_TCP", "tw_sock_TCP", "tcp_bind_bucket") and sockets in
// general ("sock_inode_cache"), from /proc/slabinfo (readable by root).
std::optional<std::int64_t> socket_slab_bytes();

// Raises this process's soft RLIMIT_NOFILE to its hard limit and returns the
// limit now in force.
std::uint64_t raise_open_file_limit();

// Raises the limit as above and checks that `sockets` client sockets fit under
// it with a reserve for the process's own descriptors (stdio, epoll, eventfd,
// timers, the resolver, TLS files); nullopt when they fit, else why not.
std::optional<std::string> check_open_file_room(std::uint64_t sockets);

}  // namespace airfleet::sim
