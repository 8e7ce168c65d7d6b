// WebSocket client with hand framing (net/ws_codec) on a plain TCP socket. Beast only parses the
// HTTP 101 answer of the upgrade. Why not Beast's websocket::stream: it writes one message per
// async_write (a syscall and a wake-up per frame); here every frame queued while a write is in
// flight goes out in the next single write.
//
// Threads: everything that touches the socket runs on one strand, with one exception below.
// send() runs on any thread and appends an encoded, masked frame to `pending` under `mutex`; the
// strand swaps `pending` with `writing` (double buffering) each time the previous write completed.
//
// The exception, direct writes: when send() finds the connection open with nothing queued and no
// write in flight, the calling thread becomes the writer: it takes the frame out of `pending` and
// writes it with one non-blocking ::send() outside the mutex, instead of waking the I/O thread
// for it (a thread wake-up per frame dominated the latency of a lone call). Frames other threads
// send meanwhile queue in `pending` and leave together in one strand write afterwards, so
// batching under load is kept. Whatever the kernel does not take goes back first in `pending`
// and the strand's async_write carries on. Why this is safe:
//   - order: a direct write starts only when `pending` is empty and no write is active, and it
//     sets write_active for its duration, so nothing else is written before it or alongside it.
//   - fd reuse: `direct_fd` is set under the mutex once open and reset under the mutex by
//     finish(), which then waits for a direct write in progress before closing the socket.
//   - errors: a failed direct write is treated as "nothing written"; the async_write of the
//     leftover fails the same way and ends the connection through the existing path.
//
// Write combining while a read is handled: from the moment the strand starts handling a read
// until it has handled every frame of it (`reading`), a send() from any thread only queues its
// frame, and the strand writes everything queued in one write when the read is handled. Under load
// the threads that send are those the read woke (callers whose answers came, handlers whose calls
// came), so their frames leave together instead of one send() each; an idle connection still
// writes at once, because nothing is being read then.
//
// Batching (only with WsClientOptions::batch_sends): a send() that would write directly from a
// thread handling a read (this client's, or a server connection's: wire/flush_batch.h) holds its
// frame in `pending` instead, and the batch
// writes everything held once the read is handled: a cluster link forwarding many calls read
// from one worker socket costs one write. While held, `pending` is not empty, so no other direct
// write starts; another thread's send() leaves it to the batch, and a strand write that starts
// meanwhile (a control frame) takes it in order.
#include "wire/ws_client.h"

#include "wire/flush_batch.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <condition_variable>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <cstring>
#include <mutex>
#include <random>

#include "wire/ws_codec.h"

namespace iii::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;       // socket read size (more for big frames)
constexpr std::size_t kKeepBuffer = 1024 * 1024;    // buffers larger than this are freed when idle
constexpr std::size_t kMaxHandshakeBytes = 16 * 1024;

// Masking keys must be unpredictable to the application's peer (RFC 6455 §5.3). A CSPRNG filled
// in bulk costs a few ns per frame; std::random_device is the fallback if OpenSSL's RNG fails.
class MaskKeys {
 public:
  void next(uint8_t key[4]) {
    if (used_ + 4 > pool_.size()) refill();
    std::memcpy(key, pool_.data() + used_, 4);
    used_ += 4;
  }

 private:
  void refill() {
    if (RAND_bytes(pool_.data(), static_cast<int>(pool_.size())) != 1) {
      std::random_device device;
      for (std::size_t i = 0; i < pool_.size(); i += 4) {
        auto word = device();
        std::memcpy(pool_.data() + i, &word, 4);
      }
    }
    used_ = 0;
  }
  std::array<uint8_t, 4096> pool_{};
  std::size_t used_ = 4096;
};

std::string random_handshake_key() {
  uint8_t raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    std::random_device device;
    for (std::size_t i = 0; i < sizeof raw; i += 4) {
      auto word = device();
      std::memcpy(raw + i, &word, 4);
    }
  }
  unsigned char encoded[25];
  int length = EVP_EncodeBlock(encoded, raw, sizeof raw);
  return std::string(reinterpret_cast<char*>(encoded), static_cast<std::size_t>(length));
}

