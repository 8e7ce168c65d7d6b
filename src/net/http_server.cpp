// Beast lives here and in the other net/ translation units only.
#include "net/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/json/value.hpp>

#include <array>
#include <optional>

#include "net/beast_pch.h"
#include "workers/http/http_exchange.h"
#include "workers/http/http_worker.h"

namespace iii {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(60);     // keep-alive connection waiting for a request
constexpr auto kBodyTimeout = std::chrono::seconds(120);    // reading one request body
constexpr auto kWriteTimeout = std::chrono::seconds(60);    // one write to a client that does not read
constexpr size_t kHeaderLimit = 64 * 1024;

// One client connection: reads requests one after the other and runs each as an HttpExchange.
class HttpConnection : public HttpTransport, public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(tcp::socket&& socket, std::shared_ptr<HttpTriggerWorker> worker)
      : stream_(std::move(socket)), timer_(stream_.get_executor()), worker_(std::move(worker)) {}

  void run() {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    read_request();
  }

  // --- HttpTransport ---

  void post(std::function<void()> fn) override { asio::post(stream_.get_executor(), std::move(fn)); }

  void arm_deadline(std::chrono::milliseconds after, std::function<void()> on_expiry) override {
    const uint64_t generation = ++deadline_generation_;
    deadline_ = std::move(on_expiry);
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->deadline_generation_ || !self->deadline_) return;
      auto fn = std::move(self->deadline_);
      self->deadline_ = nullptr;
      fn();
    });
  }

  void disarm_deadline() override {
    ++deadline_generation_;
    deadline_ = nullptr;
    timer_.cancel();
  }

  void write(std::string bytes, std::function<void(bool)> written) override {
    out_ = std::move(bytes);
    stream_.expires_after(kWriteTimeout);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared_from_this(), written = std::move(written)](beast::error_code ec, size_t) {
                        self->out_.clear();
                        written(!ec);
                      });
  }

  void finish(bool keep_alive) override {
    exchange_.reset();
    disarm_deadline();
    if (keep_alive) return read_request();
    close();
  }

 private:
  void read_request() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(worker_->settings()->config.body_limit_bytes);
    if (buffer_.capacity() > (1u << 20) && buffer_.size() == 0) buffer_ = beast::flat_buffer();
    stream_.expires_after(kIdleTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    if (parser_->is_done()) return on_request();
    auto& request = parser_->get();
    auto expect = request[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      out_ = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(kWriteTimeout);
      return asio::async_write(stream_, asio::buffer(out_), [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec) return self->close();
        self->read_body();
      });
    }
    read_body();
  }

  void read_body() {
    stream_.expires_after(kBodyTimeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->on_read_error(ec);
      self->on_request();
    });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::body_limit) return reply_and_close(413);
    if (ec == http::error::header_limit) return reply_and_close(431);
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      return close();
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) return reply_and_close(400);
    close();
  }

  void on_request() {
    stream_.expires_never();
    auto& request = parser_->get();
    headers_.clear();
    for (const auto& field : request) headers_.push_back(HttpHeaderView{field.name_string(), field.value()});
    HttpRequestView view{request.method_string(), request.target(), &headers_, request.body()};
    HttpExchangeOptions options{request.keep_alive(), request.version() == 10};
    exchange_ = std::make_shared<HttpExchange>(*worker_, shared_from_this(), view, options);
    exchange_->start();
  }

  // A request the connection cannot carry on from: answer, then close without reading on.
  void reply_and_close(int status) {
    HttpResponse response = status == 413 ? payload_too_large_response()
                          : error_response(status, status == 431 ? "HEADERS_TOO_LARGE" : "BAD_REQUEST",
                                           status == 431 ? "Request headers too large" : "Malformed request", false);
    ResponseFraming framing;
    framing.keep_alive = false;
    write(serialize_response(response, framing), [self = shared_from_this()](bool) { self->linger(); });
  }

  // After an early answer the client may still be sending: drain a little before closing, so that
  // it reads our answer instead of a connection reset.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    drain_ = std::make_shared<std::array<char, 16384>>();
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(*drain_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || ++self->drained_reads_ > 1024) return self->close();
      self->drain();
    });
  }

  void close() {
    if (exchange_) {
      auto exchange = std::move(exchange_);
      exchange->abort();
    }
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  std::shared_ptr<HttpTriggerWorker> worker_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::vector<HttpHeaderView> headers_;
  std::shared_ptr<HttpExchange> exchange_;
  std::string out_;
  std::function<void()> deadline_;
  uint64_t deadline_generation_ = 0;
  std::shared_ptr<std::array<char, 16384>> drain_;
  int drained_reads_ = 0;
};

class HttpBuiltin : public BuiltinWorker {
 public:
  HttpBuiltin(asio::io_context& io, Engine& engine, ChannelHub& hub, HttpConfig config)
      : worker_(std::make_shared<HttpTriggerWorker>(engine, hub, std::move(config))), server_(io, worker_) {}

  std::shared_ptr<InProcessWorker> endpoint() override { return worker_->endpoint(); }
  void start() override { server_.start(); }
  void stop() override { server_.stop(); }

 private:
  std::shared_ptr<HttpTriggerWorker> worker_;
  HttpServer server_;
};

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io, std::shared_ptr<HttpTriggerWorker> worker)
      : io(io), worker(std::move(worker)), acceptor(asio::make_strand(io)) {}

  void accept_next() {
    acceptor.async_accept(asio::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (!ec) std::make_shared<HttpConnection>(std::move(socket), self->worker)->run();
      self->accept_next();
    });
  }

  asio::io_context& io;
  std::shared_ptr<HttpTriggerWorker> worker;
  tcp::acceptor acceptor;
};

HttpServer::HttpServer(asio::io_context& io, std::shared_ptr<HttpTriggerWorker> worker)
    : impl_(std::make_shared<Impl>(io, std::move(worker))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  const HttpConfig& config = impl_->worker->settings()->config;
  beast::error_code ec;
  asio::ip::address address = asio::ip::make_address(config.host, ec);
  if (ec) {  // a host name such as "localhost"
    tcp::resolver resolver(impl_->io);
    address = resolver.resolve(config.host, std::to_string(config.port)).begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, config.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  spdlog::info("iii-http listening on http://{}:{}", config.host, acceptor.local_endpoint().port());
  impl_->accept_next();
}

void HttpServer::stop() {
  // Closed here and now, not posted: a hot reload binds the same port right after this returns.
  // (A pending accept then completes with operation_aborted.)
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
}

uint16_t HttpServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

BuiltinDescriptor http_builtin(asio::io_context& io, ChannelHub& hub) {
  return BuiltinDescriptor{
      kHttpWorkerName,
      {"http"},
      [&io, &hub](BuiltinContext& context, const boost::json::value& config) -> std::unique_ptr<BuiltinWorker> {
        return std::make_unique<HttpBuiltin>(io, context.engine, hub, parse_http_config(config));
      }};
}

}  // namespace iii
