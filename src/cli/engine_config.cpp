#include "cli/engine_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace iii::cli {
namespace {

[[noreturn]] void fail(const std::string& file, const YAML::Node& node, const std::string& reason) {
  const int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
  throw ConfigError(file + ":" + std::to_string(line) + ": " + reason);
}

template <class T>
T read_scalar(const std::string& file, const YAML::Node& node, const std::string& key) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    fail(file, node, "`" + key + "` has an invalid value `" + (node.IsScalar() ? node.Scalar() : "...") + "`");
  }
}

ListenerOptions read_worker_manager(const std::string& file, const YAML::Node& config, EngineOptions& engine) {
  ListenerOptions out;
  if (!config || config.IsNull()) return out;
  if (!config.IsMap()) fail(file, config, "the iii-worker-manager `config` must be a mapping");
  for (const auto& kv : config) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (key == "port") out.port = read_scalar<uint16_t>(file, v, key);
    else if (key == "host") out.host = read_scalar<std::string>(file, v, key);
    else if (key == "handshake_timeout_ms") out.handshake_timeout = std::chrono::milliseconds(read_scalar<uint32_t>(file, v, key));
    else if (key == "max_message_bytes") out.max_message_bytes = read_scalar<size_t>(file, v, key);
    else if (key == "invocation_timeout_ms") engine.invocation_timeout = std::chrono::milliseconds(read_scalar<uint32_t>(file, v, key));
    else if (key == "middleware_function_id" || key == "rbac") continue;  // accepted, not enforced yet
    else fail(file, kv.first, "unknown key `" + key + "` in the iii-worker-manager config");
  }
  return out;
}

}  // namespace

std::string substitute_env(const std::string& text, const std::string& file) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = text.find("${", pos);
    if (start == std::string::npos) break;
    size_t end = text.find('}', start + 2);
    if (end == std::string::npos) break;
    out.append(text, pos, start - pos);
    std::string inner = text.substr(start + 2, end - start - 2);
    size_t colon = inner.find(':');
    std::string name = inner.substr(0, colon);
    if (const char* value = std::getenv(name.c_str())) {
      out += value;
    } else if (colon != std::string::npos) {
      std::string fallback = inner.substr(colon + 1);
      out += fallback == "__III_ENGINE_VERSION__" ? std::string(III_VERSION) : fallback;
    } else {
      const auto line = std::count(text.begin(), text.begin() + static_cast<long>(start), '\n') + 1;
      throw ConfigError(file + ":" + std::to_string(line) + ": environment variable `" + name +
                        "` is not set and `${" + inner + "}` has no default");
    }
    pos = end + 1;
  }
  out.append(text, pos);
  return out;
}

EngineConfig load_engine_config(const std::string& path) {
  EngineConfig out;
  if (!std::filesystem::exists(path)) {
    out.listeners.emplace_back();
    return out;
  }
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(substitute_env(text.str(), path));
  } catch (const YAML::Exception& e) {
    throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (root && !root.IsNull() && !root.IsMap()) fail(path, root, "the config must be a mapping with a `workers:` list");
  for (const char* list : {"workers", "modules"}) {
    const YAML::Node workers = root[list];
    if (!workers || workers.IsNull()) continue;
    if (!workers.IsSequence()) fail(path, workers, std::string("`") + list + "` must be a list");
    for (const auto& entry : workers) {
      if (!entry.IsMap() || !entry["name"]) fail(path, entry, "each worker entry needs a `name`");
      const std::string name = read_scalar<std::string>(path, entry["name"], "name");
      out.worker_names.push_back(name);
      if (name == "iii-worker-manager") out.listeners.push_back(read_worker_manager(path, entry["config"], out.engine));
    }
  }
  if (out.listeners.empty()) out.listeners.emplace_back();
  return out;
}

}  // namespace iii::cli
