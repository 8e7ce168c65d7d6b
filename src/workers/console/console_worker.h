// The `iii-console` built-in (docs/builtins.md §15): a web console served by the engine. Its
// pages (console/ at the repository root, compiled in: console_assets.h) show and drive the
// engine through a fixed set of its functions (console_access.h), over an HTTP API
// (console_http.h) and a live WebSocket (console_live.h). It registers no functions.
//
// Usage: the config loader creates it from console_builtin() like every built-in.
#pragma once
#include "wire/asio_fwd.h"
#include "workers/builtin.h"

namespace iii {

inline constexpr const char* kConsoleWorkerName = "iii-console";

// name "iii-console", alias "console"; the factory parses the block (console_config.h).
BuiltinDescriptor console_builtin(boost::asio::io_context& io);

}  // namespace iii