// Header values compared as HTTP does: case-insensitively; `Connection` may list several tokens.
bool header_has_token(beast::string_view value, beast::string_view token) {
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find(',', start);
    if (end == beast::string_view::npos) end = value.size();
    auto item = value.substr(start, end - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (beast::iequals(item, token)) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::optional<WsUrl> parse_ws_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed || parsed->scheme_id() != boost::urls::scheme::ws) return std::nullopt;
  WsUrl out;
  out.host = parsed->host_address();
  if (out.host.empty()) return std::nullopt;
  out.port = parsed->has_port() && !parsed->port().empty() ? std::string(parsed->port()) : "80";
  out.target = std::string(parsed->encoded_target());
  if (out.target.empty() || out.target.front() != '/') out.target.insert(0, "/");
  return out;
}

struct WsClient::State : BatchedSender, std::enable_shared_from_this<WsClient::State> {
  State(asio::io_context& io, WsClientOptions opts, WsClientCallbacks cbs)
      : strand(asio::make_strand(io)),
        resolver(strand),
        socket(strand),
        connect_deadline(strand),
        heartbeat(strand),
        close_deadline(strand),
        options(std::move(opts)),
        callbacks(std::move(cbs)),
        reader(/*expect_masked=*/false, options.max_message_bytes) {}

  asio::strand<asio::io_context::executor_type> strand;
  tcp::resolver resolver;
  tcp::socket socket;
  asio::steady_timer connect_deadline, heartbeat, close_deadline;
  WsClientOptions options;
  WsClientCallbacks callbacks;
  std::string url;

  // Strand-only state.
  std::string handshake_request, handshake_key;
  beast::flat_buffer handshake_buffer;
  std::optional<http::response_parser<http::empty_body>> handshake_response;
  ws::FrameReader reader;
  std::string writing;             // the batch async_write is sending
  bool closing = false;            // close() began: our close frame is queued or sent
  std::optional<std::string> end_after_flush;  // finish with this reason once `pending` is written
  Clock::time_point last_inbound, last_ping;

  // Shared with send() callers.
  mutable std::mutex mutex;
  std::string pending;                // encoded frames waiting for the next write
  std::size_t pending_frames = 0;     // text frames in `pending` (the queue bound counts these)
  MaskKeys mask_keys;
  bool open = false;             // handshake done, writes may start
  int direct_fd = -1;            // the socket's fd while send() may write to it directly (open)
  bool direct_in_progress = false;    // a send() is writing to direct_fd outside the mutex
  std::condition_variable direct_done;  // signalled when that write is over
  bool write_active = false;     // a write_next() chain is active (posted or in flight)
  bool ended = false;            // on_close has fired (or is about to)
  bool close_requested = false;  // close() was called or a close frame is queued: no more frames
  bool close_queued = false;     // our close frame is in `pending`: nothing may follow it
  bool batch_joined = false;     // `pending` leaves when the FlushBatch this joined ends
  bool reading = false;          // the strand is handling a read: sends wait for its flush

  // A direct write (see the top of this file). take_for_direct_write REQUIRES `mutex` held and
  // the connection idle (open, nothing pending before this frame, no write active); it returns
  // the fd to write to. direct_write runs without the lock and hands leftovers to the strand.
  int take_for_direct_write(std::string& out);
  void direct_write(int fd, std::string& out);
  void flush_batch() override;
  void begin_read();
  void end_read();  // writes what was queued while the read was handled

  void start(std::string target_url);
  void on_resolved(const WsUrl& url, tcp::resolver::results_type results);
  void send_upgrade(const WsUrl& target);
  void on_upgrade_response();
  void read_next();
  bool drain_events();
  void queue_control(ws::Opcode opcode, std::string_view payload);
  void kick_write();
  void write_next();
  void schedule_heartbeat();
  void begin_close();
  void end_with_close(uint16_t code, std::string reason);
  void finish(std::string reason);
};

