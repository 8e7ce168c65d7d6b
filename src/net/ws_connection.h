// One accepted server-side WebSocket, after its HTTP upgrade: the worker sockets (`/` on the
// worker port) and the stream client sockets (iii-stream) are both this class with a different
// handler.
//
// Framing is done by hand (wire/ws_codec.h) rather than with Beast's websocket stream so that
// every frame queued while a write is in flight leaves in the next single write: under load a
// connection costs one syscall per batch instead of one per frame. Reads wait for readability
// first and only then take a buffer, so an idle connection holds no read memory. While a thread
// handles one read's worth of inbound frames, what that produces for other connections is
// gathered and written once per connection when the read is done (a fan-out to 1,000 sockets
// costs one write per socket per batch, not per event).
//
// Bounds: an inbound message over max_message_bytes closes with 1009; outgoing bytes queued
// beyond max_send_queue_bytes (a peer that does not read) close the connection with
// `overflow_close_code`: nothing more is queued, the close frame follows what is already queued,
// and the socket is dropped if the peer has not taken it within two seconds.
#pragma once
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "net/ws_service.h"
#include "wire/flush_batch.h"
#include "wire/ws_codec.h"

namespace iii {

class WsConnection final : public WsPeer, public BatchedSender, public std::enable_shared_from_this<WsConnection> {
 public:
  WsConnection(boost::asio::ip::tcp::socket socket, WsConnectionOptions options);
  ~WsConnection();

  // Sends the 101 response with `accept_key`, calls handler->on_open() and serves frames until
  // either side closes. `early_bytes` are bytes the client sent after its upgrade request, read
  // along with it. The connection holds `handler` until on_closed().
  void start(std::shared_ptr<WsConnectionHandler> handler, std::string_view accept_key, std::string_view early_bytes);

  // Queues one text message. False when the connection is closing (the message is dropped).
  // Thread-safe; never blocks.
  bool send_text(std::string_view payload) override;
  // Queues bytes that are already one or more complete server frames (encode_text_frame): a
  // message encoded once and sent to many connections.
  bool send_encoded(std::string_view frames) override;
  // Sends a close frame after what is queued and stops reading.
  void close(uint16_t code, std::string_view reason) override;
  // Drops the socket now.
  void abort();

  // The peer's "ip:port" ("" when unknown) and IP alone.
  const std::string& remote_address() const override { return remote_address_; }
  const std::string& remote_ip() const { return remote_ip_; }
  const std::string& log_name() const { return options_.log_name; }

  // Sends what was gathered for this connection during a read batch (wire/flush_batch.h).
  void flush_batch() override;

 private:
  bool enqueue(std::string_view bytes, bool encode_text);
  bool send_directly();
  void send_answers_early();
  void write_pending();
  void on_written(boost::system::error_code ec);
  void wait_readable();
  void on_readable();
  bool drain_events();
  void begin_close(uint16_t code, std::string_view reason);
  void on_ended(boost::system::error_code ec);
  void notify_closed();
  void hard_close();

  boost::asio::ip::tcp::socket socket_;
  const WsConnectionOptions options_;
  std::string remote_address_, remote_ip_;

  // Strand-only state.
  std::shared_ptr<WsConnectionHandler> handler_;  // released after on_closed()
  net::ws::FrameReader reader_;
  std::string writing_buf_;  // the batch async_write is sending
  std::unique_ptr<boost::asio::steady_timer> close_timer_;

  std::mutex mu_;  // guards the outgoing side, which any thread may feed
  std::string pending_;         // encoded frames waiting for the next write
  size_t queued_bytes_ = 0;     // bytes pending or in flight
  size_t in_flight_bytes_ = 0;  // the part of queued_bytes_ in writing_buf_
  bool writing_ = false;        // a write (or a post of write_pending) is outstanding
  bool accepting_ = true;       // false once closing: later frames are dropped
  bool close_after_flush_ = false;
  bool socket_closed_ = false;
  bool flush_scheduled_ = false;  // pending_ will be sent when the current read batch ends
};

}  // namespace iii
