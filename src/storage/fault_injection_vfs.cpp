#include "storage/fault_injection_vfs.hpp"

#include <sqlite3.h>

#include <cstring>
#include <map>
#include <mutex>
#include <unistd.h>
#include <vector>

namespace airfleet::storage::fault_injection {

namespace {

// How to put a file back as it was before one unsynced change.
struct undo_record {
  sqlite3_int64 offset;
  std::string old_bytes;      // bytes that were at [offset, offset + old_bytes.size())
  sqlite3_int64 old_size;     // file size before the change
};

struct state {
  std::mutex mutex;
  bool crashed = false;
  std::map<std::string, std::vector<undo_record>> unsynced;  // by file path
  std::vector<std::string> shm_files;
};
state& global() {
  static state s;
  return s;
}

sqlite3_vfs* base_vfs = nullptr;
sqlite3_vfs shim_vfs;
std::string shim_name;

struct shim_file {
  sqlite3_file base;           // must be first: SQLite sees a sqlite3_file*
  sqlite3_file* real;          // the wrapped file, allocated after this struct
  std::string* path;
};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<shim_file*>(f)->real; }
const std::string& path_of(sqlite3_file* f) { return *reinterpret_cast<shim_file*>(f)->path; }

sqlite3_int64 file_size(sqlite3_file* real) {
  sqlite3_int64 size = 0;
  real->pMethods->xFileSize(real, &size);
  return size;
}

std::string read_existing(sqlite3_file* real, sqlite3_int64 offset, int amount, sqlite3_int64 size) {
  if (offset >= size) return {};
  auto available = static_cast<int>(std::min<sqlite3_int64>(amount, size - offset));
  std::string bytes(static_cast<std::size_t>(available), '\0');
  real->pMethods->xRead(real, bytes.data(), available, offset);
  return bytes;
}

int x_close(sqlite3_file* f) {
  auto* shim = reinterpret_cast<shim_file*>(f);
  int rc = shim->real->pMethods ? shim->real->pMethods->xClose(shim->real) : SQLITE_OK;
  delete shim->path;
  return rc;
}
int x_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  return real_of(f)->pMethods->xRead(real_of(f), buf, amount, offset);
}
int x_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  auto& g = global();
  std::lock_guard lock(g.mutex);
  if (g.crashed) return SQLITE_OK;  // a dead process writes nothing
  sqlite3_file* real = real_of(f);
  sqlite3_int64 size = file_size(real);
  g.unsynced[path_of(f)].push_back({offset, read_existing(real, offset, amount, size), size});
  return real->pMethods->xWrite(real, buf, amount, offset);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  auto& g = global();
  std::lock_guard lock(g.mutex);
  if (g.crashed) return SQLITE_OK;
  sqlite3_file* real = real_of(f);
  sqlite3_int64 old_size = file_size(real);
  if (size < old_size) {
    g.unsynced[path_of(f)].push_back(
        {size, read_existing(real, size, static_cast<int>(old_size - size), old_size), old_size});
  }
  return real->pMethods->xTruncate(real, size);
}
int x_sync(sqlite3_file* f, int flags) {
  auto& g = global();
  std::lock_guard lock(g.mutex);
  if (g.crashed) return SQLITE_OK;
  int rc = real_of(f)->pMethods->xSync(real_of(f), flags);
  if (rc == SQLITE_OK) g.unsynced.erase(path_of(f));
  return rc;
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
int x_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
int x_unlock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
int x_check_reserved_lock(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int x_device_characteristics(sqlite3_file* f) {
  return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
int x_shm_map(sqlite3_file* f, int page, int page_size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), page, page_size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int x_shm_unmap(sqlite3_file* f, int delete_flag) {
  // After a crash the index must not be deleted by a tidy close; reset removes it.
  if (global().crashed) delete_flag = 0;
  return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

const sqlite3_io_methods shim_methods = {
    2,  // version 2: shared memory for WAL, but no memory-mapped I/O (every write is seen)
    x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock,
    x_check_reserved_lock, x_file_control, x_sector_size, x_device_characteristics,
    x_shm_map, x_shm_lock, x_shm_barrier, x_shm_unmap, nullptr, nullptr};

int v_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* shim = reinterpret_cast<shim_file*>(f);
  shim->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + sizeof(shim_file));
  shim->path = new std::string(name ? name : "");
  int rc = base_vfs->xOpen(base_vfs, name, shim->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    delete shim->path;
    shim->base.pMethods = nullptr;
    return rc;
  }
  if (flags & SQLITE_OPEN_MAIN_DB) {
    std::lock_guard lock(global().mutex);
    global().shm_files.push_back(*shim->path + "-shm");
  }
  shim->base.pMethods = &shim_methods;
  return SQLITE_OK;
}
int v_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  if (global().crashed) return SQLITE_OK;
  {
    std::lock_guard lock(global().mutex);
    global().unsynced.erase(name);
  }
  return base_vfs->xDelete(base_vfs, name, sync_dir);
}
int v_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return base_vfs->xAccess(base_vfs, name, flags, out);
}
int v_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return base_vfs->xFullPathname(base_vfs, name, n, out);
}
void* v_dl_open(sqlite3_vfs*, const char* name) { return base_vfs->xDlOpen(base_vfs, name); }
void v_dl_error(sqlite3_vfs*, int n, char* out) { base_vfs->xDlError(base_vfs, n, out); }
void (*v_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return base_vfs->xDlSym(base_vfs, handle, symbol);
}
void v_dl_close(sqlite3_vfs*, void* handle) { base_vfs->xDlClose(base_vfs, handle); }
int v_randomness(sqlite3_vfs*, int n, char* out) { return base_vfs->xRandomness(base_vfs, n, out); }
int v_sleep(sqlite3_vfs*, int micros) { return base_vfs->xSleep(base_vfs, micros); }
int v_current_time(sqlite3_vfs*, double* out) { return base_vfs->xCurrentTime(base_vfs, out); }
int v_get_last_error(sqlite3_vfs*, int n, char* out) {
  return base_vfs->xGetLastError ? base_vfs->xGetLastError(base_vfs, n, out) : 0;
}
int v_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

}  // namespace

