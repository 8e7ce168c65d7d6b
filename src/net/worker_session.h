// One accepted worker WebSocket (`/`) or telemetry socket (`/otel`), after the HTTP upgrade: the
// engine endpoint on top of a WsConnection (net/ws_connection.h), which does the framing, the
// batched writes and the bounds.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <string_view>

namespace iii {

class Engine;
struct AccessSession;
struct ListenerOptions;

// Starts a session on a socket whose upgrade request was accepted: sends the 101 response
// with `accept_key`, attaches the worker to the engine (unless `is_worker` is false: telemetry
// frames are read and dropped) and serves frames until either side closes. `early_bytes` are
// bytes the client sent after its upgrade request, read along with it. `access` (may be null)
// is what the worker may call and register (core/access.h).
void start_worker_session(boost::asio::ip::tcp::socket socket, Engine& engine,
                          std::shared_ptr<const ListenerOptions> options, bool is_worker,
                          std::string_view accept_key, std::string_view early_bytes,
                          std::shared_ptr<const AccessSession> access = nullptr);

// Completes the upgrade only to say why the connection is refused: one `error` frame
// {"type":"error","error":`error_body`} and a Close (docs/protocol.md §2.13), as the reference
// answers a failed RBAC authentication. Nothing the client sends is read.
void start_refused_session(boost::asio::ip::tcp::socket socket, std::string_view accept_key, std::string error_body);

}  // namespace iii
