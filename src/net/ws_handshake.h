// The server side of the WebSocket opening handshake (RFC 6455 §4.2), shared by the worker
// listener and the WebSocket server: reading the upgrade request with its limits, the checks
// Beast's websocket::stream would make, and the plain HTTP answer to a refused one. net/ only.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "net/beast_pch.h"
#include "net/ws_service.h"

namespace iii::net {

using UpgradeRequest = http::request<http::string_body>;

// Header and body limits for an upgrade request (it carries no body worth reading).
inline void limit_upgrade_request(http::request_parser<http::string_body>& parser) {
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
}

// Why `request` (already known to ask for an upgrade) cannot be accepted, or nullopt.
inline std::optional<std::pair<http::status, std::string>> upgrade_refusal(const UpgradeRequest& request) {
  const auto key = request[http::field::sec_websocket_key];
  if (request.method() != http::verb::get || key.empty() || key.size() > 64)
    return std::pair{http::status::bad_request, std::string("Bad WebSocket upgrade request\n")};
  if (request[http::field::sec_websocket_version] != "13")
    return std::pair{http::status::upgrade_required, std::string("Unsupported WebSocket version (13 is)\n")};
  return std::nullopt;
}

// The request as a service or an auth function sees it: path, query, lower-cased headers and the
// peer's address ("ip:port", "[ip]:port" for IPv6).
inline WsUpgradeRequest describe_upgrade(const UpgradeRequest& request, const tcp::socket& socket) {
  WsUpgradeRequest out;
  const std::string_view target = request.target();
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  out.path = path.empty() ? "/" : std::string(path);
  if (q != std::string_view::npos) out.query = std::string(target.substr(q + 1));
  for (const auto& field : request) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  beast::error_code ignored;
  const tcp::endpoint remote = socket.remote_endpoint(ignored);
  const std::string ip = remote.address().to_string();
  out.remote_address = remote.address().is_v6() ? "[" + ip + "]:" + std::to_string(remote.port())
                                                 : ip + ":" + std::to_string(remote.port());
  return out;
}

// Writes a plain-text response and closes the sending side once it is written. `stream` must
// outlive the write: `keep` (the session owning it) is held until then.
template <class Keep>
void respond_and_close(beast::tcp_stream& stream, const UpgradeRequest& request, http::status status,
                       std::string body, std::shared_ptr<Keep> keep) {
  auto response = std::make_shared<http::response<http::string_body>>(status, request.version());
  response->set(http::field::content_type, "text/plain");
  if (status == http::status::upgrade_required && websocket::is_upgrade(request))
    response->set(http::field::sec_websocket_version, "13");
  response->keep_alive(false);
  response->body() = std::move(body);
  response->prepare_payload();
  http::async_write(stream, *response, [&stream, keep = std::move(keep), response](beast::error_code, size_t) {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  });
}

// The first step of a session that accepts upgrades: reads one request (limits above, a deadline)
// and hands it to Derived::on_request(UpgradeRequest), which answers with respond() or takes the
// socket (stream_.release_socket(), plus early_bytes(): what the client sent after the request).
template <class Derived>
class UpgradeReader : public std::enable_shared_from_this<Derived> {
 protected:
  explicit UpgradeReader(tcp::socket&& socket) : stream_(std::move(socket)) {}

  void read_request(std::chrono::milliseconds timeout) {
    limit_upgrade_request(parser_);
    stream_.expires_after(timeout);
    http::async_read(stream_, buffer_, parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;  // timeout or garbage before the upgrade: just close
      self->stream_.expires_never();
      self->on_request(self->parser_.release());
    });
  }

  void respond(const UpgradeRequest& request, http::status status, std::string body) {
    respond_and_close(stream_, request, status, std::move(body), this->shared_from_this());
  }

  std::string_view early_bytes() const {
    const auto data = buffer_.cdata();
    return std::string_view(static_cast<const char*>(data.data()), data.size());
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> parser_;
};

}  // namespace iii::net
