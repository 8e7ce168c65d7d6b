#include "config/config_watcher.h"

#include "workers/directory_watcher.h"

namespace iii::config {

struct ConfigWatcher::Impl {
  Impl(boost::asio::io_context& io, const std::filesystem::path& file, std::function<void()> on_change,
       std::chrono::milliseconds debounce)
      : watcher(io, file.parent_path(), [name = file.filename().string()](std::string_view event) { return event == name; },
                std::move(on_change), debounce) {}
  DirectoryWatcher watcher;
};

ConfigWatcher::ConfigWatcher(boost::asio::io_context& io, std::filesystem::path file, std::function<void()> on_change,
                             std::chrono::milliseconds debounce)
    : impl_(std::make_shared<Impl>(io, std::filesystem::absolute(file), std::move(on_change), debounce)) {}

ConfigWatcher::~ConfigWatcher() = default;

void ConfigWatcher::start() { impl_->watcher.start(); }

}  // namespace iii::config
