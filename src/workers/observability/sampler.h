// Which traces the engine records (docs/observability.md "Sampling"): a ratio decided by the trace
// id (so every engine sharing a trace decides alike), per-operation and per-service rules, an
// optional parent-based mode that follows the caller's sampled flag, and a cap on new traces per
// second. Rule globs are core/access.h's glob_match (`*` matches any run). Thread-safe.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "workers/observability/observability_config.h"

namespace iii::obs {

struct ParentSample {
  bool present = false;
  bool sampled = false;
};

class Sampler {
 public:
  explicit Sampler(const ObservabilityConfig& config);

  // Whether to record the span of a call to `function_id` in trace `trace_id`.
  bool sample(std::string_view function_id, std::string_view trace_id, ParentSample parent);
  // The same with the trace id as its 16 bytes.
  bool sample(std::string_view function_id, const std::array<uint8_t, 16>& trace_id, ParentSample parent);

  double default_ratio() const { return default_ratio_; }

 private:
  bool rate_allows();

  double default_ratio_;
  bool parent_based_;
  std::vector<SamplingRule> rules_;
  std::string service_;
  double max_per_second_;
  std::mutex mu_;  // the token bucket
  double tokens_ = 0;
  std::chrono::steady_clock::time_point refilled_{};
};

}  // namespace iii::obs
