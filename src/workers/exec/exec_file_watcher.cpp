#include "workers/exec/exec_file_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace iii {
namespace {

namespace fs = std::filesystem;

// What counts as a change: a file written, created, deleted or renamed. IN_MODIFY fires on every
// write; the runner's debounce folds them into one restart.
constexpr uint32_t kFileEvents = IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO;

}  // namespace

ExecFileWatcher::ExecFileWatcher(std::vector<WatchPattern> patterns, Warn warn)
    : patterns_(std::move(patterns)), warn_(std::move(warn)) {
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(std::string("inotify: ") + std::strerror(errno));
  for (const auto& p : patterns_) {
    if (p.extensions.empty())
      warn_("`" + p.text + "` names no file extension, so it never matches (patterns match by directory and extension)");
    std::error_code ec;
    if (!fs::is_directory(p.directory(), ec)) {
      warn_("`" + p.text + "`: " + p.directory().string() + " is not a directory; changes there are not seen");
      continue;
    }
    add(p.directory(), p.recursive, false);
  }
}

ExecFileWatcher::~ExecFileWatcher() {
  if (fd_ >= 0) close(fd_);
}

bool ExecFileWatcher::add_one(const fs::path& dir, bool recursive) {
  if (dirs_.size() >= kMaxWatchedDirs) {
    if (!bound_warned_) warn_("more than " + std::to_string(kMaxWatchedDirs) + " directories to watch; changes in the others are not seen");
    bound_warned_ = true;
    return false;
  }
  const int wd = inotify_add_watch(fd_, dir.c_str(), kFileEvents | IN_ONLYDIR);
  if (wd < 0) {
    if (!bound_warned_ && errno == ENOSPC) {
      warn_("the system's inotify watch limit is reached (fs.inotify.max_user_watches); changes in " + dir.string() + " are not seen");
      bound_warned_ = true;
    }
    return false;
  }
  Dir& d = dirs_[wd];  // the same directory under two patterns: one watch, recursive if either is
  d.path = dir;
  d.recursive = d.recursive || recursive;
  return true;
}

std::optional<std::string> ExecFileWatcher::add(const fs::path& dir, bool recursive, bool scan_files) {
  std::optional<std::string> found;
  if (!add_one(dir, recursive) || !recursive) return found;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    const bool is_dir = it->is_directory(ec) && !it->is_symlink(ec);
    if (is_dir && !add_one(it->path(), true)) it.disable_recursion_pending();
    if (!is_dir && scan_files && !found && any_watch_match(patterns_, it->path())) found = it->path().string();
  }
  return found;
}

std::optional<std::string> ExecFileWatcher::read_changes() {
  std::optional<std::string> changed;
  alignas(inotify_event) char buf[16 * 1024];
  for (;;) {
    const ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    for (char* p = buf; p < buf + n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(p);
      p += sizeof(inotify_event) + e->len;
      if (e->mask & IN_Q_OVERFLOW) {
        if (!changed) changed = "(too many changes at once: some events were lost)";
        continue;
      }
      if (e->mask & IN_IGNORED) {
        dirs_.erase(e->wd);  // the directory was deleted or unmounted
        continue;
      }
      auto it = dirs_.find(e->wd);
      if (it == dirs_.end() || e->len == 0) continue;
      const fs::path path = it->second.path / e->name;
      if (e->mask & IN_ISDIR) {
        if (it->second.recursive && (e->mask & (IN_CREATE | IN_MOVED_TO))) {
          const bool recursive = it->second.recursive;  // `it` may be invalidated by add()
          if (auto inside = add(path, recursive, true); inside && !changed) changed = std::move(inside);
        }
        continue;
      }
      if (!changed && any_watch_match(patterns_, path)) changed = path.string();
    }
  }
  return changed;
}

}  // namespace iii
