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
#include "auth/sigv4.hpp"
#include "core/crypto.hpp"
#include "core/strings.hpp"
#include "core/time.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
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
  std::string access_key, secret, region = "us-east-1";
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
  std::string host = o.host + ":" + o.port;
  req.set(bhttp::field::host, host);
  auto now = core::system_clock().now();
  std::string amz_date = core::format_amz_date(now);
  req.set("X-Amz-Date", amz_date);

  auth::credential_claim claim;
  claim.access_key_id = o.access_key;
  claim.date = amz_date.substr(0, 8);
  claim.region = o.region;
  claim.service = "execute-api";
  claim.amz_date = amz_date;
  claim.signed_headers = req.body().empty() ? std::vector<std::string>{"host", "x-amz-date"}
                                            : std::vector<std::string>{"content-type", "host", "x-amz-date"};
  auth::signed_request sr;
  std::string method(req.method_string());
  sr.method = method;
  sr.target = target;
  for (const auto& f : req.base()) sr.headers.emplace_back(f.name_string(), f.value());
  sr.body = req.body();
  auto canonical = auth::canonical_request(sr, claim, core::sha256_hex(req.body()));
  auto signature = auth::sign(claim, canonical, o.secret);
  std::string signed_headers;
  for (const auto& h : claim.signed_headers) signed_headers += (signed_headers.empty() ? "" : ";") + h;
  req.set(bhttp::field::authorization, "AWS4-HMAC-SHA256 Credential=" + o.access_key + "/" + claim.date + "/" +
                                           o.region + "/execute-api/aws4_request, SignedHeaders=" + signed_headers +
                                           ", Signature=" + signature);
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
  std::ifstream in(credentials);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto key = std::string(core::trim(line.substr(0, eq)));
    auto value = std::string(core::trim(line.substr(eq + 1)));
    if (key == "aws_access_key_id") o.access_key = value;
    if (key == "aws_secret_access_key") o.secret = value;
    if (key == "region") o.region = value;
  }
  if (o.access_key.empty()) {
    std::cerr << "no credentials in " << credentials << "\n";
    return 2;
  }
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
