// The `config:` block of the `configuration` built-in (docs/builtins.md §7.2):
//
//   adapter:              # default {name: fs, config: {directory: ./config}}
//     name: fs
//     config:
//       directory: ./config   # relative to the engine's working directory
//   ttl_seconds: 0        # > 0: an entry whose last `configuration` trigger went away this
//                         # long ago is deleted
//
// `bridge` (forwarding to another engine) is refused as not supported yet.
#pragma once
#include <boost/json/value.hpp>

#include <cstdint>
#include <filesystem>

namespace iii {

inline constexpr const char* kConfigurationWorkerName = "configuration";

struct ConfigurationConfig {
  std::filesystem::path directory;  // absolute
  uint64_t ttl_seconds = 0;
};

// Reads a config block (null = defaults); throws BuiltinConfigError naming the key.
ConfigurationConfig parse_configuration_config(const boost::json::value& config,
                                               const std::filesystem::path& working_dir);

}  // namespace iii
