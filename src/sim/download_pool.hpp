// Firmware downloads for a whole simulated fleet with bounded concurrency.
//
// Thousands of devices may be told to download at the same moment; each
// real device would open its own connection, but one simulator process may
// hold at most ~20,000 descriptors here, most of them MQTT connections. So
// downloads queue, and at most `parallel` run at once, each worker on a
// keep-alive connection of its own (http_connection.hpp) to the URL's
// origin. A download streams: its body is hashed (SHA-256) and counted as
// it arrives, never kept, so a large image costs no memory per device.
//
// submit() may be called from any thread; the pool's own work runs on its
// strand, and `done` is called there: a device posts back to its own strand.
// stop() ends the workers once they finish what they are doing; queued
// downloads are answered with an error. The pool must outlive the
// io_context's run().
#pragma once

#include "sim/http_connection.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <deque>
#include <memory>

namespace airfleet::sim {

struct download_result {
  bool ok = false;  // a 200 or 206 answer read to its end
  unsigned status = 0;
  std::uint64_t bytes = 0;
  std::string sha256_hex;  // of the body
  std::string error;       // when not ok
};

struct download_stats {
  std::atomic<std::uint64_t> started{0};
  std::atomic<std::uint64_t> succeeded{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> waiting{0};  // queued, not yet started
};

class download_pool {
 public:
  download_pool(boost::asio::any_io_executor executor, boost::asio::ssl::context* tls, std::size_t parallel,
                std::chrono::milliseconds timeout, std::uint64_t max_bytes);
  download_pool(const download_pool&) = delete;
  download_pool& operator=(const download_pool&) = delete;

  void submit(std::string url, std::function<void(download_result)> done);
  void stop();
  const download_stats& stats() const { return stats_; }

 private:
  struct job {
    std::string url;
    std::function<void(download_result)> done;
  };

  void start_workers();
  boost::asio::awaitable<void> worker();
  boost::asio::awaitable<download_result> download(std::unique_ptr<http_connection>& connection,
                                                   const std::string& url);

  boost::asio::any_io_executor strand_;
  boost::asio::ssl::context* tls_;
  std::size_t parallel_;
  std::chrono::milliseconds timeout_;
  std::uint64_t max_bytes_;
  download_stats stats_;

  // On strand_ only.
  std::deque<job> queue_;
  boost::asio::steady_timer wake_;  // idle workers wait on it; cancel() wakes them
  std::size_t workers_ = 0;  // running worker coroutines
  std::size_t busy_ = 0;     // ... of which downloading
  bool stopping_ = false;
};

}  // namespace airfleet::sim
