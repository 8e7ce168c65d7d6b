// The seam between the HTTP server (net/http_server.cpp, sockets only) and what it serves (the
// iii-http built-in in workers/http): a parsed request as views, the transport one exchange writes
// through, and the service that starts an exchange per request. No Beast or Asio types cross it.
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace iii {

struct HttpHeaderView {
  std::string_view name;  // as received (any case)
  std::string_view value;
};

// The parts of a request an exchange reads. The views stay valid until the transport's finish().
struct HttpRequestView {
  std::string_view method;  // as received, e.g. "POST"
  std::string_view target;  // origin-form: path[?query]
  const std::vector<HttpHeaderView>* headers = nullptr;
  std::string_view body;
};

struct HttpExchangeOptions {
  bool keep_alive = true;  // what the request asked for
  bool http10 = false;
};

// What one exchange may do with its connection. Every method is called on the connection's serial
// executor, and every callback runs there.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Runs `fn` later on the connection's serial executor (never inline).
  virtual void post(std::function<void()> fn) = 0;
  // Runs `fn` on the executor, inline when the caller is outside it and may enter it now (an engine
  // completion arriving on another connection's thread), else like post(). Never inline when called
  // from the executor itself. Saves the cross-thread hand-off that a post costs on every request.
  virtual void dispatch(std::function<void()> fn) { post(std::move(fn)); }
  // One deadline at a time: `on_expiry` runs on the executor unless disarmed first.
  virtual void arm_deadline(std::chrono::milliseconds after, std::function<void()> on_expiry) = 0;
  virtual void disarm_deadline() = 0;
  // Writes `bytes`; `written(ok)` runs on the executor afterwards, possibly before write() returns
  // (a small response usually goes out in one non-blocking send). One write at a time.
  virtual void write(std::string bytes, std::function<void(bool ok)> written) = 0;
  // The exchange is over. keep_alive: read the next request; otherwise close the connection.
  virtual void finish(bool keep_alive) = 0;
};

// One request being served. The connection holds it until finish(), and aborts it when the
// connection goes away first.
class HttpServerExchange {
 public:
  virtual ~HttpServerExchange() = default;
  // Stop everything and release what is held. Idempotent.
  virtual void abort() = 0;
};

// What an HttpServer serves. Called from the I/O threads, concurrently.
class HttpService {
 public:
  virtual ~HttpService() = default;
  // Largest request body accepted now (it may change on a config reload).
  virtual size_t body_limit() const = 0;
  // Starts serving one parsed request (views valid until `transport->finish()`).
  virtual std::shared_ptr<HttpServerExchange> start(std::shared_ptr<HttpTransport> transport,
                                                    const HttpRequestView& request, HttpExchangeOptions options) = 0;
  // A whole response for a request the server refuses before any exchange starts: 400 (malformed),
  // 413 (body over body_limit()) or 431 (headers too large). The connection closes after it.
  virtual std::string refusal(int status) const = 0;
};

}  // namespace iii
