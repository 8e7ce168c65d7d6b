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

// This worker's names for the shared strict readers of workers/builtin.h.
[[noreturn]] void bad(const std::string& key, const std::string& why) { config_error(kWorker, key, why); }
uint64_t read_integer(const json::value& v, const std::string& key, uint64_t min, uint64_t max) {
  return config_integer(kWorker, v, key, min, max);
}
std::string read_string(const json::value& v, const std::string& key) { return config_string(kWorker, v, key); }
const json::value* field(const json::object& o, std::string_view key) { return config_field(o, key); }

void parse_kv_adapter(const json::value& config, CronConfig& out) {
  require_known_keys(config, "iii-cron adapter `kv`",
                     {"lock_ttl_ms", "lock_index", "store_method", "file_path", "save_interval_ms"});
  if (!config.is_object()) return;
  const json::object& o = config.get_object();
  if (const json::value* v = field(o, "lock_ttl_ms")) out.lock_ttl_ms = read_integer(*v, "adapter.config.lock_ttl_ms", 1, 86'400'000);
  if (const json::value* v = field(o, "lock_index")) {
    out.lock_index = read_string(*v, "adapter.config.lock_index");
    if (out.lock_index.empty()) bad("adapter.config.lock_index", "must not be empty");
  }
  if (const json::value* v = field(o, "store_method")) {
    const std::string method = read_string(*v, "adapter.config.store_method");
    if (method != "in_memory" && method != "file_based")
      bad("adapter.config.store_method", "must be `in_memory` or `file_based`, got `" + method + "`");
  }
  if (const json::value* v = field(o, "file_path"); v && read_string(*v, "adapter.config.file_path").empty())
    bad("adapter.config.file_path", "must not be empty");
  if (const json::value* v = field(o, "save_interval_ms")) read_integer(*v, "adapter.config.save_interval_ms", 100, 3'600'000);
}

void parse_adapter(const json::value& adapter, CronConfig& out) {
  if (!adapter.is_object()) bad("adapter", std::string("must be a mapping {name, config}, got ") + json_text::type_name(adapter));
  require_known_keys(adapter, "iii-cron adapter", {"name", "config"});
  const json::object& o = adapter.get_object();
  const json::value* name = field(o, "name");
  if (!name) bad("adapter.name", "is required (supported: kv)");
  const std::string adapter_name = read_string(*name, "adapter.name");
  static const json::value kNull;
  const json::value* config = o.if_contains("config");
  if (adapter_name == "kv") return parse_kv_adapter(config ? *config : kNull, out);
  if (adapter_name == "redis")
    bad("adapter.name", "`redis` (cross-instance cron locks) is not supported yet (supported: kv, which runs every job "
                        "once per tick on this engine)");
  bad("adapter.name", "`" + adapter_name + "` is not a cron adapter (supported: kv; redis is not supported yet)");
}

}  // namespace

CronConfig parse_cron_config(const json::value& config) {
  CronConfig out;
  require_known_keys(config, kWorker, {"adapter"});
  if (config.is_null()) return out;
  if (const json::value* adapter = field(config.get_object(), "adapter")) parse_adapter(*adapter, out);
  return out;
}

}  // namespace iii
