#include "net/worker_session.h"

#include "engine/engine.h"
#include "net/listener_options.h"
#include "net/ws_connection.h"
#include "wire/uuid.h"
#include "wire/ws_codec.h"

namespace iii {
namespace {

bool is_telemetry_frame(std::string_view data) {
  return data.starts_with("OTLP") || data.starts_with("MTRC") || data.starts_with("LOGS");
}

// A worker as the engine sees it (an Endpoint), on top of the connection that carries its frames.
class WorkerSession final : public RemoteEndpoint,
                            public WsConnectionHandler,
                            public std::enable_shared_from_this<WorkerSession> {
 public:
  WorkerSession(std::string worker_id, std::shared_ptr<WsConnection> connection, Engine& engine, bool is_worker,
                std::shared_ptr<const AccessSession> access)
      : RemoteEndpoint(std::move(worker_id), std::move(access)),
        connection_(std::move(connection)),
        engine_(engine),
        is_worker_(is_worker) {}

  // Endpoint
  void send(std::string frame) override { connection_->send_text(frame); }
  void close() override { connection_->abort(); }

  // WsConnectionHandler: attach before any frame is read, so the worker exists when its first
  // frame arrives.
  void on_open(const std::shared_ptr<WsPeer>&) override {
    if (is_worker_) engine_.attach(shared_from_this(), connection_->remote_ip());
  }
  // Telemetry frames (binary, on / or /otel) go to the observer; other binary frames on /otel and
  // every text frame there are dropped (docs/protocol.md §1.8).
  void on_message(std::string_view payload, bool binary) override {
    if (binary && is_telemetry_frame(payload)) return engine_.on_telemetry(worker_id(), payload);
    if (is_worker_) engine_.on_frame(shared_from_this(), payload, net::ws::kMessagePadding);
  }
  void on_closed() override {
    if (is_worker_) engine_.detach(shared_from_this());
  }

 private:
  const std::shared_ptr<WsConnection> connection_;
  Engine& engine_;
  const bool is_worker_;
};

// Sends one error frame and closes.
class RefusedSession final : public WsConnectionHandler {
 public:
  explicit RefusedSession(std::string frame) : frame_(std::move(frame)) {}
  void on_open(const std::shared_ptr<WsPeer>& peer) override {
    peer->send_text(frame_);
    peer->close(1008, "AUTH_ERROR");
  }
  void on_message(std::string_view, bool) override {}
  void on_closed() override {}

 private:
  const std::string frame_;
};

}  // namespace

void start_refused_session(boost::asio::ip::tcp::socket socket, std::string_view accept_key, std::string error_body) {
  WsConnectionOptions connection_options;
  connection_options.max_message_bytes = 64 * 1024;
  connection_options.max_send_queue_bytes = 64 * 1024;
  connection_options.log_name = "refused worker socket";
  auto connection = std::make_shared<WsConnection>(std::move(socket), std::move(connection_options));
  connection->start(std::make_shared<RefusedSession>(R"({"type":"error","error":)" + error_body + "}"), accept_key, {});
}

void start_worker_session(boost::asio::ip::tcp::socket socket, Engine& engine,
                          std::shared_ptr<const ListenerOptions> options, bool is_worker, std::string_view accept_key,
                          std::string_view early_bytes, std::shared_ptr<const AccessSession> access) {
  std::string worker_id = new_uuid();
  WsConnectionOptions connection_options;
  connection_options.max_message_bytes = options->max_message_bytes;
  connection_options.max_send_queue_bytes = options->max_send_queue_bytes;
  connection_options.log_name = (is_worker ? "worker " : "telemetry socket ") + worker_id;
  auto connection = std::make_shared<WsConnection>(std::move(socket), std::move(connection_options));
  auto session = std::make_shared<WorkerSession>(std::move(worker_id), connection, engine, is_worker, std::move(access));
  connection->start(session, accept_key, early_bytes);
}

}  // namespace iii
