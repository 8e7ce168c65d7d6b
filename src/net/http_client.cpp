// Beast and Asio's TLS live here (net/ only), behind net/http_client.h.
#include "net/http_client.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <map>
#include <mutex>

#include "net/beast_pch.h"

namespace iii {
namespace {

using namespace net;  // asio, beast, http, tcp
namespace ssl = asio::ssl;
using Clock = std::chrono::steady_clock;
using Endpoints = std::vector<tcp::endpoint>;

std::string pool_key(bool https, const std::string& host, uint16_t port) {
  return (https ? "https://" : "http://") + host + ":" + std::to_string(port);
}

// "host" or "host:port" as the Host header wants it (IPv6 literals in brackets).
std::string host_header(const HttpClientRequest& r) {
  std::string host = r.host.find(':') != std::string::npos ? "[" + r.host + "]" : r.host;
  if (r.port != (r.https ? 443 : 80)) host += ":" + std::to_string(r.port);
  return host;
}

// Resolves a host within a deadline and checks every address.
class CheckedResolve : public std::enable_shared_from_this<CheckedResolve> {
 public:
  using Check = std::function<std::optional<std::string>(const std::string&)>;
  // Either the acceptable endpoints, or why not (refused: an address was refused).
  using Done = std::function<void(Endpoints, std::optional<std::string> error, bool refused)>;

  CheckedResolve(asio::io_context& io, std::string host, uint16_t port, Check check, Done done)
      : strand_(asio::make_strand(io)), resolver_(strand_), timer_(strand_), host_(std::move(host)), port_(port),
        check_(std::move(check)), done_(std::move(done)) {}

  void run(Clock::time_point deadline) {
    // An IP literal needs no lookup (asio's resolver would hand it to its one background thread).
    beast::error_code not_ip;
    const asio::ip::address literal = asio::ip::make_address(host_, not_ip);
    if (!not_ip) {
      if (check_) {
        if (auto reason = check_(literal.to_string())) return finish({}, host_ + ": " + *reason, true);
      }
      return finish({tcp::endpoint(literal, port_)}, std::nullopt, false);
    }
    timer_.expires_at(deadline);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      self->finish({}, "resolving " + self->host_ + " took longer than the deadline", false);
      self->resolver_.cancel();
    });
    resolver_.async_resolve(host_, std::to_string(port_),
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              self->on_resolved(ec, std::move(results));
                            });
  }

 private:
  void on_resolved(beast::error_code ec, tcp::resolver::results_type results) {
    if (finished_) return;
    timer_.cancel();
    if (ec) return finish({}, "cannot resolve " + host_ + ": " + ec.message(), false);
    Endpoints endpoints;
    for (const auto& r : results) {
      const std::string ip = r.endpoint().address().to_string();
      if (check_) {
        if (auto reason = check_(ip)) return finish({}, host_ + " resolves to " + ip + ": " + *reason, true);
      }
      endpoints.push_back(r.endpoint());
    }
    if (endpoints.empty()) return finish({}, "cannot resolve " + host_ + ": no address", false);
    finish(std::move(endpoints), std::nullopt, false);
  }

  void finish(Endpoints endpoints, std::optional<std::string> error, bool refused) {
    if (finished_) return;
    finished_ = true;
    done_(std::move(endpoints), std::move(error), refused);
  }

  asio::strand<asio::io_context::executor_type> strand_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  const std::string host_;
  const uint16_t port_;
  const Check check_;
  const Done done_;
  bool finished_ = false;  // on strand_
};

}  // namespace

// One kept-alive connection (plain or TLS), counted against its host's bound while it exists.
struct PooledConnection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<ssl::stream<beast::tcp_stream>> tls;
  tcp::endpoint peer;
  Clock::time_point idle_since;
  std::weak_ptr<HttpClient::Impl> owner;
  std::string key;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  ~PooledConnection();
};

struct HttpClient::Impl : std::enable_shared_from_this<HttpClient::Impl> {
  Impl(asio::io_context& io, HttpClientOptions options) : io(io), options(options), tls_context(ssl::context::tls_client) {
    tls_context.set_default_verify_paths();
    tls_context.set_verify_mode(ssl::verify_peer);
    tls_context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                            ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  }

