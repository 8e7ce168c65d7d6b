#include "net/worker_session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/endpoint.h"
#include "wire/uuid.h"
#include "engine/engine.h"
#include "net/worker_listener.h"
#include "wire/ws_codec.h"

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

bool is_telemetry_frame(std::string_view data) {
  return data.starts_with("OTLP") || data.starts_with("MTRC") || data.starts_with("LOGS");
}

class WorkerSession;

// While a thread handles one read's worth of inbound frames, the frames that handling produces
// are gathered per destination socket and sent when the read is done: one write per socket per
// batch under load, and no wait at all for a lone call (the batch ends right away).
class FlushBatch {
 public:
  FlushBatch() : outer_(current_) { current_ = this; }
  ~FlushBatch();
  FlushBatch(const FlushBatch&) = delete;
  FlushBatch& operator=(const FlushBatch&) = delete;
  static FlushBatch* current() { return current_; }
  std::vector<std::shared_ptr<WorkerSession>> sessions;

 private:
  FlushBatch* const outer_;
  static thread_local FlushBatch* current_;
};
thread_local FlushBatch* FlushBatch::current_ = nullptr;

class WorkerSession : public RemoteEndpoint, public std::enable_shared_from_this<WorkerSession> {
 public:
  WorkerSession(tcp::socket socket, Engine& engine, std::shared_ptr<const ListenerOptions> options, bool is_worker)
      : RemoteEndpoint(new_uuid()),
        socket_(std::move(socket)),
        engine_(engine),
        options_(std::move(options)),
        is_worker_(is_worker),
        reader_(/*expect_masked=*/true, options_->max_message_bytes) {}

