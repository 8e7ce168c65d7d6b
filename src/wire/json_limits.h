// The one JSON nesting limit. Every parser in the engine and in the C++ SDK accepts the same
// depth: frames (simdjson, whose default this is), payloads and configs read into Boost.JSON
// values (core/json_text.h), and the SDK's payload values. So a value that one part accepts is
// never lost by another (Boost.JSON's own default is 32).
#pragma once
#include <cstddef>

namespace iii {

inline constexpr size_t kMaxJsonDepth = 1024;

}  // namespace iii
