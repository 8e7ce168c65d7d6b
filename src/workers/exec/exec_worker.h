// The `iii-exec` built-in (docs/builtins.md §11): runs the workers (or any commands) a config
// names alongside the engine. Each block is one pipeline of shell commands whose last command is
// kept running: restarted with a growing delay when it exits, restarted at once when a watched
// file changes, and stopped with its whole process group when the engine stops or a hot reload
// removes or changes the block. Its output reaches the engine's console as `[name] line`.
//
// It provides no functions and no trigger types: its endpoint is empty. Each `iii-exec` entry of
// the file is its own instance (`iii-exec`, `iii-exec#1`, …) with its own thread (ExecRunner).
//
// Config block: exec_config.h. Usage: the config loader creates it from exec_builtin().
#pragma once
#include "workers/builtin.h"

namespace iii {

// name "iii-exec", no alias.
BuiltinDescriptor exec_builtin();

}  // namespace iii
