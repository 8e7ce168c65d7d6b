#include "workers/state/state_config.h"

#include <boost/json.hpp>

#include <cmath>

#include "workers/builtin.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;
constexpr const char* kWorker = "iii-state";

constexpr ConfigReader reader{kWorker};

void check_save_interval(const json::value* v, const std::string& key) {
  if (v && !v->is_null()) reader.integer(*v, key, 100, 3'600'000);
}

void parse_kv_adapter(const json::value& config, StateConfig& out, const std::filesystem::path& working_dir) {
  require_known_keys(config, "iii-state adapter `kv`", {"store_method", "file_path", "save_interval_ms"});
  std::string file_path = kDefaultStateFilePath;
  if (config.is_object()) {
    const json::object& o = config.get_object();
    if (const json::value* m = o.if_contains("store_method"); m && !m->is_null()) {
      const std::string method = reader.string(*m, "adapter.config.store_method");
      if (method == "in_memory") {
        out.storage = StateConfig::Storage::kInMemory;
      } else if (method == "file_based") {
        out.storage = StateConfig::Storage::kFileBased;
      } else {
        reader.fail("adapter.config.store_method", "must be `in_memory` or `file_based`, got `" + method + "`");
      }
    }
    if (const json::value* p = o.if_contains("file_path"); p && !p->is_null()) {
      file_path = reader.string(*p, "adapter.config.file_path");
      if (file_path.empty()) reader.fail("adapter.config.file_path", "must not be empty");
    }
    check_save_interval(o.if_contains("save_interval_ms"), "adapter.config.save_interval_ms");
  }
  out.file_path = (working_dir / file_path).lexically_normal();
}

void parse_adapter(const json::value& adapter, StateConfig& out, const std::filesystem::path& working_dir) {
  const auto [adapter_name, config] = reader.adapter(adapter, "kv");
  if (adapter_name == "kv") return parse_kv_adapter(config, out, working_dir);
  if (adapter_name == "redis" || adapter_name == "bridge")
    reader.fail("adapter.name", "`" + adapter_name + "` is not supported yet (supported: kv)");
  reader.fail("adapter.name",
              "`" + adapter_name + "` is not a state adapter (supported: kv; redis and bridge are not supported yet)");
}

}  // namespace

StateConfig parse_state_config(const json::value& config, const std::filesystem::path& working_dir) {
  require_known_keys(config, kWorker, {"adapter", "triggers_enabled", "max_value_bytes", "save_interval_ms"});
  StateConfig out;
  out.file_path = (working_dir / kDefaultStateFilePath).lexically_normal();
  if (config.is_null()) return out;
  const json::object& o = config.get_object();
  if (const json::value* a = o.if_contains("adapter"); a && !a->is_null()) parse_adapter(*a, out, working_dir);
  if (const json::value* t = o.if_contains("triggers_enabled"); t && !t->is_null()) {
    if (!t->is_bool())
      reader.fail("triggers_enabled", std::string("must be true or false, got ") + json_text::type_name(*t));
    out.triggers_enabled = t->get_bool();
  }
  if (const json::value* m = o.if_contains("max_value_bytes"); m && !m->is_null())
    out.max_value_bytes = reader.integer(*m, "max_value_bytes", 1, UINT64_MAX);
  check_save_interval(o.if_contains("save_interval_ms"), "save_interval_ms");
  return out;
}

std::filesystem::path state_database_file(const StateConfig& config) {
  std::error_code ec;
  if (std::filesystem::is_directory(config.file_path, ec)) return config.file_path / "state.sqlite3";
  return config.file_path;
}

}  // namespace iii
