// `iii trigger <function_id> [key=value ...]` (alias `iii t`): call one function through a
// running engine and print its result (docs/config.md §10.2).
#pragma once
#include <CLI/CLI.hpp>
#include <memory>

namespace iii::cli {

class TriggerCommand {
 public:
  virtual ~TriggerCommand() = default;
  virtual bool selected() const = 0;
  virtual int run() = 0;
};

// Adds `trigger` (alias `t`) to `app`. After app.parse(), if selected(), run() executes it and
// returns the exit code.
std::unique_ptr<TriggerCommand> add_trigger_command(CLI::App& app);

}  // namespace iii::cli
