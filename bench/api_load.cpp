// api_load: a SigV4-signing load generator for airfleet's HTTP API.
//
// Opens --connections keep-alive connections and drives one operation on each
// as fast as the server answers, for --duration seconds or --count requests,
// then prints throughput, latency percentiles and errors.
//
//   api_load --endpoint http://127.0.0.1:8080 --credentials DIR/admin-credentials
//     --op describe|create|list-by-attribute [--connections 32] [--duration 10]
//            [--count N] [--things N] [--prefix bench] [--threads 1]
//
// describe: DescribeThing on random names <prefix>-<0..things-1>.
// create:   CreateThing <prefix>-<n> with 3 attributes (fw, model, site), n counting up.
// list-by-attribute: ListThings?attributeName=site&attributeValue=site-<random>.
#include "auth/client_signer.hpp"
#include "core/crypto.hpp"
#include "core/strings.hpp"
#include "core/time.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <random>
#include <thread>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using namespace airfleet;

struct options {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  auth::client_credentials credentials;
  std::string op = "describe";
  int connections = 32;
  double duration = 10;
  long count = 0;
  long things = 1000;
  long start = 0;
  std::string prefix = "bench";
  int threads = 1;
};

struct stats {
  std::vector<double> latencies_us;
  long ok = 0;
  long errors = 0;
  std::map<int, long> statuses;
};

std::atomic<long> next_index{0};
std::atomic<bool> stop_flag{false};
std::atomic<int> running{0};

bhttp::request<bhttp::string_body> build(const options& o, std::mt19937_64& rng) {
  bhttp::request<bhttp::string_body> req;
  req.version(11);
  std::string target;
  if (o.op == "describe") {
    req.method(bhttp::verb::get);
    target = "/things/" + o.prefix + "-" + std::to_string(rng() % static_cast<unsigned long>(o.things));
  } else if (o.op == "create") {
    long n = o.start + next_index++;
    req.method(bhttp::verb::post);
    target = "/things/" + o.prefix + "-" + std::to_string(n);
    req.body() = "{\"attributePayload\": {\"attributes\": {\"fw\": \"v" + std::to_string(n % 10) +
                 "\", \"model\": \"m" + std::to_string(n % 7) + "\", \"site\": \"site-" + std::to_string(n % 1000) +
                 "\"}}}";
    req.set(bhttp::field::content_type, "application/json");
  } else {
    req.method(bhttp::verb::get);
    target = "/things?attributeName=site&attributeValue=site-" + std::to_string(rng() % 1000) + "&maxResults=250";
  }
  req.target(target);
  auth::request_to_sign to_sign{req.method_string(), target, {{"host", o.host + ":" + o.port}},
                                core::sha256_hex(req.body())};
  if (!req.body().empty()) to_sign.headers.emplace_back("content-type", "application/json");
  const auto authorization = auth::sign_request(to_sign, o.credentials, "execute-api", core::system_clock().now());
  for (const auto& [name, value] : to_sign.headers) req.set(name, value);
  req.set(bhttp::field::authorization, authorization);
  req.prepare_payload();
  return req;
}

asio::awaitable<void> connection(const options& o, stats& st, asio::ip::tcp::endpoint ep, unsigned seed) {
  std::mt19937_64 rng(seed);
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  co_await stream.async_connect(ep, asio::use_awaitable);
  beast::flat_buffer buffer;
  while (!stop_flag) {
    if (o.op == "create" && o.count && next_index.load() >= o.count) break;
    auto req = build(o, rng);
    auto t0 = std::chrono::steady_clock::now();
    co_await bhttp::async_write(stream, req, asio::use_awaitable);
    bhttp::response<bhttp::string_body> res;
    co_await bhttp::async_read(stream, buffer, res, asio::use_awaitable);
    auto us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    st.latencies_us.push_back(us);
    st.statuses[res.result_int()]++;
    if (res.result_int() == 200) st.ok++;
    else st.errors++;
    if (o.count && o.op != "create" && static_cast<long>(st.ok + st.errors) * o.connections >= o.count) break;
  }
}

int main(int argc, char** argv) {
  options o;
  std::string credentials;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--endpoint") {
      auto hp = v.substr(v.find("://") + 3);
      o.host = hp.substr(0, hp.rfind(':'));
      o.port = hp.substr(hp.rfind(':') + 1);
    } else if (k == "--credentials") credentials = v;
    else if (k == "--op") o.op = v;
    else if (k == "--connections") o.connections = std::stoi(v);
    else if (k == "--duration") o.duration = std::stod(v);
    else if (k == "--count") o.count = std::stol(v);
    else if (k == "--things") o.things = std::stol(v);
    else if (k == "--start") o.start = std::stol(v);
    else if (k == "--prefix") o.prefix = v;
    else if (k == "--threads") o.threads = std::stoi(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  auto read = auth::read_shared_credentials(credentials);
  if (!read) {
    std::cerr << read.error().message << "\n";
    return 2;
  }
  o.credentials = *read;
  asio::io_context io;
  auto ep = *asio::ip::tcp::resolver(io).resolve(o.host, o.port).begin();
  std::vector<stats> all(static_cast<std::size_t>(o.connections));
  asio::steady_timer timer(io, std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(o.count ? 3600 : o.duration)));
  running = o.connections;
  for (int c = 0; c < o.connections; ++c)
    asio::co_spawn(io, connection(o, all[static_cast<std::size_t>(c)], ep, static_cast<unsigned>(c + 1)),
                   [&](std::exception_ptr e) {
                     if (e) try { std::rethrow_exception(e); } catch (const std::exception& ex) { std::cerr << "connection: " << ex.what() << "\n"; }
                     if (--running == 0) timer.cancel();  // every connection is done
                   });
  auto t0 = std::chrono::steady_clock::now();
  timer.async_wait([](auto) { stop_flag = true; });
  std::vector<std::thread> workers;
  for (int t = 1; t < o.threads; ++t) workers.emplace_back([&] { io.run(); });
  io.run();
  stop_flag = true;
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<double> lat;
  long ok = 0, errors = 0;
  std::map<int, long> statuses;
  for (auto& s : all) {
    lat.insert(lat.end(), s.latencies_us.begin(), s.latencies_us.end());
    ok += s.ok;
    errors += s.errors;
    for (auto& [k, v] : s.statuses) statuses[k] += v;
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * static_cast<double>(lat.size())))]; };
  std::printf("op=%s connections=%d requests=%zu ok=%ld errors=%ld elapsed_s=%.2f rate_per_s=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
              o.op.c_str(), o.connections, lat.size(), ok, errors, elapsed, static_cast<double>(lat.size()) / elapsed,
              pct(0.5) / 1000, pct(0.99) / 1000, lat.empty() ? 0.0 : lat.back() / 1000);
  for (auto& [k, v] : statuses) std::printf("  status %d: %ld\n", k, v);
  return errors ? 1 : 0;
}
