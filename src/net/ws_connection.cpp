#include "net/ws_connection.h"

#include "net/io_pool.h"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

namespace iii {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
namespace ws = net::ws;
using ws::FrameReader;

constexpr size_t kReadChunk = 16 * 1024;
// A closing socket whose peer does not take our close frame is dropped after this long.
constexpr auto kCloseTimeout = std::chrono::seconds(2);
// Write buffers above this size are given back after use (a 1 MB payload must not pin 1 MB).
constexpr size_t kKeepWriteBuffer = 256 * 1024;

std::string format_address(const tcp::endpoint& endpoint) {
  const std::string ip = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + ip + "]:" + port : ip + ":" + port;
}

}  // namespace

std::string encode_text_frame(std::string_view payload) {
  std::string frame;
  ws::append_frame(frame, ws::Opcode::kText, payload);
  return frame;
}

WsConnection::WsConnection(tcp::socket socket, WsConnectionOptions options)
    : socket_(std::move(socket)),
      options_(std::move(options)),
      reader_(/*expect_masked=*/true, options_.max_message_bytes) {
  boost::system::error_code ec;
  const tcp::endpoint endpoint = socket_.remote_endpoint(ec);
  if (!ec) {
    remote_ip_ = endpoint.address().to_string();
    remote_address_ = format_address(endpoint);
  }
}

WsConnection::~WsConnection() = default;

void WsConnection::start(std::shared_ptr<WsConnectionHandler> handler, std::string_view accept_key,
                         std::string_view early_bytes) {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  if (options_.socket_send_buffer_bytes > 0)
    socket_.set_option(asio::socket_base::send_buffer_size(static_cast<int>(options_.socket_send_buffer_bytes)), ec);
  {
    std::lock_guard lock(mu_);
    pending_ = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    pending_.append(accept_key).append("\r\nServer: iii-cpp/" III_VERSION "\r\n\r\n");
    writing_ = true;
  }
  // Everything runs on the socket's strand from here on: on_open runs before any frame is read,
  // so whatever it sets up exists when the first frame arrives.
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), handler = std::move(handler), early = std::string(early_bytes)]() mutable {
               self->handler_ = std::move(handler);
               self->write_pending();
               self->handler_->on_open(self);
               if (!early.empty()) {
                 size_t room = 0;
                 char* dst = self->reader_.prepare(early.size(), room);
                 std::memcpy(dst, early.data(), early.size());
                 self->reader_.commit(early.size());
                 if (!self->drain_events()) return;
               }
               self->wait_readable();
             });
}

bool WsConnection::send_text(std::string_view payload) { return enqueue(payload, true); }
bool WsConnection::send_encoded(std::string_view frames) { return enqueue(frames, false); }

bool WsConnection::enqueue(std::string_view bytes, bool encode_text) {
  bool overflow = false;
  size_t would_queue = 0;
  {
    std::lock_guard lock(mu_);
    if (!accepting_) return false;
    const size_t before = pending_.size();
    if (encode_text) {
      ws::append_frame(pending_, ws::Opcode::kText, bytes);
    } else {
      pending_.append(bytes);
    }
    queued_bytes_ += pending_.size() - before;
    if (queued_bytes_ > options_.max_send_queue_bytes) {
      // A peer that does not read: this message is dropped, and the close frame follows what is
      // already queued (a peer that wakes up soon still gets a clean close).
      would_queue = queued_bytes_;
      queued_bytes_ -= pending_.size() - before;
      pending_.resize(before);
      overflow = true;
    } else if (!writing_ && !flush_scheduled_) {
      if (FlushBatch* batch = FlushBatch::current()) {
        // This thread is handling a batch of inbound frames: what it produces for this
        // connection leaves together when the batch ends, in one write.
        flush_scheduled_ = true;
        batch->join(shared_from_this());
        return true;
      }
      // Nothing queued or in flight: write from this thread at once rather than waking the
      // socket's strand (a thread wake-up per frame is most of a lone call's latency).
      if (send_directly()) return true;
      writing_ = true;
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->write_pending(); });
    }
    if (!overflow) return true;
  }
  spdlog::warn("{} is not reading ({} bytes would be queued, limit {}): closing it with code {}", options_.log_name,
               would_queue, options_.max_send_queue_bytes, options_.overflow_close_code);
  begin_close(options_.overflow_close_code, "send queue full: not reading");
  return false;
}

