// The `iii-stream` built-in (docs/builtins.md §6): items addressed by (stream, group, item id),
// pushed live to WebSocket clients on its own port (3112) and to `stream` triggers.
// The functions stream::set / get / delete / list / list_groups / list_all / send / update, the
// trigger types `stream`, `stream:join` and `stream:leave`, the client socket (stream_socket.h)
// and custom backends (`stream::<op>(<stream>)` functions) are described in this folder's
// README.md.
//
// start() opens the store (memory, SQLite for store_method file_based, or Redis with its
// subscriber to the change channel for the redis adapter: stream_redis.h) and the client socket;
// stop() closes both. A hot reload applies in place: a new auth_function and new bounds apply to
// new connections, a new host/port rebinds (open sockets are dropped), a new adapter swaps the
// store (open sockets stay subscribed and see changes made through the new one).
#pragma once
#include <memory>

#include "store/stream_store.h"
#include "wire/asio_fwd.h"
#include "workers/builtin.h"
#include "workers/stream/stream_config.h"

namespace iii {

inline constexpr const char* kStreamWorkerName = "iii-stream";

// name "iii-stream" (no alias); the factory parses the block (stream_config.h).
BuiltinDescriptor stream_builtin(boost::asio::io_context& io);

// A stream worker on a store of the caller's choosing (tests): start() opens `store` instead of
// the one the config describes.
std::unique_ptr<BuiltinWorker> make_stream_worker(boost::asio::io_context& io, Engine& engine, StreamConfig config,
                                                  std::shared_ptr<StreamStore> store);

}  // namespace iii
