#include "config/engine_config.h"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace iii::config {
namespace {

// The five built-ins the official docs also name without the prefix (docs/config.md §2.2).
constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"http", "iii-http"}, {"state", "iii-state"}, {"queue", "iii-queue"}, {"cron", "iii-cron"}, {"pubsub", "iii-pubsub"},
    {"observability", "iii-observability"}, {"cluster", "iii-cluster"}};

[[noreturn]] void fail(const std::string& file, const YAML::Node& node, const std::string& reason) {
  const int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
  throw ConfigError(file + ":" + std::to_string(line) + ": " + reason);
}

template <class T>
T read_scalar(const std::string& file, const YAML::Node& node, const std::string& key) {
  if (!node.IsScalar()) fail(file, node, "`" + key + "` must be a single value");
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    fail(file, node, "`" + key + "` has an invalid value `" + node.Scalar() + "`");
  }
}

// YAML scalars are untyped text; give them the JSON type YAML 1.2's core schema would.
boost::json::value scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return boost::json::string(s);  // quoted: always a string
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  char* end = nullptr;
  errno = 0;
  long long i = std::strtoll(s.c_str(), &end, 10);
  if (end && *end == '\0' && errno == 0) return i;
  errno = 0;
  double d = std::strtod(s.c_str(), &end);
  if (end && *end == '\0' && errno == 0 && s.find_first_of("0123456789") != std::string::npos) return d;
  return boost::json::string(s);
}

boost::json::value yaml_to_json(const YAML::Node& node) {
  if (!node) return nullptr;  // absent key
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar: return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      boost::json::array out;
      for (const auto& item : node) out.push_back(yaml_to_json(item));
      return out;
    }
    case YAML::NodeType::Map: {
      boost::json::object out;
      for (const auto& kv : node) out[kv.first.Scalar()] = yaml_to_json(kv.second);
      return out;
    }
  }
  return nullptr;
}

ListenerOptions read_worker_manager(const std::string& file, const YAML::Node& config, EngineConfig& cfg) {
  EngineOptions& engine = cfg.engine;
  ListenerOptions out;
  if (!config || config.IsNull()) return out;
  if (!config.IsMap()) fail(file, config, "the iii-worker-manager `config` must be a mapping");
  YAML::Node rbac;
  std::optional<std::string> middleware;
  for (const auto& kv : config) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (key == "port") out.port = read_scalar<uint16_t>(file, v, key);
    else if (key == "host") out.host = read_scalar<std::string>(file, v, key);
    else if (key == "handshake_timeout_ms") out.handshake_timeout = std::chrono::milliseconds(read_scalar<uint32_t>(file, v, key));
    else if (key == "max_message_bytes") out.max_message_bytes = read_scalar<size_t>(file, v, key);
    else if (key == "max_send_queue_bytes") out.max_send_queue_bytes = read_scalar<size_t>(file, v, key);
    else if (key == "invocation_timeout_ms") {
      const auto ms = read_scalar<uint32_t>(file, v, key);
      if (ms == 0) fail(file, v, "`invocation_timeout_ms` must be at least 1 (every call has a deadline)");
      engine.invocation_timeout = std::chrono::milliseconds(ms);
    }
    else if (key == "max_json_depth") {
      const auto depth = read_scalar<uint32_t>(file, v, key);
      if (depth < 1 || depth > kMaxJsonDepth)
        fail(file, v, "`max_json_depth` must be between 1 and " + std::to_string(kMaxJsonDepth) + ", got " + std::to_string(depth));
      cfg.max_json_depth = depth;
    }
    else if (key == "middleware_function_id") {
      if (!v.IsNull()) middleware = read_scalar<std::string>(file, v, key);
    }
    else if (key == "rbac") rbac = v;
    else fail(file, kv.first, "unknown key `" + key + "` in the iii-worker-manager config (known: port, host, handshake_timeout_ms, max_message_bytes, max_send_queue_bytes, invocation_timeout_ms, max_json_depth, middleware_function_id, rbac)");
  }
  if (out.max_message_bytes < 1024) fail(file, config, "`max_message_bytes` must be at least 1024");
  if ((rbac && !rbac.IsNull()) || (middleware && !middleware->empty())) {
    std::string error;
    auto rules = parse_access_rules(yaml_to_json(rbac), middleware.value_or(""), &error);
    if (!rules) fail(file, rbac ? rbac : config, error);
    rules->listener = out.host + ":" + std::to_string(out.port);
    out.access = std::make_shared<const AccessRules>(std::move(*rules));
  }
  return out;
}

