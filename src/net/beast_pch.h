// Precompiled header for the net/ translation units: Beast is heavy, parse it once. Also the
// short names every net/ source uses, and the one way a listening socket is opened.
#pragma once
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdint>
#include <string>

namespace iii::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// Opens `acceptor` on host:port (a host name such as "localhost" is resolved) with SO_REUSEADDR
// and the system's largest backlog. Throws boost::system::system_error when it cannot bind.
inline void open_acceptor(tcp::acceptor& acceptor, const std::string& host, uint16_t port) {
  beast::error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    tcp::resolver resolver(acceptor.get_executor());
    address = resolver.resolve(host, std::to_string(port)).begin()->endpoint().address();
  }
  const tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
}

}  // namespace iii::net