void WsClient::State::start(std::string target_url) {
  url = std::move(target_url);
  auto parsed = parse_ws_url(url);
  if (!parsed) return finish("invalid WebSocket URL `" + url + "` (expected ws://host:port/path)");

  connect_deadline.expires_after(options.connect_timeout);
  connect_deadline.async_wait([self = shared_from_this()](ErrorCode ec) {
    if (ec || self->open || self->ended) return;
    self->finish("timed out connecting to " + self->url + " after " +
                 std::to_string(self->options.connect_timeout.count()) + "ms");
  });
  resolver.async_resolve(parsed->host, parsed->port,
                         [self = shared_from_this(), url = *parsed](ErrorCode ec, tcp::resolver::results_type r) {
                           if (self->ended) return;
                           if (ec) return self->finish("cannot resolve " + url.host + ": " + ec.message());
                           self->on_resolved(url, std::move(r));
                         });
}

void WsClient::State::on_resolved(const WsUrl& target, tcp::resolver::results_type results) {
  asio::async_connect(socket, results, [self = shared_from_this(), target](ErrorCode ec, const tcp::endpoint&) {
    if (self->ended) return;
    if (ec) return self->finish("cannot connect to " + self->url + ": " + ec.message());
    ErrorCode ignored;
    self->socket.set_option(tcp::no_delay(true), ignored);
    self->send_upgrade(target);
  });
}

// The HTTP/1.1 upgrade by hand (RFC 6455 §4.1), so that the socket stays ours afterwards.
void WsClient::State::send_upgrade(const WsUrl& target) {
  bool ipv6 = target.host.find(':') != std::string::npos;
  std::string host_header = (ipv6 ? "[" + target.host + "]" : target.host) + ":" + target.port;
  handshake_key = random_handshake_key();
  handshake_request = "GET " + target.target + " HTTP/1.1\r\nHost: " + host_header +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + handshake_key +
                      "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: iii-cpp\r\n\r\n";
  asio::async_write(socket, asio::buffer(handshake_request), [self = shared_from_this()](ErrorCode ec, std::size_t) {
    if (self->ended) return;
    if (ec) return self->finish("WebSocket handshake with " + self->url + " failed: " + ec.message());
    self->handshake_response.emplace();
    self->handshake_response->header_limit(kMaxHandshakeBytes);
    // Only the header: a 101 has no body, and a refusal's body (a 401 or 404 page) must not turn
    // into an "unexpected body" error that hides the status. Later bytes stay in handshake_buffer.
    http::async_read_header(self->socket, self->handshake_buffer, *self->handshake_response,
                     [self](ErrorCode ec, std::size_t) {
                       if (self->ended) return;
                       if (ec) {
                         return self->finish("WebSocket handshake with " + self->url + " failed: " + ec.message());
                       }
                       self->on_upgrade_response();
                     });
  });
}

void WsClient::State::on_upgrade_response() {
  const auto& response = handshake_response->get();
  std::string problem;
  if (response.result() != http::status::switching_protocols) {
    problem = "the server answered " + std::to_string(response.result_int()) + " " +
              std::string(response.reason()) + " instead of 101";
  } else if (!beast::iequals(response[http::field::upgrade], "websocket") ||
             !header_has_token(response[http::field::connection], "upgrade")) {
    problem = "the 101 answer lacks Upgrade: websocket / Connection: Upgrade";
  } else if (response[http::field::sec_websocket_accept] != ws::accept_key(handshake_key)) {
    problem = "wrong Sec-WebSocket-Accept";
  }
  if (!problem.empty()) return finish("WebSocket handshake with " + url + " failed: " + problem);

  // Frames the server sent right behind its 101 arrived with it: they are the first frames read.
  auto leftover = handshake_buffer.data();
  if (leftover.size() > 0) {
    std::size_t room;
    char* into = reader.prepare(leftover.size(), room);
    std::memcpy(into, leftover.data(), leftover.size());
    reader.commit(leftover.size());
  }
  handshake_buffer = beast::flat_buffer();
  handshake_response.reset();
  std::string().swap(handshake_request);

  connect_deadline.cancel();
  last_inbound = last_ping = Clock::now();
  bool kick = false;
  {
    std::lock_guard lock(mutex);
    open = true;
    direct_fd = socket.native_handle();
    if (!pending.empty() && !write_active) kick = write_active = true;
  }
  schedule_heartbeat();
  if (callbacks.on_open) callbacks.on_open();
  if (kick) write_next();
  if (drain_events()) read_next();
}

