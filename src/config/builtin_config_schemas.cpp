#include "config/builtin_config_schemas.h"

#include <array>

namespace iii::config {
namespace {

// The block may be absent (null: the built-in's defaults). Keys are typed here so that a client
// (a console, an SDK) can build a form; the built-in's factory is the full check (ranges, unknown
// keys), applied to every set as to every reload.
#define III_BLOCK(properties) R"({"type":["object","null"],"properties":{)" properties "}}"
#define III_ADAPTER(names) \
  R"("adapter":{"type":"object","required":["name"],"properties":{"name":{"enum":[)" names R"(]},"config":{"type":["object","null"]}}})"

constexpr std::array kEntries = {
    BuiltinConfigSchema{"iii-http", "HTTP triggers", "The iii-http block: listener, timeouts, CORS, middleware, body limit",
                        III_BLOCK(R"("port":{"type":["integer","string"]},"host":{"type":"string"},)"
                                  R"("default_timeout":{"type":["integer","string"]},)"
                                  R"("concurrency_request_limit":{"type":["integer","string"]},)"
                                  R"("cors":{"type":["object","null"],"properties":{)"
                                  R"("allowed_origins":{"type":"array","items":{"type":"string"}},)"
                                  R"("allowed_methods":{"type":"array","items":{"type":"string"}}}},)"
                                  R"("middleware":{"type":"array","items":{"type":"object","required":["function_id"]}},)"
                                  R"("body_limit_bytes":{"type":["integer","string"]})")},
    BuiltinConfigSchema{"iii-state", "State", "The iii-state block: store adapter, triggers, value limit",
                        III_BLOCK(III_ADAPTER(R"("kv","redis")") R"(,"triggers_enabled":{"type":"boolean"},)"
                                  R"("max_value_bytes":{"type":"integer","minimum":1},"save_interval_ms":{"type":"integer"})")},
    BuiltinConfigSchema{"iii-queue", "Queues", "The iii-queue block: store adapter, message limit, named queues",
                        III_BLOCK(III_ADAPTER(R"("builtin")") R"(,"max_message_bytes":{"type":"integer","minimum":1},)"
                                  R"("queue_configs":{"type":["object","null"],"additionalProperties":{"type":"object"}})")},
    BuiltinConfigSchema{"iii-cron", "Cron", "The iii-cron block: the lock adapter",
                        III_BLOCK(III_ADAPTER(R"("kv","redis")"))},
    BuiltinConfigSchema{"iii-pubsub", "Pub/sub", "The iii-pubsub block: the adapter",
                        III_BLOCK(III_ADAPTER(R"("local","redis")"))},
    BuiltinConfigSchema{"iii-stream", "Streams", "The iii-stream block: client socket, store adapter, bounds",
                        III_BLOCK(R"("port":{"type":"integer"},"host":{"type":"string"},"auth_function":{"type":["string","null"]},)"
                                  III_ADAPTER(R"("kv","redis")") R"(,"max_item_bytes":{"type":"integer"},)"
                                  R"("max_subscriptions_per_socket":{"type":"integer"},"max_send_queue_bytes":{"type":"integer"},)"
                                  R"("max_message_bytes":{"type":"integer"},"auth_timeout_ms":{"type":"integer"})")},
    BuiltinConfigSchema{"iii-observability", "Observability", "The iii-observability block: spans, logs, metrics, export",
                        III_BLOCK(R"("enabled":{"type":"boolean"},"service_name":{"type":"string"},)"
                                  R"("exporter":{"enum":["memory","otlp","both"]},"endpoint":{"type":"string"},)"
                                  R"("sampling_ratio":{"type":"number","minimum":0,"maximum":1},)"
                                  R"("level":{"enum":["trace","debug","info","warn","error"]},)"
                                  R"("format":{"enum":["default","json"]})")},
};

#undef III_ADAPTER
#undef III_BLOCK

}  // namespace

const BuiltinConfigSchema* builtin_config_schema(std::string_view name) {
  for (const BuiltinConfigSchema& e : kEntries)
    if (e.id == name) return &e;
  return nullptr;
}

}  // namespace iii::config