void WsConnection::flush_batch() {
  {
    std::lock_guard lock(mu_);
    flush_scheduled_ = false;
    if (writing_ || pending_.empty() || send_directly()) return;
    writing_ = true;
  }
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->write_pending(); });
}

// Calls answered at once by the engine (state and stream functions on an embedded store) answer
// the connection being read. Held for the whole read, their answers would leave in one write at
// its end, and the peer (one SDK connection with many calls in flight) would sit idle while this
// thread handles the rest: a convoy in which one process works at a time. Written every few
// frames, they let the peer work on the first answers on the other core meanwhile: on two cores,
// state::set at 16 in flight went from ~60k to 100-108k ops/s (bench/README.md, "The state rows,
// fourth round"). Only this connection's own answers: the frames a read sends to other
// connections (a call forwarded to its worker) still leave once, at the end of the read, where
// writing early measured slower under load.
void WsConnection::send_answers_early() {
  std::lock_guard lock(mu_);
  if (flush_scheduled_ && !writing_ && !pending_.empty()) send_directly();  // a rest stays for the batch
}

// Tries to send all of pending_ without blocking; true when it all went. What was not taken stays
// at the front of pending_ for the strand's write. Under mu_, so senders stay ordered and the
// socket cannot be closed meanwhile (hard_close sets socket_closed_ under mu_ first).
// REQUIRES: mu_ held, no write in flight (so everything queued is in pending_).
bool WsConnection::send_directly() {
  if (socket_closed_) return false;
  const size_t sent = ws::send_now(socket_.native_handle(), pending_);
  if (sent == pending_.size()) {
    pending_.clear();
    queued_bytes_ = 0;
    return true;
  }
  // EAGAIN or a partial write: the strand finishes the job. An error (peer gone) is left for the
  // strand's write and the read side to discover, as with any write.
  pending_.erase(0, sent);
  queued_bytes_ -= std::min(queued_bytes_, sent);
  return false;
}

void WsConnection::write_pending() {
  {
    std::lock_guard lock(mu_);
    if (pending_.empty() || socket_closed_) {
      writing_ = false;
      if (close_after_flush_ && pending_.empty())
        asio::post(socket_.get_executor(), [self = shared_from_this()] { self->hard_close(); });
      return;
    }
    writing_buf_.swap(pending_);  // pending_ gets the drained buffer back: no allocation per batch
    in_flight_bytes_ = writing_buf_.size();
  }
  asio::async_write(socket_, asio::buffer(writing_buf_),
                    [self = shared_from_this()](boost::system::error_code ec, size_t) { self->on_written(ec); });
}

void WsConnection::on_written(boost::system::error_code ec) {
  writing_buf_.clear();
  if (writing_buf_.capacity() > kKeepWriteBuffer) std::string().swap(writing_buf_);
  {
    std::lock_guard lock(mu_);
    queued_bytes_ -= std::min(queued_bytes_, in_flight_bytes_);
    in_flight_bytes_ = 0;
    if (ec) {
      writing_ = false;
      return;  // the read side sees the failure and tears down
    }
  }
  write_pending();
}

void WsConnection::wait_readable() {
  socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return self->on_ended(ec);
    self->on_readable();
  });
}

void WsConnection::on_readable() {
  net::mark_loop_awake();  // other loops post to this one while it reads (net/loop_executor.h)
  // Drain the socket: read until it would block, decoding as we go (several frames per read).
  while (true) {
    size_t room = 0;
    char* dst = reader_.prepare(kReadChunk, room);
    boost::system::error_code ec;
    const size_t n = socket_.read_some(asio::buffer(dst, room), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) return on_ended(ec);
    reader_.commit(n);
    FlushBatch batch;  // what handling this read produces leaves per connection when it is done
    if (!drain_events()) return;
    if (n < room) break;  // the kernel had no more for now
  }
  reader_.release_if_idle();
  wait_readable();
}