  // An idle connection to `key` whose peer is one of `allowed`, or null. Drops expired ones.
  std::unique_ptr<PooledConnection> take_idle(const std::string& key, const Endpoints& allowed) {
    std::vector<std::unique_ptr<PooledConnection>> expired;  // destroyed outside the lock
    std::unique_ptr<PooledConnection> found;
    {
      std::lock_guard lock(mu);
      auto it = idle.find(key);
      if (it == idle.end()) return nullptr;
      auto& list = it->second;
      const auto now = Clock::now();
      for (size_t i = list.size(); i-- > 0;) {
        if (now - list[i]->idle_since > options.idle_timeout) {
          expired.push_back(std::move(list[i]));
          list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        } else if (!found && std::find(allowed.begin(), allowed.end(), list[i]->peer) != allowed.end()) {
          found = std::move(list[i]);
          list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
    }
    return found;
  }

  void give_back(std::unique_ptr<PooledConnection> c) {
    c->idle_since = Clock::now();
    {
      std::lock_guard lock(mu);
      auto& list = idle[c->key];
      if (list.size() < options.max_idle_per_host) return list.push_back(std::move(c));
    }
    c.reset();  // pool full: closed here, outside the lock (its destructor takes it to uncount itself)
  }

  // Counts a new connection to `key`; false when the host's bound is reached.
  bool reserve(const std::string& key) {
    std::lock_guard lock(mu);
    size_t& n = open[key];
    if (n >= options.max_open_per_host) return false;
    ++n;
    return true;
  }

  void release(const std::string& key) {
    std::lock_guard lock(mu);
    if (auto it = open.find(key); it != open.end() && it->second > 0 && --it->second == 0) open.erase(it);
  }

  asio::io_context& io;
  const HttpClientOptions options;
  ssl::context tls_context;
  std::mutex mu;
  std::map<std::string, std::vector<std::unique_ptr<PooledConnection>>> idle;
  std::map<std::string, size_t> open;
};

PooledConnection::~PooledConnection() {
  if (auto o = owner.lock()) o->release(key);
}

namespace {

// One request: resolve and check, take or open a connection, write, read, give the connection
// back when the server keeps it alive. A reused connection that the server had closed is
// retried once on a fresh one (nothing of the response was read).
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<HttpClient::Impl> client, HttpClientRequest request, std::function<void(HttpClientResult)> done)
      : client_(std::move(client)), request_(std::move(request)), done_(std::move(done)),
        key_(pool_key(request_.https, request_.host, request_.port)), deadline_(Clock::now() + request_.timeout) {}

  void run() {
    auto resolve = std::make_shared<CheckedResolve>(
        client_->io, request_.host, request_.port, request_.check_address,
        [self = shared_from_this()](Endpoints endpoints, std::optional<std::string> error, bool refused) {
          if (error) return self->fail(refused ? HttpClientError::Kind::kRefused : HttpClientError::Kind::kRequest, *error);
          self->allowed_ = std::move(endpoints);
          self->start_on_connection();
        });
    resolve->run(deadline_);
  }

 private:
  void start_on_connection() {
    conn_ = client_->take_idle(key_, allowed_);
    reused_ = conn_ != nullptr;
    if (reused_) return write();
    connect();
  }

  // A new connection to one of the checked addresses (counted against the host's bound).
  void connect() {
    if (!client_->reserve(key_))
      return fail(HttpClientError::Kind::kRequest, "too many open connections to " + key_ + " (max " +
                                                       std::to_string(client_->options.max_open_per_host) + ")");
    conn_ = std::make_unique<PooledConnection>();
    conn_->owner = client_;
    conn_->key = key_;
    conn_->plain = std::make_unique<beast::tcp_stream>(asio::make_strand(client_->io));
    conn_->plain->expires_at(deadline_);
    conn_->plain->async_connect(allowed_, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint& peer) {
      if (ec) return self->fail(HttpClientError::Kind::kRequest, "cannot connect to " + self->key_ + ": " + ec.message());
      self->conn_->peer = peer;
      self->request_.https ? self->handshake() : self->write();
    });
  }

