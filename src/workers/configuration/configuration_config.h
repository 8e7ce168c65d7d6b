// The `config:` block of the `configuration` built-in (docs/builtins.md §7.2):
//
//   adapter:              # default {name: fs, config: {directory: ./config}}
//     name: fs
//     config:
//       directory: ./config   # relative to the engine's working directory
//   ttl_seconds: 0        # > 0: an entry whose last `configuration` trigger went away this
//                         # long ago is deleted
//
//   # or: adapter: { name: bridge, config: { bridge_url: ws://localhost:49134 } }: the entries
//   # are that engine's (bridge_configuration_store.h)
#pragma once
#include <boost/json/value.hpp>

#include <cstdint>
#include <filesystem>

namespace iii {

inline constexpr const char* kConfigurationWorkerName = "configuration";

struct ConfigurationConfig {
  std::filesystem::path directory;  // absolute; the fs adapter's
  uint64_t ttl_seconds = 0;
  std::string bridge_url;  // the bridge adapter's; empty: fs
};

// Reads a config block (null = defaults); throws BuiltinConfigError naming the key.
ConfigurationConfig parse_configuration_config(const boost::json::value& config,
                                               const std::filesystem::path& working_dir);

}  // namespace iii
