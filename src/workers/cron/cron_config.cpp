#include "workers/cron/cron_config.h"

#include <boost/json.hpp>

#include <cmath>
#include <optional>

#include "workers/builtin.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;
constexpr const char* kWorker = "iii-cron";

constexpr ConfigReader reader{kWorker};

void parse_kv_adapter(const json::value& config, CronConfig& out) {
  require_known_keys(config, "iii-cron adapter `kv`",
                     {"lock_ttl_ms", "lock_index", "store_method", "file_path", "save_interval_ms"});
  if (!config.is_object()) return;
  const json::object& o = config.get_object();
  if (const json::value* v = reader.field(o, "lock_ttl_ms"))
    out.lock_ttl_ms = reader.integer(*v, "adapter.config.lock_ttl_ms", 1, 86'400'000);
  if (const json::value* v = reader.field(o, "lock_index")) {
    out.lock_index = reader.string(*v, "adapter.config.lock_index");
    if (out.lock_index.empty()) reader.fail("adapter.config.lock_index", "must not be empty");
  }
  if (const json::value* v = reader.field(o, "store_method")) {
    const std::string method = reader.string(*v, "adapter.config.store_method");
    if (method != "in_memory" && method != "file_based")
      reader.fail("adapter.config.store_method", "must be `in_memory` or `file_based`, got `" + method + "`");
  }
  if (const json::value* v = reader.field(o, "file_path"); v && reader.string(*v, "adapter.config.file_path").empty())
    reader.fail("adapter.config.file_path", "must not be empty");
  if (const json::value* v = reader.field(o, "save_interval_ms"))
    reader.integer(*v, "adapter.config.save_interval_ms", 100, 3'600'000);
}

void parse_adapter(const json::value& adapter, CronConfig& out) {
  const auto [adapter_name, config] = reader.adapter(adapter, "kv, redis");
  if (adapter_name == "kv") return parse_kv_adapter(config, out);
  if (adapter_name == "redis") {
    out.redis_url = reader.redis_url(config);
    return;
  }
  reader.fail("adapter.name", "`" + adapter_name + "` is not a cron adapter (supported: kv, redis)");
}

}  // namespace

CronConfig parse_cron_config(const json::value& config) {
  CronConfig out;
  require_known_keys(config, kWorker, {"adapter"});
  if (config.is_null()) return out;
  if (const json::value* adapter = reader.field(config.get_object(), "adapter")) parse_adapter(*adapter, out);
  return out;
}

}  // namespace iii
