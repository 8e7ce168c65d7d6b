#include "workers/cluster/cluster_config.h"

#include <boost/json.hpp>

#include "store/redis_connection.h"
#include "workers/builtin.h"

namespace iii {
namespace {

constexpr const char* kWorker = "iii-cluster";
constexpr ConfigReader reader{kWorker};

}  // namespace

ClusterConfig parse_cluster_config(const boost::json::value& config) {
  require_known_keys(config, kWorker,
                     {"redis_url", "host", "port", "advertise_address", "name", "lease_ms", "heartbeat_ms", "secret"});
  ClusterConfig out;
  if (config.is_null()) return out;
  const boost::json::object& o = config.get_object();
  if (auto* v = reader.field(o, "redis_url")) {
    out.redis_url = reader.string(*v, "redis_url");
    try {
      RedisEndpoint::parse(out.redis_url);
    } catch (const RedisError& e) {
      reader.fail("redis_url", e.what());
    }
  }
  if (auto* v = reader.field(o, "host")) {
    out.host = reader.string(*v, "host");
    if (out.host.empty()) reader.fail("host", "must not be empty");
  }
  if (auto* v = reader.field(o, "port")) out.port = static_cast<uint16_t>(reader.integer(*v, "port", 0, 65535));
  if (auto* v = reader.field(o, "advertise_address")) {
    out.advertise_address = reader.string(*v, "advertise_address");
    const size_t colon = out.advertise_address.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == out.advertise_address.size() ||
        out.advertise_address.find_first_not_of("0123456789", colon + 1) != std::string::npos)
      reader.fail("advertise_address", "must be host:port, got `" + out.advertise_address + "`");
  }
  if (auto* v = reader.field(o, "name")) out.name = reader.string(*v, "name");
  if (auto* v = reader.field(o, "secret")) out.secret = reader.string(*v, "secret");
  if (auto* v = reader.field(o, "lease_ms"))
    out.lease = std::chrono::milliseconds(reader.integer(*v, "lease_ms", 300, 600'000));
  out.heartbeat = out.lease / 3;
  if (auto* v = reader.field(o, "heartbeat_ms")) {
    out.heartbeat = std::chrono::milliseconds(reader.integer(*v, "heartbeat_ms", 50, 200'000));
    if (out.heartbeat * 3 > out.lease)
      reader.fail("heartbeat_ms", "must be at most a third of lease_ms (" + std::to_string(out.lease.count()) +
                                      "), so that one lost heartbeat does not end the lease");
  }
  return out;
}

}  // namespace iii
