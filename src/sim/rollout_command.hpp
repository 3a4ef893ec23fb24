// `airfleet-sim rollout`: a fleet rehearsal. Against a running airfleet (or
// anything that speaks the same AWS APIs and MQTT), through its public
// interfaces only:
//
//   1. provision: a device policy (the recipe's: each certificate may
//      connect as its own thing and use only that thing's jobs topics), a
//      thing group, and N things <prefix>-<i> in it, each with its own
//      certificate (CreateThing, AddThingToThingGroup,
//      CreateKeysAndCertificate, AttachPolicy, AttachThingPrincipal), over
//      --api-parallel signed keep-alive connections;
//   2. firmware (--firmware-size): a random image (from --seed) put into an
//      S3 bucket; the job document points at it with a
//      ${aws:iot:s3-presigned-url:...} placeholder and carries its SHA-256;
//   3. connect: every device over MQTT/TLS with its own certificate,
//      subscribed as the AWS device SDK's jobs sample is;
//   4. CreateJob for the group (SNAPSHOT) with the recipe's firmwareUpdate
//      document and the given rollout, abort and timeout configs;
//   5. run: devices do their part (firmware_device.hpp: download and check
//      the image, then succeed, or fail, reject or hang at the given rates)
//      while DescribeJob is polled and progress shown, until the job is
//      COMPLETED or CANCELED (or --timeout);
//   6. report: one JSON line on stdout,
//        {"devices":N,"things":T,"succeeded":..,"failed":..,"rejected":..,
//         "timed_out":..,"canceled":..,"queued":..,"in_progress":..,
//         "status":"COMPLETED|CANCELED|..","reason_code":..,
//         "seconds":..  CreateJob sent .. the first DescribeJob that saw the
//                       job final (polled every --poll-ms),
//         "server_seconds":..  the job's createdAt .. completedAt,
//         "p50_notify_to_start_ms", "p99_notify_to_start_ms": per device,
//                       notify-next naming the job .. start-next accepted,
//         "p50_notify_to_outcome_ms", "p99_notify_to_outcome_ms",
//         "provision_s", "connect_s", the image's size, SHA-256 and S3 object,
//         downloads, checksum mismatches,
//         "devices_updated" (devices now running the new version),
//         "devices_untouched" (devices never handed an execution),
//         server CPU and peak RSS (--server-pid), "ok"}
//      and, with --devices-report FILE, one JSON line per device (thing,
//      fate, executions, last outcome, bytes downloaded, version).
//
// The counts in the final line are the job's (the server's
// jobProcessDetails): with things in the group that are not the
// simulator's (real agents, say), "things" counts them too.
//
// Exit status: 0 when the job ended (COMPLETED or CANCELED) within
// --timeout and the simulator saw nothing wrong (every device connected
// and stayed connected, every image matched its checksum, every download
// worked, every reply was readable); 1 otherwise; 2 for bad options.
#pragma once

#include <cstdint>
#include <string>

namespace airfleet::sim {

struct rollout_options {
  // Where and who.
  std::string endpoint = "http://127.0.0.1:8080";
  std::string credentials;  // AWS shared-credentials file
  std::string profile = "default";
  std::string ca;           // trust anchors for MQTT/TLS and https
  std::string mqtt = "127.0.0.1:8883";
  std::string transport = "tls";
  std::string server_name;  // name to expect in the broker's certificate (default: the --mqtt host)

  // The fleet.
  std::size_t devices = 100;
  std::string prefix = "sim";      // things are <prefix>-<i>
  std::string thing_group;         // default <prefix>-fleet
  std::string policy;              // default <prefix>-device-policy
  double fail_rate = 0;
  double reject_rate = 0;
  double hang_rate = 0;
  std::uint64_t seed = 1;

  // The firmware and the job.
  std::uint64_t firmware_size = 0;  // 0: no image, no download
  std::string firmware_version = "2.0.0";
  std::string bucket = "airfleet-sim-firmware";
  std::string job_id;              // default <prefix>-firmware-<time>
  std::string rollout;             // jobExecutionsRolloutConfig, shorthand or JSON
  std::string abort;               // abortConfig, shorthand or JSON
  std::int64_t in_progress_timeout = 0;  // minutes; 0: none (with --hang-rate: 1)

  // How.
  unsigned api_parallel = 16;
  unsigned download_parallel = 64;
  unsigned connect_parallel = 200;
  double connect_timeout = 60;  // seconds per device
  std::uint16_t keep_alive = 300;
  int mqtt_version = 4;
  unsigned threads = 1;
  std::string source_addresses;
  double timeout = 900;  // seconds from CreateJob
  unsigned poll_ms = 100;
  std::string progress = "auto";  // auto, bar, lines, none
  std::string devices_report;
  int server_pid = 0;
};

int run_rollout(const rollout_options& options);

}  // namespace airfleet::sim
