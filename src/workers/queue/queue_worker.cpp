#include "workers/queue/queue_worker.h"

#include <spdlog/spdlog.h>

#include "engine/engine.h"
#include "engine/in_process_worker.h"
#include "store/sqlite_queue_store.h"
#include "workers/queue/queue_service.h"

namespace iii {
namespace {

constexpr const char* kTriggerConfigFormat =
    R"({"type":"object","required":["topic"],"properties":{"topic":{"type":"string"},)"
    R"("condition_function_id":{"type":"string"},"queue_config":{"type":"object","properties":{)"
    R"("type":{"enum":["standard","fifo"]},"maxRetries":{"type":"integer"},"concurrency":{"type":"integer"},)"
    R"("backoffDelayMs":{"type":"integer"}}}}})";

class QueueWorker final : public BuiltinWorker {
 public:
  QueueWorker(Engine& engine, QueueWorkerConfig config, std::shared_ptr<QueueStore> store, QueueClock clock)
      : service_(std::make_shared<QueueService>(engine, std::move(config), std::move(clock))),
        endpoint_(std::make_shared<InProcessWorker>(engine, kQueueWorkerName)),
        given_store_(std::move(store)),
        ticker_(engine) {
    add_queue_functions(*endpoint_, service_);
    endpoint_->add_trigger_type(
        TriggerTypeSpec{"durable:subscriber", "Durable topic subscriber (iii::durable::publish)", kTriggerConfigFormat, {}},
        weakly_served(service_, kQueueWorkerName));
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

  void start() override {
    std::shared_ptr<QueueStore> store = given_store_;
    const QueueWorkerConfig& config = service_->config();
    if (!store) {
      const bool memory = config.storage == QueueWorkerConfig::Storage::kInMemory;
      store = std::make_shared<SqliteQueueStore>(memory ? std::filesystem::path(":memory:") : config.file_path);
      if (memory) spdlog::info("iii-queue: in-memory store (messages do not survive a restart)");
      else spdlog::info("iii-queue: durable store {}", config.file_path.string());
    }
    service_->open(std::move(store));  // throws QueueStoreError, a runtime_error
    ticker_.start([weak = std::weak_ptr<QueueDispatcher>(service_->dispatcher())](Clock::time_point) {
      if (auto d = weak.lock()) d->tick();
    });
  }

  void stop() override {
    ticker_.stop();
    service_->close();
  }

 private:
  std::shared_ptr<QueueService> service_;
  std::shared_ptr<InProcessWorker> endpoint_;
  std::shared_ptr<QueueStore> given_store_;
  WorkerTicker ticker_;
};

}  // namespace

BuiltinDescriptor queue_builtin() {
  return {kQueueWorkerName, {"queue"}, [](BuiltinContext& context, const boost::json::value& config) {
            return make_queue_worker(context.engine, parse_queue_config(config, context.working_dir), nullptr,
                                     queue_wall_clock_ms);
          }};
}

std::unique_ptr<BuiltinWorker> make_queue_worker(Engine& engine, QueueWorkerConfig config,
                                                 std::shared_ptr<QueueStore> store, QueueClock clock) {
  return std::make_unique<QueueWorker>(engine, std::move(config), std::move(store), std::move(clock));
}

}  // namespace iii
