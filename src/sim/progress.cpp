#include "sim/progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace airfleet::sim {

namespace {

std::string fixed(double v, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, v);
  return text;
}

std::string counts_text(const job_counts& c) {
  std::string out = "succeeded " + std::to_string(c.succeeded) + ", failed " + std::to_string(c.failed) +
                    ", rejected " + std::to_string(c.rejected) + ", timed out " + std::to_string(c.timed_out) +
                    ", canceled " + std::to_string(c.canceled) + ", queued " + std::to_string(c.queued) +
                    ", in progress " + std::to_string(c.in_progress);
  if (c.removed) out += ", removed " + std::to_string(c.removed);
  return out;
}

std::string tail_text(const progress_snapshot& s) {
  std::string out = " | rollout " + fixed(s.rate_per_minute, 0) + "/min";
  if (s.downloads_active) out += " | downloading " + std::to_string(s.downloads_active);
  return out;
}

}  // namespace

std::string render_bar(const progress_snapshot& s, std::size_t width, std::size_t columns) {
  const double total = static_cast<double>(std::max<std::uint64_t>(s.targets, s.counts.created()));
  const double done = total > 0 ? static_cast<double>(s.counts.finished()) / total : 0;
  const double out = total > 0 ? static_cast<double>(s.counts.created()) / total : 0;
  const auto filled = static_cast<std::size_t>(std::floor(done * static_cast<double>(width)));
  const auto reached = std::max(filled, static_cast<std::size_t>(std::floor(out * static_cast<double>(width))));
  std::string bar = "[";
  for (std::size_t i = 0; i < width; ++i) bar += i < filled ? '#' : i < reached ? '=' : '.';
  bar += "] " + fixed(done * 100, 0) + "% " + fixed(s.elapsed_s, 1) + "s " + s.status + " | " + counts_text(s.counts) +
         tail_text(s);
  if (columns > 0 && bar.size() >= columns) bar.resize(columns - 1);
  return bar;
}

std::string render_line(const progress_snapshot& s) {
  return fixed(s.elapsed_s, 1) + "s " + s.status + ": " + std::to_string(s.counts.finished()) + " of " +
         std::to_string(std::max<std::uint64_t>(s.targets, s.counts.created())) + " done; " + counts_text(s.counts) +
         tail_text(s);
}

void rollout_rate::add(std::chrono::steady_clock::time_point at, std::uint64_t created) {
  samples_.emplace_back(at, created);
  while (samples_.size() > 2 && samples_.front().first < at - window_) samples_.pop_front();
}

double rollout_rate::per_minute() const {
  if (samples_.size() < 2) return 0;
  const auto& [t0, n0] = samples_.front();
  const auto& [t1, n1] = samples_.back();
  const double seconds = std::chrono::duration<double>(t1 - t0).count();
  if (seconds <= 0 || n1 < n0) return 0;
  return static_cast<double>(n1 - n0) / seconds * 60;
}

}  // namespace airfleet::sim
