#include "workers/state/state_worker.h"

#include <spdlog/spdlog.h>

#include "store/memory_kv_store.h"
#include "store/redis_kv_store.h"
#include "store/sqlite_kv_store.h"
#include "workers/state/state_service.h"

namespace iii {
namespace {

constexpr const char* kTriggerConfigFormat =
    R"({"type":"object","properties":{"scope":{"type":"string","description":"Only writes to this scope"},)"
    R"("key":{"type":"string","description":"Only writes to this key"},)"
    R"("condition_function_id":{"type":"string"}}})";
constexpr const char* kTriggerCallFormat =
    R"({"type":"object","properties":{"type":{"const":"state"},)"
    R"("event_type":{"enum":["state:created","state:updated","state:deleted"]},)"
    R"("scope":{"type":"string"},"key":{"type":"string"},"old_value":{},"new_value":{}}})";

class StateWorker final : public BuiltinWorker {
 public:
  StateWorker(Engine& engine, StateConfig config, std::shared_ptr<KvStore> store)
      : service_(std::make_shared<StateService>(engine, std::move(config))),
        endpoint_(std::make_shared<InProcessWorker>(engine, kStateWorkerName)),
        given_store_(std::move(store)) {
    add_state_functions(*endpoint_, service_);
    // The service's trigger table, kept alive (and held weakly) through the service itself.
    const std::shared_ptr<StateTriggers> triggers(service_, &service_->triggers());
    endpoint_->add_trigger_type(TriggerTypeSpec{"state", "State trigger", kTriggerConfigFormat, kTriggerCallFormat},
                                weakly_served(triggers, kStateWorkerName));
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

  void start() override {
    if (given_store_) return service_->open(given_store_);
    const StateConfig& config = service_->config();
    if (config.storage == StateConfig::Storage::kRedis) {
      auto pool = std::make_shared<RedisPool>(RedisEndpoint::parse(config.redis_url));
      service_->open(make_redis_kv_store(pool, "state"));
      // Not fatal: calls answer the store's error until the server is reachable.
      try {
        pool->run({"PING"});
        spdlog::info("iii-state: redis store {}", pool->endpoint().address());
      } catch (const RedisError& e) {
        spdlog::warn("iii-state: {} (state calls fail until it answers)", e.what());
      }
      return;
    }
    if (config.storage == StateConfig::Storage::kInMemory) {
      service_->open(std::make_shared<MemoryKvStore>());
      spdlog::info("iii-state: in-memory store");
      return;
    }
    const std::filesystem::path file = state_database_file(config);
    service_->open(std::make_shared<SqliteKvStore>(file));  // throws KvStoreError, a runtime_error
    spdlog::info("iii-state: file store {}", file.string());
  }

  void stop() override { service_->close(); }

 private:
  std::shared_ptr<StateService> service_;
  std::shared_ptr<InProcessWorker> endpoint_;
  std::shared_ptr<KvStore> given_store_;
};

}  // namespace

BuiltinDescriptor state_builtin() {
  return {kStateWorkerName, {"state"}, [](BuiltinContext& context, const boost::json::value& config) {
            return make_state_worker(context.engine, parse_state_config(config, context.working_dir), nullptr);
          }};
}

std::unique_ptr<BuiltinWorker> make_state_worker(Engine& engine, StateConfig config, std::shared_ptr<KvStore> store) {
  return std::make_unique<StateWorker>(engine, std::move(config), std::move(store));
}

}  // namespace iii
