// Beast lives here and in the other net/ translation units only.
#include "net/worker_listener.h"

#include <spdlog/spdlog.h>

#include "wire/json_writer.h"
#include "core/access.h"
#include "engine/engine.h"
#include "net/beast_pch.h"
#include "net/io_pool.h"
#include "net/channel_session.h"
#include "net/worker_session.h"
#include "net/ws_handshake.h"
#include "wire/ws_codec.h"

namespace iii {
namespace {

using namespace net;  // asio, beast, http, websocket, tcp (net/beast_pch.h)

// Reads the HTTP upgrade request and hands the socket to the right session. On a listener with
// an auth function (docs/security.md) the worker, telemetry and channel sockets are first
// authenticated: the function's answer, within the handshake deadline, decides.
class HttpSession : public UpgradeReader<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, Engine& engine, std::shared_ptr<const ListenerOptions> options, ChannelHub* channels)
      : UpgradeReader(std::move(socket)), engine_(engine), options_(std::move(options)), channels_(channels),
        deadline_(stream_.get_executor()) {}

  void run() { read_request(options_->handshake_timeout); }

 private:
  friend class UpgradeReader<HttpSession>;

  enum class Kind { kWorker, kTelemetry, kChannel };

  void on_request(UpgradeRequest request) {
    request_ = std::move(request);
    std::string_view target = request_.target();
    std::string_view path = target.substr(0, target.find('?'));
    std::optional<Kind> kind;
    if (channels_ && path.starts_with("/ws/channels/")) {
      kind = Kind::kChannel;
    } else if (!websocket::is_upgrade(request_)) {
      return respond(request_, path == "/" ? http::status::upgrade_required : http::status::not_found,
                     path == "/" ? "This is the iii worker WebSocket endpoint.\n" : "Not Found\n");
    } else if (path == "/" || path.empty() || path == "/otel") {
      if (auto refusal = upgrade_refusal(request_)) return respond(request_, refusal->first, std::move(refusal->second));
      kind = path == "/otel" ? Kind::kTelemetry : Kind::kWorker;
    } else if (path.starts_with("/ws/channels/")) {
      return respond(request_, http::status::not_found, "Channel not found");
    } else {
      return respond(request_, http::status::not_found, "Not Found\n");
    }
    const auto& access = options_->access;
    if (!access) return proceed(*kind, nullptr);
    if (access->auth_function_id.empty()) return proceed(*kind, std::make_shared<const AccessSession>(default_access_session(access)));
    authenticate(*kind);
  }

  void authenticate(Kind kind) {
    const WsUpgradeRequest upgrade = describe_upgrade(request_, stream_.socket());
    peer_ = upgrade.remote_address;
    const std::string ip = stream_.socket().remote_endpoint(ignored_).address().to_string();
    // The reference's AuthInput, plus the path: SDKs open telemetry and channel sockets without
    // the worker's headers, and an auth function may want to tell them apart.
    std::string input = FrameWriter()
                            .raw("headers", upgrade_headers_json(upgrade))
                            .raw("query_params", query_params_json(upgrade.query))
                            .string("ip_address", ip)
                            .string("path", upgrade.path)
                            .finish();
    const auto timeout = options_->handshake_timeout;
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = shared_from_this(), kind, timeout](beast::error_code ec) {
      if (ec || self->decided_.exchange(true)) return;
      self->refuse(kind, "auth function " + self->options_->access->auth_function_id + " did not answer within " +
                             std::to_string(timeout.count()) + " ms");
    });
    engine_.invoke(options_->access->auth_function_id, std::move(input), "",
                   [self = shared_from_this(), kind](Outcome outcome) {
                     if (self->decided_.exchange(true)) return;  // too late: the deadline answered
                     asio::post(self->stream_.get_executor(), [self, kind, outcome = std::move(outcome)] {
                       self->on_auth_result(kind, outcome);
                     });
                   });
  }

  void on_auth_result(Kind kind, const Outcome& outcome) {
    deadline_.cancel();
    const auto& rules = options_->access;
    if (!outcome.ok())
      return refuse(kind, "auth function " + rules->auth_function_id + " failed: " + outcome.error->code + ": " +
                              outcome.error->message);
    std::string error;
    auto session = access_session_from_auth_result(rules, outcome.result, &error);
    if (!session) return refuse(kind, error);
    proceed(kind, std::make_shared<const AccessSession>(std::move(*session)));
  }

  // Fail closed: the connection is refused with the reason, and the refusal is logged.
  void refuse(Kind kind, const std::string& why) {
    spdlog::warn("rbac {}: {} connection from {} refused: {}", options_->access->listener,
                 kind == Kind::kChannel ? "channel" : kind == Kind::kTelemetry ? "telemetry" : "worker", peer_, why);
    // A channel socket carries raw data, where an error frame could pass for a message: it gets
    // a plain HTTP 403 instead.
    if (kind == Kind::kChannel) return respond(request_, http::status::forbidden, "Forbidden\n");
    start_refused_session(stream_.release_socket(), net::ws::accept_key(request_[http::field::sec_websocket_key]),
                          ErrorBody{"AUTH_ERROR", why, std::nullopt}.to_json());
  }

  void proceed(Kind kind, std::shared_ptr<const AccessSession> session) {
    if (kind == Kind::kChannel) {
      return serve_channel_request(stream_.release_socket(), std::move(request_), *channels_,
                                   ChannelSessionOptions{options_->max_message_bytes, options_->handshake_timeout});
    }
    start_worker_session(stream_.release_socket(), engine_, options_, kind == Kind::kWorker,
                         net::ws::accept_key(request_[http::field::sec_websocket_key]), early_bytes(), std::move(session));
  }

  Engine& engine_;
  const std::shared_ptr<const ListenerOptions> options_;
  ChannelHub* const channels_;
  UpgradeRequest request_;
  std::string peer_;  // "ip:port", for log lines
  asio::steady_timer deadline_;
  std::atomic<bool> decided_{false};
  beast::error_code ignored_;
};

}  // namespace

struct WorkerListener::Impl : std::enable_shared_from_this<WorkerListener::Impl> {
  Impl(asio::io_context& io, Engine& engine, ListenerOptions options, ChannelHub* channels)
      : io(io), engine(engine), options(std::make_shared<const ListenerOptions>(std::move(options))),
        channels(channels), acceptor(asio::make_strand(io)) {}

  void accept_next() {
    acceptor.async_accept(asio::make_strand(net::connection_context(io)), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
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