void read_workers(const std::string& file, const YAML::Node& list, const char* key, EngineConfig& out,
                  std::map<std::string, int>& seen) {
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) fail(file, list, std::string("`") + key + "` must be a list of `- name: …` entries");
  for (const auto& entry : list) {
    if (!entry.IsMap()) fail(file, entry, "each worker entry must be a mapping with a `name`");
    for (const auto& kv : entry) {
      const std::string k = kv.first.Scalar();
      if (k != "name" && k != "config" && k != "image" && k != "worker_path")
        fail(file, kv.first, "unknown key `" + k + "` in a worker entry (known: name, config, image, worker_path)");
    }
    if (!entry["name"]) fail(file, entry, "worker entry without a `name`");
    const std::string written = read_scalar<std::string>(file, entry["name"], "name");
    if (written.empty()) fail(file, entry["name"], "worker `name` is empty");
    const std::string name = canonical_worker_name(written);
    const bool is_builtin_name = name.starts_with("iii-") || name == "configuration";
    if (entry["image"] && is_builtin_name) fail(file, entry["image"], "`image` is not allowed for the built-in worker `" + written + "`");
    if (name == "iii-worker-manager") {
      out.listeners.push_back(read_worker_manager(file, entry["config"], out));
      continue;
    }
    int& count = seen[name];
    WorkerEntry w;
    w.name = name;
    w.written_name = written;
    w.instance_id = count == 0 ? name : name + "#" + std::to_string(count);
    ++count;
    const YAML::Node config = entry["config"];
    w.config = yaml_to_json(config);
    if (!w.config.is_null() && !w.config.is_object()) fail(file, config, "`config` of `" + written + "` must be a mapping");
    w.file = file;
    w.line = entry.Mark().line + 1;
    out.workers.push_back(std::move(w));
  }
}

}  // namespace

std::string canonical_worker_name(std::string_view name) {
  for (const auto& [alias, canonical] : kAliases)
    if (name == alias) return std::string(canonical);
  return std::string(name);
}

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
    const std::string inner = text.substr(start + 2, end - start - 2);
    const size_t colon = inner.find(':');
    const std::string name = inner.substr(0, colon);
    if (name.empty()) {
      out.append(text, start, end + 1 - start);  // "${}" or "${:x}" is not a placeholder
    } else if (const char* value = std::getenv(name.c_str())) {
      out += value;
    } else if (colon != std::string::npos) {
      const std::string fallback = inner.substr(colon + 1);
      out += fallback == "__III_ENGINE_VERSION__" ? std::string(III_VERSION) : fallback;
    } else {
      const auto line = std::count(text.begin(), text.begin() + static_cast<long>(start), '\n') + 1;
      throw ConfigError(file + ":" + std::to_string(line) + ": environment variable `" + name +
                        "` is not set and `${" + inner + "}` has no default (write `${" + name + ":value}`)");
    }
    pos = end + 1;
  }
  out.append(text, pos);
  return out;
}

EngineConfig parse_config(const std::string& text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(substitute_env(text, file));
  } catch (const YAML::Exception& e) {
    throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  EngineConfig out;
  out.source = file;
  if (root && !root.IsNull()) {
    if (!root.IsMap()) fail(file, root, "the config must be a mapping with a `workers:` list");
    for (const auto& kv : root) {
      const std::string key = kv.first.Scalar();
      if (key != "workers" && key != "modules" && key != "registration_namespace_grace_ms")
        fail(file, kv.first, "unknown top-level key `" + key + "` (known: workers, modules, registration_namespace_grace_ms)");
    }
    if (root["registration_namespace_grace_ms"]) read_scalar<uint64_t>(file, root["registration_namespace_grace_ms"], "registration_namespace_grace_ms");
    std::map<std::string, int> seen;
    read_workers(file, root["workers"], "workers", out, seen);
    read_workers(file, root["modules"], "modules", out, seen);
  }
  // Listing both names of one built-in (`iii-http` and `http`) is ambiguous (docs/config.md §2.2).
  for (const auto& [alias, canonical] : kAliases) {
    bool has_alias = false, has_canonical = false;
    for (const auto& w : out.workers) {
      has_alias |= w.written_name == alias;
      has_canonical |= w.written_name == canonical;
    }
    if (has_alias && has_canonical)
      throw ConfigError(file + ": Duplicate worker configurations: `" + std::string(canonical) + "` and `" +
                        std::string(alias) + "` are the same worker; keep one");
  }
  if (out.listeners.empty()) out.listeners.emplace_back();
  // Observability is mandatory (docs/observability.md): without an entry it runs on its defaults.
  const bool has_observability = std::any_of(out.workers.begin(), out.workers.end(),
                                             [](const WorkerEntry& w) { return w.name == "iii-observability"; });
  if (!has_observability) {
    WorkerEntry w;
    w.name = w.written_name = w.instance_id = "iii-observability";
    w.file = file;
    out.workers.push_back(std::move(w));
  }
  return out;
}

EngineConfig load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

EngineConfig embedded_default() {
  EngineConfig out = parse_config(R"(
workers:
  - name: iii-http
    config:
      port: 3111
      host: 0.0.0.0
  - name: iii-state
    config:
      adapter:
        name: kv
        config:
          store_method: file_based
          file_path: ./data/state_store.db
  - name: iii-queue
    config:
      adapter:
        name: builtin
        config:
          store_method: file_based
          file_path: ./data/queue_store
  - name: iii-cron
  - name: iii-pubsub
  - name: iii-stream
    config:
      port: 3112
      host: 0.0.0.0
      adapter:
        name: kv
        config:
          store_method: file_based
          file_path: ./data/stream_store.db
)",
                                  "<embedded default>");
  out.source = "<embedded default>";
  return out;
}

}  // namespace iii::config
