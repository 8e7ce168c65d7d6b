#include "workers/directory_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <boost/asio.hpp>

#include <array>
#include <atomic>
#include <system_error>

namespace iii {

namespace asio = boost::asio;

namespace {
constexpr uint32_t kDirectoryEvents =
    IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF;
constexpr uint32_t kParentEvents = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR;
}  // namespace

struct DirectoryWatcher::Impl : std::enable_shared_from_this<DirectoryWatcher::Impl> {
  Impl(asio::io_context& io, std::filesystem::path directory, std::function<bool(std::string_view)> relevant,
       std::function<void()> on_change, std::chrono::milliseconds debounce)
      : strand(asio::make_strand(io)),
        descriptor(strand),
        timer(strand),
        directory(std::move(directory)),
        name(this->directory.filename().string()),
        relevant(std::move(relevant)),
        on_change(std::move(on_change)),
        debounce(debounce) {}

  // The directory itself when it exists; else its parent, to see it appear. On the strand (or
  // before the first read).
  bool watch_what_exists() {
    if (directory_wd < 0) {
      directory_wd = inotify_add_watch(fd, directory.c_str(), kDirectoryEvents | IN_ONLYDIR);
      if (directory_wd >= 0 && parent_wd >= 0) {
        inotify_rm_watch(fd, parent_wd);  // not needed while the directory is there
        parent_wd = -1;
        return true;  // it appeared: files may already be in it
      }
    }
    if (directory_wd < 0 && parent_wd < 0)
      parent_wd = inotify_add_watch(fd, directory.parent_path().c_str(), kParentEvents);
    return false;
  }

  void read_next() {
    descriptor.async_read_some(asio::buffer(buffer), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      if (ec || self->stopped) return;  // closed by stop()
      self->handle_events(n);
      self->read_next();
    });
  }

  void handle_events(size_t n) {
    bool changed = false;
    for (size_t pos = 0; pos + sizeof(inotify_event) <= n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer.data() + pos);
      pos += sizeof(inotify_event) + event->len;
      if (event->wd == directory_wd && directory_wd >= 0) {
        if (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          directory_wd = -1;  // gone: wait for it to come back
          changed = true;
        } else if (event->len > 0 && relevant(event->name)) {
          changed = true;
        }
      }
    }
    if (directory_wd < 0) changed = watch_what_exists() || changed;
    if (changed) schedule();
  }

  void schedule() {
    if (pending || stopped) return;
    pending = true;
    timer.expires_after(debounce);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      self->pending = false;
      if (!ec && !self->stopped) self->on_change();
    });
  }

  asio::strand<asio::io_context::executor_type> strand;
  asio::posix::stream_descriptor descriptor;
  asio::steady_timer timer;
  const std::filesystem::path directory;
  const std::string name;
  const std::function<bool(std::string_view)> relevant;
  const std::function<void()> on_change;
  const std::chrono::milliseconds debounce;
  int fd = -1;
  int directory_wd = -1, parent_wd = -1;
  bool pending = false;
  std::atomic<bool> stopped{false};
  alignas(inotify_event) std::array<char, 8192> buffer{};
};

DirectoryWatcher::DirectoryWatcher(asio::io_context& io, std::filesystem::path directory,
                                   std::function<bool(std::string_view)> relevant, std::function<void()> on_change,
                                   std::chrono::milliseconds debounce)
    : impl_(std::make_shared<Impl>(io, std::filesystem::absolute(directory).lexically_normal(), std::move(relevant),
                                   std::move(on_change), debounce)) {}

DirectoryWatcher::~DirectoryWatcher() { stop(); }

void DirectoryWatcher::start() {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
  impl_->fd = fd;
  impl_->watch_what_exists();
  if (impl_->directory_wd < 0 && impl_->parent_wd < 0) {
    const int err = errno;
    ::close(fd);
    impl_->fd = -1;
    throw std::system_error(err, std::generic_category(), "watching " + impl_->directory.string());
  }
  impl_->descriptor.assign(fd);
  impl_->read_next();
}

void DirectoryWatcher::arm() {
  asio::post(impl_->strand, [impl = impl_] {
    if (impl->fd >= 0 && !impl->stopped && impl->directory_wd < 0 && impl->watch_what_exists()) impl->schedule();
  });
}

void DirectoryWatcher::stop() {
  if (impl_->stopped.exchange(true)) return;
  asio::post(impl_->strand, [impl = impl_] {
    boost::system::error_code ec;
    impl->timer.cancel();
    impl->descriptor.close(ec);  // also removes its watches
  });
}

}  // namespace iii
