// `airfleet-sim connections`: how fast a broker accepts connections, and what
// an idle one costs it.
//
// Opens --count MQTT connections (client ids <prefix>-<i>, TLS when asked),
// at most --connect-parallel setting up at once and at most --rate started
// per second, each bound to its own source address when
// --source-addresses is given. The setup rate is connections per second
// from the first start until the last CONNACK. Then the connections sit idle
// for --hold seconds (PINGREQ only if --keepalive asks for it) and the
// memory figures are taken again:
//
//   broker user space   VmRSS of --broker-pid, before the first connection
//                       and after the hold;
//   kernel              the TCP buffer pages of /proc/net/sockstat, the slab
//                       total of /proc/meminfo and, when readable, the socket
//                       slab caches of /proc/slabinfo. These are system-wide
//                       and on loopback hold both ends of every connection:
//                       the per-connection figure is for both ends together.
//                       kernel_figures_undisturbed says whether the count of
//                       TCP sockets in use moved by two per connection and
//                       little else (other processes on the machine did not
//                       open or close many sockets meanwhile).
//
// The broker's RSS is only meaningful against a freshly started broker: an
// allocator keeps memory from earlier runs and reuses it.
//
// Prints one JSON line on stdout; exit status 1 when a connection failed or
// was lost during the hold.
#pragma once

#include "sim/options.hpp"

namespace airfleet::sim {

int run_connections(const connections_options& options);

}  // namespace airfleet::sim
