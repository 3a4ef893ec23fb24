#include "agent/state_dir.hpp"

#include "agent/errors.hpp"
#include "agent/files.hpp"
#include "core/strings.hpp"

#include <system_error>

namespace airfleet::agent {

namespace fs = std::filesystem;

core::result<state_dir> state_dir::open(fs::path root) {
  std::error_code ec;
  for (const char* slot : {"a", "b"}) {
    fs::create_directories(root / "slots" / slot, ec);
    if (ec)
      return core::make_error(
          errc::io, "cannot create the state directory " + (root / "slots" / slot).string() + ": " + ec.message());
  }
  state_dir dir(std::move(root));
  if (auto active = dir.active_slot(); !active) return active.error();
  return dir;
}

core::result<std::string> state_dir::active_slot() const {
  auto text = read_file(root_ / "active");
  if (!text) return text.error();
  if (!*text) return std::string("a");
  auto slot = std::string(core::trim(**text));
  if (slot != "a" && slot != "b")
    return core::make_error(errc::corrupt_state, (root_ / "active").string() + " must hold a or b, not '" + slot + "'");
  return slot;
}

core::result<void> state_dir::set_active_slot(const std::string& slot) {
  return write_file_atomically(root_ / "active", slot + "\n");
}

core::result<std::optional<std::string>> state_dir::version() const {
  auto text = read_file(root_ / "version");
  if (!text) return text.error();
  if (!*text) return std::optional<std::string>{};
  return std::optional<std::string>(std::string(core::trim(**text)));
}

core::result<void> state_dir::set_version(const std::string& version) {
  return write_file_atomically(root_ / "version", version + "\n");
}

core::result<void> state_dir::install_image(const std::string& slot, const fs::path& image) {
  return copy_file_atomically(image, image_path(slot));
}

core::result<std::optional<job_record>> state_dir::load_journal() const {
  auto text = read_file(journal_path());
  if (!text) return text.error();
  if (!*text) return std::optional<job_record>{};
  auto record = job_record_from_json(**text);
  if (!record) return record.error();
  return std::optional<job_record>(std::move(*record));
}

core::result<void> state_dir::save_journal(const job_record& record) {
  return write_file_atomically(journal_path(), to_json(record));
}

void state_dir::remove_journal() { remove_file(journal_path()); }

void state_dir::remove_download() { remove_file(download_path()); }

}  // namespace airfleet::agent