  void start(std::string_view accept_key, std::string_view early_bytes) {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);
    auto endpoint = socket_.remote_endpoint(ec);
    std::string ip = ec ? std::string() : endpoint.address().to_string();
    {
      std::lock_guard lock(mu_);
      pending_ = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
      pending_.append(accept_key).append("\r\nServer: iii-cpp/" III_VERSION "\r\n\r\n");
      writing_ = true;
    }
    // Everything runs on the socket's strand from here on: attach before any frame is read so
    // the worker exists when its first frame arrives.
    asio::post(socket_.get_executor(), [self = shared_from_this(), ip = std::move(ip), early = std::string(early_bytes)] {
      self->write_pending();
      if (self->is_worker_) self->engine_.attach(self, ip);
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

  void send(std::string frame) override { enqueue(ws::Opcode::kText, frame); }

  void close() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->hard_close(); });
  }

 private:
  // Queues one frame; the write loop sends everything queued in one go.
  void enqueue(ws::Opcode opcode, std::string_view payload) {
    {
      std::lock_guard lock(mu_);
      if (!accepting_) return;
      queued_bytes_ += payload.size();
      if (queued_bytes_ > options_->max_send_queue_bytes) {
        spdlog::warn("worker {} is not reading ({} bytes queued): disconnecting it", worker_id(), queued_bytes_);
        accepting_ = false;
        std::string().swap(pending_);
        asio::post(socket_.get_executor(), [self = shared_from_this()] { self->hard_close(); });
        return;
      }
      ws::append_frame(pending_, opcode, payload);
      if (writing_ || flush_scheduled_) return;  // the write in flight or the batch owner takes it
      if (FlushBatch* batch = FlushBatch::current()) {
        // This thread is handling a batch of inbound frames: frames it produces for this socket
        // leave together when the batch ends (FlushBatch), in one write.
        flush_scheduled_ = true;
        batch->sessions.push_back(shared_from_this());
        return;
      }
      // Nothing queued or in flight: write from this thread at once rather than waking the
      // socket's strand (a thread wake-up per frame is most of a lone call's latency).
      if (send_directly()) return;
      writing_ = true;
    }
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->write_pending(); });
  }

 public:
  // Sends what a FlushBatch gathered for this socket.
  void flush() {
    {
      std::lock_guard lock(mu_);
      flush_scheduled_ = false;
      if (writing_ || pending_.empty() || send_directly()) return;
      writing_ = true;
    }
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->write_pending(); });
  }

 private:
  // Tries to send all of pending_ without blocking; true when it all went. What was not taken
  // stays at the front of pending_ for the strand's write. Under mu_, so senders stay ordered and
  // the socket cannot be closed meanwhile (hard_close sets socket_closed_ under mu_ first).
  // REQUIRES: mu_ held, no write in flight (so everything queued is in pending_).
  bool send_directly() {
    if (socket_closed_) return false;
    const size_t sent = ws::send_now(socket_.native_handle(), pending_);
    if (sent == pending_.size()) {
      pending_.clear();
      queued_bytes_ = 0;
      return true;
    }
    // EAGAIN or a partial write: the strand finishes the job. An error (peer gone) is left for
    // the strand's write and the read side to discover, as with any write.
    pending_.erase(0, sent);
    return false;
  }

  void write_pending() {
    {
      std::lock_guard lock(mu_);
      if (pending_.empty() || socket_closed_) {
        writing_ = false;
        if (close_after_flush_ && pending_.empty()) asio::post(socket_.get_executor(), [self = shared_from_this()] { self->hard_close(); });
        return;
      }
      writing_buf_.swap(pending_);  // pending_ gets the drained buffer back: no allocation per batch
      in_flight_bytes_ = queued_bytes_;
    }
    asio::async_write(socket_, asio::buffer(writing_buf_), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      self->on_written(ec);
    });
  }

  void on_written(boost::system::error_code ec) {
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

  void wait_readable() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->on_ended(ec);
      self->on_readable();
    });
  }

  void on_readable() {
    // Drain the socket: read until it would block, decoding as we go (several frames per read).
    while (true) {
      size_t room = 0;
      char* dst = reader_.prepare(kReadChunk, room);
      boost::system::error_code ec;
      size_t n = socket_.read_some(asio::buffer(dst, room), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) return on_ended(ec);
      reader_.commit(n);
      FlushBatch batch;  // what handling this read produces leaves per socket when it is done
      if (!drain_events()) return;
      if (n < room) break;  // the kernel had no more for now
    }
    reader_.release_if_idle();
    wait_readable();
  }

  // Handles every complete frame buffered. False when the session is finished.
  bool drain_events() {
    auto self = shared_from_this();
    for (auto e = reader_.next(); e.kind != FrameReader::Kind::kNone; e = reader_.next()) {
      switch (e.kind) {
        case FrameReader::Kind::kMessage:
          if (is_worker_ && !(e.binary && is_telemetry_frame(e.payload))) engine_.on_frame(self, e.payload);
          break;
        case FrameReader::Kind::kPing:
          enqueue(ws::Opcode::kPong, e.payload);
          break;
        case FrameReader::Kind::kPong:
          break;
        case FrameReader::Kind::kClose:
          finish(e.close_code == 1005 ? ws::kCloseNormal : e.close_code, "");
          return false;
        case FrameReader::Kind::kError:
          if (e.close_code == ws::kCloseTooBig) {
            spdlog::warn("worker {}: message over the {} byte limit: connection closed", worker_id(),
                         options_->max_message_bytes);
          } else {
            spdlog::debug("worker {}: {}: connection closed", worker_id(), e.error);
          }
          finish(e.close_code, e.error);
          return false;
        case FrameReader::Kind::kNone:
          break;
      }
    }
    return true;
  }

  // Sends our close frame after whatever is queued, stops reading, and drops the socket once
  // the frame is written (or after kCloseTimeout).
  void finish(uint16_t code, std::string_view reason) {
    std::string payload = ws::close_payload(code, reason);
    bool start_write = false;
    {
      std::lock_guard lock(mu_);
      if (accepting_) {
        ws::append_frame(pending_, ws::Opcode::kClose, payload);
        accepting_ = false;
      }
      close_after_flush_ = true;
      start_write = !writing_;
      writing_ = true;
    }
    if (start_write) write_pending();
    close_timer_ = std::make_unique<asio::steady_timer>(socket_.get_executor(), kCloseTimeout);
    close_timer_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->hard_close();
    });
    detach();
  }

  void on_ended(boost::system::error_code ec) {
    if (ec != asio::error::eof && ec != asio::error::operation_aborted && ec != asio::error::connection_reset) {
      spdlog::debug("worker {}: connection ended: {}", worker_id(), ec.message());
    }
    {
      std::lock_guard lock(mu_);
      accepting_ = false;
      std::string().swap(pending_);
    }
    hard_close();
    detach();
  }

  void detach() {
    if (detached_) return;
    detached_ = true;
    if (is_worker_) engine_.detach(shared_from_this());
  }

  void hard_close() {
    {
      std::lock_guard lock(mu_);
      accepting_ = false;
      socket_closed_ = true;
    }
    if (close_timer_) close_timer_->cancel();
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);  // a pending wait completes with operation_aborted and detaches
  }

  tcp::socket socket_;
  Engine& engine_;
  const std::shared_ptr<const ListenerOptions> options_;
  const bool is_worker_;

  // Strand-only state.
  FrameReader reader_;
  std::string writing_buf_;  // the batch async_write is sending
  std::unique_ptr<asio::steady_timer> close_timer_;
  bool detached_ = false;

  std::mutex mu_;  // guards the outgoing side, which any thread may feed
  std::string pending_;         // encoded frames waiting for the next write
  size_t queued_bytes_ = 0;     // payload bytes pending or in flight
  size_t in_flight_bytes_ = 0;  // the part of queued_bytes_ in writing_buf_
  bool writing_ = false;        // a write (or a post of write_pending) is outstanding
  bool accepting_ = true;       // false once closing: later frames are dropped
  bool close_after_flush_ = false;
  bool socket_closed_ = false;
  bool flush_scheduled_ = false;  // pending_ will be sent by a FlushBatch's end
};

FlushBatch::~FlushBatch() {
  current_ = outer_;  // flushing may itself send (never inside this batch again)
  for (auto& session : sessions) session->flush();
}

}  // namespace

void start_worker_session(tcp::socket socket, Engine& engine, std::shared_ptr<const ListenerOptions> options,
                          bool is_worker, std::string_view accept_key, std::string_view early_bytes) {
  auto session = std::make_shared<WorkerSession>(std::move(socket), engine, std::move(options), is_worker);
  session->start(accept_key, early_bytes);
}

}  // namespace iii
