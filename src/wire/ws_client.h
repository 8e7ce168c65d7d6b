// A small asynchronous WebSocket client (one connection, text frames) for workers and tools.
//
// Contract:
//   - create() a client on an io_context, then connect() once. Every callback runs on the
//     client's strand, never concurrently with another callback of the same client.
//   - on_open fires once the WebSocket handshake succeeded; on_message for every text (or
//     binary) message; on_close exactly once when the connection ends for any reason (failed
//     connect, deadline, remote close, error, idle timeout, close()). After on_close the client
//     is finished: make a new one to reconnect.
//   - send() is thread-safe and never blocks: frames wait in a bounded queue (one async_write in
//     flight at a time) and go out in order once the connection is open. It returns false when
//     the queue is full or the connection has ended.
//   - A ping goes out every ping_interval; no inbound frame at all (message, ping or pong) for
//     idle_timeout ends the connection.
//   - Only ws:// URLs (no TLS). The header stays free of Beast: the state lives behind a pimpl.
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "wire/asio_fwd.h"

namespace iii::net {

// The parts of a ws://host:port/path?query URL a client needs.
struct WsUrl {
  std::string host;    // without IPv6 brackets
  std::string port;    // "80" when the URL has none
  std::string target;  // path + query, "/" when empty
};

// Parses `url`; nullopt unless it is a well-formed ws:// URL with a host.
std::optional<WsUrl> parse_ws_url(std::string_view url);

struct WsClientOptions {
  std::chrono::milliseconds connect_timeout{10000};  // resolve + TCP connect + WS handshake
  std::chrono::milliseconds ping_interval{20000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds close_timeout{2000};  // closing handshake, then the socket is dropped
  std::size_t max_queued_frames = 4096;
  std::size_t max_message_bytes = 64u << 20;
  // Take part in write batching (wire/flush_batch.h): frames sent from a thread that handles a
  // read are held until that read is handled, and this client's own reads open a batch. Only
  // for code that never waits for an answer while handling a read (the engine's cluster links):
  // a caller that sends and then blocks for the reply inside a batch would wait forever.
  bool batch_sends = false;
};

struct WsClientCallbacks {
  std::function<void()> on_open;
  // A view into the read buffer (copy to keep), with ws::kMessagePadding readable bytes after it.
  std::function<void(std::string_view message)> on_message;
  std::function<void(std::string reason)> on_close;  // reason is empty after a clean close()
};

class WsClient {
 public:
  static std::shared_ptr<WsClient> create(boost::asio::io_context& io, WsClientOptions options,
                                          WsClientCallbacks callbacks);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Starts resolving and connecting. REQUIRES: called at most once.
  void connect(std::string url);

  // When a frame sent to an idle connection is written.
  enum class Flush {
    kNow,   // by the calling thread, at once (the lowest latency for a lone frame)
    kSoon,  // by the client's I/O thread, together with everything else queued by then: for a
            // sender that knows more frames follow (many calls in flight), one write per batch
  };

  // Queues one text frame. Thread-safe. False when the queue is full or the client has ended.
  bool send(std::string_view text, Flush flush = Flush::kNow);

  // Starts a normal closing handshake (or aborts a connect in progress). Thread-safe, idempotent.
  void close();

  // Frames queued but not yet written.
  std::size_t queued() const;

  struct State;

 private:
  explicit WsClient(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace iii::net
