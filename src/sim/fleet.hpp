// A fleet of simulated connections on one event loop, and the coordinator
// that drives them through a run's phases.
//
// One io_context runs on --threads threads; with more than one, each
// session lives on its own strand, so sessions never need locks and the
// loop scales to more than one core when asked (with one thread, the
// io_context itself serialises everything and strands would only add a
// lock). The coordinator (the subcommand's script of phases: connect,
// publish, measure, drain, disconnect) is a coroutine on a strand of its
// own; it watches the sessions through their tally's counters, polling every
// few milliseconds, rather than being called back by them.
//
// fleet_base holds what every kind of session shares (the loop, the broker's
// address, the TLS material, the source addresses, the connect and
// disconnect phases); fleet_of<Session, Tally> owns the sessions of one kind:
// load-generator clients (bench, connections), jobs devices (jobs),
// firmware devices (rollout).
#pragma once

#include "core/error.hpp"
#include "sim/client.hpp"
#include "sim/options.hpp"
#include "sim/scoreboard.hpp"
#include "sim/session.hpp"
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

class fleet_base {
 public:
  fleet_base(const fleet_base&) = delete;
  fleet_base& operator=(const fleet_base&) = delete;
  virtual ~fleet_base() = default;

  const connection_options& options() const { return options_; }
  std::uint8_t protocol_level() const { return static_cast<std::uint8_t>(options_.mqtt_version); }
  // Null without TLS; sessions use it while they run, so it may only be
  // added to (identities) before they start.
  tls_client* tls() { return tls_.get(); }
  boost::asio::io_context& io() { return io_; }
  // An executor for something else on the loop (a strand of its own with
  // several threads).
  boost::asio::any_io_executor executor() { return executor_for(io_, options_.threads); }

  // Starts sessions [first, last) in order, at most connect_parallel of them
  // setting up at once and at most `rate` starts per second (0: no cap), and
  // returns once each of them is ready or has failed. Call phases one after
  // another: it counts the tally's ready and failed totals.
  boost::asio::awaitable<void> connect(std::size_t first, std::size_t last, double rate);
  // Asks every started session to disconnect and waits (up to `timeout`)
  // until all have finished; then stops the loop if some have not.
  boost::asio::awaitable<void> disconnect_all(std::chrono::milliseconds timeout);
  boost::asio::awaitable<void> sleep(std::chrono::steady_clock::duration d);

  // Runs `coordinator` and every session until all are done; returns on the
  // calling thread once the loop has no more work.
  void run(std::function<boost::asio::awaitable<void>()> coordinator);

 protected:
  fleet_base(const connection_options& options, connection_tally& tally);
  // Resolves the broker, loads TLS material, parses the source range.
  core::result<void> setup();
  virtual std::size_t session_count() const = 0;
  virtual session& session_at(std::size_t i) = 0;

 private:
  connection_options options_;
  connection_tally& tally_;
  // Declared before the sessions (in the derived class): their sockets and
  // timers must go first.
  boost::asio::io_context io_;
  boost::asio::any_io_executor coordinator_strand_;
  std::unique_ptr<tls_client> tls_;
  boost::asio::ip::tcp::endpoint broker_;
  std::optional<source_addresses> sources_;
};

template <class Session, class Tally>
class fleet_of : public fleet_base {
 public:
  static core::result<std::unique_ptr<fleet_of>> make(const connection_options& options, Tally& tally) {
    std::unique_ptr<fleet_of> f(new fleet_of(options, tally));
    if (auto set_up = f->setup(); !set_up) return set_up.error();
    return f;
  }

  // Adds a session (not started); its id and certificate index are in
  // `config`, anything else its constructor takes follows.
  template <class Config, class... Extra>
  Session& add(Config config, Extra&&... extra) {
    clients_.push_back(std::make_unique<Session>(executor(), tls(), std::move(config), tally_,
                                                 std::forward<Extra>(extra)...));
    return *clients_.back();
  }
  std::vector<std::unique_ptr<Session>>& clients() { return clients_; }
  Tally& board() { return tally_; }

 private:
  fleet_of(const connection_options& options, Tally& tally) : fleet_base(options, tally), tally_(tally) {}
  std::size_t session_count() const override { return clients_.size(); }
  session& session_at(std::size_t i) override { return *clients_[i]; }

  Tally& tally_;
  std::vector<std::unique_ptr<Session>> clients_;
};

// The load generator's clients (bench, connections).
using fleet = fleet_of<client, scoreboard>;

}  // namespace airfleet::sim
