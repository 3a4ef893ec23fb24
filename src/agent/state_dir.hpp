// The agent's state directory: the device's two firmware slots and what is
// installed in them.
//
//   STATE/slots/a/image   slot A's image
//   STATE/slots/b/image   slot B's image
//   STATE/active          "a" or "b": the slot the device runs (a when missing)
//   STATE/version         the committed firmware version (missing: unknown)
//   STATE/job.json        the journal of the job in flight (journal.hpp)
//   STATE/download.part   the image being downloaded (grows; resumed with Range)
//
// `active`, `version`, `job.json` and the images are only ever replaced
// atomically (files.hpp). `active` is the single switch between slots: an
// install writes the *inactive* slot, so the running image is never touched,
// and flipping `active` is one rename.
#pragma once

#include "agent/journal.hpp"
#include "core/error.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace airfleet::agent {

class state_dir {
 public:
  // Creates the directory and the slot folders when missing. Fails when the
  // directory cannot be created or `active` holds something other than a/b.
  static core::result<state_dir> open(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path image_path(const std::string& slot) const { return root_ / "slots" / slot / "image"; }
  std::filesystem::path download_path() const { return root_ / "download.part"; }
  std::filesystem::path journal_path() const { return root_ / "job.json"; }

  // "a" or "b".
  core::result<std::string> active_slot() const;
  core::result<void> set_active_slot(const std::string& slot);
  static std::string other_slot(const std::string& slot) { return slot == "a" ? "b" : "a"; }

  // The committed version; nullopt when none was ever written.
  core::result<std::optional<std::string>> version() const;
  core::result<void> set_version(const std::string& version);

  // Copies `image` into `slot` (atomically: the slot holds the old image or
  // the new one, never part of it).
  core::result<void> install_image(const std::string& slot, const std::filesystem::path& image);

  core::result<std::optional<job_record>> load_journal() const;
  core::result<void> save_journal(const job_record& record);
  void remove_journal();
  void remove_download();

 private:
  explicit state_dir(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path root_;
};

}  // namespace airfleet::agent
