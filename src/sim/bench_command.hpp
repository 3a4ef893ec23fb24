// `airfleet-sim bench`: message throughput through a broker.
//
// Scenarios (topics under --topic-prefix, "bench" by default):
//   fan-in   N publishers -> 1 subscriber. Publisher i publishes on
//            bench/in/<i>; the subscriber subscribes to bench/in/+.
//   fan-out  1 publisher -> N subscribers, all on bench/out.
//   pairs    N publishers, each with its own subscriber on bench/pair/<i>.
//
// Phases: connect the subscribers (until every SUBACK), connect the
// publishers, publish for --warmup seconds, measure for --duration seconds,
// stop publishing, drain (wait until every QoS 1 PUBLISH is acknowledged and
// everything sent has arrived, or until nothing arrived for two seconds, or
// --drain-timeout), disconnect.
//
// Pacing: as fast as flow control allows, or --rate messages per second in
// all. Flow control is the socket (one write outstanding per connection),
// --inflight unacknowledged PUBLISH per publisher at QoS 1, and --window
// messages per publisher on their way end to end (scoreboard.hpp explains
// why the last one is needed to measure a broker rather than its queues;
// --window 0 turns it off).
//
// Counting is from the subscriber side. "delivered" counts PUBLISH packets
// subscribers received during the measured window; "lost" and "duplicates"
// cover the whole run, after the drain: every message sent (sequence
// numbers 0..sent-1 per publisher) should arrive once at each subscriber of
// its topic. At QoS 1 a broker may lose nothing; at QoS 0 it may drop what
// it cannot deliver, and "lost" says how much it did.
//
// Prints one JSON line on stdout; exit status 1 when a client failed or a
// QoS 1 message was lost.
#pragma once

#include "sim/options.hpp"

namespace airfleet::sim {

int run_bench(const bench_options& options);

}  // namespace airfleet::sim
