// Watches the config file for changes (docs/config.md §6): the parent directory is watched
// (workers/directory_watcher.h), so an editor's "write a temp file, rename it over" is seen;
// only events for the file itself count.
// Events are debounced (500 ms after the first, coalescing the rest) before `on_change` runs.
#pragma once
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include "wire/asio_fwd.h"

namespace iii::config {

class ConfigWatcher {
 public:
  ConfigWatcher(boost::asio::io_context& io, std::filesystem::path file, std::function<void()> on_change,
                std::chrono::milliseconds debounce = std::chrono::milliseconds(500));
  ~ConfigWatcher();

  // Starts watching. Throws std::system_error when the directory cannot be watched.
  void start();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace iii::config
