#include "workers/observability/sampler.h"

#include <algorithm>
#include <cstdint>

#include "core/access.h"
#include "workers/observability/trace_context.h"

namespace iii::obs {
namespace {

// The trace id's last 8 bytes as a fraction of 2^64 (W3C ids are random there).
double trace_fraction(const std::array<uint8_t, 16>& trace_id) {
  uint64_t v = 0;
  for (size_t i = 8; i < 16; ++i) v = v << 8 | trace_id[i];
  return static_cast<double>(v) / 18446744073709551616.0;
}

}  // namespace

Sampler::Sampler(const ObservabilityConfig& c)
    : default_ratio_(c.sampling_ratio),
      parent_based_(c.parent_based),
      rules_(c.sampling_rules),
      service_(c.service_name),
      max_per_second_(c.max_traces_per_second),
      tokens_(c.max_traces_per_second) {}

bool Sampler::rate_allows() {
  if (max_per_second_ <= 0) return true;
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (refilled_.time_since_epoch().count() != 0) {
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    tokens_ = std::min(max_per_second_, tokens_ + elapsed * max_per_second_);
  }
  refilled_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool Sampler::sample(std::string_view function_id, std::string_view trace_id, ParentSample parent) {
  std::array<uint8_t, 16> bytes{};  // an id that is not 32 hex digits samples as all zero
  from_hex(trace_id, bytes);
  return sample(function_id, bytes, parent);
}

bool Sampler::sample(std::string_view function_id, const std::array<uint8_t, 16>& trace_id, ParentSample parent) {
  // A trace already sampled upstream stays whole; the rate cap is for new traces only.
  if (parent.present && parent_based_) return parent.sampled;
  double ratio = default_ratio_;
  for (const SamplingRule& r : rules_) {
    if (!r.operation.empty() && !glob_match(r.operation, function_id)) continue;
    if (!r.service.empty() && !glob_match(r.service, service_)) continue;
    ratio = r.rate;
    break;
  }
  if (ratio <= 0) return false;
  if (ratio < 1 && trace_fraction(trace_id) >= ratio) return false;
  return parent.present || rate_allows();
}

}  // namespace iii::obs
