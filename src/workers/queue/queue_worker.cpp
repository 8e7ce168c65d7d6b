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
      : engine_(engine),
        service_(std::make_shared<QueueService>(engine, std::move(config), std::move(clock))),
        endpoint_(std::make_shared<InProcessWorker>(engine, kQueueWorkerName)),
        given_store_(std::move(store)) {
    add_queue_functions(*endpoint_, service_);
    std::weak_ptr<QueueService> weak = service_;
    endpoint_->add_trigger_type(
        TriggerTypeSpec{"durable:subscriber", "Durable topic subscriber (iii::durable::publish)", kTriggerConfigFormat, {}},
        TriggerTypeHandler{
            [weak](const TriggerBinding& b) -> std::optional<ErrorBody> {
              if (auto s = weak.lock()) return s->activate(b);
              return ErrorBody{codes::kTriggerRegistrationFailed, "iii-queue is shutting down", std::nullopt};
            },
            [weak](const TriggerBinding& b) {
              if (auto s = weak.lock()) s->deactivate(b);
            },
        });
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
    // Tickers cannot be removed: hold the dispatcher weakly, so a stopped worker's ticker idles.
    std::weak_ptr<QueueDispatcher> weak = service_->dispatcher();
    engine_.add_ticker([weak](Clock::time_point) {
      if (auto d = weak.lock()) d->tick();
    });
  }

  void stop() override { service_->close(); }

 private:
  Engine& engine_;
  std::shared_ptr<QueueService> service_;
  std::shared_ptr<InProcessWorker> endpoint_;
  std::shared_ptr<QueueStore> given_store_;
};

}  // namespace

BuiltinDescriptor queue_builtin() {
  return BuiltinDescriptor{
      kQueueWorkerName,
      {"queue"},
      [](BuiltinContext& context, const boost::json::value& config) -> std::unique_ptr<BuiltinWorker> {
        return std::make_unique<QueueWorker>(context.engine, parse_queue_config(config, context.working_dir), nullptr,
                                             queue_wall_clock_ms);
      },
  };
}

std::unique_ptr<BuiltinWorker> make_queue_worker(Engine& engine, QueueWorkerConfig config,
                                                 std::shared_ptr<QueueStore> store, QueueClock clock) {
  return std::make_unique<QueueWorker>(engine, std::move(config), std::move(store), std::move(clock));
}

}  // namespace iii
