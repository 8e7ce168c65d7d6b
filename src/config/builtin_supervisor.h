// Runs the built-in workers a config names, and applies a changed config to a running engine
// (docs/config.md §3, §6) without touching connected workers.
//
// A reload is validated before anything changes: every new or changed built-in is created from
// its block first; if any creation fails the running set stays as it was and the error (with
// file and line) is returned. Then changed and removed built-ins are stopped and detached from
// the engine (their functions go away; bindings to their trigger types are parked) and the new
// ones registered and started (parked bindings are re-delivered to them).
#pragma once
#include <boost/json/value.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/engine_config.h"
#include "workers/builtin.h"

namespace iii::config {

class BuiltinSupervisor {
 public:
  BuiltinSupervisor(Engine& engine, std::vector<BuiltinDescriptor> catalog, std::filesystem::path working_dir);
  ~BuiltinSupervisor();

  // Creates and starts every built-in of `config`. Throws ConfigError for a bad block; a worker
  // that cannot start (e.g. its port is in use) is logged and skipped.
  void start(const EngineConfig& config);

  // Applies `config` in place of the running one. Returns a one-line summary of what changed.
  // Throws ConfigError and changes nothing when a new block is invalid.
  std::string apply(const EngineConfig& config);

  // Stops every built-in (shutdown).
  void stop_all();

  // Names of the running built-ins, by instance id.
  std::vector<std::string> running() const;

 private:
  struct Running {
    std::string name;
    boost::json::value config;
    std::unique_ptr<BuiltinWorker> worker;
  };
  const BuiltinDescriptor* find(const std::string& name) const;
  std::unique_ptr<BuiltinWorker> create(const WorkerEntry& entry);
  void launch(const std::string& instance_id, const WorkerEntry& entry, std::unique_ptr<BuiltinWorker> worker);
  void retire(Running& running);
  // What GET /readyz reports (BuiltinContext::readiness): kept up to date by start() and apply().
  void update_readiness(const EngineConfig& config);

  Engine& engine_;
  std::vector<BuiltinDescriptor> catalog_;
  std::filesystem::path working_dir_;
  std::map<std::string, Running> running_;  // by instance id
  std::shared_ptr<BuiltinReadiness> readiness_ = std::make_shared<BuiltinReadiness>();
};

}  // namespace iii::config
