// The `iii-cluster` built-in (alias `cluster`): this engine joins the engines that share one
// Redis, so that a worker on any engine can call a function whose worker is connected to another
// (docs/architecture.md "Several engines", README.md here).
//
//   function `engine::cluster::list`   {} → {"self":{id,name,address},"engines":[{id,name,
//                                       address,connected,functions}]}
//
// Without the block an engine is alone and behaves as it always did.
#pragma once
#include "wire/asio_fwd.h"
#include "workers/builtin.h"
#include "workers/cluster/cluster_config.h"

namespace iii {

inline constexpr const char* kClusterWorkerName = "iii-cluster";

BuiltinDescriptor cluster_builtin(boost::asio::io_context& io);
std::unique_ptr<BuiltinWorker> make_cluster_worker(boost::asio::io_context& io, Engine& engine, ClusterConfig config);

}  // namespace iii
