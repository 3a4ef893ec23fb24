#include "agent/curl_downloader.hpp"

#include "agent/backoff.hpp"
#include "agent/files.hpp"
#include "core/strings.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <thread>

namespace airfleet::agent {

namespace {

constexpr std::size_t max_error_body = 2048;
constexpr long max_redirects = 5;

// One transfer's state, shared with libcurl's callbacks.
struct transfer {
  int fd = -1;
  std::uint64_t offset = 0;   // bytes in the part file when the request was sent
  std::uint64_t written = 0;  // bytes in the part file now
  std::optional<std::uint64_t> total;
  std::uint64_t max_bytes = 0;
  long status = 0;                           // set once the body starts
  std::optional<std::uint64_t> range_start;  // from Content-Range
  std::optional<std::uint64_t> range_total;
  bool started = false;
  bool too_large = false;
  bool bad_range = false;
  bool write_failed = false;
  std::string error_body;
  CURL* curl = nullptr;
  const std::function<bool(const download_progress&)>* on_progress = nullptr;
  bool aborted_by_caller = false;
};

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  text = core::trim(text);
  if (!core::all_digits(text) || text.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  return v;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<transfer*>(user);
  std::string_view line(data, size * count);
  auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    // A new status line (after a redirect or 100 Continue) starts a new header block.
    if (core::starts_with(line, "HTTP/")) {
      t.range_start.reset();
      t.range_total.reset();
    }
    return size * count;
  }
  if (!core::iequals(core::trim(line.substr(0, colon)), "content-range")) return size * count;
  // Content-Range: bytes START-END/TOTAL  or  bytes */TOTAL
  auto value = core::trim(line.substr(colon + 1));
  if (core::starts_with(value, "bytes ")) value = core::trim(value.substr(6));
  auto slash = value.find('/');
  if (slash != std::string_view::npos) {
    t.range_total = parse_u64(value.substr(slash + 1));
    auto dash = value.find('-');
    if (dash != std::string_view::npos && dash < slash) t.range_start = parse_u64(value.substr(0, dash));
  }
  return size * count;
}

// The first body bytes: decide what the status means for the part file.
bool begin_body(transfer& t) {
  t.started = true;
  curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
  if (t.status == 206) {
    if (!t.range_start || *t.range_start != t.offset) {
      t.bad_range = true;
      return false;
    }
    t.total = t.range_total;
  } else if (t.status == 200) {
    if (t.offset > 0) {
      // The whole image came back: start the part file over.
      if (::ftruncate(t.fd, 0) != 0) {
        t.write_failed = true;
        return false;
      }
      t.offset = t.written = 0;
    }
    curl_off_t length = -1;
    curl_easy_getinfo(t.curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (length >= 0) t.total = static_cast<std::uint64_t>(length);
  }
  if (t.total && *t.total > t.max_bytes) {
    t.too_large = true;
    return false;
  }
  return true;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<transfer*>(user);
  std::size_t n = size * count;
  if (!t.started && !begin_body(t)) return 0;
  if (t.status != 200 && t.status != 206) {
    // An error body: keep its start for the message, never in the part file.
    if (t.error_body.size() < max_error_body)
      t.error_body.append(data, std::min(n, max_error_body - t.error_body.size()));
    return n;
  }
  if (t.written + n > t.max_bytes) {
    t.too_large = true;
    return 0;
  }
  std::size_t done = 0;
  while (done < n) {
    auto w = ::write(t.fd, data + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      t.write_failed = true;
      return 0;
    }
    done += static_cast<std::size_t>(w);
  }
  t.written += n;
  return n;
}

int on_transfer_info(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& t = *static_cast<transfer*>(user);
  if (!(*t.on_progress)(download_progress{t.written, t.total})) {
    t.aborted_by_caller = true;
    return 1;
  }
  return 0;
}

// Closes the part file and makes what was written durable.
void close_part(transfer& t) {
  if (t.fd >= 0) {
    ::fsync(t.fd);
    ::close(t.fd);
    t.fd = -1;
  }
}

std::string redact(const std::string& url) { return url.substr(0, url.find('?')); }

}  // namespace

curl_downloader::curl_downloader(download_settings settings, std::function<bool()> stopping)
    : settings_(std::move(settings)), stopping_(std::move(stopping)) {}

download_result curl_downloader::fetch(const std::string& url, const std::filesystem::path& part,
                                       const std::function<bool(const download_progress&)>& on_progress) {
  download_result result;
  result.resumed = file_size_or_zero(part) > 0;
  backoff delays(settings_.retry_initial, settings_.retry_maximum, std::random_device{}());
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) {
    result.error = "cannot initialise libcurl";
    return result;
  }

