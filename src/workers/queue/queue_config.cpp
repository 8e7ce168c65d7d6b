#include "workers/queue/queue_config.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <optional>

#include "wire/json_writer.h"
#include "workers/builtin.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;
constexpr const char* kWorker = "iii-queue";

constexpr ConfigReader reader{kWorker};

NamedQueueConfig parse_named_queue(const std::string& name, const json::value& block) {
  const std::string prefix = "queue_configs." + name;
  if (!block.is_null() && !block.is_object())
    reader.fail(prefix, std::string("must be a mapping, got ") + json_text::type_name(block));
  require_known_keys(block, std::string(kWorker) + " " + prefix,
                     {"max_retries", "concurrency", "type", "message_group_field", "backoff_ms", "poll_interval_ms",
                      "max_priority", "priority_field"});
  NamedQueueConfig out;
  if (block.is_null()) return out;
  const json::object& o = block.get_object();
  QueueSettings& s = out.settings;
  if (auto* v = reader.field(o, "max_retries"))
    out.max_retries = static_cast<uint32_t>(reader.integer(*v, prefix + ".max_retries", 0, 1000));
  s.max_attempts = std::max<uint32_t>(1, out.max_retries);
  if (auto* v = reader.field(o, "concurrency"))
    s.concurrency = static_cast<uint32_t>(reader.integer(*v, prefix + ".concurrency", 1, 10000));
  if (auto* v = reader.field(o, "backoff_ms")) s.backoff_ms = reader.integer(*v, prefix + ".backoff_ms", 0, 86'400'000);
  if (auto* v = reader.field(o, "poll_interval_ms"))
    s.poll_interval_ms = reader.integer(*v, prefix + ".poll_interval_ms", 1, 3'600'000);
  if (auto* v = reader.field(o, "max_priority")) reader.integer(*v, prefix + ".max_priority", 1, 255);
  if (auto* v = reader.field(o, "priority_field")) reader.string(*v, prefix + ".priority_field");
  if (auto* v = reader.field(o, "type")) {
    const std::string type = reader.string(*v, prefix + ".type");
    if (type == "fifo")
      s.fifo = true;
    else if (type != "standard")
      reader.fail(prefix + ".type", "must be `standard` or `fifo`, got `" + type + "`");
  }
  if (auto* v = reader.field(o, "message_group_field")) {
    s.message_group_field = reader.string(*v, prefix + ".message_group_field");
    if (s.message_group_field.empty()) reader.fail(prefix + ".message_group_field", "must not be empty");
  }
  if (s.fifo && s.message_group_field.empty())
    reader.fail(prefix + ".message_group_field",
                "is required for a fifo queue (the `data` field that names the message group)");
  return out;
}

void parse_builtin_adapter(const json::value& config, QueueWorkerConfig& out,
                           const std::filesystem::path& working_dir) {
  require_known_keys(config, "iii-queue adapter `builtin`", {"store_method", "file_path", "save_interval_ms"});
  std::string file_path = kDefaultQueueStorePath;
  if (config.is_object()) {
    const json::object& o = config.get_object();
    if (auto* m = reader.field(o, "store_method")) {
      const std::string method = reader.string(*m, "adapter.config.store_method");
      if (method == "in_memory")
        out.storage = QueueWorkerConfig::Storage::kInMemory;
      else if (method == "file_based")
        out.storage = QueueWorkerConfig::Storage::kFileBased;
      else
        reader.fail("adapter.config.store_method", "must be `in_memory` or `file_based`, got `" + method + "`");
    }
    if (auto* p = reader.field(o, "file_path")) {
      file_path = reader.string(*p, "adapter.config.file_path");
      if (file_path.empty()) reader.fail("adapter.config.file_path", "must not be empty");
    }
    if (auto* s = reader.field(o, "save_interval_ms"))
      reader.integer(*s, "adapter.config.save_interval_ms", 100, 3'600'000);
  }
  std::filesystem::path path = (working_dir / file_path).lexically_normal();
  const std::string ext = path.extension().string();
  const bool is_file = ext == ".db" || ext == ".sqlite" || ext == ".sqlite3";
  out.file_path = is_file ? path : path / kQueueDatabaseName;
}

void parse_adapter(const json::value& adapter, QueueWorkerConfig& out, const std::filesystem::path& working_dir) {
  const auto [adapter_name, config] = reader.adapter(adapter, "builtin, redis, bridge");
  if (adapter_name == "builtin") return parse_builtin_adapter(config, out, working_dir);
  if (adapter_name == "redis") {
    out.storage = QueueWorkerConfig::Storage::kRedis;
    out.redis_url = reader.redis_url(config);
    return;
  }
  if (adapter_name == "bridge") {
    out.storage = QueueWorkerConfig::Storage::kBridge;
    out.bridge_url = reader.bridge_url(config);
    return;
  }
  if (adapter_name == "rabbitmq")
    reader.fail("adapter.name", "`rabbitmq` is not supported yet (supported: builtin, redis, bridge)");
  reader.fail("adapter.name", "`" + adapter_name + "` is not a queue adapter (supported: builtin, redis, bridge)");
}

}  // namespace

QueueWorkerConfig parse_queue_config(const json::value& config, const std::filesystem::path& working_dir) {
  require_known_keys(config, kWorker, {"adapter", "queue_configs", "max_message_bytes"});
  QueueWorkerConfig out;
  out.file_path = (working_dir / kDefaultQueueStorePath / kQueueDatabaseName).lexically_normal();
  out.queues["default"] = NamedQueueConfig{};
  if (config.is_null()) return out;
  const json::object& o = config.get_object();
  if (auto* a = reader.field(o, "adapter")) parse_adapter(*a, out, working_dir);
  if (auto* m = reader.field(o, "max_message_bytes"))
    out.max_message_bytes = reader.integer(*m, "max_message_bytes", 1, 64ull << 20);
  if (auto* q = reader.field(o, "queue_configs")) {
    if (!q->is_object())
      reader.fail("queue_configs", std::string("must be a mapping of queue names, got ") + json_text::type_name(*q));
    for (const auto& [name, block] : q->get_object()) {
      if (name.empty()) reader.fail("queue_configs", "has an empty queue name");
      out.queues[std::string(name)] = parse_named_queue(std::string(name), block);
    }
  }
  return out;
}

std::string named_queue_config_json(const NamedQueueConfig& config) {
  const QueueSettings& s = config.settings;
  FrameWriter w(160);
  w.number("max_retries", config.max_retries)
      .number("concurrency", s.concurrency)
      .string("type", std::string_view(s.fifo ? "fifo" : "standard"))
      .number("backoff_ms", static_cast<long long>(s.backoff_ms))
      .number("poll_interval_ms", static_cast<long long>(s.poll_interval_ms));
  if (!s.message_group_field.empty()) w.string("message_group_field", s.message_group_field);
  return w.finish();
}

uint64_t backoff_delay_ms(uint64_t backoff_ms, uint32_t attempt) {
  const uint32_t shift = attempt == 0 ? 0 : attempt - 1;
  if (backoff_ms == 0) return 0;
  if (shift >= 63 || backoff_ms > (kMaxBackoffMs >> shift)) return kMaxBackoffMs;
  return std::min(kMaxBackoffMs, backoff_ms << shift);
}

}  // namespace iii
