// A SQLite VFS shim for crash tests, in the spirit of leveldb's
// fault_injection_test: it passes every call through to the real VFS but
// remembers, per file, how to undo each write and truncate that has not been
// followed by an xSync of that file. simulate_crash() then
//   1. drops every later write, sync, truncate and delete (the process is
//      "dead": closing connections must not tidy up the files), and
//   2. on reset(), undoes every unsynced change, newest first, and removes
//      the shared-memory index (it lives in page cache only),
// leaving the files as a power cut would have left them if the disk kept only
// what was synced. kill -9 alone cannot catch a missing fsync; this can.
#pragma once

#include <string>

namespace airfleet::storage::fault_injection {

// Registers the shim under `name`, wrapping the default VFS. Idempotent.
void register_vfs(const std::string& name);
// From now on, drop all writes/syncs/truncates/deletes (the process died).
void simulate_crash();
// Undo all unsynced changes, forget the bookkeeping and accept writes again.
// Call after every connection to the crashed database was closed.
void reset_after_crash();
// How many writes have been recorded as unsynced right now (for tests of the shim).
std::size_t unsynced_writes();

}  // namespace airfleet::storage::fault_injection
