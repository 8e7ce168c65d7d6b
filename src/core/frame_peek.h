// A last look at a frame the parser refused (invalid JSON, nested too deep): is it a synchronous
// `invokefunction` whose caller waits for an answer? Then the engine answers it with
// invalid_message instead of letting the caller wait for its timeout (docs/protocol.md §1.3).
// A byte scanner of the top-level object only, which never recurses and needs no depth limit.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace iii {

struct PeekedCall {
  std::string invocation_id;
  std::string function_id;  // "" when absent
};

// The ids of `frame` when it reads as {"type":"invokefunction","invocation_id":"…",…} with no
// `action`, or an action whose type is not "void" or "enqueue"; nullopt otherwise. The string
// values it looks at must be plain (no escapes), as the SDKs write them.
std::optional<PeekedCall> peek_sync_call(std::string_view frame);

}  // namespace iii