void WsClient::State::read_next() {
  std::size_t room;
  char* into = reader.prepare(kReadChunk, room);
  socket.async_read_some(asio::buffer(into, room), [self = shared_from_this()](ErrorCode ec, std::size_t n) {
    if (self->ended) return;
    if (ec) {
      if (self->closing) return self->finish("");  // the peer closed the TCP side after our close
      return self->finish("read failed: " + ec.message());
    }
    self->reader.commit(n);
    self->last_inbound = Clock::now();
    bool more;
    self->begin_read();
    if (self->options.batch_sends) {
      FlushBatch batch;  // what handling these frames sends leaves per connection afterwards
      more = self->drain_events();
    } else {
      more = self->drain_events();
    }
    self->end_read();
    if (more) self->read_next();
  });
}

// Handles every complete event buffered; false when the connection is ending (stop reading).
bool WsClient::State::drain_events() {
  using Kind = ws::FrameReader::Kind;
  while (!ended) {
    auto event = reader.next();
    switch (event.kind) {
      case Kind::kNone:
        reader.release_if_idle(kKeepBuffer);
        return true;
      case Kind::kMessage:
        // Still delivered while our close is on its way: answers to calls sent before close().
        if (!callbacks.on_message) continue;
        try {
          callbacks.on_message(event.payload);
        } catch (const std::exception& e) {
          // The rest of this read cannot be handled in order: end the connection (its owner
          // reconnects) instead of leaving the read, and the writes held for it, half done.
          end_with_close(ws::kCloseInternalError, std::string("the message handler failed: ") + e.what());
          return false;
        }
        continue;
      case Kind::kPing:
        queue_control(ws::Opcode::kPong, event.payload);
        continue;
      case Kind::kPong:
        continue;
      case Kind::kClose: {
        if (closing) {  // the answer to our close: the handshake is complete
          finish("");
          return false;
        }
        std::string reason = "closed by peer (code " + std::to_string(event.close_code) +
                             (event.payload.empty() ? "" : ", " + std::string(event.payload)) + ")";
        // Echo the peer's code (RFC 6455 §5.5.1); 1005 means "none" and must not be sent.
        end_with_close(event.close_code == 1005 ? ws::kCloseNormal : event.close_code, std::move(reason));
        return false;
      }
      case Kind::kError: {
        std::string reason = "protocol error from " + url + ": " + std::string(event.error);
        if (closing) {
          finish(std::move(reason));
        } else {
          end_with_close(event.close_code, std::move(reason));
        }
        return false;
      }
    }
  }
  return false;
}

// Pongs, pings and close frames travel in the same batches as text frames, in order.
void WsClient::State::queue_control(ws::Opcode opcode, std::string_view payload) {
  {
    std::lock_guard lock(mutex);
    if (ended || close_queued) return;  // nothing may follow a close frame
    uint8_t key[4];
    mask_keys.next(key);
    ws::append_frame(pending, opcode, payload, key);
    if (opcode == ws::Opcode::kClose) close_queued = close_requested = true;
  }
  kick_write();
}

void WsClient::State::kick_write() {
  {
    std::lock_guard lock(mutex);
    if (!open || write_active || pending.empty()) return;
    write_active = true;
  }
  write_next();
}

// One async_write for everything queued since the previous one.
void WsClient::State::write_next() {
  bool done = false;
  if (writing.capacity() > kKeepBuffer) std::string().swap(writing);  // after a big message
  writing.clear();
  {
    std::lock_guard lock(mutex);
    if (ended) return;
    if (pending.empty()) {
      write_active = false;
      done = true;
    } else {
      writing.swap(pending);
      pending_frames = 0;
    }
  }
  if (done) {
    if (end_after_flush) finish(std::move(*end_after_flush));
    return;
  }
  asio::async_write(socket, asio::buffer(writing), [self = shared_from_this()](ErrorCode ec, std::size_t) {
    if (self->ended) return;
    if (ec) {
      if (self->end_after_flush) return self->finish(std::move(*self->end_after_flush));
      return self->finish(self->closing ? "" : "write failed: " + ec.message());
    }
    self->write_next();
  });
}

