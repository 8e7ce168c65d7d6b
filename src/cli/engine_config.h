// Loading the engine's YAML config (config-and-cli.md §1–§4): the `workers:` list and, for now,
// the `iii-worker-manager` blocks that define the worker listeners.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "net/worker_listener.h"

namespace iii::cli {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct EngineConfig {
  std::vector<ListenerOptions> listeners;  // one per iii-worker-manager entry; at least one
  EngineOptions engine;
  std::vector<std::string> worker_names;  // every `- name:` in the file, in order
};

// Expands ${NAME} and ${NAME:default} (config-and-cli.md §4). Throws ConfigError naming the line
// of a variable that is unset and has no default.
std::string substitute_env(const std::string& text, const std::string& file);

// Loads `path`. A missing file yields the embedded default (one listener on 0.0.0.0:49134).
// Throws ConfigError with "<file>:<line>: <reason>" on a bad file.
EngineConfig load_engine_config(const std::string& path);

}  // namespace iii::cli