void register_vfs(const std::string& name) {
  static std::once_flag once;
  std::call_once(once, [&] {
    base_vfs = sqlite3_vfs_find(nullptr);
    shim_name = name;
    std::memset(&shim_vfs, 0, sizeof shim_vfs);
    shim_vfs.iVersion = 2;
    shim_vfs.szOsFile = static_cast<int>(sizeof(shim_file)) + base_vfs->szOsFile;
    shim_vfs.mxPathname = base_vfs->mxPathname;
    shim_vfs.zName = shim_name.c_str();
    shim_vfs.xOpen = v_open;
    shim_vfs.xDelete = v_delete;
    shim_vfs.xAccess = v_access;
    shim_vfs.xFullPathname = v_full_pathname;
    shim_vfs.xDlOpen = v_dl_open;
    shim_vfs.xDlError = v_dl_error;
    shim_vfs.xDlSym = v_dl_sym;
    shim_vfs.xDlClose = v_dl_close;
    shim_vfs.xRandomness = v_randomness;
    shim_vfs.xSleep = v_sleep;
    shim_vfs.xCurrentTime = v_current_time;
    shim_vfs.xGetLastError = v_get_last_error;
    shim_vfs.xCurrentTimeInt64 = v_current_time_int64;
    sqlite3_vfs_register(&shim_vfs, 0);
  });
}

void simulate_crash() {
  std::lock_guard lock(global().mutex);
  global().crashed = true;
}

void reset_after_crash() {
  auto& g = global();
  std::lock_guard lock(g.mutex);
  for (auto& [path, records] : g.unsynced) {
    sqlite3_file* real = static_cast<sqlite3_file*>(sqlite3_malloc(base_vfs->szOsFile));
    std::memset(real, 0, static_cast<std::size_t>(base_vfs->szOsFile));
    int out_flags = 0;
    // Reopen through the real VFS as a plain file to roll the bytes back.
    if (base_vfs->xOpen(base_vfs, path.c_str(), real, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MAIN_JOURNAL,
                        &out_flags) == SQLITE_OK) {
      for (auto it = records.rbegin(); it != records.rend(); ++it) {
        if (!it->old_bytes.empty())
          real->pMethods->xWrite(real, it->old_bytes.data(), static_cast<int>(it->old_bytes.size()),
                                 it->offset);
        real->pMethods->xTruncate(real, it->old_size);
      }
      real->pMethods->xSync(real, SQLITE_SYNC_NORMAL);
      real->pMethods->xClose(real);
    }
    sqlite3_free(real);
  }
  g.unsynced.clear();
  for (const auto& shm : g.shm_files) ::unlink(shm.c_str());
  g.shm_files.clear();
  g.crashed = false;
}

std::size_t unsynced_writes() {
  auto& g = global();
  std::lock_guard lock(g.mutex);
  std::size_t n = 0;
  for (auto& [path, records] : g.unsynced) n += records.size();
  return n;
}

}  // namespace airfleet::storage::fault_injection
