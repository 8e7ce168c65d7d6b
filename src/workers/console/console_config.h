// The `config:` block of the iii-console built-in (docs/builtins.md §15.1): where the console
// listens, the token it requires, and which functions its invoke form may call.
#pragma once
#include <boost/json/value.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iii {

struct ConsoleConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 3113;
  // The live socket (a WebSocket pushing watched results); 0 = any free port, which the page learns
  // from GET /api/session.
  uint16_t live_port = 0;
  // Required on every API request and live socket when set (`token`, else the environment's
  // III_CONSOLE_TOKEN). Mandatory when `host` is not a loopback address.
  std::string token;
  // Function-id patterns the Functions page's invoke form may call: an exact id, or a prefix
  // ending in `*`. `*` alone: every function except the engine's own `engine::*` ones.
  std::vector<std::string> invocable = {"*"};
};

// Reads the environment (tests pass their own).
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Parses the block strictly (unknown keys refused); throws BuiltinConfigError naming the key, also
// when `host` is not loopback and no token is configured.
ConsoleConfig parse_console_config(const boost::json::value& config, const EnvLookup& env);

// Whether `host` names the loopback interface: 127.0.0.0/8, ::1 or `localhost`.
bool is_loopback_host(std::string_view host);

}  // namespace iii