  for (int attempt = 1;; ++attempt) {
    transfer t;
    t.curl = curl.get();
    t.max_bytes = settings_.max_image_bytes;
    t.on_progress = &on_progress;
    t.fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (t.fd < 0) {
      result.error = "cannot open " + part.string() + ": " + std::strerror(errno);
      return result;
    }
    t.offset = t.written = file_size_or_zero(part);
    if (t.offset > 0) result.resumed = true;

    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_easy_reset(curl.get());
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, max_redirects);
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (!settings_.ca_file.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, settings_.ca_file.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, static_cast<long>(settings_.connect_timeout.count()));
    curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, static_cast<long>(settings_.stall_timeout.count()));
    if (settings_.max_bytes_per_second > 0)
      curl_easy_setopt(curl.get(), CURLOPT_MAX_RECV_SPEED_LARGE,
                       static_cast<curl_off_t>(settings_.max_bytes_per_second));
    if (t.offset > 0) curl_easy_setopt(curl.get(), CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(t.offset));
    curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, on_transfer_info);
    curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &t);

    if (t.offset > 0)
      spdlog::info("GET {} (Range: bytes={}-)", redact(url), t.offset);
    else
      spdlog::info("GET {}", redact(url));
    CURLcode code = curl_easy_perform(curl.get());
    close_part(t);
    long status = t.status;
    if (status == 0) curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    result.http_status = status;

    if (t.aborted_by_caller) {
      result.outcome = download_result::status::interrupted;
      return result;
    }
    if (t.too_large) {
      result.error = "the image exceeds " + std::to_string(settings_.max_image_bytes) + " bytes";
      return result;
    }
    if (t.write_failed) {
      result.error = "cannot write " + part.string() + ": " + std::strerror(errno);
      return result;
    }

    std::string failure;
    bool retry = true, immediately = false;
    if (code == CURLE_OK && (status == 200 || status == 206)) {
      spdlog::info("download complete: {} bytes (HTTP {})", t.written, status);
      result.outcome = download_result::status::complete;
      return result;
    }
    if (code == CURLE_OK && status == 416 && t.offset > 0) {
      // Nothing after byte N: the part file already holds the whole image.
      spdlog::info("download already complete: {} bytes (HTTP 416)", t.offset);
      result.outcome = download_result::status::complete;
      return result;
    }
    if (t.bad_range || code == CURLE_RANGE_ERROR) {
      failure = "the server did not resume at byte " + std::to_string(t.offset) + "; starting over";
      if (::truncate(part.c_str(), 0) != 0) {
        result.error = "cannot truncate " + part.string() + ": " + std::strerror(errno);
        return result;
      }
      immediately = true;
    } else if (code != CURLE_OK) {
      failure = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
      retry = code != CURLE_UNSUPPORTED_PROTOCOL && code != CURLE_URL_MALFORMAT;
    } else {
      failure = "HTTP " + std::to_string(status);
      auto body = core::collapse_spaces(t.error_body.substr(0, 300));
      if (!body.empty()) failure += ": " + body;
      retry = status >= 500 || status == 408 || status == 429;
    }
    result.error = failure;
    if (!retry || attempt >= settings_.max_attempts) {
      spdlog::warn("download failed: {}", failure);
      return result;
    }
    if (immediately) {
      spdlog::warn("download attempt {}: {}", attempt, failure);
      continue;
    }
    auto delay = delays.next();
    spdlog::warn("download attempt {} failed: {}; retrying in {} ms", attempt, failure, delay.count());
    auto until = std::chrono::steady_clock::now() + delay;
    while (std::chrono::steady_clock::now() < until) {
      if ((stopping_ && stopping_()) || !on_progress(download_progress{file_size_or_zero(part), t.total})) {
        result.outcome = download_result::status::interrupted;
        return result;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace airfleet::agent
