#include "workers/stream/stream_config.h"

#include <boost/json.hpp>

#include "workers/builtin.h"

namespace iii {
namespace {

namespace json = boost::json;
constexpr const char* kWorker = "iii-stream";
constexpr ConfigReader reader{kWorker};

void parse_kv_adapter(const json::value& config, StreamConfig& out, const std::filesystem::path& working_dir) {
  require_known_keys(config, "iii-stream adapter `kv`", {"store_method", "file_path", "save_interval_ms", "channel_size"});
  std::string file_path = kDefaultStreamFilePath;
  if (config.is_object()) {
    const json::object& o = config.get_object();
    if (const json::value* m = ConfigReader::field(o, "store_method")) {
      const std::string method = reader.string(*m, "adapter.config.store_method");
      if (method == "in_memory") {
        out.storage = StreamConfig::Storage::kInMemory;
      } else if (method == "file_based") {
        out.storage = StreamConfig::Storage::kFileBased;
      } else {
        reader.fail("adapter.config.store_method", "must be `in_memory` or `file_based`, got `" + method + "`");
      }
    }
    if (const json::value* p = ConfigReader::field(o, "file_path")) {
      file_path = reader.string(*p, "adapter.config.file_path");
      if (file_path.empty()) reader.fail("adapter.config.file_path", "must not be empty");
    }
    if (const json::value* s = ConfigReader::field(o, "save_interval_ms"))
      reader.integer(*s, "adapter.config.save_interval_ms", 100, 3'600'000);
    if (const json::value* c = ConfigReader::field(o, "channel_size"))
      reader.integer(*c, "adapter.config.channel_size", 1, 1'048'576);
  }
  out.file_path = (working_dir / file_path).lexically_normal();
}

void parse_adapter(const json::value& adapter, StreamConfig& out, const std::filesystem::path& working_dir) {
  const auto [adapter_name, config] = reader.adapter(adapter, "kv");
  if (adapter_name == "kv") return parse_kv_adapter(config, out, working_dir);
  if (adapter_name == "redis" || adapter_name == "bridge")
    reader.fail("adapter.name", "`" + adapter_name + "` is not supported yet (supported: kv)");
  reader.fail("adapter.name",
              "`" + adapter_name + "` is not a stream adapter (supported: kv; redis and bridge are not supported yet)");
}

}  // namespace

StreamConfig parse_stream_config(const json::value& config, const std::filesystem::path& working_dir) {
  require_known_keys(config, kWorker,
                     {"host", "port", "auth_function", "adapter", "max_item_bytes", "max_subscriptions_per_socket",
                      "max_send_queue_bytes", "max_message_bytes", "auth_timeout_ms"});
  StreamConfig out;
  out.file_path = (working_dir / kDefaultStreamFilePath).lexically_normal();
  if (config.is_null()) return out;
  const json::object& o = config.get_object();
  if (const json::value* h = ConfigReader::field(o, "host")) {
    out.host = reader.string(*h, "host");
    if (out.host.empty()) reader.fail("host", "must not be empty");
  }
  if (const json::value* p = ConfigReader::field(o, "port")) out.port = static_cast<uint16_t>(reader.integer(*p, "port", 0, 65535));
  if (const json::value* a = ConfigReader::field(o, "auth_function")) {
    out.auth_function = reader.string(*a, "auth_function");
    if (out.auth_function->empty()) out.auth_function.reset();
  }
  if (const json::value* a = ConfigReader::field(o, "adapter")) parse_adapter(*a, out, working_dir);
  if (const json::value* v = ConfigReader::field(o, "max_item_bytes"))
    out.max_item_bytes = reader.integer(*v, "max_item_bytes", 2, 1u << 30);
  if (const json::value* v = ConfigReader::field(o, "max_subscriptions_per_socket"))
    out.max_subscriptions_per_socket = reader.integer(*v, "max_subscriptions_per_socket", 1, 1'000'000);
  if (const json::value* v = ConfigReader::field(o, "max_send_queue_bytes"))
    out.max_send_queue_bytes = reader.integer(*v, "max_send_queue_bytes", 1024, 1ull << 34);
  if (const json::value* v = ConfigReader::field(o, "max_message_bytes"))
    out.max_message_bytes = reader.integer(*v, "max_message_bytes", 256, 64u << 20);
  if (const json::value* v = ConfigReader::field(o, "auth_timeout_ms"))
    out.auth_timeout = std::chrono::milliseconds(reader.integer(*v, "auth_timeout_ms", 1, 600'000));
  return out;
}

std::filesystem::path stream_database_file(const StreamConfig& config) {
  std::error_code ec;
  if (std::filesystem::is_directory(config.file_path, ec)) return config.file_path / "stream.sqlite3";
  return config.file_path;
}

}  // namespace iii
