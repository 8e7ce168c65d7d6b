// The JSON views of an upgrade request that auth functions receive (net/ws_service.h).
#include <algorithm>

#include "core/request_target.h"
#include "net/ws_service.h"
#include "wire/json_writer.h"

namespace iii {

std::string upgrade_headers_json(const WsUpgradeRequest& request) {
  std::vector<std::pair<std::string, std::string>> merged;
  for (const auto& [name, value] : request.headers) {
    auto it = std::find_if(merged.begin(), merged.end(), [&](const auto& m) { return m.first == name; });
    if (it == merged.end()) {
      merged.emplace_back(name, value);
    } else {
      it->second.append(", ").append(value);
    }
  }
  std::string out = "{";
  for (const auto& [name, value] : merged) {
    if (out.size() > 1) out += ',';
    append_json_string(out, name);
    out += ':';
    append_json_string(out, value);
  }
  out += '}';
  return out;
}

std::string query_params_json(std::string_view query) {
  std::vector<std::pair<std::string, std::vector<std::string>>> params;
  for_each_query_param(query, [&](std::string key, std::string value) {
    for (auto& p : params)
      if (p.first == key) return p.second.push_back(std::move(value));
    params.push_back({std::move(key), {std::move(value)}});
  });
  std::string out = "{";
  for (const auto& [key, values] : params) {
    if (out.size() > 1) out += ',';
    append_json_string(out, key);
    out += ":[";
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) out += ',';
      append_json_string(out, values[i]);
    }
    out += ']';
  }
  out += '}';
  return out;
}

}  // namespace iii
