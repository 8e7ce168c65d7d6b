// Beast lives here and in the other net/ translation units only.
#include "net/worker_listener.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <mutex>

#include "core/endpoint.h"
#include "core/uuid.h"
#include "engine/engine.h"
#include "net/beast_pch.h"
#include "net/channel_session.h"

namespace iii {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

bool is_telemetry_frame(std::string_view data) {
  return data.starts_with("OTLP") || data.starts_with("MTRC") || data.starts_with("LOGS");
}

// One accepted WebSocket: a worker (`/`) or a telemetry socket (`/otel`).
class WsSession : public RemoteEndpoint, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket&& socket, Engine& engine, std::shared_ptr<const ListenerOptions> options, bool is_worker)
      : RemoteEndpoint(new_uuid()), ws_(std::move(socket)), engine_(engine), options_(std::move(options)), is_worker_(is_worker) {}

  void accept(http::request<http::string_body> request) {
    beast::error_code ec;
    auto endpoint = beast::get_lowest_layer(ws_).socket().remote_endpoint(ec);
    ip_ = ec ? std::string() : endpoint.address().to_string();
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ec);
    beast::get_lowest_layer(ws_).expires_never();  // the websocket stream keeps its own timeouts
    websocket::stream_base::timeout timeouts{options_->handshake_timeout, websocket::stream_base::none(), false};
    ws_.set_option(timeouts);
    ws_.read_message_max(options_->max_message_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "iii-cpp/" III_VERSION); }));
    ws_.async_accept(request, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void send(std::string frame) override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      queued_bytes_ += frame.size();
      if (queued_bytes_ > options_->max_send_queue_bytes) {
        spdlog::warn("worker {} is not reading ({} bytes queued): disconnecting it", worker_id(), queued_bytes_);
        closed_ = true;
        queue_.clear();
        asio::post(ws_.get_executor(), [self = shared_from_this()] { self->hard_close(); });
        return;
      }
      queue_.push_back(std::move(frame));
      if (writing_) return;
      writing_ = true;
    }
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->write_next(); });
  }

  void close() override {
    asio::post(ws_.get_executor(), [self = shared_from_this()] { self->hard_close(); });
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) {
      spdlog::debug("websocket handshake failed: {}", ec.message());
      return;
    }
    if (is_worker_) engine_.attach(shared_from_this(), ip_);
    read_next();
  }

  void read_next() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return on_closed(ec);
    auto data = buffer_.cdata();
    std::string_view frame(static_cast<const char*>(data.data()), data.size());
    if (is_worker_ && !(ws_.got_binary() && is_telemetry_frame(frame))) engine_.on_frame(shared_from_this(), frame);
    buffer_.consume(buffer_.size());
    if (buffer_.capacity() > (1u << 20)) buffer_ = beast::flat_buffer();  // give back memory of a big frame
    read_next();
  }

  void on_closed(beast::error_code ec) {
    if (ec == websocket::error::message_too_big) {
      spdlog::warn("worker {}: message over the {} byte limit: connection closed", worker_id(), options_->max_message_bytes);
    } else if (ec != websocket::error::closed && ec != asio::error::eof && ec != asio::error::operation_aborted) {
      spdlog::debug("worker {}: connection ended: {}", worker_id(), ec.message());
    }
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      queue_.clear();
    }
    if (is_worker_) engine_.detach(shared_from_this());
  }

  void write_next() {
    {
      std::lock_guard lock(mu_);
      if (queue_.empty() || closed_) {
        writing_ = false;
        return;
      }
      current_ = std::move(queue_.front());
      queue_.pop_front();
    }
    ws_.text(true);
    ws_.async_write(asio::buffer(current_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      {
        std::lock_guard lock(self->mu_);
        self->queued_bytes_ -= self->current_.size();
      }
      self->current_.clear();
      if (ec) {
        std::lock_guard lock(self->mu_);
        self->writing_ = false;
        return;  // the read side sees the failure and tears down
      }
      self->write_next();
    });
  }

  void hard_close() {
    beast::error_code ec;
    auto& socket = beast::get_lowest_layer(ws_).socket();
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  websocket::stream<beast::tcp_stream> ws_;
  Engine& engine_;
  const std::shared_ptr<const ListenerOptions> options_;
  const bool is_worker_;
  std::string ip_;
  beast::flat_buffer buffer_;

  std::mutex mu_;  // guards the send queue, which any thread may feed
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  std::string current_;  // the frame being written (owned by the strand)
};

