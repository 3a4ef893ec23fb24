// Settings files for airfleet's programs: a TOML file named by --config
// whose keys are flag names. Its keys become leading "--key=value"
// arguments, so anything on the command line (which comes after) wins.
// Header-only: the programs that use it link CLI11 already.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace airfleet::core {

// The value of --config among the raw arguments from `first` on, or else
// the environment variable `env` (when given).
inline std::string find_config(int argc, char** argv, int first = 1, const char* env = nullptr) {
  std::string path;
  if (env)
    if (const char* value = std::getenv(env)) path = value;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) path = argv[i + 1];
    else if (a.rfind("--config=", 0) == 0) path = a.substr(9);
  }
  return path;
}

// Each key of the TOML file as a flag; keys may sit at the top level or
// under [section].
inline std::vector<std::string> config_arguments(const std::string& path, const std::string& section) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  std::ifstream in(path);
  if (!in) throw CLI::FileError::Missing(path);
  for (const auto& item : CLI::ConfigTOML().from_config(in)) {
    if (!item.parents.empty() && !(item.parents.size() == 1 && item.parents[0] == section)) continue;
    if (item.name == "config" || item.name == "++" || item.name == "--") continue;
    for (const auto& value : item.inputs) out.push_back("--" + item.name + "=" + value);
  }
  return out;
}

}  // namespace airfleet::core
