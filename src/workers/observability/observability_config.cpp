#include "workers/observability/observability_config.h"

#include <boost/json.hpp>

#include <cstdlib>

#include "workers/builtin.h"

namespace iii::obs {
namespace {

namespace json = boost::json;
constexpr const char* kWorker = "iii-observability";
constexpr ConfigReader reader{kWorker};

bool boolean(const json::value& v, const std::string& key) {
  if (!v.is_bool()) reader.fail(key, "must be true or false");
  return v.get_bool();
}

double number(const json::value& v, const std::string& key, double min, double max) {
  double d = 0;
  if (v.is_double()) d = v.get_double();
  else if (v.is_int64()) d = static_cast<double>(v.get_int64());
  else if (v.is_uint64()) d = static_cast<double>(v.get_uint64());
  else reader.fail(key, "must be a number");
  if (!(d >= min && d <= max)) reader.fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return d;
}

Exporter exporter(const json::value& v, const std::string& key, bool allow_both) {
  const std::string s = reader.string(v, key);
  if (s == "memory") return Exporter::kMemory;
  if (s == "otlp") return Exporter::kOtlp;
  if (s == "both" && allow_both) return Exporter::kBoth;
  reader.fail(key, allow_both ? "must be memory, otlp or both" : "must be memory or otlp");
}

const json::object& mapping(const json::value& v, const std::string& key) {
  if (!v.is_object()) reader.fail(key, "must be a mapping");
  return v.get_object();
}

void known(const json::object& o, const std::string& key, std::initializer_list<std::string_view> keys) {
  for (const auto& [k, unused] : o) {
    bool ok = false;
    for (auto n : keys) ok = ok || n == k;
    if (!ok) reader.fail(key + "." + std::string(k), "is not a known key");
  }
}

void parse_sampling(const json::value& v, ObservabilityConfig& out) {
  const json::object& o = mapping(v, "sampling");
  known(o, "sampling", {"default", "parent_based", "rules", "rate_limit"});
  if (auto* d = ConfigReader::field(o, "default")) out.sampling_ratio = number(*d, "sampling.default", 0, 1);
  if (auto* p = ConfigReader::field(o, "parent_based")) out.parent_based = boolean(*p, "sampling.parent_based");
  if (auto* rules = ConfigReader::field(o, "rules")) {
    if (!rules->is_array()) reader.fail("sampling.rules", "must be a list");
    size_t i = 0;
    for (const json::value& r : rules->get_array()) {
      const std::string key = "sampling.rules[" + std::to_string(i++) + "]";
      const json::object& ro = mapping(r, key);
      known(ro, key, {"operation", "service", "rate"});
      SamplingRule rule;
      if (auto* op = ConfigReader::field(ro, "operation")) rule.operation = reader.string(*op, key + ".operation");
      if (auto* sv = ConfigReader::field(ro, "service")) rule.service = reader.string(*sv, key + ".service");
      const json::value* rate = ConfigReader::field(ro, "rate");
      if (!rate) reader.fail(key + ".rate", "is required");
      rule.rate = number(*rate, key + ".rate", 0, 1);
      out.sampling_rules.push_back(std::move(rule));
    }
  }
  if (auto* rl = ConfigReader::field(o, "rate_limit")) {
    const json::object& ro = mapping(*rl, "sampling.rate_limit");
    known(ro, "sampling.rate_limit", {"max_traces_per_second"});
    if (auto* m = ConfigReader::field(ro, "max_traces_per_second"))
      out.max_traces_per_second = number(*m, "sampling.rate_limit.max_traces_per_second", 0, 1e9);
  }
}

void parse_trace_storage(const json::value& v, ObservabilityConfig& out, const std::filesystem::path& working_dir) {
  const json::object& o = mapping(v, "trace_storage");
  known(o, "trace_storage",
        {"enabled", "directory", "max_disk_bytes", "retention_seconds", "memory_max_bytes",
         "memory_low_watermark_ratio", "pending_max_age_seconds", "max_attribute_bytes"});
  if (auto* e = ConfigReader::field(o, "enabled")) out.trace_storage_enabled = boolean(*e, "trace_storage.enabled");
  if (auto* d = ConfigReader::field(o, "directory")) {
    const std::string dir = reader.string(*d, "trace_storage.directory");
    if (dir.empty()) reader.fail("trace_storage.directory", "must not be empty");
    out.trace_directory = (working_dir / dir).lexically_normal();
  }
  if (auto* m = ConfigReader::field(o, "max_disk_bytes"))
    out.max_disk_bytes = reader.integer(*m, "trace_storage.max_disk_bytes", 1u << 20, 1ull << 50);
  if (auto* r = ConfigReader::field(o, "retention_seconds"))
    out.trace_retention_seconds = reader.integer(*r, "trace_storage.retention_seconds", 0, 1ull << 40);
  if (auto* m = ConfigReader::field(o, "memory_max_bytes"))
    out.memory_max_bytes = reader.integer(*m, "trace_storage.memory_max_bytes", 1u << 20, 1ull << 40);
  if (auto* w = ConfigReader::field(o, "memory_low_watermark_ratio"))
    number(*w, "trace_storage.memory_low_watermark_ratio", 0.5, 0.95);  // accepted: eviction is one span at a time
  if (auto* p = ConfigReader::field(o, "pending_max_age_seconds"))
    reader.integer(*p, "trace_storage.pending_max_age_seconds", 1, 1ull << 32);  // accepted: no pending spans
  if (auto* a = ConfigReader::field(o, "max_attribute_bytes"))
    out.max_attribute_bytes = reader.integer(*a, "trace_storage.max_attribute_bytes", 0, 1ull << 30);
}

AlertOperator alert_operator(const json::value& v, const std::string& key) {
  const std::string s = reader.string(v, key);
  if (s == ">" || s == "greaterthan") return AlertOperator::kGreater;
  if (s == ">=" || s == "greaterthanorequal") return AlertOperator::kGreaterOrEqual;
  if (s == "<" || s == "lessthan") return AlertOperator::kLess;
  if (s == "<=" || s == "lessthanorequal") return AlertOperator::kLessOrEqual;
  if (s == "==" || s == "equal") return AlertOperator::kEqual;
  if (s == "!=" || s == "notequal") return AlertOperator::kNotEqual;
  reader.fail(key, "must be one of >, >=, <, <=, ==, != (or greaterthan, greaterthanorequal, lessthan, "
                   "lessthanorequal, equal, notequal)");
}

void parse_alerts(const json::value& v, ObservabilityConfig& out) {
  if (!v.is_array()) reader.fail("alerts", "must be a list");
  size_t i = 0;
  for (const json::value& a : v.get_array()) {
    const std::string key = "alerts[" + std::to_string(i++) + "]";
    const json::object& o = mapping(a, key);
    known(o, key, {"name", "metric", "threshold", "operator", "window_seconds", "cooldown_seconds", "enabled", "action"});
    AlertRule rule;
    const json::value* name = ConfigReader::field(o, "name");
    const json::value* metric = ConfigReader::field(o, "metric");
    const json::value* threshold = ConfigReader::field(o, "threshold");
    if (!name) reader.fail(key + ".name", "is required");
    if (!metric) reader.fail(key + ".metric", "is required");
    if (!threshold) reader.fail(key + ".threshold", "is required");
    rule.name = reader.string(*name, key + ".name");
    rule.metric = reader.string(*metric, key + ".metric");
    rule.threshold = number(*threshold, key + ".threshold", -1e300, 1e300);
    for (const AlertRule& other : out.alerts)
      if (other.name == rule.name) reader.fail(key + ".name", "`" + rule.name + "` is used by another alert");
    if (auto* op = ConfigReader::field(o, "operator")) rule.op = alert_operator(*op, key + ".operator");
    if (auto* w = ConfigReader::field(o, "window_seconds")) rule.window_seconds = reader.integer(*w, key + ".window_seconds", 1, 86400);
    if (auto* c = ConfigReader::field(o, "cooldown_seconds"))
      rule.cooldown_seconds = reader.integer(*c, key + ".cooldown_seconds", 0, 86400 * 7);
    if (auto* e = ConfigReader::field(o, "enabled")) rule.enabled = boolean(*e, key + ".enabled");
    if (auto* act = ConfigReader::field(o, "action")) {
      const json::object& ao = mapping(*act, key + ".action");
      known(ao, key + ".action", {"type", "url", "path"});
      const json::value* type = ConfigReader::field(ao, "type");
      if (!type) reader.fail(key + ".action.type", "is required (log, webhook or function)");
      rule.action = reader.string(*type, key + ".action.type");
      if (rule.action == "webhook") {
        const json::value* url = ConfigReader::field(ao, "url");
        if (!url) reader.fail(key + ".action.url", "is required for a webhook");
        rule.action_target = reader.string(*url, key + ".action.url");
        if (!rule.action_target.starts_with("http://") && !rule.action_target.starts_with("https://"))
          reader.fail(key + ".action.url", "must be an http:// or https:// URL");
      } else if (rule.action == "function") {
        const json::value* path = ConfigReader::field(ao, "path");
        if (!path) reader.fail(key + ".action.path", "is required for a function action (the function id)");
        rule.action_target = reader.string(*path, key + ".action.path");
      } else if (rule.action != "log") {
        reader.fail(key + ".action.type", "must be log, webhook or function");
      }
    }
    out.alerts.push_back(std::move(rule));
  }
}

void parse_prometheus(const json::value& v, ObservabilityConfig& out) {
  const json::object& o = mapping(v, "prometheus");
  known(o, "prometheus", {"host", "port"});
  out.prometheus_host = "127.0.0.1";
  if (auto* h = ConfigReader::field(o, "host")) {
    out.prometheus_host = reader.string(*h, "prometheus.host");
    if (out.prometheus_host->empty()) reader.fail("prometheus.host", "must not be empty");
  }
  if (auto* p = ConfigReader::field(o, "port")) out.prometheus_port = static_cast<uint16_t>(reader.integer(*p, "prometheus.port", 0, 65535));
}

}  // namespace

ObservabilityConfig parse_observability_config(const json::value& config, const std::filesystem::path& working_dir) {
  require_known_keys(config, kWorker,
                     {"enabled", "service_name", "service_version", "service_namespace", "exporter", "endpoint",
                      "sampling_ratio", "sampling", "memory_max_spans", "live_spans", "trace_storage",
                      "metrics_enabled", "metrics_exporter", "metrics_retention_seconds", "metrics_max_count",
                      "logs_enabled", "logs_exporter", "logs_max_count", "logs_retention_seconds", "logs_batch_size",
                      "logs_flush_interval_ms", "logs_sampling_ratio", "logs_console_output", "level", "format",
                      "alerts", "collapse_spans", "prometheus"});
  ObservabilityConfig out;
  const char* version = std::getenv("SERVICE_VERSION");
  out.service_version = version && *version ? version : III_VERSION;
  out.trace_directory = (working_dir / "data/observability/traces").lexically_normal();
  if (config.is_null()) return out;
  const json::object& o = config.get_object();
  auto field = [&](std::string_view k) { return ConfigReader::field(o, k); };
  if (auto* v = field("enabled")) out.enabled = boolean(*v, "enabled");
  if (auto* v = field("service_name")) {
    out.service_name = reader.string(*v, "service_name");
    if (out.service_name.empty()) reader.fail("service_name", "must not be empty");
  }
  if (auto* v = field("service_version")) out.service_version = reader.string(*v, "service_version");
  if (auto* v = field("service_namespace")) out.service_namespace = reader.string(*v, "service_namespace");
  if (auto* v = field("exporter")) out.exporter = exporter(*v, "exporter", true);
  if (auto* v = field("endpoint")) {
    out.endpoint = reader.string(*v, "endpoint");
    if (!out.endpoint.starts_with("http://") && !out.endpoint.starts_with("https://"))
      reader.fail("endpoint", "must be an http:// or https:// URL (OTLP over HTTP with JSON)");
  }
  if (auto* v = field("sampling_ratio")) out.sampling_ratio = number(*v, "sampling_ratio", 0, 1);
  if (auto* v = field("sampling")) parse_sampling(*v, out);
  if (auto* v = field("memory_max_spans")) out.memory_max_spans = reader.integer(*v, "memory_max_spans", 1, 100'000'000);
  if (auto* v = field("live_spans")) boolean(*v, "live_spans");  // accepted: spans are recorded when they end
  if (auto* v = field("trace_storage")) parse_trace_storage(*v, out, working_dir);
  if (auto* v = field("metrics_enabled")) out.metrics_enabled = boolean(*v, "metrics_enabled");
  if (auto* v = field("metrics_exporter")) out.metrics_exporter = exporter(*v, "metrics_exporter", false);
  if (auto* v = field("metrics_retention_seconds"))
    out.metrics_retention_seconds = reader.integer(*v, "metrics_retention_seconds", 1, 1ull << 32);
  if (auto* v = field("metrics_max_count")) out.metrics_max_count = reader.integer(*v, "metrics_max_count", 1, 10'000'000);
  if (auto* v = field("logs_enabled")) out.logs_enabled = boolean(*v, "logs_enabled");
  if (auto* v = field("logs_exporter")) out.logs_exporter = exporter(*v, "logs_exporter", true);
  if (auto* v = field("logs_max_count")) out.logs_max_count = reader.integer(*v, "logs_max_count", 1, 10'000'000);
  if (auto* v = field("logs_retention_seconds"))
    out.logs_retention_seconds = reader.integer(*v, "logs_retention_seconds", 1, 1ull << 32);
  if (auto* v = field("logs_batch_size")) out.logs_batch_size = reader.integer(*v, "logs_batch_size", 1, 100000);
  if (auto* v = field("logs_flush_interval_ms"))
    out.logs_flush_interval_ms = reader.integer(*v, "logs_flush_interval_ms", 1, 3'600'000);
  if (auto* v = field("logs_sampling_ratio")) out.logs_sampling_ratio = number(*v, "logs_sampling_ratio", 0, 1);
  if (auto* v = field("logs_console_output")) out.logs_console_output = boolean(*v, "logs_console_output");
  if (auto* v = field("level")) {
    const std::string level = reader.string(*v, "level");
    if (level != "trace" && level != "debug" && level != "info" && level != "warn" && level != "error")
      reader.fail("level", "must be trace, debug, info, warn or error");
    out.level = level;
  }
  if (auto* v = field("format")) {
    const std::string f = reader.string(*v, "format");
    if (f != "default" && f != "json") reader.fail("format", "must be default or json");
    out.json_format = f == "json";
  }
  if (auto* v = field("alerts")) parse_alerts(*v, out);
  if (auto* v = field("collapse_spans")) boolean(*v, "collapse_spans");  // accepted: nothing to collapse
  if (auto* v = field("prometheus")) parse_prometheus(*v, out);
  return out;
}

}  // namespace iii::obs
