#include "config/config_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <boost/asio.hpp>

#include <array>
#include <system_error>

namespace iii::config {

struct ConfigWatcher::Impl : std::enable_shared_from_this<ConfigWatcher::Impl> {
  Impl(boost::asio::io_context& io, std::filesystem::path file, std::function<void()> on_change,
       std::chrono::milliseconds debounce)
      : descriptor(io), timer(io), file(std::move(file)), on_change(std::move(on_change)), debounce(debounce) {}

  void read_next() {
    descriptor.async_read_some(boost::asio::buffer(buffer), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
      if (ec) return;  // closed at shutdown
      self->handle_events(n);
      self->read_next();
    });
  }

  void handle_events(size_t n) {
    const std::string name = file.filename().string();
    bool relevant = false;
    for (size_t pos = 0; pos + sizeof(inotify_event) <= n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer.data() + pos);
      if (event->len > 0 && name == event->name) relevant = true;
      pos += sizeof(inotify_event) + event->len;
    }
    if (!relevant || pending) return;
    pending = true;
    timer.expires_after(debounce);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      self->pending = false;
      if (!ec) self->on_change();
    });
  }

  boost::asio::posix::stream_descriptor descriptor;
  boost::asio::steady_timer timer;
  std::filesystem::path file;
  std::function<void()> on_change;
  std::chrono::milliseconds debounce;
  bool pending = false;
  alignas(inotify_event) std::array<char, 8192> buffer{};
};

ConfigWatcher::ConfigWatcher(boost::asio::io_context& io, std::filesystem::path file, std::function<void()> on_change,
                             std::chrono::milliseconds debounce)
    : impl_(std::make_shared<Impl>(io, std::filesystem::absolute(file), std::move(on_change), debounce)) {}

ConfigWatcher::~ConfigWatcher() {
  boost::system::error_code ec;
  impl_->timer.cancel();
  impl_->descriptor.close(ec);
}

void ConfigWatcher::start() {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
  const std::string dir = impl_->file.parent_path().string();
  if (inotify_add_watch(fd, dir.c_str(), IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE) < 0) {
    const int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "watching " + dir);
  }
  impl_->descriptor.assign(fd);
  impl_->read_next();
}

}  // namespace iii::config
