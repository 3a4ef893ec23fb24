// A fleet of simulated clients on one event loop, and the coordinator that
// drives them through a run's phases.
//
// One io_context runs on --threads threads; with more than one, each client
// lives on its own strand, so clients never need locks and the loop scales
// to more than one core when asked (with one thread, the io_context itself
// serialises everything and strands would only add a lock). The coordinator (the subcommand's script of phases:
// connect, publish, measure, drain, disconnect) is a coroutine on a strand
// of its own; it watches the clients through the scoreboard's counters,
// polling every few milliseconds, rather than being called back by them.
#pragma once

#include "core/error.hpp"
#include "sim/client.hpp"
#include "sim/options.hpp"
#include "sim/scoreboard.hpp"
#include "sim/source_addresses.hpp"
#include "sim/tls_client.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace airfleet::sim {

// An executor for one connection, or for a coordinator, on a loop run by
// `threads` threads: a strand of its own with several, the io_context itself
// with one (which runs everything in order anyway: a strand would only add a
// lock).
boost::asio::any_io_executor executor_for(boost::asio::io_context& io, unsigned threads);

// Spawns `coordinator` on `executor` and runs `io` on `threads` threads (the
// calling one among them) until the loop has no more work. An exception the
// coordinator throws is logged.
void run_loop(boost::asio::io_context& io, unsigned threads, boost::asio::any_io_executor executor,
              std::function<boost::asio::awaitable<void>()> coordinator);

class fleet {
 public:
  // Resolves the broker, loads TLS material, parses the source range.
  static core::result<std::unique_ptr<fleet>> make(const connection_options& options, scoreboard& board);
  fleet(const fleet&) = delete;
  fleet& operator=(const fleet&) = delete;

  // Adds a client (not started); its id and certificate index are the caller's.
  client& add(client_config config);
  std::vector<std::unique_ptr<client>>& clients() { return clients_; }
  std::uint8_t protocol_level() const { return static_cast<std::uint8_t>(options_.mqtt_version); }
  const connection_options& options() const { return options_; }
  scoreboard& board() { return board_; }

  // Starts clients [first, last) in order, at most connect_parallel of them
  // setting up at once and at most `rate` starts per second (0: no cap), and
  // returns once each of them is ready or has failed. Call phases one after
  // another: it counts the scoreboard's ready and failed totals.
  boost::asio::awaitable<void> connect(std::size_t first, std::size_t last, double rate);
  // Asks every client to disconnect and waits (up to `timeout`) until all
  // have finished.
  boost::asio::awaitable<void> disconnect_all(std::chrono::milliseconds timeout);
  boost::asio::awaitable<void> sleep(std::chrono::steady_clock::duration d);

  // Runs `coordinator` and every client until all are done; returns on the
  // calling thread once the loop has no more work.
  void run(std::function<boost::asio::awaitable<void>()> coordinator);

 private:
  fleet(const connection_options& options, scoreboard& board);

  connection_options options_;
  scoreboard& board_;
  // Declared before the clients: their sockets and timers must go first.
  boost::asio::io_context io_;
  boost::asio::any_io_executor coordinator_strand_;
  std::unique_ptr<tls_client> tls_;
  boost::asio::ip::tcp::endpoint broker_;
  std::optional<source_addresses> sources_;
  std::vector<std::unique_ptr<client>> clients_;
};

}  // namespace airfleet::sim
