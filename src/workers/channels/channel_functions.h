// engine::channels::create (docs/protocol.md §3.13, §4.1): lets a worker open a channel and hand its
// refs to another worker. The function lives on the iii-engine-functions worker (it is part of the
// engine's own surface); the hub's sweep runs on the engine's ticker.
#pragma once
#include <string>
#include <string_view>

namespace iii {

class ChannelHub;
class Engine;

inline constexpr const char* kChannelsCreateFunction = "engine::channels::create";

// Registers engine::channels::create on the engine's "iii-engine-functions" worker and the hub's
// periodic sweep on the engine's ticker.
// REQUIRES: that worker was added to `engine`; `hub` outlives every engine tick and call.
void add_channel_functions(Engine& engine, ChannelHub& hub);

// The function body without the engine: `data` is the raw input (absent/null, or an object with an
// optional `buffer_size`). Returns {"writer":ref,"reader":ref}. Throws std::invalid_argument with
// the detail of a deserialization_error.
std::string create_channel_refs(ChannelHub& hub, std::string_view data);

}  // namespace iii