// Frames handled between two early writes of what they answered on this same connection.
constexpr unsigned kFramesPerEarlyAnswer = 4;

// Handles every complete frame buffered. False when the connection is finished.
bool WsConnection::drain_events() {
  auto self = shared_from_this();  // a handler may drop the last other reference
  unsigned handled = 0;
  for (auto e = reader_.next(); e.kind != FrameReader::Kind::kNone; e = reader_.next()) {
    switch (e.kind) {
      case FrameReader::Kind::kMessage:
        if (handler_) handler_->on_message(e.payload, e.binary);
        if (++handled % kFramesPerEarlyAnswer == 0) send_answers_early();
        break;
      case FrameReader::Kind::kPing: {
        std::string pong;
        ws::append_frame(pong, ws::Opcode::kPong, e.payload);
        enqueue(pong, false);
        break;
      }
      case FrameReader::Kind::kPong:
        break;
      case FrameReader::Kind::kClose:
        begin_close(e.close_code == 1005 ? ws::kCloseNormal : e.close_code, "");
        return false;
      case FrameReader::Kind::kError:
        if (e.close_code == ws::kCloseTooBig) {
          spdlog::warn("{}: message over the {} byte limit: connection closed", options_.log_name,
                       options_.max_message_bytes);
        } else {
          spdlog::debug("{}: {}: connection closed", options_.log_name, e.error);
        }
        begin_close(e.close_code, e.error);
        return false;
      case FrameReader::Kind::kNone:
        break;
    }
  }
  return true;
}

void WsConnection::close(uint16_t code, std::string_view reason) { begin_close(code, reason); }

// Queues our close frame after whatever is queued and stops taking more; on the strand, stops
// reading (on_closed) and drops the socket once the frame is written or after kCloseTimeout.
// Any thread.
void WsConnection::begin_close(uint16_t code, std::string_view reason) {
  bool start_write = false;
  {
    std::lock_guard lock(mu_);
    if (close_after_flush_ || socket_closed_) return;  // already closing
    ws::append_frame(pending_, ws::Opcode::kClose, ws::close_payload(code, reason));
    accepting_ = false;
    close_after_flush_ = true;
    start_write = !writing_;
    writing_ = true;  // a scheduled flush() now leaves the writing to write_pending()
  }
  // Posted, never run inline: a caller may hold its own lock (a fan-out over many connections).
  asio::post(socket_.get_executor(), [self = shared_from_this(), start_write] {
    if (start_write) self->write_pending();
    self->close_timer_ = std::make_unique<asio::steady_timer>(self->socket_.get_executor(), kCloseTimeout);
    self->close_timer_->async_wait([self](boost::system::error_code ec) {
      if (!ec) self->hard_close();
    });
    self->notify_closed();
  });
}

void WsConnection::on_ended(boost::system::error_code ec) {
  if (ec != asio::error::eof && ec != asio::error::operation_aborted && ec != asio::error::connection_reset)
    spdlog::debug("{}: connection ended: {}", options_.log_name, ec.message());
  {
    std::lock_guard lock(mu_);
    accepting_ = false;
    std::string().swap(pending_);
  }
  hard_close();
  notify_closed();
}

void WsConnection::notify_closed() {
  if (!handler_) return;
  std::shared_ptr<WsConnectionHandler> handler = std::move(handler_);
  handler->on_closed();
}

void WsConnection::abort() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->hard_close(); });
}

void WsConnection::hard_close() {
  {
    std::lock_guard lock(mu_);
    accepting_ = false;
    socket_closed_ = true;
  }
  if (close_timer_) close_timer_->cancel();
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);  // a pending wait completes with operation_aborted and notifies
}

}  // namespace iii
