#include "sim/download_pool.hpp"

#include "core/crypto.hpp"
#include "core/digest.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace airfleet::sim {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

download_pool::download_pool(asio::any_io_executor executor, asio::ssl::context* tls, std::size_t parallel,
                             std::chrono::milliseconds timeout, std::uint64_t max_bytes)
    : strand_(asio::make_strand(executor)),
      tls_(tls),
      parallel_(parallel == 0 ? 1 : parallel),
      timeout_(timeout),
      max_bytes_(max_bytes),
      wake_(strand_, std::chrono::steady_clock::time_point::max()) {}

void download_pool::submit(std::string url, std::function<void(download_result)> done) {
  stats_.waiting.fetch_add(1, std::memory_order_relaxed);
  asio::post(strand_, [this, url = std::move(url), done = std::move(done)]() mutable {
    if (stopping_) {
      stats_.waiting.fetch_sub(1, std::memory_order_relaxed);
      download_result r;
      r.error = "the simulator is stopping";
      done(std::move(r));
      return;
    }
    queue_.push_back(job{std::move(url), std::move(done)});
    start_workers();
    wake_.cancel();
  });
}

void download_pool::stop() {
  asio::post(strand_, [this] {
    stopping_ = true;
    wake_.cancel();
    while (!queue_.empty()) {
      auto j = std::move(queue_.front());
      queue_.pop_front();
      stats_.waiting.fetch_sub(1, std::memory_order_relaxed);
      download_result r;
      r.error = "the simulator is stopping";
      j.done(std::move(r));
    }
  });
}

// Workers start as downloads arrive, up to `parallel`, and then stay (each
// keeps its connection open for the next download).
void download_pool::start_workers() {
  while (workers_ < parallel_ && queue_.size() > workers_ - busy_) {
    ++workers_;
    asio::co_spawn(strand_, worker(), asio::detached);
  }
}

asio::awaitable<void> download_pool::worker() {
  std::unique_ptr<http_connection> connection;
  while (!stopping_) {
    if (queue_.empty()) {
      // The timer never expires (setting its expiry would cancel the other
      // workers' waits); cancel() wakes every waiting worker.
      co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    auto next = std::move(queue_.front());
    queue_.pop_front();
    stats_.waiting.fetch_sub(1, std::memory_order_relaxed);
    stats_.started.fetch_add(1, std::memory_order_relaxed);
    ++busy_;
    auto result = co_await download(connection, next.url);
    --busy_;
    (result.ok ? stats_.succeeded : stats_.failed).fetch_add(1, std::memory_order_relaxed);
    next.done(std::move(result));
  }
  if (connection) connection->close();
  --workers_;
}

asio::awaitable<download_result> download_pool::download(std::unique_ptr<http_connection>& connection,
                                                         const std::string& url) {
  download_result out;
  auto parsed = parse_http_url(url);
  if (!parsed) {
    out.error = parsed.error().message;
    co_return out;
  }
  if (!connection || !(connection->origin() == parsed->origin)) {
    if (connection) connection->close();
    connection = std::make_unique<http_connection>(strand_, tls_, parsed->origin, timeout_);
  }
  http_request request(bhttp::verb::get, parsed->target, 11);
  core::hasher sha256(core::hasher::kind::sha256);
  std::uint64_t bytes = 0;
  auto on_data = [&](std::string_view piece) {
    sha256.update(piece);
    bytes += piece.size();
  };
  auto response = co_await connection->send_streamed(std::move(request), max_bytes_, on_data);
  out.bytes = bytes;
  if (!response) {
    out.error = response.error().message;
    co_return out;
  }
  out.status = response->status;
  if (out.status != 200 && out.status != 206) {
    out.error = "HTTP " + std::to_string(out.status);
    co_return out;
  }
  const auto digest = sha256.finish_raw();
  out.sha256_hex = core::to_hex(reinterpret_cast<const unsigned char*>(digest.data()), digest.size());
  out.ok = true;
  co_return out;
}

}  // namespace airfleet::sim
