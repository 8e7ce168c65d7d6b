// The `iii-bridge` built-in (docs/builtins.md §10): this engine joins another engine as an SDK
// worker. `expose` registers functions of this engine on the remote one; `forward` registers
// functions here that call functions there; `bridge.invoke` and `bridge.invoke_async` call any
// remote function. See this folder's README.md.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "workers/builtin.h"

namespace iii {

inline constexpr const char* kBridgeWorkerName = "iii-bridge";

struct BridgeConfig {
  struct Expose {
    std::string local_function;
    std::string remote_function;  // defaults to local_function
    bool operator==(const Expose&) const = default;
  };
  struct Forward {
    std::string local_function;
    std::string remote_function;
    std::chrono::milliseconds timeout{30000};  // kBridgeCallTimeout
    bool operator==(const Forward&) const = default;
  };
  std::string url;  // default: env III_URL, else ws://localhost:49134
  std::vector<Expose> expose;
  std::vector<Forward> forward;
  bool operator==(const BridgeConfig&) const = default;
};

// Throws BuiltinConfigError naming the offending key.
BridgeConfig parse_bridge_config(const boost::json::value& config);

// name "iii-bridge" (no alias).
BuiltinDescriptor bridge_builtin();

}  // namespace iii
