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

fleet::fleet(const connection_options& options, scoreboard& board)
    // With one thread, hint 1 lets Asio leave out its internal locking.
    : options_(options),
      board_(board),
      io_(options.threads <= 1 ? 1 : static_cast<int>(options.threads)),
      coordinator_strand_(executor_for(io_, options.threads)) {}

core::result<std::unique_ptr<fleet>> fleet::make(const connection_options& options, scoreboard& board) {
  auto invalid = [](std::string message) {
    return core::error{std::make_error_code(std::errc::invalid_argument), std::move(message)};
  };
  std::unique_ptr<fleet> f(new fleet(options, board));
  if (options.mqtt_version != 4 && options.mqtt_version != 5) return invalid("--mqtt-version must be 4 or 5");

  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(f->io_);
  auto found = resolver.resolve(options.host, std::to_string(options.port), ec);
  if (ec || found.empty()) return invalid("cannot resolve --host " + options.host + ": " + ec.message());
  f->broker_ = found.begin()->endpoint();

  if (!options.source_addresses.empty()) {
    auto sources = source_addresses::parse(options.source_addresses);
    if (!sources) return sources.error();
    if (!f->broker_.address().is_v4()) return invalid("--source-addresses needs an IPv4 broker address");
    f->sources_ = *sources;
  }
  if (options.tls) {
    auto files = options.tls_files;
    if (files.server_name.empty()) files.server_name = options.host;
    auto tls = tls_client::make(files);
    if (!tls) return tls.error();
    f->tls_ = std::move(*tls);
  }
  return f;
}

client& fleet::add(client_config config) {
  clients_.push_back(
      std::make_unique<client>(executor_for(io_, options_.threads), tls_.get(), std::move(config), board_));
  return *clients_.back();
}

asio::awaitable<void> fleet::sleep(std::chrono::steady_clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> fleet::connect(std::size_t first, std::size_t last, double rate) {
  const std::uint64_t base = board_.ready.load() + board_.failed.load();
  const std::size_t total = last - first;
  const auto started = std::chrono::steady_clock::now();
  auto next_report = started + 2s;
  std::size_t next = first;
  for (;;) {
    const std::size_t settled = static_cast<std::size_t>(board_.ready.load() + board_.failed.load() - base);
    if (settled >= total) break;
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - started).count();
    while (next < last && (next - first) - settled < options_.connect_parallel &&
           (rate <= 0 || static_cast<double>(next - first) < rate * elapsed + 1)) {
      std::optional<asio::ip::address> source;
      if (sources_) source = sources_->address_for(next);
      clients_[next]->start(broker_, source);
      ++next;
    }
    if (now >= next_report) {
      spdlog::info("connecting: {} of {} settled ({} failed in all)", settled, total, board_.failed.load());
      next_report = now + 2s;
    }
    co_await sleep(1ms);
  }
}

asio::awaitable<void> fleet::disconnect_all(std::chrono::milliseconds timeout) {
  std::size_t started = 0;
  for (auto& c : clients_) {
    if (c->state() == session_state::idle) continue;
    ++started;
    c->disconnect();
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (board_.finished.load() < started && std::chrono::steady_clock::now() < deadline) co_await sleep(5ms);
  if (board_.finished.load() < started) {
    spdlog::warn("{} clients had not finished {} ms after DISCONNECT; stopping anyway",
                 started - board_.finished.load(), timeout.count());
    io_.stop();
  }
}

void fleet::run(std::function<asio::awaitable<void>()> coordinator) {
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
