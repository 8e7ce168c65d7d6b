// JSON nesting limits. The engine refuses anything nested deeper than its configured limit
// (json_depth_limit(), default kDefaultJsonDepth = 128, as the official engine's parser): frames
// from workers and every value the built-ins parse (core/json_text.h). A worker's SDK parses what
// the engine forwards, often recursively, so a payload nested thousands deep that the engine let
// through could crash the receiving worker. kMaxJsonDepth is the ceiling the limit can be set to
// (the frame parser's buffers are sized for it) and what the C++ SDK accepts.
#pragma once
#include <atomic>
#include <cstddef>

namespace iii {

inline constexpr size_t kMaxJsonDepth = 1024;
inline constexpr size_t kDefaultJsonDepth = 128;

namespace detail {
inline std::atomic<size_t> json_depth_limit{kDefaultJsonDepth};
}  // namespace detail

// The engine's nesting limit: at most this many nested arrays/objects (a frame object holding a
// payload object is depth 2). Set once at start (config `max_json_depth`); 1..kMaxJsonDepth.
inline size_t json_depth_limit() { return detail::json_depth_limit.load(std::memory_order_relaxed); }
inline void set_json_depth_limit(size_t depth) { detail::json_depth_limit.store(depth, std::memory_order_relaxed); }

}  // namespace iii
