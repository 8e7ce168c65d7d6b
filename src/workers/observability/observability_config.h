// The `config:` block of iii-observability (docs/observability.md "Config"). Every key of the
// official engine is accepted and validated; the values used when the block (or the whole entry)
// is absent are the defaults below.
//
//   enabled: true                 # false: no spans, logs, metrics; the functions answer empty
//   service_name: iii             # service.name of the engine's own spans and logs
//   service_version: <version>    # ${SERVICE_VERSION} when set
//   service_namespace: ~
//   exporter: memory              # memory | otlp | both (traces)
//   endpoint: http://localhost:4318   # OTLP/HTTP collector base URL (/v1/traces, /v1/metrics, /v1/logs)
//   sampling_ratio: 1.0
//   sampling: { default, parent_based, rules: [{operation, service, rate}], rate_limit: {max_traces_per_second} }
//   memory_max_spans: 100000      # spans kept in memory (also bounded by trace_storage.memory_max_bytes)
//   live_spans: ~                 # accepted; spans are recorded when they end
//   trace_storage: { enabled: true, directory: ./data/observability/traces, max_disk_bytes: 1073741824,
//                    retention_seconds: 2592000, memory_max_bytes: 268435456,
//                    memory_low_watermark_ratio: 0.75, pending_max_age_seconds: 3600, max_attribute_bytes: 65536 }
//   metrics_enabled: true, metrics_exporter: memory | otlp, metrics_retention_seconds: 3600, metrics_max_count: 10000
//   logs_enabled: true, logs_exporter: memory | otlp | both, logs_max_count: 1000, logs_retention_seconds: 3600,
//   logs_batch_size: 100, logs_flush_interval_ms: 1000, logs_sampling_ratio: 1.0, logs_console_output: true
//   level: info, format: default | json, collapse_spans: false
//   alerts: [{name, metric, threshold, operator, window_seconds: 60, cooldown_seconds: 60, enabled: true, action}]
//   prometheus: { host: 127.0.0.1, port: 9464 }   # this engine's: GET /metrics, /healthz, /readyz (absent: off)
#pragma once
#include <boost/json/value.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace iii::obs {

enum class Exporter { kMemory, kOtlp, kBoth };

struct SamplingRule {
  std::string operation;  // glob over the span name's function id ("api::*"); empty = any
  std::string service;    // glob over the service name; empty = any
  double rate = 1.0;
};

enum class AlertOperator { kGreater, kGreaterOrEqual, kLess, kLessOrEqual, kEqual, kNotEqual };

struct AlertRule {
  std::string name;
  std::string metric;  // e.g. iii.invocations.error (docs/observability.md "Alerts")
  double threshold = 0;
  AlertOperator op = AlertOperator::kGreater;
  uint64_t window_seconds = 60;
  uint64_t cooldown_seconds = 60;
  bool enabled = true;
  std::string action = "log";  // log | webhook | function
  std::string action_target;   // the webhook URL or the function id
};

struct ObservabilityConfig {
  bool enabled = true;
  std::string service_name = "iii";
  std::string service_version;  // set by the parser (SERVICE_VERSION or the engine's version)
  std::string service_namespace;
  Exporter exporter = Exporter::kMemory;
  std::string endpoint = "http://localhost:4318";
  double sampling_ratio = 1.0;
  bool parent_based = false;
  std::vector<SamplingRule> sampling_rules;
  double max_traces_per_second = 0;  // 0 = no limit
  size_t memory_max_spans = 100000;

  bool trace_storage_enabled = true;
  std::filesystem::path trace_directory;  // absolute
  uint64_t max_disk_bytes = 1ull << 30;
  uint64_t trace_retention_seconds = 2592000;
  uint64_t memory_max_bytes = 256ull << 20;
  size_t max_attribute_bytes = 65536;

  bool metrics_enabled = true;
  Exporter metrics_exporter = Exporter::kMemory;
  uint64_t metrics_retention_seconds = 3600;
  size_t metrics_max_count = 10000;

  bool logs_enabled = true;
  Exporter logs_exporter = Exporter::kMemory;
  size_t logs_max_count = 1000;
  uint64_t logs_retention_seconds = 3600;
  size_t logs_batch_size = 100;
  uint64_t logs_flush_interval_ms = 1000;
  double logs_sampling_ratio = 1.0;
  bool logs_console_output = true;
  std::optional<std::string> level;  // the console's level; absent: info (unless --log-level pins one)
  bool json_format = false;          // format: json (the console as JSON lines)

  std::vector<AlertRule> alerts;

  std::optional<std::string> prometheus_host;  // set (with the port) when the endpoint is on
  uint16_t prometheus_port = 9464;

  bool exports_traces() const { return exporter != Exporter::kMemory; }
  bool keeps_traces() const { return exporter != Exporter::kOtlp; }
};

// Parses a block (null = every default). Unknown keys, wrong types and out-of-range values throw
// BuiltinConfigError naming the key. Relative directories resolve against `working_dir`.
ObservabilityConfig parse_observability_config(const boost::json::value& config,
                                               const std::filesystem::path& working_dir);

}  // namespace iii::obs
