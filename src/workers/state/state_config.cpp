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

void parse_adapter(const json::value& adapter, StateConfig& out, const std::filesystem::path& working_dir) {
  reader.kv_adapter(adapter, "state", {"store_method", "file_path", "save_interval_ms"}, kDefaultStateFilePath, working_dir)
      .apply_to(out);
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
  return database_file_at(config.file_path, "state.sqlite3");
}

}  // namespace iii
