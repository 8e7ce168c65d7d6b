// Runs the built-in workers a config names, and applies a changed config to a running engine
// (docs/config.md §3, §6) without touching connected workers.
//
// A reload is validated before anything changes: every new or changed built-in is created from
// its block first; if any creation fails the running set stays as it was and the error (with
// file and line) is returned. Then changed and removed built-ins are stopped and detached from
// the engine (their functions go away; bindings to their trigger types are parked) and the new
// ones registered and started (parked bindings are re-delivered to them).
//
// Blocks in the configuration worker (docs/builtins.md §0.3): the block of each running built-in
// that has a schema (builtin_config_schemas.h) is published as a configuration entry of the same
// id (`iii-http`, …), in memory only. configuration::set on it goes through set_block(), the same
// path as a reload of that one block. The file stays authoritative: a block set that way is what
// the built-in runs on until its block in the file changes (or the engine restarts).
//
// Thread-safe: a reload, a configuration::set and the shutdown take turns.
#pragma once
#include <boost/json/value.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/engine_config.h"
#include "workers/builtin.h"

namespace iii {
class ConfigurationService;
}

namespace iii::config {

class BuiltinSupervisor {
 public:
  BuiltinSupervisor(Engine& engine, std::vector<BuiltinDescriptor> catalog, std::filesystem::path working_dir);
  ~BuiltinSupervisor();

  // Creates every built-in of `config` and starts them, except those whose descriptor says
  // after_listeners: start_deferred() starts those, once the listeners are open. Throws
  // ConfigError for a bad block (any of them); a worker that cannot start (e.g. its port is in
  // use) is logged and skipped.
  void start(const EngineConfig& config);
  void start_deferred();

  // Applies `config` in place of the running one. Returns a one-line summary of what changed.
  // Throws ConfigError and changes nothing when a new block is invalid.
  std::string apply(const EngineConfig& config);

  // Runs built-in instance `instance_id` on `block` (expanded) instead of its current one, as a
  // reload of that block would: the factory checks it, then the worker is reconfigured in place
  // or replaced. The error when it cannot be: the factory's refusal (SCHEMA_INVALID), or a start
  // failure (ADAPTER_ERROR, and the built-in runs on its previous block again).
  std::optional<ErrorBody> set_block(const std::string& instance_id, const boost::json::value& block);

  // Stops every built-in (shutdown).
  void stop_all();

  // Names of the running built-ins, by instance id.
  std::vector<std::string> running() const;

 private:
  struct Running {
    WorkerEntry entry;         // as the file gives it: entry.config is the file's block
    boost::json::value live;   // the block it runs on: the file's, or one set since
    std::unique_ptr<BuiltinWorker> worker;
  };
  const BuiltinDescriptor* find(const std::string& name) const;
  std::unique_ptr<BuiltinWorker> create(const WorkerEntry& entry);
  // Registers and starts `worker`; detaches it again and throws when it cannot start.
  void start_worker(BuiltinWorker& worker);
  void launch(const std::string& instance_id, const WorkerEntry& entry, std::unique_ptr<BuiltinWorker> worker);
  void retire(Running& running);
  // What GET /readyz reports (BuiltinContext::readiness): kept up to date by start() and apply().
  void update_readiness(const EngineConfig& config);
  // Publishes the running built-ins' blocks in the configuration worker (see above): those whose
  // instance id is in `only` (all when null, or when the configuration worker is new), and
  // withdraws those that stopped running.
  void publish_blocks(const std::set<std::string>* only);

  Engine& engine_;
  std::vector<BuiltinDescriptor> catalog_;
  std::filesystem::path working_dir_;
  mutable std::recursive_mutex mu_;  // recursive: an in-process trigger may set a block during a reload
  std::map<std::string, Running> running_;  // by instance id
  struct Deferred {
    WorkerEntry entry;
    std::unique_ptr<BuiltinWorker> worker;
  };
  std::vector<Deferred> deferred_;  // created by start(), started by start_deferred()
  std::optional<EngineConfig> started_with_;  // for the readiness report after start_deferred()
  std::shared_ptr<BuiltinReadiness> readiness_ = std::make_shared<BuiltinReadiness>();
  std::weak_ptr<ConfigurationService> published_to_;
  std::set<std::string> published_;  // the ids published there
};

}  // namespace iii::config
