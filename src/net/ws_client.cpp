// WebSocket client on Boost.Beast. Everything that touches the stream runs on one strand; the
// only state shared with other threads is the outgoing queue, under `mutex`.
#include "net/ws_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>
#include <deque>
#include <mutex>

namespace iii::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

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

struct WsClient::State : std::enable_shared_from_this<WsClient::State> {
  State(asio::io_context& io, WsClientOptions opts, WsClientCallbacks cbs)
      : strand(asio::make_strand(io)),
        resolver(strand),
        ws(strand),
        connect_deadline(strand),
        heartbeat(strand),
        close_deadline(strand),
        options(std::move(opts)),
        callbacks(std::move(cbs)) {}

  asio::strand<asio::io_context::executor_type> strand;
  tcp::resolver resolver;
  websocket::stream<beast::tcp_stream> ws;
  asio::steady_timer connect_deadline, heartbeat, close_deadline;
  WsClientOptions options;
  WsClientCallbacks callbacks;
  std::string url;

  // Strand-only state.
  beast::flat_buffer read_buffer;
  std::string in_flight;  // the frame async_write is sending
  bool closing = false;
  bool ping_in_flight = false;
  Clock::time_point last_inbound, last_ping;

  // Shared with send() callers.
  mutable std::mutex mutex;
  std::deque<std::string> queue;
  bool open = false;     // handshake done, writes may start
  bool writing = false;  // a write_next() chain is active
  bool ended = false;    // on_close has fired (or is about to)
  bool close_requested = false;  // close() was called: accept no more frames

  void start(std::string target_url);
  void on_resolved(const WsUrl& url, tcp::resolver::results_type results);
  void on_handshake();
  void read_next();
  void write_next();
  void schedule_heartbeat();
  void begin_close();
  void close_handshake();
  void finish(std::string reason);
};

void WsClient::State::start(std::string target_url) {
  url = std::move(target_url);
  auto parsed = parse_ws_url(url);
  if (!parsed) return finish("invalid WebSocket URL `" + url + "` (expected ws://host:port/path)");

  connect_deadline.expires_after(options.connect_timeout);
  connect_deadline.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->open || self->ended) return;
    self->finish("timed out connecting to " + self->url + " after " +
                 std::to_string(self->options.connect_timeout.count()) + "ms");
  });
  resolver.async_resolve(parsed->host, parsed->port,
                         [self = shared_from_this(), url = *parsed](beast::error_code ec,
                                                                    tcp::resolver::results_type r) {
                           if (self->ended) return;
                           if (ec) return self->finish("cannot resolve " + url.host + ": " + ec.message());
                           self->on_resolved(url, std::move(r));
                         });
}

void WsClient::State::on_resolved(const WsUrl& target, tcp::resolver::results_type results) {
  beast::get_lowest_layer(ws).async_connect(
      results, [self = shared_from_this(), target](beast::error_code ec, const tcp::endpoint&) {
        if (self->ended) return;
        if (ec) return self->finish("cannot connect to " + self->url + ": " + ec.message());
        beast::error_code ignored;
        beast::get_lowest_layer(self->ws).socket().set_option(tcp::no_delay(true), ignored);
        self->ws.read_message_max(self->options.max_message_bytes);
        self->ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
          req.set(beast::http::field::user_agent, "iii-cpp");
        }));
        self->ws.control_callback(
            [raw = self.get()](websocket::frame_type, beast::string_view) { raw->last_inbound = Clock::now(); });
        bool ipv6 = target.host.find(':') != std::string::npos;
        std::string host_header = (ipv6 ? "[" + target.host + "]" : target.host) + ":" + target.port;
        self->ws.async_handshake(host_header, target.target, [self](beast::error_code ec) {
          if (self->ended) return;
          if (ec) return self->finish("WebSocket handshake with " + self->url + " failed: " + ec.message());
          self->on_handshake();
        });
      });
}

