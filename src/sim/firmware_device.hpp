// One simulated device taking a firmware update through IoT Jobs, for
// `airfleet-sim rollout`: the jobs conversation of jobs_device.hpp (notify-next,
// start-next, update), and in between what the reference agent
// (src/agent/) does with the recipe's job document, minus the flash:
//
//   execution's jobDocument ── operation != firmwareUpdate ──▶ REJECTED (unsupported operation)
//        │ fate reject ──▶ REJECTED  {"reason": "simulated: the device declined the update"}
//        │ fate hang   ──▶ nothing more: the execution stays IN_PROGRESS until
//        │                 the job's in-progress timeout makes it TIMED_OUT
//        │ downloadUrl and downloads on ──▶ GET it (download_pool.hpp) ── error ──▶ FAILED
//        │                                  SHA-256 != checksum ──▶ FAILED (checksum mismatch)
//        ├ fate fail   ──▶ FAILED    {"reason": "simulated installation failure"}
//        └ otherwise   ──▶ "installs" (version := firmwareVersion), then SUCCEEDED {"newVersion": ...}
//
// A device's fate is fixed when the run starts (the rollout command picks
// exactly round(N x rate) devices for each fate from a seeded shuffle), so a
// run with --fail-rate 0.5 has exactly half its devices fail when reached,
// and the same seed picks the same devices.
//
// The device's record (fate, what it was asked to do, what it did, its
// version) is read once the io_context has stopped, for the final counts
// and the per-device report.
#pragma once

#include "sim/download_pool.hpp"
#include "sim/jobs_device.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace airfleet::sim {

enum class device_fate : std::uint8_t { succeed, fail, reject, hang };
std::string_view to_string(device_fate f);

// The fates of n devices: exactly round(n x rate) fail, reject and hang, the
// rest succeed, spread over the fleet by a shuffle seeded with `seed`.
std::vector<device_fate> assign_fates(std::size_t n, double fail, double reject, double hang, std::uint64_t seed);

// jobs_tally plus what firmware devices count.
struct rollout_tally : jobs_tally {
  std::atomic<std::uint64_t> working{0};  // executions handed over and not answered yet (hung ones included)
  std::atomic<std::uint64_t> hung{0};     // executions a device stopped answering
  std::atomic<std::uint64_t> outcome_refused{0};  // updates the server refused (e.g. the job was force-canceled)
  std::atomic<std::uint64_t> downloads_failed{0};
  std::atomic<std::uint64_t> checksum_mismatches{0};
  std::atomic<std::uint64_t> bad_documents{0};  // a jobDocument that is not the recipe's shape
};

struct firmware_device_config : jobs_device_config {
  device_fate fate = device_fate::succeed;
  std::string version = "1.0.0";  // the firmware it runs at the start
};

class firmware_device : public jobs_device {
 public:
  // `downloads` null: documents' downloadUrl are not fetched.
  firmware_device(boost::asio::any_io_executor strand, tls_client* tls, firmware_device_config config,
                  rollout_tally& tally, download_pool* downloads);

  // Read once the io_context has stopped.
  const std::string& thing_name() const { return client_id(); }
  device_fate fate() const { return fate_; }
  const std::string& version() const { return version_; }
  std::uint64_t executions() const { return executions_; }
  std::uint64_t downloaded_bytes() const { return downloaded_bytes_; }
  const std::string& last_outcome() const { return last_outcome_; }  // the last status the server accepted

 private:
  void on_execution(const std::string& job_id, std::int64_t version, const boost::json::object& execution) override;
  void on_outcome_accepted(const std::string& job_id, const std::string& status) override;
  void on_outcome_rejected(const std::string& job_id, std::string_view payload) override;
  void after_download(std::int64_t version, const std::string& checksum, const std::string& new_version,
                      const download_result& result);
  void finish(std::int64_t version, const std::string& new_version);

  // Fixed at construction.
  device_fate fate_;
  rollout_tally& tally_;
  download_pool* downloads_;

  // On the strand only.
  std::string version_;
  std::uint64_t executions_ = 0;
  std::uint64_t downloaded_bytes_ = 0;
  std::string last_outcome_;
};

}  // namespace airfleet::sim
