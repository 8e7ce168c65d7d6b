// The seam between a WebSocket server (net/ws_server.cpp and net/ws_connection.cpp, sockets
// only) and what it serves, e.g. the iii-stream client socket (workers/stream): the upgrade
// request, the connection a service sends through, the per-connection handler and the bounds.
// No Beast or Asio types cross it.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iii {

// One open connection as a service sees it. Thread-safe; nothing blocks.
class WsPeer {
 public:
  virtual ~WsPeer() = default;
  // Queues one text message. False when the connection is closing (the message is dropped).
  virtual bool send_text(std::string_view payload) = 0;
  // Queues bytes that are already complete server frames (encode_text_frame): one message
  // encoded once and sent to many connections.
  virtual bool send_encoded(std::string_view frames) = 0;
  // Sends a close frame after what is queued and stops reading.
  virtual void close(uint16_t code, std::string_view reason) = 0;
  // The peer's "ip:port" ("[ip]:port" for IPv6; "" when unknown).
  virtual const std::string& remote_address() const = 0;
};

// A text message encoded as one unmasked server frame, for WsPeer::send_encoded.
std::string encode_text_frame(std::string_view payload);

// What a connection reports to its owner. Every call runs on the connection's strand, in order.
class WsConnectionHandler {
 public:
  virtual ~WsConnectionHandler() = default;
  // Runs once, before the first message is read. The connection holds its handler until
  // on_closed(); a handler that keeps `peer` keeps it alive (drop it in on_closed()).
  virtual void on_open(const std::shared_ptr<WsPeer>& peer) { (void)peer; }
  // One complete text or binary message, with ws::kMessagePadding readable bytes after it
  // (wire/ws_codec.h: a parser may read the frame in place).
  virtual void on_message(std::string_view payload, bool binary) = 0;
  // Runs once, when the connection stops reading (either side closed, an error, an overflow).
  // Nothing sent afterwards is delivered.
  virtual void on_closed() = 0;
};

struct WsConnectionOptions {
  // Largest inbound message; a bigger one closes the connection with 1009.
  size_t max_message_bytes = 64u << 20;
  // Outgoing bytes queued to a peer that does not read; beyond it the connection is closed with
  // `overflow_close_code` (and a log line): one slow peer must not hold the process's memory.
  size_t max_send_queue_bytes = 256u << 20;
  uint16_t overflow_close_code = 1008;  // policy violation
  // SO_SNDBUF for the socket (0: the system's, which grows to megabytes per socket on its own).
  // Bounding it bounds the kernel's memory per connection too, and makes a peer that does not
  // read meet max_send_queue_bytes sooner.
  size_t socket_send_buffer_bytes = 0;
  std::string log_name;                 // how log lines name the connection, e.g. "worker 1f…"
};

// The upgrade request a service decides on.
struct WsUpgradeRequest {
  std::string path;   // e.g. "/"
  std::string query;  // the raw query string, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string remote_address;                                 // "ip:port"
};

// The request's headers as one JSON object, names lower-cased; a header sent more than once is
// one entry, its values joined with ", " (RFC 9110 §5.3). What auth functions receive.
std::string upgrade_headers_json(const WsUpgradeRequest& request);
// A query string as a JSON object of every key with all its values in order ({"k":["v",…]}).
std::string query_params_json(std::string_view query);

// A service's answer to one upgrade: a handler accepts it; without one the client gets an HTTP
// response `status` with `body` and the socket closes.
struct WsDecision {
  std::shared_ptr<WsConnectionHandler> handler;
  WsConnectionOptions options;
  int status = 401;
  std::string body;
};

class WsService {
 public:
  virtual ~WsService() = default;
  // Decides on one upgrade by calling `decide` once, now or later, from any thread. A decision
  // that comes after decision_timeout() is ignored: the client got `timeout_status` instead.
  virtual void upgrade(WsUpgradeRequest request, std::function<void(WsDecision)> decide) = 0;
  // The deadline of one decision (asked per upgrade, so it may change while serving).
  virtual std::chrono::milliseconds decision_timeout() const { return std::chrono::seconds(10); }
  // The HTTP status a client gets when the decision does not come in time.
  virtual int timeout_status() const { return 503; }
};

}  // namespace iii
