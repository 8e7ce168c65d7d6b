#include "workers/builtin.h"

#include <boost/json.hpp>

namespace iii {

void require_known_keys(const boost::json::value& config, std::string_view worker,
                        std::initializer_list<std::string_view> known) {
  if (config.is_null()) return;
  if (!config.is_object()) throw BuiltinConfigError(std::string(worker) + ": `config` must be a mapping");
  for (const auto& [key, value] : config.as_object()) {
    bool ok = false;
    for (auto k : known) ok = ok || k == key;
    if (!ok) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      throw BuiltinConfigError(std::string(worker) + ": unknown key `" + std::string(key) + "` (known keys: " + list + ")");
    }
  }
}

}  // namespace iii
