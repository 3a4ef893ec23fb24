// `airfleet-sim jobs`: how long a job takes to reach N connected devices and
// come back SUCCEEDED, over the MQTT jobs API (jobs_device.hpp plays each
// device).
//
// Phases:
//   1. connect. --connections devices, client id <prefix>-<i> (the thing
//      name), at most --connect-parallel setting up at once; each subscribes
//      to its five jobs topics. When every device is ready (or failed) one
//      JSON line goes to stdout, flushed:
//        {"phase":"ready", devices, connected, failed, connect_s, ...}
//      A driver script waits for it before it creates the job.
//   2. work. Devices answer notify-next with start-next and the execution
//      with an update to SUCCEEDED, until --expect-succeeded updates were
//      accepted (default: one per device), a device's connection fails, or
//      --timeout seconds have passed since the ready line.
//   3. report, then disconnect. The final line:
//        {"phase":"done", counts of every request and reply,
//         first_notify_to_last_accepted_s   first notify-next naming an
//                                           execution (any device) to the
//                                           last update/accepted,
//         notify_spread_s                   first notify-next to the last
//                                           device's first one,
//         first_notify_epoch_ms, last_accepted_epoch_ms   wall clock, so a
//                                           driver can line them up with
//                                           its CreateJob call,
//         notify_to_started_p50_ms/p99/max  per device: notify-next to
//                                           start-next/accepted,
//         notify_to_succeeded_p50_ms/...    notify-next to update/accepted,
//         broker_cpu_s, sim_cpu_s           (--broker-pid) from the first
//                                           notify-next to the end, ok}
//
// Exit status 0 when --expect-succeeded updates were accepted with no
// rejection and no failed connection, 1 otherwise, 2 for bad options.
#pragma once

#include "sim/options.hpp"

#include <cstddef>
#include <cstdint>

namespace airfleet::sim {

struct jobs_options {
  connection_options connection;
  std::size_t devices = 1000;
  std::uint64_t expect_succeeded = 0;  // 0: one per device
  double timeout = 300;                // seconds after the ready line
  bool start_next_on_connect = false;
  bool client_tokens = false;
};

int run_jobs(const jobs_options& options);

}  // namespace airfleet::sim