// Reads the HTTP upgrade request and hands the socket to the right session.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, Engine& engine, std::shared_ptr<const ListenerOptions> options, ChannelHub* channels)
      : stream_(std::move(socket)), engine_(engine), options_(std::move(options)), channels_(channels) {}

  void run() {
    parser_.header_limit(16 * 1024);
    parser_.body_limit(64 * 1024);
    stream_.expires_after(options_->handshake_timeout);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_request(ec); });
  }

 private:
  void on_request(beast::error_code ec) {
    if (ec) return;  // timeout or garbage before the upgrade: just close
    auto request = parser_.release();
    std::string_view target = request.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (channels_ && path.starts_with("/ws/channels/")) {
      return serve_channel_request(stream_.release_socket(), std::move(request), *channels_,
                                   ChannelSessionOptions{options_->max_message_bytes, options_->handshake_timeout});
    }
    if (!websocket::is_upgrade(request)) {
      return respond(request, path == "/" ? http::status::upgrade_required : http::status::not_found,
                     path == "/" ? "This is the iii worker WebSocket endpoint.\n" : "Not Found\n");
    }
    if (path == "/" || path.empty() || path == "/otel") {
      auto session = std::make_shared<WsSession>(stream_.release_socket(), engine_, options_, path != "/otel");
      return session->accept(std::move(request));
    }
    if (path.starts_with("/ws/channels/")) return respond(request, http::status::not_found, "Channel not found");
    respond(request, http::status::not_found, "Not Found\n");
  }

  void respond(const http::request<http::string_body>& request, http::status status, std::string body) {
    auto response = std::make_shared<http::response<http::string_body>>(status, request.version());
    response->set(http::field::content_type, "text/plain");
    response->keep_alive(false);
    response->body() = std::move(body);
    response->prepare_payload();
    http::async_write(stream_, *response, [self = shared_from_this(), response](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  Engine& engine_;
  const std::shared_ptr<const ListenerOptions> options_;
  ChannelHub* const channels_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
};

}  // namespace

struct WorkerListener::Impl : std::enable_shared_from_this<WorkerListener::Impl> {
  Impl(asio::io_context& io, Engine& engine, ListenerOptions options, ChannelHub* channels)
      : io(io), engine(engine), options(std::make_shared<const ListenerOptions>(std::move(options))),
        channels(channels), acceptor(asio::make_strand(io)) {}

  void accept_next() {
    acceptor.async_accept(asio::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;  // closed
      if (!ec) std::make_shared<HttpSession>(std::move(socket), self->engine, self->options, self->channels)->run();
      self->accept_next();
    });
  }

  asio::io_context& io;
  Engine& engine;
  const std::shared_ptr<const ListenerOptions> options;
  ChannelHub* const channels;
  tcp::acceptor acceptor;
};

WorkerListener::WorkerListener(asio::io_context& io, Engine& engine, ListenerOptions options, ChannelHub* channels)
    : impl_(std::make_shared<Impl>(io, engine, std::move(options), channels)) {}

WorkerListener::~WorkerListener() {
  // Closed here, synchronously, so that a replacement listener can bind the same port at once.
  // The pending accept completes with operation_aborted and the accept loop ends.
  beast::error_code ec;
  impl_->acceptor.close(ec);
}

void WorkerListener::start() {
  auto address = asio::ip::make_address(impl_->options->host);
  tcp::endpoint endpoint(address, impl_->options->port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  impl_->accept_next();
}

uint16_t WorkerListener::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace iii
