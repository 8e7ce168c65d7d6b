#include "workers/configuration/fs_configuration_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "workers/directory_watcher.h"
#include "workers/yaml_json.h"

namespace iii {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr std::string_view kExtension = ".yaml";

// The id a file name stands for, or "" when the file is not an entry.
std::string id_of_file(std::string_view name) {
  if (!name.ends_with(kExtension) || name.ends_with(".bak.yaml") || name.ends_with(".bkup.yaml")) return {};
  return std::string(name.substr(0, name.size() - kExtension.size()));
}

[[noreturn]] void io_failure(const std::string& what, const fs::path& path, int err) {
  throw ConfigurationStoreError("cannot " + what + " " + path.string() + ": " + std::strerror(err));
}

// Writes `text` to `path` through a temporary file, flushed, then renamed over it.
void write_atomically(const fs::path& path, const std::string& text) {
  const fs::path temporary = path.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_failure("create", temporary, errno);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(temporary.c_str());
      io_failure("write", temporary, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(temporary.c_str());
    io_failure("flush", temporary, err);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temporary.c_str());
    io_failure("replace", path, err);
  }
  // The rename itself survives a crash once the directory is flushed too.
  if (const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

std::string text_field(const YAML::Node& doc, const char* key, std::string fallback) {
  const YAML::Node node = doc[key];
  if (!node || node.IsNull()) return fallback;
  if (!node.IsScalar()) throw ConfigurationStoreError(std::string("`") + key + "` must be a string");
  return node.Scalar();
}

// The entries differ in what a file holds (the schema is not in it).
bool same_file_content(const ConfigurationEntry& a, const ConfigurationEntry& b) {
  return a.value == b.value && a.name == b.name && a.description == b.description && a.metadata == b.metadata;
}

}  // namespace

ConfigurationEntry parse_configuration_file(const std::string& text, const std::string& id) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigurationStoreError("invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!doc.IsMap()) throw ConfigurationStoreError("the file must be a mapping with `id`, `name`, `description` and `value`");
  ConfigurationEntry entry;
  entry.id = text_field(doc, "id", id);
  if (entry.id != id)
    throw ConfigurationStoreError("its `id` `" + entry.id + "` is not its file name (" + id + ".yaml)");
  if (!valid_configuration_id(id)) throw ConfigurationStoreError("`" + id + "` is not a valid id ([a-z0-9_-]{1,64})");
  entry.name = text_field(doc, "name", "");
  entry.description = text_field(doc, "description", "");
  entry.value = yaml_json::to_json(doc["value"]);
  entry.schema = yaml_json::to_json(doc["schema"]);
  if (const YAML::Node m = doc["metadata"]; m && !m.IsNull()) entry.metadata = yaml_json::to_json(m);
  return entry;
}

std::string configuration_file_text(const ConfigurationEntry& entry) {
  json::object doc;
  doc["id"] = entry.id;
  doc["name"] = entry.name;
  doc["description"] = entry.description;
  doc["value"] = entry.value;
  if (entry.metadata) doc["metadata"] = *entry.metadata;
  return yaml_json::from_json(doc);
}

FsConfigurationStore::FsConfigurationStore(boost::asio::io_context& io, fs::path directory,
                                           std::chrono::milliseconds debounce)
    : io_(io), directory_(fs::absolute(directory).lexically_normal()), debounce_(debounce) {}

FsConfigurationStore::~FsConfigurationStore() { close(); }

std::map<std::string, ConfigurationEntry> FsConfigurationStore::read_directory() {
  std::map<std::string, ConfigurationEntry> out;
  std::map<std::string, std::string> problems;
  std::error_code ec;
  fs::directory_iterator it(directory_, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw ConfigurationStoreError("cannot read " + directory_.string() + ": " + ec.message());
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string id = id_of_file(name);
    if (id.empty() || !it->is_regular_file(ec)) continue;
    try {
      std::ifstream in(it->path());
      std::stringstream text;
      if (!in || !(text << in.rdbuf())) throw ConfigurationStoreError("cannot be read");
      out[id] = parse_configuration_file(text.str(), id);
    } catch (const ConfigurationStoreError& e) {
      problems[name] = e.what();
    }
  }
  for (const auto& [name, problem] : problems)
    if (problems_[name] != problem)
      spdlog::warn("configuration: {} ignored, the entry keeps its previous value: {}", (directory_ / name).string(), problem);
  problems_ = std::move(problems);
  return out;
}

std::vector<ConfigurationEntry> FsConfigurationStore::load() {
  seen_ = read_directory();
  std::vector<ConfigurationEntry> out;
  for (const auto& [id, entry] : seen_) out.push_back(entry);
  return out;
}

void FsConfigurationStore::put(const ConfigurationEntry& entry) {
  std::error_code ec;
  const bool created = !fs::exists(directory_, ec) && fs::create_directories(directory_, ec);
  if (ec) throw ConfigurationStoreError("cannot create " + directory_.string() + ": " + ec.message());
  std::string text;
  try {
    text = configuration_file_text(entry);
  } catch (const std::exception& e) {
    throw ConfigurationStoreError(std::string("cannot write entry `") + entry.id + "`: " + e.what());
  }
  write_atomically(file_of(entry.id), text);
  ConfigurationEntry on_disk = entry;
  on_disk.schema = nullptr;
  seen_[entry.id] = std::move(on_disk);
  problems_.erase(entry.id + std::string(kExtension));
  if (created && watcher_) watcher_->arm();
}

void FsConfigurationStore::remove(const std::string& id) {
  const fs::path file = file_of(id);
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) io_failure("remove", file, errno);
  seen_.erase(id);
}

void FsConfigurationStore::watch(std::function<void()> changed) {
  watcher_ = std::make_unique<DirectoryWatcher>(
      io_, directory_, [](std::string_view name) { return !id_of_file(name).empty(); }, std::move(changed), debounce_);
  try {
    watcher_->start();
  } catch (const std::exception& e) {
    spdlog::warn("configuration: edits of {} are not watched: {}", directory_.string(), e.what());
  }
}

std::vector<ExternalChange> FsConfigurationStore::poll_changes() {
  std::map<std::string, ConfigurationEntry> now = read_directory();
  std::vector<ExternalChange> out;
  for (auto& [id, entry] : now) {
    auto it = seen_.find(id);
    if (it == seen_.end()) {
      out.push_back({ExternalChange::Kind::kRegistered, entry});
    } else if (!same_file_content(it->second, entry)) {
      out.push_back({ExternalChange::Kind::kUpdated, entry});
    }
  }
  // A file that is there but unusable keeps its entry; only a missing file deletes it.
  std::error_code ec;
  for (auto it = seen_.begin(); it != seen_.end();) {
    if (!now.count(it->first) && !fs::exists(file_of(it->first), ec)) {
      out.push_back({ExternalChange::Kind::kDeleted, it->second});
      it = seen_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [id, entry] : now) seen_[id] = std::move(entry);
  return out;
}

void FsConfigurationStore::close() {
  if (watcher_) watcher_->stop();
}

}  // namespace iii
