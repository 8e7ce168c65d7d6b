#include "net/ws_server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "net/beast_pch.h"
#include "net/io_pool.h"
#include "net/ws_connection.h"
#include "net/ws_handshake.h"

namespace iii {

using namespace net;  // asio, beast, http, websocket, tcp (net/beast_pch.h)

struct WsServer::Impl : std::enable_shared_from_this<WsServer::Impl> {
  Impl(asio::io_context& io, std::shared_ptr<WsService> service, std::chrono::milliseconds handshake_timeout)
      : io(io), service(std::move(service)), handshake_timeout(handshake_timeout), acceptor(asio::make_strand(io)) {}

  void accept_next();

  // Keeps `connection` for stop(); forgets the ones that are gone.
  void track(const std::shared_ptr<WsConnection>& connection) {
    std::lock_guard lock(mu);
    std::erase_if(connections, [](const std::weak_ptr<WsConnection>& c) { return c.expired(); });
    connections.push_back(connection);
  }

  asio::io_context& io;
  const std::shared_ptr<WsService> service;
  const std::chrono::milliseconds handshake_timeout;
  tcp::acceptor acceptor;
  std::atomic<bool> stopped{false};
  mutable std::mutex mu;
  std::vector<std::weak_ptr<WsConnection>> connections;
};

namespace {

// Reads one upgrade request, asks the service, and hands the socket over or refuses it.
class UpgradeSession : public UpgradeReader<UpgradeSession> {
 public:
  UpgradeSession(tcp::socket&& socket, std::shared_ptr<WsServer::Impl> server)
      : UpgradeReader(std::move(socket)), server_(std::move(server)), deadline_(stream_.get_executor()) {}

  void run() { read_request(server_->handshake_timeout); }

 private:
  friend class UpgradeReader<UpgradeSession>;

  void on_request(UpgradeRequest request) {
    request_ = std::move(request);
    const std::string_view target = request_.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/" && !path.empty()) return respond(http::status::not_found, "Not Found\n");
    if (!websocket::is_upgrade(request_))
      return respond(http::status::upgrade_required, "This is a WebSocket endpoint.\n");
    if (auto refusal = upgrade_refusal(request_)) return respond(refusal->first, std::move(refusal->second));

    WsUpgradeRequest upgrade = describe_upgrade(request_, stream_.socket());

    const auto timeout = server_->service->decision_timeout();
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = shared_from_this(), timeout](beast::error_code ec) {
      if (ec || self->decided_.exchange(true)) return;
      spdlog::warn("websocket upgrade from {}: no decision within {} ms: refused", self->remote_address(),
                   timeout.count());
      self->respond(static_cast<http::status>(self->server_->service->timeout_status()),
                    "The upgrade was not decided in time\n");
    });
    server_->service->upgrade(std::move(upgrade), [self = shared_from_this()](WsDecision decision) {
      if (self->decided_.exchange(true)) return;  // too late: the deadline answered
      asio::post(self->stream_.get_executor(),
                 [self, decision = std::move(decision)]() mutable { self->on_decision(std::move(decision)); });
    });
  }

  void on_decision(WsDecision decision) {
    deadline_.cancel();
    if (!decision.handler || server_->stopped) {
      return respond(static_cast<http::status>(decision.handler ? 503 : decision.status),
                     decision.handler ? "Shutting down\n" : std::move(decision.body));
    }
    const std::string accept = ws::accept_key(request_[http::field::sec_websocket_key]);
    auto connection = std::make_shared<WsConnection>(stream_.release_socket(), std::move(decision.options));
    server_->track(connection);
    connection->start(std::move(decision.handler), accept, early_bytes());
  }

  std::string remote_address() {
    beast::error_code ignored;
    const auto remote = stream_.socket().remote_endpoint(ignored);
    return remote.address().to_string() + ":" + std::to_string(remote.port());
  }

  void respond(http::status status, std::string body) { UpgradeReader::respond(request_, status, std::move(body)); }

  const std::shared_ptr<WsServer::Impl> server_;
  asio::steady_timer deadline_;
  UpgradeRequest request_;
  std::atomic<bool> decided_{false};
};

}  // namespace

void WsServer::Impl::accept_next() {
  acceptor.async_accept(asio::make_strand(net::connection_context(io)), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;  // closed
    if (!ec) std::make_shared<UpgradeSession>(std::move(socket), self)->run();
    self->accept_next();
  });
}

WsServer::WsServer(asio::io_context& io, std::shared_ptr<WsService> service, std::chrono::milliseconds handshake_timeout)
    : impl_(std::make_shared<Impl>(io, std::move(service), handshake_timeout)) {}

WsServer::~WsServer() { stop(); }

void WsServer::listen(const std::string& host, uint16_t port) {
  impl_->stopped = false;
  open_acceptor(impl_->acceptor, host, port);
  impl_->accept_next();
}

void WsServer::stop() {
  impl_->stopped = true;
  // Closed here, synchronously, so that a replacement can bind the same port at once. The
  // pending accept completes with operation_aborted and the accept loop ends.
  beast::error_code ec;
  impl_->acceptor.close(ec);
  std::vector<std::weak_ptr<WsConnection>> connections;
  {
    std::lock_guard lock(impl_->mu);
    connections.swap(impl_->connections);
  }
  for (auto& weak : connections)
    if (auto connection = weak.lock()) connection->abort();
}

uint16_t WsServer::port() const {
  beast::error_code ec;
  const auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

size_t WsServer::connection_count() const {
  std::lock_guard lock(impl_->mu);
  size_t n = 0;
  for (const auto& weak : impl_->connections) n += !weak.expired();
  return n;
}

}  // namespace iii
