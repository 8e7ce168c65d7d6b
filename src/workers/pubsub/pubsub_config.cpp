#include "workers/pubsub/pubsub_config.h"

#include <boost/json.hpp>

#include "core/json_text.h"
#include "workers/builtin.h"
#include "workers/pubsub/pubsub_worker.h"

namespace iii {
namespace {

namespace json = boost::json;

constexpr ConfigReader reader{kPubSubWorkerName};

}  // namespace

PubSubConfig parse_pubsub_config(const json::value& config) {
  PubSubConfig out;
  require_known_keys(config, kPubSubWorkerName, {"adapter"});
  if (config.is_null()) return out;
  const json::value* adapter = config.get_object().if_contains("adapter");
  if (!adapter || adapter->is_null()) return out;
  const auto [adapter_name, c] = reader.adapter(*adapter, "local, redis");
  if (adapter_name == "local") {
    if (c.is_null()) return out;
    if (!c.is_object()) reader.fail("adapter.config", std::string("must be a mapping, got ") + json_text::type_name(c));
    if (!c.get_object().empty())
      reader.fail("adapter.config." + std::string(c.get_object().begin()->key()),
                  "is not an option of the `local` adapter (it takes none)");
    return out;
  }
  if (adapter_name == "redis") {
    out.redis_url = reader.redis_url(c);
    return out;
  }
  reader.fail("adapter.name", "`" + adapter_name + "` is not a pubsub adapter (supported: local, redis)");
}

}  // namespace iii
