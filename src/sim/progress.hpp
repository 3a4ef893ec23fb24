// What `airfleet-sim rollout` shows while a job runs: the job's execution
// counts per status (from DescribeJob's jobProcessDetails, the server's own
// bookkeeping), how far the rollout has got, and how fast it is rolling out
// now. On a terminal: one line redrawn in place with a bar; otherwise (a
// log file, CI) a plain line every few seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

namespace airfleet::sim {

// jobProcessDetails.
struct job_counts {
  std::uint64_t queued = 0, in_progress = 0, succeeded = 0, failed = 0, rejected = 0, timed_out = 0, canceled = 0,
                removed = 0;

  std::uint64_t created() const {  // executions that exist, whatever their status
    return queued + in_progress + succeeded + failed + rejected + timed_out + canceled + removed;
  }
  std::uint64_t finished() const { return succeeded + failed + rejected + timed_out + canceled + removed; }
};

struct progress_snapshot {
  double elapsed_s = 0;  // since CreateJob
  std::string status;    // the job's
  job_counts counts;
  std::uint64_t targets = 0;  // things the job is for
  double rate_per_minute = 0;
  std::uint64_t downloads_active = 0;  // started or waiting, not finished
};

// The bar line: `width` characters of bar ('#' finished, '=' under way,
// '.' not rolled out yet), then the counts, all cut to fit `columns - 1`
// characters (0: no limit) so redrawing it in place never wraps. ASCII only.
std::string render_bar(const progress_snapshot& s, std::size_t width, std::size_t columns);
// The periodic line.
std::string render_line(const progress_snapshot& s);

// Executions created per minute over the last `window`, from samples of the
// running total.
class rollout_rate {
 public:
  explicit rollout_rate(std::chrono::steady_clock::duration window) : window_(window) {}
  void add(std::chrono::steady_clock::time_point at, std::uint64_t created);
  double per_minute() const;

 private:
  std::chrono::steady_clock::duration window_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> samples_;
};

}  // namespace airfleet::sim
