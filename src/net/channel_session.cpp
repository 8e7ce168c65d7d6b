#include "net/channel_session.h"

#include <spdlog/spdlog.h>

#include "core/channel_hub.h"
#include "core/request_target.h"

namespace iii {
namespace {

using namespace net;  // asio, beast, http, websocket, tcp (net/beast_pch.h)

constexpr std::string_view kPrefix = "/ws/channels/";

// A one-shot plain HTTP answer, then the connection is closed.
void reply_plain(tcp::socket socket, const http::request<http::string_body>& request, http::status status,
                 std::string body) {
  struct Reply {
    beast::tcp_stream stream;
    http::response<http::string_body> response;
  };
  auto reply = std::make_shared<Reply>(Reply{beast::tcp_stream(std::move(socket)), {status, request.version()}});
  reply->response.set(http::field::content_type, "text/plain; charset=utf-8");
  reply->response.keep_alive(false);
  reply->response.body() = std::move(body);
  reply->response.prepare_payload();
  reply->stream.expires_after(std::chrono::seconds(10));
  http::async_write(reply->stream, reply->response, [reply](beast::error_code, size_t) {
    beast::error_code ignored;
    reply->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  });
}

// One side of one channel, as a WebSocket.
class ChannelSocket : public std::enable_shared_from_this<ChannelSocket> {
 public:
  ChannelSocket(tcp::socket&& socket, std::shared_ptr<Channel> channel, ChannelDirection side, ChannelHub& hub)
      : ws_(std::move(socket)), channel_(std::move(channel)), side_(side), hub_(hub) {}

  void accept(const http::request<http::string_body>& request, const ChannelSessionOptions& options) {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ec);
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout{options.handshake_timeout, websocket::stream_base::none(), false});
    ws_.read_message_max(options.max_message_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "iii-cpp/" III_VERSION); }));
    owner_ = channel_->take(side_);  // before the upgrade: two racing sockets cannot both win
    ws_.async_accept(request, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) {
      spdlog::debug("channel {}: handshake failed: {}", channel_->id(), ec.message());
      return release();
    }
    if (!owner_) {
      spdlog::debug("channel {}: {} side already connected: closing the newcomer", channel_->id(), side_name());
      return close(websocket::close_reason(websocket::close_code::policy_error, "channel side already connected"));
    }
    if (side_ == ChannelDirection::kWrite) {
      // A reader that leaves (or a sweep) ends this socket even while a read is pending.
      channel_->on_reader_gone([self = shared_from_this()] {
        asio::post(self->ws_.get_executor(),
                   [self] { self->close(websocket::close_reason(websocket::close_code::normal)); });
      });
      return read_next();
    }
    watch_reader();
    write_next();
  }

  const char* side_name() const { return side_ == ChannelDirection::kRead ? "read" : "write"; }

  // --- writer socket: frames in → items ---

  void read_next() {
    if (closing_) return;
    auto self = shared_from_this();
    switch (channel_->writable([self] { asio::post(self->ws_.get_executor(), [self] { self->read_next(); }); })) {
      case Channel::WriteState::kWait: return;  // full: stop reading until the reader makes room
      case Channel::WriteState::kGone: return close(websocket::close_reason(websocket::close_code::normal));
      case Channel::WriteState::kReady: break;
    }
    ws_.async_read(buffer_, [self](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec != websocket::error::closed && ec != asio::error::eof)
        spdlog::debug("channel {}: writer socket ended: {}", channel_->id(), ec.message());
      return release();  // a Close (or a lost socket) is the end of the stream
    }
    ChannelItem item{ws_.got_binary(), beast::buffers_to_string(buffer_.data())};
    buffer_.consume(buffer_.size());
    if (buffer_.capacity() > (1u << 20)) buffer_ = beast::flat_buffer();
    if (!channel_->push(std::move(item))) return close(websocket::close_reason(websocket::close_code::normal));
    read_next();
  }

  // --- reader socket: items → frames out ---

  // Reads (and drops) what the reader sends, to see its Close and answer pings.
  void watch_reader() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->closing_ = true;
        return self->release();
      }
      self->buffer_.consume(self->buffer_.size());
      self->watch_reader();
    });
  }

  void write_next() {
    if (writing_ || closing_) return;
    auto self = shared_from_this();
    switch (channel_->pop(item_, [self] { asio::post(self->ws_.get_executor(), [self] { self->write_next(); }); })) {
      case Channel::ReadState::kWait: return;
      case Channel::ReadState::kEnd: return close(websocket::close_reason(websocket::close_code::normal));
      case Channel::ReadState::kItem: break;
    }
    writing_ = true;
    ws_.binary(item_.binary);
    ws_.async_write(asio::buffer(item_.data), [self](beast::error_code ec, size_t) {
      self->writing_ = false;
      self->item_.data.clear();
      if (ec) {
        self->closing_ = true;
        return self->release();
      }
      self->write_next();
    });
  }

  // --- endings ---

  void close(const websocket::close_reason& reason) {
    if (closing_) return;
    closing_ = true;
    ws_.async_close(reason, [self = shared_from_this()](beast::error_code) { self->release(); });
  }

  // This socket's side is done: the writer's stream ends; a departing reader clears the channel.
  void release() {
    if (released_ || !owner_) return;
    released_ = true;
    closing_ = true;  // nothing more to send or close
    if (side_ == ChannelDirection::kWrite) {
      channel_->finish();
      if (channel_->reader_gone()) hub_.remove(channel_->id());
    } else {
      channel_->abandon();
      hub_.remove(channel_->id());
    }
  }

  websocket::stream<beast::tcp_stream> ws_;
  std::shared_ptr<Channel> channel_;
  const ChannelDirection side_;
  ChannelHub& hub_;
  beast::flat_buffer buffer_;
  ChannelItem item_;  // the item being written (reader side)
  bool owner_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool released_ = false;
};

}  // namespace

void serve_channel_request(tcp::socket socket, http::request<http::string_body> request, ChannelHub& hub,
                           const ChannelSessionOptions& options) {
  const std::string_view target = request.target();
  const std::string_view path = target_path(target);
  const std::string_view id = path.size() > kPrefix.size() ? path.substr(kPrefix.size()) : std::string_view();
  std::string key, dir;
  bool has_dir = false;
  for_each_query_param(target_query(target), [&](std::string k, std::string v) {
    if (k == "key") key = std::move(v);
    else if (k == "dir") dir = std::move(v), has_dir = true;
  });
  if (!has_dir || (dir != "read" && dir != "write"))
    return reply_plain(std::move(socket), request, http::status::bad_request,
                       "Invalid query: `dir` must be `read` or `write`");
  std::shared_ptr<Channel> channel = hub.find(id, key);
  if (!channel) return reply_plain(std::move(socket), request, http::status::not_found, "Channel not found");
  if (!websocket::is_upgrade(request))
    return reply_plain(std::move(socket), request, http::status::upgrade_required, "Expected a WebSocket upgrade");
  const ChannelDirection side = dir == "read" ? ChannelDirection::kRead : ChannelDirection::kWrite;
  std::make_shared<ChannelSocket>(std::move(socket), std::move(channel), side, hub)->accept(request, options);
}

}  // namespace iii