  void handshake() {
    conn_->tls = std::make_unique<ssl::stream<beast::tcp_stream>>(std::move(*conn_->plain), client_->tls_context);
    conn_->plain.reset();
    beast::error_code not_ip;
    asio::ip::make_address(request_.host, not_ip);
    if (not_ip && !SSL_set_tlsext_host_name(conn_->tls->native_handle(), request_.host.c_str()))
      return fail(HttpClientError::Kind::kRequest, "cannot set the TLS server name " + request_.host);
    conn_->tls->set_verify_callback(ssl::host_name_verification(request_.host));
    conn_->lowest().expires_at(deadline_);
    conn_->tls->async_handshake(ssl::stream_base::client, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail(HttpClientError::Kind::kRequest, "TLS handshake with " + self->key_ + " failed: " + ec.message());
      self->write();
    });
  }

  void write() {
    req_ = {};
    req_.method_string(request_.method);
    req_.target(request_.target);
    req_.version(11);
    req_.set(http::field::host, host_header(request_));
    for (const auto& [name, value] : request_.headers) req_.set(name, value);
    req_.body() = request_.body;
    req_.keep_alive(true);
    req_.prepare_payload();
    parser_.emplace();
    parser_->header_limit(64 * 1024);
    parser_->body_limit(client_->options.max_response_bytes);
    buffer_.clear();
    conn_->lowest().expires_at(deadline_);
    auto on_write = [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->retry_or_fail(HttpClientError::Kind::kRequest, "cannot send the request: " + ec.message());
      self->read();
    };
    if (conn_->tls) http::async_write(*conn_->tls, req_, std::move(on_write));
    else http::async_write(*conn_->plain, req_, std::move(on_write));
  }

  void read() {
    auto on_read = [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); };
    if (conn_->tls) http::async_read(*conn_->tls, buffer_, *parser_, std::move(on_read));
    else http::async_read(*conn_->plain, buffer_, *parser_, std::move(on_read));
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return fail(HttpClientError::Kind::kResponse, "the response body is larger than " +
                                                        std::to_string(client_->options.max_response_bytes) + " bytes");
    if (ec && ec == beast::error::timeout)
      return fail(parser_->is_header_done() ? HttpClientError::Kind::kResponse : HttpClientError::Kind::kRequest,
                  "no complete response within " + std::to_string(request_.timeout.count()) + " ms");
    if (ec && !parser_->got_some()) return retry_or_fail(HttpClientError::Kind::kRequest, "no response: " + ec.message());
    if (ec) return fail(HttpClientError::Kind::kResponse, "cannot read the response: " + ec.message());
    auto response = parser_->release();
    HttpClientResponse out;
    out.status = static_cast<int>(response.result_int());
    for (const auto& field : response) out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    out.body = std::move(response.body());
    if (response.keep_alive() && buffer_.size() == 0) {
      conn_->lowest().expires_never();
      client_->give_back(std::move(conn_));
    }
    finish(std::move(out));
  }

  // A kept-alive connection may have been closed by the server while idle: one fresh attempt.
  void retry_or_fail(HttpClientError::Kind kind, std::string message) {
    if (reused_ && Clock::now() < deadline_) {
      conn_.reset();
      reused_ = false;
      return connect();
    }
    fail(kind, std::move(message));
  }

  void fail(HttpClientError::Kind kind, std::string message) {
    conn_.reset();  // never reused after an error
    finish(HttpClientError{kind, std::move(message)});
  }

  void finish(HttpClientResult result) {
    if (finished_.exchange(true)) return;
    done_(std::move(result));
  }

  const std::shared_ptr<HttpClient::Impl> client_;
  HttpClientRequest request_;
  const std::function<void(HttpClientResult)> done_;
  const std::string key_;
  const Clock::time_point deadline_;
  Endpoints allowed_;
  std::unique_ptr<PooledConnection> conn_;
  bool reused_ = false;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::string_body>> parser_;
  beast::flat_buffer buffer_;
  std::atomic<bool> finished_{false};
};

}  // namespace

HttpClient::HttpClient(asio::io_context& io, HttpClientOptions options)
    : impl_(std::make_shared<Impl>(io, options)) {}

HttpClient::~HttpClient() { close_idle(); }

void HttpClient::request(HttpClientRequest request, std::function<void(HttpClientResult)> done) {
  std::make_shared<Exchange>(impl_, std::move(request), std::move(done))->run();
}

void HttpClient::check_host(const std::string& host, uint16_t port,
                            std::function<std::optional<std::string>(const std::string& ip)> check_address,
                            std::function<void(std::optional<std::string>)> done) {
  auto resolve = std::make_shared<CheckedResolve>(
      impl_->io, host, port, std::move(check_address),
      [done = std::move(done)](Endpoints, std::optional<std::string> error, bool) { done(std::move(error)); });
  resolve->run(Clock::now() + std::chrono::seconds(10));
}

void HttpClient::close_idle() {
  std::map<std::string, std::vector<std::unique_ptr<PooledConnection>>> idle;
  {
    std::lock_guard lock(impl_->mu);
    idle.swap(impl_->idle);
  }
  // Each connection closes on its own executor (sockets are not thread-safe).
  for (auto& [key, list] : idle)
    for (auto& c : list) {
      auto executor = c->lowest().get_executor();
      asio::post(executor, [c = std::shared_ptr<PooledConnection>(std::move(c))] {
        beast::error_code ignored;
        c->lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
      });
    }
}

}  // namespace iii
