// The sim's settings, as the command line fills them (main.cpp).
#pragma once

#include "sim/tls_client.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace airfleet::sim {

// How to reach the broker; shared by every subcommand.
struct connection_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  bool tls = false;
  tls_options tls_files;
  int mqtt_version = 4;               // protocol level: 4 (3.1.1) or 5
  std::string source_addresses;       // CIDR; empty: the kernel picks
  unsigned threads = 1;               // I/O threads running the one io_context
  std::uint16_t keep_alive = 60;      // seconds
  double connect_timeout = 30;        // seconds per client, until ready
  unsigned connect_parallel = 100;    // connections being set up at once
  std::string client_prefix = "sim";  // client ids are <prefix>-...
  int broker_pid = 0;                 // 0: do not report the broker's CPU and memory
};

struct bench_options {
  connection_options connection;
  std::string scenario;  // fan-in, fan-out, pairs
  int qos = 0;
  std::size_t publishers = 1000;   // fan-in
  std::size_t subscribers = 1000;  // fan-out
  std::size_t pairs = 500;         // pairs
  std::size_t payload = 1024;      // bytes
  double duration = 10;            // seconds measured
  double warmup = 2;               // seconds published before measuring
  unsigned inflight = 16;          // QoS 1: unacknowledged PUBLISH per publisher
  unsigned window = 16;            // messages per publisher on their way end to end; 0 = no limit
  double rate = 0;                 // messages per second, all publishers together; 0 = max
  double drain_timeout = 30;       // seconds to wait for deliveries after publishing stops
  std::string topic_prefix = "bench";
};

struct connections_options {
  connection_options connection;
  std::size_t count = 1000;
  double rate = 0;   // connections started per second; 0 = as fast as --connect-parallel allows
  double hold = 10;  // seconds to hold them idle
};

}  // namespace airfleet::sim
