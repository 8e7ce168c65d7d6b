#include "workers/configuration/configuration_worker.h"

#include <spdlog/spdlog.h>

#include "workers/blocking_runner.h"
#include "workers/configuration/configuration_service.h"
#include "workers/configuration/bridge_configuration_store.h"
#include "workers/configuration/fs_configuration_store.h"

namespace iii {
namespace {

constexpr const char* kTriggerConfigFormat =
    R"({"type":"object","properties":{"configuration_id":{"type":"string","description":"Only changes of this id"},)"
    R"("event_types":{"type":"array","items":{"enum":["configuration:registered","configuration:updated",)"
    R"("configuration:deleted"]}},"condition_function_id":{"type":"string"}}})";
constexpr const char* kTriggerCallFormat =
    R"({"type":"object","properties":{"type":{"const":"configuration"},)"
    R"("event_type":{"enum":["configuration:registered","configuration:updated","configuration:deleted"]},)"
    R"("id":{"type":"string"},"name":{"type":"string"},"description":{"type":"string"},"schema":{},)"
    R"("old_value":{},"new_value":{},"metadata":{}}})";

class ConfigurationWorker final : public BuiltinWorker {
 public:
  ConfigurationWorker(Engine& engine, const ConfigurationConfig& config, std::shared_ptr<ConfigurationStore> store)
      : runner_(store->remote() ? std::make_shared<BlockingRunner>("configuration", kRemoteStoreThreads,
                                                                   kRemoteStoreMaxQueued)
                                : nullptr),
        service_(std::make_shared<ConfigurationService>(engine, std::move(store), std::chrono::seconds(config.ttl_seconds))),
        endpoint_(std::make_shared<InProcessWorker>(engine, kConfigurationWorkerName)),
        ticker_(engine) {
    add_configuration_functions(*endpoint_, service_, runner_);
    // The service's trigger table, kept alive (and held weakly) through the service itself.
    const std::shared_ptr<ConfigurationTriggers> triggers(service_, &service_->triggers());
    endpoint_->add_trigger_type(TriggerTypeSpec{"configuration", "Configuration trigger: fires on register, update and delete",
                                                kTriggerConfigFormat, kTriggerCallFormat},
                                weakly_served(triggers, kConfigurationWorkerName));
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }
  const std::shared_ptr<ConfigurationService>& service() const { return service_; }

  void start() override {
    service_->open(service_);
    ticker_.start([weak = std::weak_ptr<ConfigurationService>(service_)](Clock::time_point now) {
      if (auto service = weak.lock()) service->expire(now);
    });
  }

  void stop() override {
    ticker_.stop();
    service_->close();
  }

 private:
  // Calls on a remote store (the bridge adapter) wait up to its call timeout: a few threads of
  // their own, so that an event loop never waits (docs/architecture.md "Threads").
  static constexpr size_t kRemoteStoreThreads = 2;
  static constexpr size_t kRemoteStoreMaxQueued = 1024;
  const std::shared_ptr<BlockingRunner> runner_;
  const std::shared_ptr<ConfigurationService> service_;
  const std::shared_ptr<InProcessWorker> endpoint_;
  WorkerTicker ticker_;
};

}  // namespace

BuiltinDescriptor configuration_builtin(boost::asio::io_context& io) {
  return {kConfigurationWorkerName, {}, [&io](BuiltinContext& context, const boost::json::value& block) {
            ConfigurationConfig config = parse_configuration_config(block, context.working_dir);
            std::shared_ptr<ConfigurationStore> store;
            if (config.bridge_url.empty()) {
              store = std::make_shared<FsConfigurationStore>(io, config.directory);
            } else {
              store = std::make_shared<BridgeConfigurationStore>(config.bridge_url);
            }
            return make_configuration_worker(context.engine, std::move(config), std::move(store));
          }};
}

std::shared_ptr<ConfigurationService> configuration_service_of(BuiltinWorker& worker) {
  auto* configuration = dynamic_cast<ConfigurationWorker*>(&worker);
  return configuration ? configuration->service() : nullptr;
}

std::unique_ptr<BuiltinWorker> make_configuration_worker(Engine& engine, ConfigurationConfig config,
                                                         std::shared_ptr<ConfigurationStore> store) {
  return std::make_unique<ConfigurationWorker>(engine, config, std::move(store));
}

}  // namespace iii
