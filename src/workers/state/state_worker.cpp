#include "workers/state/state_worker.h"

#include <spdlog/spdlog.h>

#include "net/io_pool.h"
#include "store/memory_kv_store.h"
#include "store/redis_kv_store.h"
#include "store/sqlite_kv_store.h"
#include "workers/redis_adapter.h"
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

// Opens the store that `config` names (throws KvStoreError). An unreachable Redis is not fatal:
// calls answer the store's error until the server is back.
std::shared_ptr<KvStore> open_state_store(const StateConfig& config) {
  if (config.storage == StateConfig::Storage::kBridge) return nullptr;  // calls go to the remote engine
  if (config.storage == StateConfig::Storage::kRedis) {
    // A lane per connection loop: the state functions run on the loop that read the call, and
    // their commands are answered there (docs/redis.md "The clients").
    RedisClientOptions lanes{.loops = net::connection_loops()};
    return make_redis_kv_store(open_redis_adapter_client("iii-state", config.redis_url, "state calls fail", lanes),
                               "state");
  }
  if (config.storage == StateConfig::Storage::kInMemory) {
    spdlog::info("iii-state: in-memory store");
    return std::make_shared<MemoryKvStore>();
  }
  const std::filesystem::path file = state_database_file(config);
  auto store = std::make_shared<SqliteKvStore>(file);
  spdlog::info("iii-state: file store {}", file.string());
  return store;
}

class StateWorker final : public StoreBackedWorker<StateService, StateConfig, KvStore> {
 public:
  StateWorker(Engine& engine, StateConfig config, std::shared_ptr<KvStore> store)
      : StoreBackedWorker(std::make_shared<StateService>(engine, std::move(config)),
                          std::make_shared<InProcessWorker>(engine, kStateWorkerName), std::move(store),
                          open_state_store) {
    add_state_functions(*endpoint_, service_);
    // The service's trigger table, kept alive (and held weakly) through the service itself.
    const std::shared_ptr<StateTriggers> triggers(service_, &service_->triggers());
    endpoint_->add_trigger_type(TriggerTypeSpec{"state", "State trigger", kTriggerConfigFormat, kTriggerCallFormat},
                                weakly_served(triggers, kStateWorkerName));
  }

  void start() override {
    const StateConfig& config = service_->config();
    if (config.storage != StateConfig::Storage::kBridge) return StoreBackedWorker::start();
    service_->open_remote(std::make_shared<RemoteEngine>(config.bridge_url, kStateWorkerName));
    spdlog::info("iii-state: bridge to {} (state::* run there)", config.bridge_url);
  }
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
