#include "workers/stream/stream_config.h"

#include <boost/json.hpp>

#include "workers/builtin.h"

namespace iii {
namespace {

namespace json = boost::json;
constexpr const char* kWorker = "iii-stream";
constexpr ConfigReader reader{kWorker};

void parse_adapter(const json::value& adapter, StreamConfig& out, const std::filesystem::path& working_dir) {
  const auto kv = reader.kv_adapter(adapter, "stream", {"store_method", "file_path", "save_interval_ms", "channel_size"},
                                    kDefaultStreamFilePath, working_dir);
  kv.apply_to(out);
  if (kv.config->is_object())  // accepted for the official configs; sockets have byte bounds instead
    if (const json::value* c = ConfigReader::field(kv.config->get_object(), "channel_size"))
      reader.integer(*c, "adapter.config.channel_size", 1, 1'048'576);
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
  return database_file_at(config.file_path, "stream.sqlite3");
}

}  // namespace iii
