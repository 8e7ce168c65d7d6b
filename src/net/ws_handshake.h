// The server side of the WebSocket opening handshake (RFC 6455 §4.2), shared by the worker
// listener and the WebSocket server: reading the upgrade request with its limits, the checks
// Beast's websocket::stream would make, and the plain HTTP answer to a refused one. net/ only.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "net/beast_pch.h"

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

}  // namespace iii::net
