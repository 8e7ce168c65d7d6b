// The `config:` block of the iii-cluster built-in (docs/architecture.md "Several engines",
// src/workers/cluster/README.md):
//
//   redis_url: redis://localhost:6379   # the Redis that the engines of one cluster share
//   host: 127.0.0.1            # where this engine accepts calls from the other engines
//   port: 0                    # 0: any free port (announced in Redis, so the others find it)
//   advertise_address: ""      # host:port the others dial; default host:bound port (127.0.0.1
//                              # when host is 0.0.0.0 or ::)
//   name: ""                   # how logs and the worker list name this engine; default its id
//   lease_ms: 3000             # an engine that stops renewing its entry is gone after this long
//   heartbeat_ms: 1000         # how often each engine renews its entry and reads the others'
//   secret: ""                 # when set, engines accept calls only from peers that know it
//
// Every key is optional: the defaults work for engines on one host.
#pragma once
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace iii {

struct ClusterConfig {
  std::string redis_url = "redis://localhost:6379";
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string advertise_address;  // empty: derived from host and the bound port
  std::string name;
  std::chrono::milliseconds lease{3000};
  std::chrono::milliseconds heartbeat{1000};
  std::string secret;
};

// Throws BuiltinConfigError naming the key: unknown keys, wrong types, a bad redis_url, a
// heartbeat that is not well under the lease (at most a third of it).
ClusterConfig parse_cluster_config(const boost::json::value& config);

}  // namespace iii
