#include "workers/observability/observability_triggers.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <algorithm>

#include "wire/json_writer.h"
#include "workers/observability/trace_context.h"

namespace iii::obs {
namespace {

namespace json = boost::json;
constexpr size_t kMaxOwnTraces = 4096;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::optional<ErrorBody> ObservabilityTriggers::activate(const TriggerBinding& binding) {
  TriggerConfigReader reader(binding.trigger_type + " trigger");
  json::object config;
  if (auto e = reader.parse(binding.config, config)) return e;
  std::string condition;
  if (auto e = reader.condition(config, condition)) return e;
  if (binding.trigger_type == "log") {
    std::optional<std::string> level;
    if (auto e = reader.optional_string(config, "level", level)) return e;
    std::string l = level ? lower(*level) : "all";
    if (l == "warning") l = "warn";
    if (l != "all" && l != "trace" && l != "debug" && l != "info" && l != "warn" && l != "error")
      return reader.reject("`level` must be all, trace, debug, info, warn or error (got `" + *level + "`)");
    log_bindings_.upsert(LogBinding{binding, condition, l == "all" ? "" : l});
    return std::nullopt;
  }
  TraceBinding b{binding, condition, {}, {}, {}, {}};
  std::optional<std::string> service, status;
  if (auto e = reader.optional_string(config, "service_name", service)) return e;
  if (auto e = reader.optional_string(config, "status", status)) return e;
  if (service) b.service_name = lower(*service);
  if (status) {
    b.status = lower(*status);
    if (*b.status != "ok" && *b.status != "error" && *b.status != "unset")
      return reader.reject("`status` must be ok, error or unset (got `" + *status + "`)");
  }
  std::lock_guard lock(mu_);
  std::erase_if(trace_bindings_, [&](const TraceBinding& t) { return t.binding.id == binding.id; });
  trace_bindings_.push_back(std::move(b));
  return std::nullopt;
}

void ObservabilityTriggers::deactivate(const TriggerBinding& binding) {
  if (binding.trigger_type == "log") return log_bindings_.remove(binding.id);
  std::lock_guard lock(mu_);
  std::erase_if(trace_bindings_, [&](const TraceBinding& t) { return t.binding.id == binding.id; });
}

std::string ObservabilityTriggers::own_traceparent() {
  std::string trace_id = new_trace_id();
  std::string traceparent = format_traceparent(trace_id, new_span_id(), true);
  std::lock_guard lock(mu_);
  own_traces_.insert(trace_id);
  own_order_.push_back(std::move(trace_id));
  if (own_order_.size() > kMaxOwnTraces) {
    own_traces_.erase(own_order_.front());
    own_order_.pop_front();
  }
  return traceparent;
}

bool ObservabilityTriggers::is_own_trace(std::string_view trace_id) const {
  std::lock_guard lock(mu_);
  return own_traces_.count(std::string(trace_id)) > 0;
}

void ObservabilityTriggers::on_log(const LogPtr& log) {
  if (log_bindings_.size() == 0) return;
  if (!log->trace_id.empty() && is_own_trace(log->trace_id)) return;  // written by a log handler
  const std::string level = lower(std::string(severity_text_for(log->severity_number)));
  std::vector<FireTarget> targets =
      log_bindings_.select([&](const LogBinding& b) { return b.level.empty() || b.level == level; });
  if (targets.empty()) return;
  fire_in_sequence(engine_, std::move(targets), to_json(*log), "log trigger", {}, {}, own_traceparent());
}

void ObservabilityTriggers::on_spans(const std::vector<StoredSpan>& spans) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (trace_bindings_.empty()) return;
  for (const StoredSpan& stored : spans) {
    if (stored.internal()) continue;
    const std::string trace_id = stored.trace_id_hex();
    if (own_traces_.count(trace_id)) continue;
    const std::string service = lower(stored.service_name());
    const std::string_view status = status_name(stored.status());
    for (TraceBinding& b : trace_bindings_) {
      if (b.service_name && *b.service_name != service) continue;
      if (b.status && *b.status != status) continue;
      if (b.trace_ids.size() < kMaxTraceIdsPerTick &&
          std::find(b.trace_ids.begin(), b.trace_ids.end(), trace_id) == b.trace_ids.end())
        b.trace_ids.push_back(trace_id);
      if (!b.first_activity) b.first_activity = now;
    }
  }
}

void ObservabilityTriggers::tick(std::chrono::steady_clock::time_point now) {
  std::vector<std::pair<FireTarget, std::vector<std::string>>> due;
  {
    std::lock_guard lock(mu_);
    for (TraceBinding& b : trace_bindings_) {
      if (!b.first_activity || now - *b.first_activity < kDebounce) continue;
      due.emplace_back(FireTarget{b.binding, b.condition_function_id}, std::move(b.trace_ids));
      b.trace_ids.clear();
      b.first_activity.reset();
    }
  }
  for (auto& [target, ids] : due) {
    std::string payload = "{\"trace_ids\":" + json_string_array(ids) + "}";
    fire_in_sequence(engine_, {std::move(target)}, std::move(payload), "trace trigger", {}, {}, own_traceparent());
  }
}

}  // namespace iii::obs
