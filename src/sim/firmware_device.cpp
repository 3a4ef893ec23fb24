#include "sim/firmware_device.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>
#include <random>

namespace airfleet::sim {

namespace json = boost::json;

namespace {

std::string details(std::initializer_list<std::pair<std::string_view, std::string_view>> members) {
  json::object o;
  for (const auto& [k, v] : members) o[k] = v;
  return json::serialize(o);
}

}  // namespace

std::string_view to_string(device_fate f) {
  switch (f) {
    case device_fate::succeed: return "succeed";
    case device_fate::fail: return "fail";
    case device_fate::reject: return "reject";
    case device_fate::hang: return "hang";
  }
  return "?";
}

std::vector<device_fate> assign_fates(std::size_t n, double fail, double reject, double hang, std::uint64_t seed) {
  auto count = [n](double rate) { return static_cast<std::size_t>(std::llround(static_cast<double>(n) * rate)); };
  std::vector<device_fate> fates(n, device_fate::succeed);
  std::size_t at = 0;
  for (auto [fate, k] : {std::pair{device_fate::fail, count(fail)}, std::pair{device_fate::reject, count(reject)},
                         std::pair{device_fate::hang, count(hang)}})
    for (std::size_t i = 0; i < k && at < n; ++i) fates[at++] = fate;
  std::mt19937_64 rng(seed);
  std::shuffle(fates.begin(), fates.end(), rng);
  return fates;
}

firmware_device::firmware_device(boost::asio::any_io_executor strand, tls_client* tls, firmware_device_config config,
                                 rollout_tally& tally, download_pool* downloads)
    : jobs_device(std::move(strand), tls, config, tally),
      fate_(config.fate),
      tally_(tally),
      downloads_(downloads),
      version_(config.version) {}

void firmware_device::on_execution(const std::string&, std::int64_t version, const json::object& execution) {
  ++executions_;
  tally_.working.fetch_add(1, std::memory_order_relaxed);

  // The MQTT jobs API carries the document as a JSON object; the HTTP data
  // plane as a string holding one. Take either.
  json::object document;
  if (const auto* d = execution.if_contains("jobDocument")) {
    if (d->is_object()) {
      document = d->get_object();
    } else if (d->is_string()) {
      boost::system::error_code ec;
      auto parsed = json::parse(d->get_string(), ec);
      if (!ec && parsed.is_object()) document = std::move(parsed.get_object());
    }
  }
  const std::string operation = string_or_empty(document, "operation");
  if (operation != "firmwareUpdate") {
    tally_.bad_documents.fetch_add(1, std::memory_order_relaxed);
    return report(version, "REJECTED",
                  details({{"step", "rejected"}, {"reason", "unsupported operation '" + operation + "'"}}));
  }
  if (fate_ == device_fate::reject)
    return report(version, "REJECTED",
                  details({{"step", "rejected"}, {"reason", "simulated: the device declined the update"}}));
  if (fate_ == device_fate::hang) {
    tally_.hung.fetch_add(1, std::memory_order_relaxed);
    return;  // busy with it for good: the server's timeout ends it
  }
  const std::string new_version = string_or_empty(document, "firmwareVersion");
  const std::string url = string_or_empty(document, "downloadUrl");
  if (downloads_ && !url.empty()) {
    std::string checksum = string_or_empty(document, "checksum");
    downloads_->submit(url, [this, version, checksum = std::move(checksum), new_version](download_result r) {
      boost::asio::post(strand(), [this, version, checksum, new_version, r = std::move(r)] {
        after_download(version, checksum, new_version, r);
      });
    });
    return;
  }
  finish(version, new_version);
}

void firmware_device::after_download(std::int64_t version, const std::string& checksum,
                                     const std::string& new_version, const download_result& result) {
  downloaded_bytes_ += result.bytes;
  if (!result.ok) {
    tally_.downloads_failed.fetch_add(1, std::memory_order_relaxed);
    tally_.note_error(client_id() + ": download failed: " + result.error);
    return report(version, "FAILED", details({{"step", "download"}, {"reason", "download failed: " + result.error}}));
  }
  if (!checksum.empty() && checksum != result.sha256_hex) {
    tally_.checksum_mismatches.fetch_add(1, std::memory_order_relaxed);
    tally_.note_error(client_id() + ": checksum mismatch: got " + result.sha256_hex + ", expected " + checksum);
    return report(version, "FAILED", details({{"step", "verify"}, {"reason", "checksum mismatch"}}));
  }
  finish(version, new_version);
}

void firmware_device::finish(std::int64_t version, const std::string& new_version) {
  if (fate_ == device_fate::fail)
    return report(version, "FAILED", details({{"step", "install"}, {"reason", "simulated installation failure"}}));
  version_ = new_version;  // installed; now it says so
  report(version, "SUCCEEDED", details({{"step", "completed"}, {"newVersion", new_version}}));
}

void firmware_device::on_outcome_accepted(const std::string&, const std::string& status) {
  tally_.working.fetch_sub(1, std::memory_order_relaxed);
  last_outcome_ = status;
}

void firmware_device::on_outcome_rejected(const std::string&, std::string_view) {
  tally_.working.fetch_sub(1, std::memory_order_relaxed);
  tally_.outcome_refused.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace airfleet::sim
