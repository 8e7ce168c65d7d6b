// The engine's console log (docs/config.md §7): its level and its format. `--log-level` on the
// command line pins the level; otherwise the `iii-observability` block's `level` sets it, at start
// and on every hot reload. `format: json` writes one JSON object per line.
#pragma once
#include <string_view>

namespace iii::console_log {

// The command line named a level: later set_level_from_config calls change nothing.
void pin_level(std::string_view level);
// Applies a config's level (trace, debug, info, warn, error) unless the command line pinned one.
// False when it was not applied.
bool set_level_from_config(std::string_view level);
// One JSON object per line ({"timestamp","level","target","message"}, UTC), or the default
// human-readable lines.
void set_json_format(bool json);

}  // namespace iii::console_log
