#include "config/engine_config.h"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "workers/configuration/value_template.h"
#include "workers/yaml_json.h"

namespace iii::config {
namespace {

// The five built-ins the official docs also name without the prefix (docs/config.md §2.2).
constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"http", "iii-http"}, {"state", "iii-state"}, {"queue", "iii-queue"}, {"cron", "iii-cron"}, {"pubsub", "iii-pubsub"},
    {"observability", "iii-observability"}, {"cluster", "iii-cluster"}, {"console", "iii-console"}};

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
    auto rules = parse_access_rules(yaml_json::to_json(rbac), middleware.value_or(""), &error);
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
    w.config = yaml_json::to_json(config);
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
  // The grammar of configuration values (workers/configuration/value_template.h), but a variable
  // without value or default is an error here.
  return value_template::substitute(text, [&](const std::string& name, size_t offset) {
    const auto line = std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n') + 1;
    throw ConfigError(file + ":" + std::to_string(line) + ": environment variable `" + name + "` is not set and `${" +
                      name + "}` has no default (write `${" + name + ":value}`)");
  });
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
  // So is the configuration store (docs/builtins.md §7.2), with the `fs` adapter on ./config.
  for (const char* mandatory : {"iii-observability", "configuration"}) {
    const bool listed = std::any_of(out.workers.begin(), out.workers.end(),
                                    [&](const WorkerEntry& w) { return w.name == mandatory; });
    if (listed) continue;
    WorkerEntry w;
    w.name = w.written_name = w.instance_id = mandatory;
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