void WsClient::State::on_handshake() {
  connect_deadline.cancel();
  last_inbound = last_ping = Clock::now();
  bool kick = false;
  {
    std::lock_guard lock(mutex);
    open = true;
    if (!queue.empty() && !writing) kick = writing = true;
  }
  read_next();
  schedule_heartbeat();
  if (callbacks.on_open) callbacks.on_open();
  if (kick) write_next();
}

void WsClient::State::read_next() {
  ws.async_read(read_buffer, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (self->ended) return;
    if (ec) {
      if (self->closing) return self->finish("");
      if (ec == websocket::error::closed) {
        auto reason = self->ws.reason();
        return self->finish("closed by peer (code " + std::to_string(reason.code) +
                            (reason.reason.empty() ? "" : ", " + std::string(reason.reason.data(), reason.reason.size())) + ")");
      }
      return self->finish("read failed: " + ec.message());
    }
    self->last_inbound = Clock::now();
    std::string message = beast::buffers_to_string(self->read_buffer.data());
    self->read_buffer.consume(self->read_buffer.size());
    if (self->callbacks.on_message) self->callbacks.on_message(std::move(message));
    if (!self->ended) self->read_next();
  });
}

void WsClient::State::write_next() {
  bool post_close = false, have_frame = false;
  {
    std::lock_guard lock(mutex);
    if (ended) return;
    if (queue.empty()) {
      writing = false;
      if (closing) post_close = true;
    } else {
      in_flight = std::move(queue.front());
      queue.pop_front();
      have_frame = true;
    }
  }
  if (post_close) return close_handshake();
  if (!have_frame) return;
  ws.text(true);
  ws.async_write(asio::buffer(in_flight), [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (self->ended) return;
    if (ec) return self->finish("write failed: " + ec.message());
    self->write_next();
  });
}

// One timer for both jobs: ping every ping_interval, give up after idle_timeout of silence.
void WsClient::State::schedule_heartbeat() {
  auto tick = std::min(options.ping_interval, options.idle_timeout) / 4;
  heartbeat.expires_after(std::max(tick, std::chrono::milliseconds(10)));
  heartbeat.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->ended || self->closing) return;
    auto now = Clock::now();
    if (now - self->last_inbound > self->options.idle_timeout) {
      return self->finish("no frame received for " + std::to_string(self->options.idle_timeout.count()) +
                          "ms; connection presumed dead");
    }
    if (!self->ping_in_flight && now - self->last_ping >= self->options.ping_interval) {
      self->ping_in_flight = true;
      self->last_ping = now;
      self->ws.async_ping({}, [self](beast::error_code) { self->ping_in_flight = false; });
    }
    self->schedule_heartbeat();
  });
}

// Frames queued before close() still go out; then the closing handshake, all under one deadline.
void WsClient::State::begin_close() {
  if (ended || closing) return;
  if (!open) return finish("");  // still connecting: just abort
  closing = true;
  heartbeat.cancel();
  close_deadline.expires_after(options.close_timeout);
  close_deadline.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->finish("");  // the peer never answered the close frame
  });
  bool drained;
  {
    std::lock_guard lock(mutex);
    drained = !writing;
  }
  if (drained) close_handshake();
}

void WsClient::State::close_handshake() {
  ws.async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code) {
    self->finish("");
  });
}

void WsClient::State::finish(std::string reason) {
  {
    std::lock_guard lock(mutex);
    if (ended) return;
    ended = true;
    open = false;
    queue.clear();
  }
  beast::error_code ignored;
  resolver.cancel();
  connect_deadline.cancel();
  heartbeat.cancel();
  close_deadline.cancel();
  beast::get_lowest_layer(ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(ws).socket().close(ignored);
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

bool WsClient::send(std::string text) {
  bool kick = false;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->ended || state_->close_requested ||
        state_->queue.size() >= state_->options.max_queued_frames) {
      return false;
    }
    state_->queue.push_back(std::move(text));
    if (state_->open && !state_->writing) kick = state_->writing = true;
  }
  if (kick) asio::post(state_->strand, [s = state_] { s->write_next(); });
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
  return state_->queue.size();
}

}  // namespace iii::net
