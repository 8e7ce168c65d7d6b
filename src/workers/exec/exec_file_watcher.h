// The `watch` side of iii-exec (docs/builtins.md §11.2): inotify watches on the directories the
// patterns name (every subdirectory too for `**`, including ones created later), read without
// blocking by the runner's poll loop. Linux only.
//
// Bounds: at most kMaxWatchedDirs directories per block (the rest are not seen, and a warning
// says so); one read buffer. A root that does not exist is reported once and not watched.
#pragma once
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "workers/exec/watch_glob.h"

namespace iii {

class ExecFileWatcher {
 public:
  static constexpr size_t kMaxWatchedDirs = 8192;
  using Warn = std::function<void(const std::string&)>;

  // Throws std::runtime_error when inotify cannot be set up at all.
  ExecFileWatcher(std::vector<WatchPattern> patterns, Warn warn);
  ~ExecFileWatcher();
  ExecFileWatcher(const ExecFileWatcher&) = delete;
  ExecFileWatcher& operator=(const ExecFileWatcher&) = delete;

  // Readable when events are pending (non-blocking).
  int fd() const { return fd_; }
  // Reads every pending event. Returns a changed file that matches a pattern (the first one), or
  // a description of why a restart is due anyway (events were lost to a queue overflow).
  std::optional<std::string> read_changes();

 private:
  struct Dir {
    std::filesystem::path path;
    bool recursive = false;
  };
  // Watches `dir` (and, when recursive, its subdirectories). Returns a matching file found
  // inside a directory that appeared after start (its files may predate the watch).
  std::optional<std::string> add(const std::filesystem::path& dir, bool recursive, bool scan_files);
  bool add_one(const std::filesystem::path& dir, bool recursive);

  std::vector<WatchPattern> patterns_;
  Warn warn_;
  int fd_ = -1;
  std::unordered_map<int, Dir> dirs_;
  bool bound_warned_ = false;
};

}  // namespace iii