// One timer for both jobs: ping every ping_interval, give up after idle_timeout of silence.
void WsClient::State::schedule_heartbeat() {
  auto tick = std::min(options.ping_interval, options.idle_timeout) / 4;
  heartbeat.expires_after(std::max(tick, std::chrono::milliseconds(10)));
  heartbeat.async_wait([self = shared_from_this()](ErrorCode ec) {
    if (ec || self->ended || self->closing || self->end_after_flush) return;
    auto now = Clock::now();
    if (now - self->last_inbound > self->options.idle_timeout) {
      return self->finish("no frame received for " + std::to_string(self->options.idle_timeout.count()) +
                          "ms; connection presumed dead");
    }
    if (now - self->last_ping >= self->options.ping_interval) {
      self->last_ping = now;
      self->queue_control(ws::Opcode::kPing, {});
    }
    self->schedule_heartbeat();
  });
}

// Frames queued before close() still go out (they are ahead in `pending`), then our close frame;
// the peer's answer or the close_timeout ends the connection.
void WsClient::State::begin_close() {
  if (ended || closing || end_after_flush) return;
  if (!open) return finish("");  // still connecting: just abort
  closing = true;
  heartbeat.cancel();
  close_deadline.expires_after(options.close_timeout);
  close_deadline.async_wait([self = shared_from_this()](ErrorCode ec) {
    if (!ec) self->finish("");  // the peer never answered the close frame
  });
  queue_control(ws::Opcode::kClose, ws::close_payload(ws::kCloseNormal, ""));
}

// The peer closed or broke the protocol: send our close frame, then end once it is written
// (bounded by close_timeout in case the peer stopped reading).
void WsClient::State::end_with_close(uint16_t code, std::string reason) {
  heartbeat.cancel();
  end_after_flush = std::move(reason);
  close_deadline.expires_after(options.close_timeout);
  close_deadline.async_wait([self = shared_from_this()](ErrorCode ec) {
    if (!ec && self->end_after_flush) self->finish(std::move(*self->end_after_flush));
  });
  queue_control(ws::Opcode::kClose, ws::close_payload(code, ""));
  bool idle;
  {
    std::lock_guard lock(mutex);
    idle = !write_active;
  }
  if (idle) finish(std::move(*end_after_flush));  // nothing to flush (e.g. a close was queued already)
}

void WsClient::State::finish(std::string reason) {
  {
    std::lock_guard lock(mutex);
    if (ended) return;
    ended = true;
    open = false;
    direct_fd = -1;  // before socket.close() below: no direct write can start on a closed/reused fd
    pending.clear();
    pending_frames = 0;
  }
  {
    // A direct write in progress still uses the fd: it must not be closed (and reused) under it.
    std::unique_lock lock(mutex);
    direct_done.wait(lock, [this] { return !direct_in_progress; });
  }
  ErrorCode ignored;
  resolver.cancel();
  connect_deadline.cancel();
  heartbeat.cancel();
  close_deadline.cancel();
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
  auto on_close = std::move(callbacks.on_close);
  callbacks = {};  // drop the owner's captures: nothing fires after on_close
  if (on_close) on_close(std::move(reason));
}

std::shared_ptr<WsClient> WsClient::create(asio::io_context& io, WsClientOptions options,
                                           WsClientCallbacks callbacks) {
  auto state = std::make_shared<State>(io, std::move(options), std::move(callbacks));
  return std::shared_ptr<WsClient>(new WsClient(std::move(state)));
}

WsClient::WsClient(std::shared_ptr<State> state) : state_(std::move(state)) {}

WsClient::~WsClient() { close(); }

void WsClient::connect(std::string url) {
  asio::post(state_->strand, [s = state_, url = std::move(url)]() mutable { s->start(std::move(url)); });
}

