// Durable file operations for the state directory.
//
// A file that must never be seen half-written (the active slot, the version,
// the journal, an installed image) is replaced the POSIX way: write a
// temporary file beside it, fsync it, rename it over the old one, and fsync
// the directory so that the rename itself survives a power cut. After a
// crash the file holds either the old content or the new, never a mix.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace airfleet::agent {

// Replaces `path` with `content` atomically and durably (see above).
core::result<void> write_file_atomically(const std::filesystem::path& path, std::string_view content);

// Copies `from` to `to` atomically and durably (temporary + fsync + rename +
// fsync of the directory).
core::result<void> copy_file_atomically(const std::filesystem::path& from, const std::filesystem::path& to);

// The whole file; nullopt when it does not exist; an error when it cannot be read.
core::result<std::optional<std::string>> read_file(const std::filesystem::path& path);

// fsync of a file or directory by path.
core::result<void> sync_path(const std::filesystem::path& path);

// Removes `path` if it exists (and syncs its directory); errors are ignored
// because a leftover file is always recognised and cleaned up later.
void remove_file(const std::filesystem::path& path);

// The SHA-256 of a file, as lower-case hex, read in chunks.
core::result<std::string> sha256_file(const std::filesystem::path& path);

// Size of a file in bytes; 0 when it does not exist.
std::uint64_t file_size_or_zero(const std::filesystem::path& path);

}  // namespace airfleet::agent
