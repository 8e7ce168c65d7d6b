// The `fs` adapter of the configuration worker (docs/builtins.md §7.2): one YAML file per entry,
// `<directory>/<id>.yaml`, laid out as the official engine writes it so that either engine reads
// the other's files:
//
//   id: iii-http
//   name: HTTP
//   description: HTTP trigger server
//   value:
//     port: 3111
//   metadata: {...}        # only when the entry has some
//
// The schema is not written (owners register it again at every start); a `schema` key found in
// a file is read. A file is written to `<id>.yaml.tmp`, flushed to disk and renamed over, so a
// reader (or a crash) sees the old file or the new one, never half of one. Nothing is created
// before the first put(): an engine that stores nothing leaves no `./config` behind.
//
// External edits: the directory is watched (workers/directory_watcher.h, 500 ms debounce) and
// poll_changes() compares the files with what this store last read or wrote, so its own writes
// never come back as changes. A file that cannot be used (bad YAML, not a mapping, an `id` that
// is not its file name) is logged once per distinct problem and ignored: the entry keeps what
// it had. Only a removed file is a deletion. `*.bak.yaml` and `*.bkup.yaml` are not entries.
#pragma once
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "wire/asio_fwd.h"
#include "workers/configuration/configuration_store.h"

namespace iii {

class DirectoryWatcher;

class FsConfigurationStore : public ConfigurationStore {
 public:
  FsConfigurationStore(boost::asio::io_context& io, std::filesystem::path directory,
                       std::chrono::milliseconds debounce = std::chrono::milliseconds(500));
  ~FsConfigurationStore() override;

  const std::filesystem::path& directory() const { return directory_; }
  std::filesystem::path file_of(const std::string& id) const { return directory_ / (id + ".yaml"); }

  std::vector<ConfigurationEntry> load() override;
  void put(const ConfigurationEntry& entry) override;
  void remove(const std::string& id) override;
  void watch(std::function<void()> changed) override;
  std::vector<ExternalChange> poll_changes() override;
  void close() override;

 private:
  // The usable entries in the directory now, by id; problems are logged (once each).
  std::map<std::string, ConfigurationEntry> read_directory();

  boost::asio::io_context& io_;
  const std::filesystem::path directory_;
  const std::chrono::milliseconds debounce_;
  std::map<std::string, ConfigurationEntry> seen_;  // what the files held when last read or written
  std::map<std::string, std::string> problems_;     // file name → the problem last logged for it
  std::unique_ptr<DirectoryWatcher> watcher_;
};

// The entry a file's text describes; throws ConfigurationStoreError saying why it cannot be used.
// `id` is the file's name without `.yaml` (a file without an `id` key takes it).
ConfigurationEntry parse_configuration_file(const std::string& text, const std::string& id);
// The text put() writes for `entry` (without its schema).
std::string configuration_file_text(const ConfigurationEntry& entry);

}  // namespace iii
