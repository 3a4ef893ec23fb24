// Downloads firmware images over HTTP or HTTPS with libcurl, resuming.
//
// The part file is the only record of progress: each attempt asks for the
// bytes after its current size with `Range: bytes=N-`
// (CURLOPT_RESUME_FROM_LARGE). A 206 whose Content-Range starts at N is
// appended; a 200 means the server sent the whole image, so the part file
// starts over; a 416 for a non-empty part means it is already complete (the
// checksum decides). Connection failures, stalls and 5xx/408/429 answers are
// retried with backoff, each retry resuming; other 4xx answers end the
// download (403 separately, so the caller can ask for a fresh presigned
// link). HTTPS verifies the server against the agent's --ca file.
#pragma once

#include "agent/job_runner.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace airfleet::agent {

struct download_settings {
  std::string ca_file;                         // trust anchor for https URLs
  std::uint64_t max_bytes_per_second = 0;      // 0 = unlimited
  std::uint64_t max_image_bytes = 1ull << 30;  // larger images are refused
  int max_attempts = 6;                        // per fetch(), transient failures included
  std::chrono::seconds connect_timeout{15};
  std::chrono::seconds stall_timeout{60};  // no byte for this long: retry
  std::chrono::milliseconds retry_initial{1000};
  std::chrono::milliseconds retry_maximum{30000};
};

class curl_downloader final : public downloader {
 public:
  curl_downloader(download_settings settings, std::function<bool()> stopping);

  download_result fetch(const std::string& url, const std::filesystem::path& part,
                        const std::function<bool(const download_progress&)>& on_progress) override;

 private:
  download_settings settings_;
  std::function<bool()> stopping_;
};

}  // namespace airfleet::agent
