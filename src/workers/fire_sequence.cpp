#include "workers/fire_sequence.h"

#include <spdlog/spdlog.h>

#include <memory>

namespace iii {
namespace {

class FireChain : public std::enable_shared_from_this<FireChain> {
 public:
  FireChain(Engine& engine, std::vector<FireTarget> targets, std::string payload, std::string label, FireStepFn on_step,
            std::function<void()> on_done, std::string traceparent)
      : engine_(engine),
        traceparent_(std::move(traceparent)),
        targets_(std::move(targets)),
        payload_(std::move(payload)),
        label_(std::move(label)),
        on_step_(std::move(on_step)),
        on_done_(std::move(on_done)) {}

  void next() {
    if (next_ >= targets_.size()) return finish();
    const FireTarget& target = targets_[next_++];
    engine_.fire(target.binding, target.condition_function_id, payload_,
                 [self = shared_from_this(), &target](FireStatus status, Outcome outcome) {
                   if (status == FireStatus::kRan && !outcome.ok())
                     spdlog::warn("{} {} → {} failed: {}: {}", self->label_, target.binding.id,
                                  target.binding.function_id, outcome.error->code, outcome.error->message);
                   if (self->on_step_ && !self->on_step_(target, status, outcome)) return self->finish();
                   self->next();
                 },
                 traceparent_);
  }

 private:
  void finish() {
    if (on_done_) std::exchange(on_done_, nullptr)();
  }

  Engine& engine_;
  const std::string traceparent_;
  const std::vector<FireTarget> targets_;  // never resized: steps hold references into it
  const std::string payload_;
  const std::string label_;
  const FireStepFn on_step_;
  std::function<void()> on_done_;
  size_t next_ = 0;
};

}  // namespace

void fire_in_sequence(Engine& engine, std::vector<FireTarget> targets, std::string payload, std::string label,
                      FireStepFn on_step, std::function<void()> on_done, std::string traceparent) {
  if (targets.empty()) {
    if (on_done) on_done();
    return;
  }
  std::make_shared<FireChain>(engine, std::move(targets), std::move(payload), std::move(label), std::move(on_step),
                              std::move(on_done), std::move(traceparent))
      ->next();
}

}  // namespace iii
