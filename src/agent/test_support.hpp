// Shared by the agent's unit tests: a scratch directory removed afterwards.
#pragma once

#include "core/crypto.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace airfleet::agent::testing {

class scratch_dir {
 public:
  scratch_dir()
      : path_(std::filesystem::temp_directory_path() /
              ("airfleet-agent-test-" + core::random_string(12, "abcdefghij"))) {
    std::filesystem::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline void spill(const std::filesystem::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

}  // namespace airfleet::agent::testing
