// The `config:` block of the iii-exec built-in (docs/builtins.md §11.1):
//
//   exec:                       # required: shell commands, run one after the other
//     - npm ci
//     - exec node index.js      # the last one is kept running
//   watch: ["src/**/*.ts"]      # optional: a matching file change restarts the pipeline
//   # ours, all optional:
//   name: api                   # console prefix [api]; default the instance id without `iii-`
//   cwd: ./services/api         # where the commands run (and `watch` is resolved); default the
//                               # engine's working directory
//   restart_delay_ms: 1000      # first wait before a restart; doubles each time
//   restart_max_delay_ms: 30000 # ... up to this
//   restart_reset_ms: 60000     # a last command that ran this long restarts after the first wait again
//   stop_grace_ms: 3000         # SIGTERM, then SIGKILL after this
//
// Unknown keys are errors naming the key; the official keys load unchanged.
#pragma once
#include <boost/json/value.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "workers/exec/watch_glob.h"

namespace iii {

inline constexpr const char* kExecWorkerName = "iii-exec";

struct ExecConfig {
  std::string name = "exec";          // console prefix, [name]
  std::vector<std::string> commands;  // `exec`, never empty
  std::vector<WatchPattern> watch;    // resolved against `cwd`
  std::filesystem::path cwd;          // absolute
  std::chrono::milliseconds restart_delay{1000};
  std::chrono::milliseconds restart_max_delay{30'000};
  std::chrono::milliseconds restart_reset{60'000};
  std::chrono::milliseconds stop_grace{3000};
};

// Reads a block; `working_dir` resolves a relative `cwd`, `instance_id` (`iii-exec`,
// `iii-exec#1`, …) gives the default name. Throws BuiltinConfigError naming the key.
ExecConfig parse_exec_config(const boost::json::value& config, const std::filesystem::path& working_dir,
                             std::string_view instance_id);

}  // namespace iii
