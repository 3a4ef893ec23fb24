#include "sim/fleet.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <system_error>
#include <thread>

namespace airfleet::sim {

namespace asio = boost::asio;
using namespace std::chrono_literals;

fleet_base::fleet_base(const connection_options& options, connection_tally& tally)
    // With one thread, hint 1 lets Asio leave out its internal locking.
    : options_(options),
      tally_(tally),
      io_(options.threads <= 1 ? 1 : static_cast<int>(options.threads)),
      coordinator_strand_(executor_for(io_, options.threads)) {}

core::result<void> fleet_base::setup() {
  auto invalid = [](std::string message) {
    return core::error{std::make_error_code(std::errc::invalid_argument), std::move(message)};
  };
  if (options_.mqtt_version != 4 && options_.mqtt_version != 5) return invalid("--mqtt-version must be 4 or 5");

  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(io_);
  auto found = resolver.resolve(options_.host, std::to_string(options_.port), ec);
  if (ec || found.empty()) return invalid("cannot resolve --host " + options_.host + ": " + ec.message());
  broker_ = found.begin()->endpoint();

  if (!options_.source_addresses.empty()) {
    auto sources = source_addresses::parse(options_.source_addresses);
    if (!sources) return sources.error();
    if (!broker_.address().is_v4()) return invalid("--source-addresses needs an IPv4 broker address");
    sources_ = *sources;
  }
  if (options_.tls) {
    auto files = options_.tls_files;
    if (files.server_name.empty()) files.server_name = options_.host;
    auto tls = tls_client::make(files);
    if (!tls) return tls.error();
    tls_ = std::move(*tls);
  }
  return {};
}

asio::awaitable<void> fleet_base::sleep(std::chrono::steady_clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> fleet_base::connect(std::size_t first, std::size_t last, double rate) {
  const std::uint64_t base = tally_.ready.load() + tally_.failed.load();
  const std::size_t total = last - first;
  const auto started = std::chrono::steady_clock::now();
  auto next_report = started + 2s;
  std::size_t next = first;
  for (;;) {
    const std::size_t settled = static_cast<std::size_t>(tally_.ready.load() + tally_.failed.load() - base);
    if (settled >= total) break;
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - started).count();
    while (next < last && (next - first) - settled < options_.connect_parallel &&
           (rate <= 0 || static_cast<double>(next - first) < rate * elapsed + 1)) {
      std::optional<asio::ip::address> source;
      if (sources_) source = sources_->address_for(next);
      session_at(next).start(broker_, source);
      ++next;
    }
    if (now >= next_report) {
      spdlog::info("connecting: {} of {} settled ({} failed in all)", settled, total, tally_.failed.load());
      next_report = now + 2s;
    }
    co_await sleep(1ms);
  }
}

asio::awaitable<void> fleet_base::disconnect_all(std::chrono::milliseconds timeout) {
  std::size_t started = 0;
  for (std::size_t i = 0; i < session_count(); ++i) {
    auto& s = session_at(i);
    if (s.state() == session_state::idle) continue;
    ++started;
    s.disconnect();
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (tally_.finished.load() < started && std::chrono::steady_clock::now() < deadline) co_await sleep(5ms);
  if (tally_.finished.load() < started) {
    spdlog::warn("{} connections had not finished {} ms after DISCONNECT; stopping anyway",
                 started - tally_.finished.load(), timeout.count());
    io_.stop();
  }
}

void fleet_base::run(std::function<asio::awaitable<void>()> coordinator) {
  run_loop(io_, options_.threads, coordinator_strand_, std::move(coordinator));
}

asio::any_io_executor executor_for(asio::io_context& io, unsigned threads) {
  return threads <= 1 ? asio::any_io_executor(io.get_executor()) : asio::any_io_executor(asio::make_strand(io));
}

void run_loop(asio::io_context& io, unsigned threads, asio::any_io_executor executor,
              std::function<asio::awaitable<void>()> coordinator) {
  asio::co_spawn(executor, std::move(coordinator), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("coordinator: {}", ex.what());
    }
  });
  std::vector<std::thread> workers;
  for (unsigned t = 1; t < threads; ++t) workers.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& w : workers) w.join();
}

}  // namespace airfleet::sim
