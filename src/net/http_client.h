// An outbound HTTP/1.1 client for functions whose implementation is an HTTP endpoint
// (workers/http_functions, docs/builtins.md "iii-http-functions"). Sockets only: what to call,
// with which headers, and which addresses are acceptable is decided by the caller.
//
// Built for calling untrusted URLs safely:
//  * the host is resolved on every request and every address it resolves to is passed to
//    `check_address` before anything connects; the connection then goes to one of exactly those
//    addresses (no second lookup, so no DNS-rebinding window between check and connect);
//  * redirects are never followed (a 3xx is the answer);
//  * HTTPS verifies the certificate chain against the system's store and the host name;
//  * one deadline covers resolve, connect, TLS, write and read; the response body is bounded;
//  * connections to one host:port are kept alive and reused (at most `max_idle_per_host` idle,
//    closed after `idle_timeout`), only towards an address the fresh lookup still allows.
// No Beast or Asio types cross this header.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "wire/asio_fwd.h"

namespace iii {

struct HttpClientOptions {
  size_t max_idle_per_host = 32;
  size_t max_open_per_host = 256;  // beyond it a request fails at once (a bound, not a queue)
  std::chrono::milliseconds idle_timeout{30000};
  size_t max_response_bytes = 16u << 20;
};

struct HttpClientRequest {
  std::string method = "POST";
  bool https = true;
  std::string host;  // a name or an IP literal (IPv6 without brackets)
  uint16_t port = 443;
  std::string target = "/";  // path[?query]
  std::vector<std::pair<std::string, std::string>> headers;  // Host is added
  std::string body;
  std::chrono::milliseconds timeout{30000};
  // Called with every address the host resolves to ("127.0.0.1", "::1"); a reason refuses the
  // request before any connection. Empty: every address is acceptable.
  std::function<std::optional<std::string>(const std::string& ip)> check_address;
};

struct HttpClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpClientError {
  enum class Kind {
    kRefused,   // check_address refused an address (or the name did not resolve)
    kRequest,   // connect, TLS, write, or no response before the deadline
    kResponse,  // the response started but could not be read (bad framing, too large, cut)
  };
  Kind kind;
  std::string message;
};

using HttpClientResult = std::variant<HttpClientResponse, HttpClientError>;

class HttpClient {
 public:
  HttpClient(boost::asio::io_context& io, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Runs one request; `done` is called exactly once, on an I/O thread.
  void request(HttpClientRequest request, std::function<void(HttpClientResult)> done);

  // Resolves `host` and checks every address, as a request would (for checks at registration).
  // `done(nullopt)` when every address is acceptable, else the reason.
  void check_host(const std::string& host, uint16_t port,
                  std::function<std::optional<std::string>(const std::string& ip)> check_address,
                  std::function<void(std::optional<std::string>)> done);

  // Closes the idle connections; requests in flight finish.
  void close_idle();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace iii
