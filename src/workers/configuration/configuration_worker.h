// The `configuration` built-in (docs/builtins.md §7.2): named configuration entries, each with a
// JSON Schema its values are checked against, kept by an adapter (`fs`: one YAML file per entry
// in ./config, watched for hand edits), read with `${VAR:default}` expansion, with the
// configuration::register / set / get / list / schema functions and the `configuration` trigger
// type.
//
// It always runs: a config file without a `configuration` entry gets one with the defaults
// (docs/config.md §3.1). The store opens in start() and closes in stop().
#pragma once
#include <memory>

#include "wire/asio_fwd.h"
#include "workers/builtin.h"
#include "workers/configuration/configuration_config.h"
#include "workers/configuration/configuration_store.h"

namespace iii {

class BlockingRunner;

class ConfigurationService;

// name "configuration"; the factory parses the block (configuration_config.h). `io` runs the
// fs adapter's directory watcher.
BuiltinDescriptor configuration_builtin(boost::asio::io_context& io);

// A configuration worker on a store of the caller's choosing (tests).
std::unique_ptr<BuiltinWorker> make_configuration_worker(Engine& engine, ConfigurationConfig config,
                                                         std::shared_ptr<ConfigurationStore> store);

// The service of a configuration worker (for the built-in supervisor, which publishes the
// built-ins' blocks in it: docs/builtins.md §0.3); null for any other worker.
std::shared_ptr<ConfigurationService> configuration_service_of(BuiltinWorker& worker);

// Registers configuration::register, set, get, list and schema on `worker`. With a `runner`
// (a remote store) each call runs on one of its threads instead of the thread that read it.
void add_configuration_functions(InProcessWorker& worker, const std::shared_ptr<ConfigurationService>& service,
                                 std::shared_ptr<BlockingRunner> runner = nullptr);

}  // namespace iii
