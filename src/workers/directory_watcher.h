// Watches one directory (Linux inotify, not recursive) for changes to the files a filter picks,
// and reports them debounced: the first relevant event arms a timer (500 ms by default), later
// ones before it fires are folded in, then `on_change` runs once. Used for the config file's
// hot reload (docs/config.md §6: the file's directory, so that an editor's "write a temp file
// and rename it over" is seen) and for the configuration store's directory
// (docs/builtins.md §7.2).
//
// A directory that does not exist yet is waited for: its parent is watched, and once the
// directory appears (or after arm() is called, e.g. by whoever created it) it is watched itself
// and `on_change` runs, since files may already be in it. Everything runs on a strand of the
// given io_context; `on_change` runs there too, with no lock held.
#pragma once
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

#include "wire/asio_fwd.h"

namespace iii {

class DirectoryWatcher {
 public:
  // `relevant(name)`: whether an event for file `name` (no directory part) counts.
  DirectoryWatcher(boost::asio::io_context& io, std::filesystem::path directory,
                   std::function<bool(std::string_view name)> relevant, std::function<void()> on_change,
                   std::chrono::milliseconds debounce = std::chrono::milliseconds(500));
  // Stops (as stop()).
  ~DirectoryWatcher();
  DirectoryWatcher(const DirectoryWatcher&) = delete;
  DirectoryWatcher& operator=(const DirectoryWatcher&) = delete;

  // Starts watching. Throws std::system_error when neither the directory nor its parent can be
  // watched (or inotify is unavailable).
  void start();
  // Watches the directory itself if it exists now and is not watched yet (call after creating it).
  void arm();
  // Stops watching. `on_change` may still run once if it was already under way on another thread.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace iii
