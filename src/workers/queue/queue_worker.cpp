#include "workers/queue/queue_worker.h"

#include <spdlog/spdlog.h>

#include "engine/engine.h"
#include "engine/in_process_worker.h"
#include "net/io_pool.h"
#include "store/redis_queue_store.h"
#include "store/sqlite_queue_store.h"
#include "workers/redis_adapter.h"
#include "workers/queue/queue_bridge.h"
#include "workers/queue/queue_service.h"

namespace iii {
namespace {

constexpr const char* kTriggerConfigFormat =
    R"({"type":"object","required":["topic"],"properties":{"topic":{"type":"string"},)"
    R"("condition_function_id":{"type":"string"},"queue_config":{"type":"object","properties":{)"
    R"("type":{"enum":["standard","fifo"]},"maxRetries":{"type":"integer"},"concurrency":{"type":"integer"},)"
    R"("backoffDelayMs":{"type":"integer"}}}}})";

// Opens the store that `config` names (throws QueueStoreError). Redis registers this engine as a
// lease holder: unlike state, a queue on an unreachable Redis fails the start rather than
// dispatching nothing in silence.
std::shared_ptr<QueueStore> open_queue_store(const QueueWorkerConfig& config) {
  if (config.storage == QueueWorkerConfig::Storage::kRedis)
    return std::make_shared<RedisQueueStore>(open_redis_adapter_pool("iii-queue", config.redis_url, "the queue cannot start"),
                                             RedisQueueStore::Options{.loops = net::connection_loops()});
  if (config.storage == QueueWorkerConfig::Storage::kInMemory) {
    spdlog::info("iii-queue: in-memory store (messages do not survive a restart)");
    return std::make_shared<SqliteQueueStore>(":memory:");
  }
  spdlog::info("iii-queue: durable store {}", config.file_path.string());
  return std::make_shared<SqliteQueueStore>(config.file_path);
}

class QueueWorker final : public StoreBackedWorker<QueueService, QueueWorkerConfig, QueueStore> {
 public:
  QueueWorker(Engine& engine, QueueWorkerConfig config, std::shared_ptr<QueueStore> store, QueueClock clock)
      : StoreBackedWorker(std::make_shared<QueueService>(engine, std::move(config), std::move(clock)),
                          std::make_shared<InProcessWorker>(engine, kQueueWorkerName), std::move(store),
                          open_queue_store) {
    add_queue_functions(*endpoint_, service_);
    endpoint_->add_trigger_type(
        TriggerTypeSpec{"durable:subscriber", "Durable topic subscriber (iii::durable::publish)", kTriggerConfigFormat, {}},
        weakly_served(service_, kQueueWorkerName));
  }
};

}  // namespace

BuiltinDescriptor queue_builtin() {
  return {kQueueWorkerName, {"queue"},
          [](BuiltinContext& context, const boost::json::value& config) -> std::unique_ptr<BuiltinWorker> {
            QueueWorkerConfig parsed = parse_queue_config(config, context.working_dir);
            if (parsed.storage == QueueWorkerConfig::Storage::kBridge)
              return make_bridged_queue_worker(context.engine, parsed.bridge_url, context.working_dir,
                                               context.instance_id);
            return make_queue_worker(context.engine, std::move(parsed), nullptr, queue_wall_clock_ms);
          }};
}

std::unique_ptr<BuiltinWorker> make_queue_worker(Engine& engine, QueueWorkerConfig config,
                                                 std::shared_ptr<QueueStore> store, QueueClock clock) {
  return std::make_unique<QueueWorker>(engine, std::move(config), std::move(store), std::move(clock));
}

}  // namespace iii
