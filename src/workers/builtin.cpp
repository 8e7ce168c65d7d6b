#include "workers/builtin.h"

#include <boost/url/parse.hpp>

#include <boost/json.hpp>

#include <cmath>
#include <optional>

#include "core/json_text.h"
#include "store/redis_connection.h"
#include "wire/json_writer.h"

namespace iii {

std::pair<bool, std::string> BuiltinReadiness::report() const {
  std::lock_guard lock(mu_);
  const bool ready = set_ && not_running_.empty();
  return {ready, std::string("{\"ready\":") + (ready ? "true" : "false") + ",\"running\":" +
                     json_string_array(running_) + ",\"not_running\":" + json_string_array(not_running_) + "}"};
}

void BuiltinReadiness::set(std::vector<std::string> running, std::vector<std::string> not_running) {
  std::lock_guard lock(mu_);
  set_ = true;
  running_ = std::move(running);
  not_running_ = std::move(not_running);
}

void WorkerTicker::start(Ticker fn) {
  if (!id_) id_ = engine_.add_ticker(std::move(fn));
}

void WorkerTicker::stop() {
  if (id_) engine_.remove_ticker(*std::exchange(id_, std::nullopt));
}

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

void ConfigReader::fail(const std::string& key, const std::string& why) const {
  throw BuiltinConfigError(std::string(worker_) + ": `" + key + "` " + why);
}

uint64_t ConfigReader::integer(const boost::json::value& v, const std::string& key, uint64_t min, uint64_t max) const {
  std::optional<uint64_t> n;
  if (v.is_int64() && v.get_int64() >= 0) n = static_cast<uint64_t>(v.get_int64());
  if (v.is_uint64()) n = v.get_uint64();
  if (v.is_double() && v.get_double() >= 0 && v.get_double() < 1.8e19 && std::floor(v.get_double()) == v.get_double())
    n = static_cast<uint64_t>(v.get_double());
  const std::string range = std::to_string(min) + " and " + std::to_string(max);
  if (!n && v.is_number()) fail(key, "must be a whole number between " + range);
  if (!n) fail(key, std::string("must be a number, got ") + json_text::type_name(v));
  if (*n < min || *n > max) fail(key, "must be between " + range + ", got " + std::to_string(*n));
  return *n;
}

std::string ConfigReader::string(const boost::json::value& v, const std::string& key) const {
  if (!v.is_string()) fail(key, std::string("must be a string, got ") + json_text::type_name(v));
  return std::string(v.get_string());
}

ConfigReader::Adapter ConfigReader::adapter(const boost::json::value& block, std::string_view supported) const {
  static const boost::json::value kNull;
  if (!block.is_object())
    fail("adapter", std::string("must be a mapping {name, config}, got ") + json_text::type_name(block));
  require_known_keys(block, std::string(worker_) + " adapter", {"name", "config"});
  const boost::json::object& o = block.get_object();
  const boost::json::value* name = field(o, "name");
  if (!name) fail("adapter.name", "is required (supported: " + std::string(supported) + ")");
  const boost::json::value* config = o.if_contains("config");
  return Adapter{string(*name, "adapter.name"), config ? *config : kNull};
}

ConfigReader::KvAdapter ConfigReader::kv_adapter(const boost::json::value& adapter_block, std::string_view what,
                                                 std::initializer_list<std::string_view> known,
                                                 std::string_view default_path,
                                                 const std::filesystem::path& working_dir) const {
  const auto [name, config] = adapter(adapter_block, "kv, redis, bridge");
  KvAdapter out;
  out.config = &config;
  if (name == "redis") {
    out.redis_url = redis_url(config);
    return out;
  }
  if (name == "bridge") {
    out.bridge_url = bridge_url(config);
    return out;
  }
  if (name != "kv")
    fail("adapter.name", "`" + name + "` is not a " + std::string(what) + " adapter (supported: kv, redis, bridge)");
  require_known_keys(config, std::string(worker_) + " adapter `kv`", known);
  std::string file_path(default_path);
  if (config.is_object()) {
    const boost::json::object& o = config.get_object();
    if (const boost::json::value* m = field(o, "store_method")) {
      const std::string method = string(*m, "adapter.config.store_method");
      if (method != "in_memory" && method != "file_based")
        fail("adapter.config.store_method", "must be `in_memory` or `file_based`, got `" + method + "`");
      out.file_based = method == "file_based";
    }
    if (const boost::json::value* p = field(o, "file_path")) {
      file_path = string(*p, "adapter.config.file_path");
      if (file_path.empty()) fail("adapter.config.file_path", "must not be empty");
    }
    if (const boost::json::value* s = field(o, "save_interval_ms"))
      integer(*s, "adapter.config.save_interval_ms", 100, 3'600'000);
  }
  out.file_path = (working_dir / file_path).lexically_normal();
  return out;
}

std::string ConfigReader::redis_url(const boost::json::value& config) const {
  require_known_keys(config, std::string(worker_) + " adapter `redis`", {"redis_url"});
  std::string url = "redis://localhost:6379";
  if (config.is_object())
    if (const boost::json::value* u = field(config.get_object(), "redis_url")) url = string(*u, "adapter.config.redis_url");
  try {
    RedisEndpoint::parse(url);
  } catch (const RedisError& e) {
    fail("adapter.config.redis_url", e.what());
  }
  return url;
}

bool is_ws_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  return parsed && (parsed->scheme() == "ws" || parsed->scheme() == "wss") && !parsed->host().empty();
}

std::string ConfigReader::ws_url(const boost::json::value& v, const std::string& key) const {
  std::string url = string(v, key);
  if (!is_ws_url(url)) fail(key, "must be a ws:// or wss:// URL with a host, got `" + url + "`");
  return url;
}

std::string ConfigReader::bridge_url(const boost::json::value& config) const {
  require_known_keys(config, std::string(worker_) + " adapter `bridge`", {"bridge_url"});
  if (config.is_object())
    if (const boost::json::value* u = field(config.get_object(), "bridge_url")) return ws_url(*u, "adapter.config.bridge_url");
  return kDefaultBridgeUrl;
}

std::filesystem::path database_file_at(const std::filesystem::path& file_path, std::string_view name) {
  std::error_code ec;
  if (std::filesystem::is_directory(file_path, ec)) return file_path / name;
  return file_path;
}

const boost::json::value* ConfigReader::field(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v && !v->is_null() ? v : nullptr;
}

}  // namespace iii
