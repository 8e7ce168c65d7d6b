// Beast lives here and in the other net/ translation units only.
#include "net/worker_listener.h"

#include <spdlog/spdlog.h>

#include "net/beast_pch.h"
#include "net/channel_session.h"
#include "net/worker_session.h"
#include "net/ws_handshake.h"
#include "wire/ws_codec.h"

namespace iii {
namespace {

using namespace net;  // asio, beast, http, websocket, tcp (net/beast_pch.h)

// Reads the HTTP upgrade request and hands the socket to the right session.
class HttpSession : public UpgradeReader<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, Engine& engine, std::shared_ptr<const ListenerOptions> options, ChannelHub* channels)
      : UpgradeReader(std::move(socket)), engine_(engine), options_(std::move(options)), channels_(channels) {}

  void run() { read_request(options_->handshake_timeout); }

 private:
  friend class UpgradeReader<HttpSession>;

  void on_request(UpgradeRequest request) {
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
      if (auto refusal = upgrade_refusal(request)) return respond(request, refusal->first, std::move(refusal->second));
      auto key = request[http::field::sec_websocket_key];
      return start_worker_session(stream_.release_socket(), engine_, options_, path != "/otel", net::ws::accept_key(key),
                                  early_bytes());
    }
    if (path.starts_with("/ws/channels/")) return respond(request, http::status::not_found, "Channel not found");
    respond(request, http::status::not_found, "Not Found\n");
  }

  Engine& engine_;
  const std::shared_ptr<const ListenerOptions> options_;
  ChannelHub* const channels_;
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
  open_acceptor(impl_->acceptor, impl_->options->host, impl_->options->port);
  impl_->accept_next();
}

uint16_t WorkerListener::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace iii