// Encodes and masks the frame straight into the pending batch: one copy, no per-frame allocation.
// When the connection is idle the frame is written from this thread (see the top of the file).
namespace {
// The calling thread's buffer for a direct write (keeps its capacity between writes).
std::string& direct_write_buffer() {
  thread_local std::string buffer;
  return buffer;
}
}  // namespace

int WsClient::State::take_for_direct_write(std::string& out) {
  write_active = true;
  direct_in_progress = true;
  out.clear();
  out.swap(pending);
  pending_frames = 0;
  return direct_fd;
}

void WsClient::State::direct_write(int fd, std::string& out) {
  const std::size_t sent = ws::send_now(fd, out);
  bool kick = false;
  {
    std::lock_guard lock(mutex);
    direct_in_progress = false;
    direct_done.notify_all();  // finish() may be waiting to close the socket
    if (!ended) {
      if (sent < out.size()) {
        // The unsent rest goes first, before what others queued meanwhile; it counts as a frame.
        pending.insert(0, out, sent, std::string::npos);
        ++pending_frames;
        kick = true;
      } else if (!pending.empty()) {
        kick = true;  // frames queued during our syscall leave together in the strand's write
      } else {
        write_active = false;
      }
    }
  }
  if (out.capacity() > kKeepBuffer) std::string().swap(out);  // after a big message
  if (kick) asio::post(strand, [self = shared_from_this()] { self->write_next(); });
}

void WsClient::State::flush_batch() {
  std::string& out = direct_write_buffer();
  int fd;
  {
    std::lock_guard lock(mutex);
    batch_joined = false;
    // Ended, or a write chain took the frames meanwhile (a close frame, another thread's kick).
    if (ended || write_active || pending.empty() || direct_fd < 0) return;
    fd = take_for_direct_write(out);
  }
  direct_write(fd, out);
}

void WsClient::State::begin_read() {
  std::lock_guard lock(mutex);
  reading = true;
}

void WsClient::State::end_read() {
  std::string& out = direct_write_buffer();
  int fd;
  {
    std::lock_guard lock(mutex);
    reading = false;
    if (ended || write_active || pending.empty() || direct_fd < 0 || batch_joined) return;
    fd = take_for_direct_write(out);
  }
  direct_write(fd, out);
}

bool WsClient::send(std::string_view text, Flush flush) {
  auto& s = *state_;
  bool kick = false;
  int fd = -1;
  std::string& out = direct_write_buffer();
  {
    std::lock_guard lock(s.mutex);
    if (s.ended || s.close_requested || s.pending_frames >= s.options.max_queued_frames) return false;
    const bool idle = s.open && !s.write_active && s.pending.empty() && s.direct_fd >= 0;
    uint8_t key[4];
    s.mask_keys.next(key);
    ws::append_frame(s.pending, ws::Opcode::kText, text, key);
    ++s.pending_frames;
    if (s.batch_joined) return true;  // leaves when the batch this connection joined ends
    if (s.reading) return true;       // leaves with the write that ends the read being handled
    if (!idle || flush == Flush::kSoon) {
      if (s.open && !s.write_active) kick = s.write_active = true;
    } else if (FlushBatch* batch = s.options.batch_sends ? FlushBatch::current() : nullptr) {
      // This thread is handling a read: what it sends here leaves in one write once that read
      // is handled (wire/flush_batch.h).
      s.batch_joined = true;
      batch->join(state_);
      return true;
    } else {
      // This thread becomes the writer: it takes the frame and sends it outside the lock, so
      // other senders queue behind it meanwhile instead of waiting for the syscall.
      fd = s.take_for_direct_write(out);
    }
  }
  if (fd >= 0) {
    s.direct_write(fd, out);
  } else if (kick) {
    asio::post(s.strand, [st = state_] { st->write_next(); });
  }
  return true;
}

void WsClient::close() {
  {
    std::lock_guard lock(state_->mutex);
    state_->close_requested = true;
  }
  asio::post(state_->strand, [s = state_] { s->begin_close(); });
}

std::size_t WsClient::queued() const {
  std::lock_guard lock(state_->mutex);
  return state_->pending_frames;
}

}  // namespace iii::net
