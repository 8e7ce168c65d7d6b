// The engine's YAML config file (docs/config.md §1–§4): parsing, `${VAR}` substitution,
// strict validation with file and line, and the embedded default used when there is no file.
//
// The file is a mapping with a `workers:` list (and the legacy alias `modules:`). Each entry is
// `{name, config?, image?, worker_path?}`. `iii-worker-manager` entries become listeners; every
// other entry is a built-in worker, created later from its `config:` block by the supervisor.
#pragma once
#include <boost/json/value.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "wire/json_limits.h"
#include "net/listener_options.h"

namespace iii::config {

// A bad config: the message reads "<file>:<line>: <reason>".
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct WorkerEntry {
  std::string name;         // canonical built-in name ("iii-state" for `state`), or as written
  std::string written_name; // as written in the file
  std::string instance_id;  // name, then name#1, name#2 … for repeated entries
  boost::json::value config;  // the `config:` block as JSON; null when absent
  std::string file;         // where it came from, for error messages
  int line = 0;
};

struct EngineConfig {
  std::string source;  // the file, or "<embedded default>"
  std::vector<ListenerOptions> listeners;  // at least one
  EngineOptions engine;
  // Deepest JSON nesting the engine accepts in frames and values (wire/json_limits.h):
  // `max_json_depth` of an iii-worker-manager entry, 1..1024, default 128.
  size_t max_json_depth = kDefaultJsonDepth;
  std::vector<WorkerEntry> workers;  // built-ins and unknown names, without iii-worker-manager
};

// Canonical name of a built-in: "http" → "iii-http", "state" → "iii-state", … ; others unchanged.
std::string canonical_worker_name(std::string_view name);

// Expands ${NAME} and ${NAME:default}. Throws ConfigError naming the line of an unset variable
// without default.
std::string substitute_env(const std::string& text, const std::string& file);

// Parses config text (after substitution). Throws ConfigError.
EngineConfig parse_config(const std::string& text, const std::string& file);

// Reads and parses `path`. Throws ConfigError (also when the file cannot be read).
EngineConfig load_config_file(const std::string& path);

// The config used when no file exists: the worker listener on 0.0.0.0:49134, the HTTP trigger
// server on 0.0.0.0:3111, state in ./data/state_store.db, the durable queue in ./data/queue_store
// (only the `default` queue), cron and pub/sub.
EngineConfig embedded_default();

}  // namespace iii::config
