// The trigger types engine::workers-available and engine::functions-available (docs/protocol.md §4.2).
// Their `config` is ignored (only condition_function_id is honoured, as for every built-in type).
//
// workers-available fires on every worker event the engine announces (connected, disconnected,
// metadata updated). functions-available is polled: every 5 s the sorted set of function ids is
// compared with the previous poll, and any change fires with the summaries of all functions. The
// first poll (at the engine's first tick, normally before anything is bound) compares with the
// empty set.
#include <algorithm>
#include <mutex>

#include <spdlog/spdlog.h>

#include "workers/engine/engine_functions_internal.h"

namespace iii::engine_fn {
namespace {

constexpr const char* kWorkersAvailable = "engine::workers-available";
constexpr const char* kFunctionsAvailable = "engine::functions-available";
constexpr auto kPollInterval = std::chrono::seconds(5);

// The active bindings of one trigger type. Activation of the same id replaces (upsert).
class BindingSet {
 public:
  void upsert(const TriggerBinding& b) {
    std::lock_guard lock(mu_);
    bindings_.insert_or_assign(b.id, b);
  }
  void erase(const TriggerBinding& b) {
    std::lock_guard lock(mu_);
    bindings_.erase(b.id);
  }
  std::vector<TriggerBinding> snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<TriggerBinding> out;
    out.reserve(bindings_.size());
    for (const auto& [id, b] : bindings_) out.push_back(b);
    return out;
  }

 private:
  mutable std::mutex mu_;
  StringMap<TriggerBinding> bindings_;
};

class Availability {
 public:
  explicit Availability(Engine& engine) : engine_(engine) {}

  BindingSet workers_available;
  BindingSet functions_available;

  void on_worker_event(std::string_view event, std::string_view worker_id) {
    std::vector<TriggerBinding> bindings = workers_available.snapshot();
    if (bindings.empty()) return;
    json::object payload;
    payload["event"] = event;
    payload["worker_id"] = worker_id;
    fire_all(bindings, to_text(payload));
  }

  void poll(Clock::time_point now) {
    {
      std::lock_guard lock(mu_);
      if (next_poll_ && now < *next_poll_) return;
      next_poll_ = now + kPollInterval;
    }
    std::vector<std::string> ids;
    for (const auto& f : engine_.registry().functions()) ids.push_back(f->id);
    std::sort(ids.begin(), ids.end());
    {
      std::lock_guard lock(mu_);
      if (ids == last_function_ids_) return;
      last_function_ids_ = std::move(ids);
    }
    std::vector<TriggerBinding> bindings = functions_available.snapshot();
    if (bindings.empty()) return;
    Catalog catalog(engine_);
    json::array functions;
    for (const auto& f : catalog.functions) functions.push_back(catalog.function_summary(*f));
    json::object payload;
    payload["event"] = "functions_changed";
    payload["functions"] = std::move(functions);
    fire_all(bindings, to_text(payload));
  }

 private:
  // Called without holding any of our locks: firing calls into the engine.
  void fire_all(const std::vector<TriggerBinding>& bindings, const std::string& payload) {
    for (const TriggerBinding& b : bindings) {
      engine_.fire(b, condition_function_id_of(b.config), payload,
                   [id = b.id, target = b.function_id](FireStatus status, Outcome outcome) {
                     if (status == FireStatus::kRan && !outcome.ok())
                       spdlog::debug("trigger {} → {} failed: {}: {}", id, target, outcome.error->code,
                                     outcome.error->message);
                   });
    }
  }

  Engine& engine_;
  std::mutex mu_;  // guards the poll state below
  std::optional<Clock::time_point> next_poll_;
  std::vector<std::string> last_function_ids_;  // sorted; empty before the first poll
};

TriggerTypeHandler handler_for(const std::shared_ptr<Availability>& state, BindingSet Availability::*set) {
  return TriggerTypeHandler{
      [state, set](const TriggerBinding& b) -> std::optional<ErrorBody> {
        ((*state).*set).upsert(b);
        return std::nullopt;
      },
      [state, set](const TriggerBinding& b) { ((*state).*set).erase(b); },
  };
}

}  // namespace

void add_availability_trigger_types(InProcessWorker& worker, Engine& engine) {
  auto state = std::make_shared<Availability>(engine);
  worker.add_trigger_type(TriggerTypeSpec{kWorkersAvailable, "Triggered when workers connect/disconnect", {}, {}},
                          handler_for(state, &Availability::workers_available));
  worker.add_trigger_type(
      TriggerTypeSpec{kFunctionsAvailable, "Triggered when functions are registered/unregistered", {}, {}},
      handler_for(state, &Availability::functions_available));
  engine.subscribe_worker_events(
      [state](std::string_view event, std::string_view worker_id) { state->on_worker_event(event, worker_id); });
  engine.add_ticker([state](Clock::time_point now) { state->poll(now); });  // for the engine's lifetime
}

}  // namespace iii::engine_fn
