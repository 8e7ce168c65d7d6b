// Alert rules from the config, evaluated every 10 s and on engine::alerts::evaluate
// (docs/observability.md "Alerts"). A rule compares one metric over its window with its threshold;
// when the comparison holds and the rule's cooldown has passed it fires its action: a warning on
// the console and in the log store (`log`), a POST of the alert as JSON (`webhook`), or a call of
// a function with it (`function`).
#pragma once
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "workers/observability/telemetry_hub.h"

namespace iii::obs {

struct AlertState {
  AlertRule rule;
  bool firing = false;
  std::optional<double> last_value;
  uint64_t last_evaluated_ms = 0, last_fired_ms = 0, fire_count = 0;
};

// Sends a fired alert somewhere other than the log: (rule, alert JSON).
using AlertDelivery = std::function<void(const AlertRule&, const std::string& alert_json)>;

class Alerts {
 public:
  Alerts(std::shared_ptr<TelemetryHub> hub, std::vector<AlertRule> rules, AlertDelivery deliver)
      : hub_(std::move(hub)), deliver_(std::move(deliver)) {
    for (AlertRule& r : rules) {
      AlertState state;
      state.rule = std::move(r);
      states_.push_back(std::move(state));
    }
  }

  // Evaluates every enabled rule at `now_ms`; returns the names of the rules that fired now.
  std::vector<std::string> evaluate(uint64_t now_ms);
  std::vector<AlertState> states() const;
  bool empty() const { return states_.empty(); }

  // The value of `metric` over the last `window_seconds`; nullopt for an unknown metric name.
  static std::optional<double> metric_value(TelemetryHub& hub, std::string_view metric, uint64_t window_seconds,
                                            uint64_t now_seconds);

 private:
  const std::shared_ptr<TelemetryHub> hub_;
  const AlertDelivery deliver_;
  mutable std::mutex mu_;
  std::vector<AlertState> states_;
};

std::string_view operator_name(AlertOperator op);  // canonical: greaterthan, …
std::string alert_state_json(const AlertState& state);

}  // namespace iii::obs
