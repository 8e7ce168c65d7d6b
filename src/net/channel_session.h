// The `/ws/channels/{channel_id}?key={access_key}&dir=read|write` endpoint of the worker listener
// (docs/protocol.md §3.13): a plain 400 for a bad `dir`, a plain 404 `Channel not found` for an unknown
// id or a wrong key, otherwise a WebSocket that is the writer or the reader of that channel.
//
// Writer socket: each Text/Binary message becomes one queued item; while the channel is full the
// socket is not read (backpressure reaches the sender through TCP); its Close (or loss) ends the
// stream. Reader socket: items go out in order with their frame type; after the end, a Close.
// A side that is already taken gets the upgrade and then an immediate Close.
#pragma once
#include <chrono>
#include <cstddef>

#include "net/beast_pch.h"

namespace iii {

class ChannelHub;

struct ChannelSessionOptions {
  size_t max_message_bytes = 64u << 20;
  std::chrono::milliseconds handshake_timeout{10000};
};

// Takes over `socket` to answer `request` (whose target starts with /ws/channels/).
void serve_channel_request(boost::asio::ip::tcp::socket socket,
                           boost::beast::http::request<boost::beast::http::string_body> request, ChannelHub& hub,
                           const ChannelSessionOptions& options);

}  // namespace iii
