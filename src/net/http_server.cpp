// Beast lives here and in the other net/ translation units only.
#include "net/http_server.h"

#include <atomic>
#include <mutex>

#include <array>
#include <optional>

#include "net/beast_pch.h"
#include "net/io_pool.h"
#include "net/loop_executor.h"

namespace iii {
namespace {

using namespace net;  // asio, beast, http, tcp (net/beast_pch.h)

constexpr auto kIdleTimeout = std::chrono::seconds(60);     // keep-alive connection waiting for a request
constexpr auto kBodyTimeout = std::chrono::seconds(120);    // reading one request body
constexpr auto kWriteTimeout = std::chrono::seconds(60);    // one write to a client that does not read
constexpr auto kLingerTimeout = std::chrono::seconds(2);    // draining a client after an early answer
constexpr size_t kHeaderLimit = 64 * 1024;

// A connection's handlers run one at a time on its loop, or on another loop of the pool that
// enters it with a dispatch while it is idle (net/loop_executor.h).
using Strand = asio::strand<net::LoopExecutor>;
using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

// One client connection: reads requests one after the other and has the service serve each.
//
// Why a plain socket and one lazily re-armed timer rather than beast::tcp_stream timeouts and a
// timer per request: with several I/O threads every timer cancel and every posted handler wakes
// another thread (a futex and a context switch on each side), and a request used to cost about
// seven of them (tcp_stream arms and cancels a timer around every read and write, plus the
// exchange's deadline). Here deadlines are plain time points; the one timer sleeps until the
// earliest of them, and since deadlines only move later it is re-armed about once per timeout.
class HttpConnection : public HttpTransport, public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(tcp::socket&& socket, Strand strand, std::shared_ptr<HttpService> service,
                 std::shared_ptr<const std::atomic<bool>> server_stopped)
      : socket_(std::move(socket)),
        strand_(std::move(strand)),
        watchdog_(strand_),
        service_(std::move(service)),
        server_stopped_(std::move(server_stopped)) {}

  // The server stopped (a hot reload replaced it): an idle connection closes now, a busy one
  // after its exchange, so that no later request is served by the retired service.
  void retire() {
    asio::post(strand_, [self = shared_from_this()] {
      if (!self->exchange_) self->close();
    });
  }

  void run() {
    beast::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);  // write() first tries a synchronous send that must not block
    read_request();
  }

  // --- HttpTransport ---

  void post(std::function<void()> fn) override { asio::post(strand_, std::move(fn)); }

  void dispatch(std::function<void()> fn) override {
    // From another loop of the pool, asio::dispatch enters the idle strand right there while this
    // connection's loop sleeps (net/loop_executor.h), and posts otherwise; from inside the strand
    // it would run inline, which the contract forbids.
    if (strand_.running_in_this_thread()) return asio::post(strand_, std::move(fn));
    asio::dispatch(strand_, std::move(fn));
  }

  void arm_deadline(std::chrono::milliseconds after, std::function<void()> on_expiry) override {
    exchange_deadline_ = Clock::now() + after;
    on_exchange_deadline_ = std::move(on_expiry);
    watch(exchange_deadline_);
  }

  void disarm_deadline() override {
    exchange_deadline_ = kNever;
    on_exchange_deadline_ = nullptr;
  }

  void write(std::string bytes, std::function<void(bool)> written) override {
    // Most responses fit the socket buffer: send them now and complete inline, without the
    // reactor round trip (and thread hand-off) of an async_write.
    size_t sent = 0;
    beast::error_code ec;
    while (sent < bytes.size()) {
      const size_t n = socket_.write_some(asio::buffer(bytes.data() + sent, bytes.size() - sent), ec);
      if (ec) break;
      sent += n;
    }
    if (sent == bytes.size()) return written(true);
    if (ec != asio::error::would_block && ec != asio::error::try_again) return written(false);
    out_ = std::move(bytes);
    set_io_deadline(kWriteTimeout);
    asio::async_write(socket_, asio::buffer(out_.data() + sent, out_.size() - sent),
                      asio::bind_executor(strand_, [self = shared_from_this(), written = std::move(written)](
                                                       beast::error_code ec, size_t) {
                        self->io_deadline_ = kNever;
                        self->out_.clear();
                        written(!ec);
                      }));
  }

  void finish(bool keep_alive) override {
    exchange_.reset();
    disarm_deadline();
    if (keep_alive && !*server_stopped_) return read_request();
    close();
  }

 private:
  // --- deadlines ---

  void set_io_deadline(Clock::duration after) {
    io_deadline_ = Clock::now() + after;
    watch(io_deadline_);
  }

  // Makes sure the timer fires no later than `when`.
  void watch(Clock::time_point when) {
    if (when == kNever || (watch_armed_ && watch_at_ <= when)) return;  // an earlier wake re-checks
    watch_armed_ = true;
    watch_at_ = when;
    const uint64_t generation = ++watch_generation_;
    watchdog_.expires_at(when);  // a wait armed for later completes as aborted and is ignored
    watchdog_.async_wait([weak = weak_from_this(), generation](beast::error_code ec) {
      auto self = weak.lock();
      if (!self || ec || generation != self->watch_generation_) return;
      self->on_watchdog();
    });
  }

  void on_watchdog() {
    watch_armed_ = false;
    const Clock::time_point now = Clock::now();
    if (io_deadline_ <= now) {
      io_deadline_ = kNever;
      return close();  // the pending read or write completes with an error and stops there
    }
    if (exchange_deadline_ <= now && on_exchange_deadline_) {
      exchange_deadline_ = kNever;
      auto fn = std::move(on_exchange_deadline_);
      on_exchange_deadline_ = nullptr;
      fn();
    }
    watch(std::min(io_deadline_, exchange_deadline_));
  }

  // --- reading ---

  void read_request() {
    if (!socket_.is_open()) return;
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(service_->body_limit());
    if (buffer_.capacity() > (1u << 20) && buffer_.size() == 0) buffer_ = beast::flat_buffer();
    set_io_deadline(kIdleTimeout);
    http::async_read_header(socket_, buffer_, *parser_,
                            asio::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, size_t) {
                              self->on_header(ec);
                            }));
  }

  void on_header(beast::error_code ec) {
    net::mark_loop_awake();  // other loops post to this one while it serves (net/loop_executor.h)
    if (ec) return on_read_error(ec);
    if (parser_->is_done()) return on_request();
    auto& request = parser_->get();
    auto expect = request[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      out_ = "HTTP/1.1 100 Continue\r\n\r\n";
      set_io_deadline(kWriteTimeout);
      return asio::async_write(socket_, asio::buffer(out_),
                               asio::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, size_t) {
                                 self->out_.clear();
                                 if (ec) return self->close();
                                 self->read_body();
                               }));
    }
    // The body usually arrived with the header: parse it from the buffer here, because
    // http::async_read on buffered data completes through a posted handler (a thread hand-off).
    if (!parse_buffered_body(ec)) return on_read_error(ec);
    if (parser_->is_done()) return on_request();
    read_body();
  }

  // Feeds what is buffered to the parser. False on a parse error (in `ec`).
  bool parse_buffered_body(beast::error_code& ec) {
    while (!parser_->is_done() && buffer_.size() > 0) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        return true;
      }
      if (ec) return false;
      if (used == 0) return true;
    }
    return true;
  }

  void read_body() {
    set_io_deadline(kBodyTimeout);
    http::async_read(socket_, buffer_, *parser_,
                     asio::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->on_read_error(ec);
                       self->on_request();
                     }));
  }

  void on_read_error(beast::error_code ec) {
    io_deadline_ = kNever;
    if (ec == http::error::body_limit) return reply_and_close(413);
    if (ec == http::error::header_limit) return reply_and_close(431);
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::bad_descriptor) {
      return close();
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) return reply_and_close(400);
    close();
  }

  void on_request() {
    io_deadline_ = kNever;
    auto& request = parser_->get();
    headers_.clear();
    for (const auto& field : request) headers_.push_back(HttpHeaderView{field.name_string(), field.value()});
    HttpRequestView view{request.method_string(), request.target(), &headers_, request.body()};
    HttpExchangeOptions options{request.keep_alive(), request.version() == 10};
    net::batch_rest_of_turn();  // requests on other connections ready now share the worker's write
    exchange_ = service_->start(shared_from_this(), view, options);
  }

  // A request the connection cannot carry on from: answer, then close without reading on.
  void reply_and_close(int status) {
    write(service_->refusal(status), [self = shared_from_this()](bool) { self->linger(); });
  }

  // After an early answer the client may still be sending: drain a little before closing, so that
  // it reads our answer instead of a connection reset.
  void linger() {
    if (!socket_.is_open()) return;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    set_io_deadline(kLingerTimeout);
    drain_ = std::make_shared<std::array<char, 16384>>();
    drain();
  }

  void drain() {
    socket_.async_read_some(asio::buffer(*drain_), asio::bind_executor(strand_, [self = shared_from_this()](
                                                                                    beast::error_code ec, size_t) {
                              if (ec || ++self->drained_reads_ > 1024) return self->close();
                              self->drain();
                            }));
  }

  void close() {
    if (exchange_) {
      auto exchange = std::move(exchange_);
      exchange->abort();
    }
    io_deadline_ = kNever;
    beast::error_code ec;
    watchdog_.cancel();
    if (!socket_.is_open()) return;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    socket_.close(ec);
  }

  tcp::socket socket_;
  Strand strand_;
  asio::steady_timer watchdog_;
  std::shared_ptr<HttpService> service_;
  const std::shared_ptr<const std::atomic<bool>> server_stopped_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::vector<HttpHeaderView> headers_;
  std::shared_ptr<HttpServerExchange> exchange_;
  std::string out_;  // the bytes of an asynchronous write in flight

  Clock::time_point io_deadline_ = kNever;        // the read or write in progress
  Clock::time_point exchange_deadline_ = kNever;  // the exchange's, until its response starts
  std::function<void()> on_exchange_deadline_;
  bool watch_armed_ = false;
  Clock::time_point watch_at_ = kNever;
  uint64_t watch_generation_ = 0;

  std::shared_ptr<std::array<char, 16384>> drain_;
  int drained_reads_ = 0;
};

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io, std::shared_ptr<HttpService> service)
      : io(io), service(std::move(service)), acceptor(asio::make_strand(io)) {}

  void accept_next() {
    asio::io_context& loop = net::connection_context(io);  // net/io_pool.h
    Strand strand(net::LoopExecutor(loop, net::idle_flag(loop)));
    acceptor.async_accept(strand, [self = shared_from_this(), strand](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open() || *self->stopped) return;
      if (!ec) {
        auto connection = std::make_shared<HttpConnection>(std::move(socket), strand, self->service, self->stopped);
        self->track(connection);
        connection->run();
      }
      self->accept_next();
    });
  }

  // Remembers `c` for stop(); the list holds the open connections (and a few closed ones).
  void track(const std::shared_ptr<HttpConnection>& c) {
    std::lock_guard lock(mu);
    if (connections.size() >= 2 * live_at_last_sweep + 64) {
      std::erase_if(connections, [](const std::weak_ptr<HttpConnection>& w) { return w.expired(); });
      live_at_last_sweep = connections.size();
    }
    connections.push_back(c);
  }

  void retire_connections() {
    stopped->store(true);
    std::vector<std::weak_ptr<HttpConnection>> all;
    {
      std::lock_guard lock(mu);
      all.swap(connections);
    }
    for (const auto& w : all)
      if (auto c = w.lock()) c->retire();
  }

  asio::io_context& io;
  std::shared_ptr<HttpService> service;
  tcp::acceptor acceptor;
  const std::shared_ptr<std::atomic<bool>> stopped = std::make_shared<std::atomic<bool>>(false);
  std::mutex mu;
  std::vector<std::weak_ptr<HttpConnection>> connections;
  size_t live_at_last_sweep = 0;
};

HttpServer::HttpServer(asio::io_context& io, std::shared_ptr<HttpService> service)
    : impl_(std::make_shared<Impl>(io, std::move(service))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::listen(const std::string& host, uint16_t port) {
  net::open_acceptor(impl_->acceptor, host, port);
  impl_->accept_next();
}

void HttpServer::stop() {
  // Closed here and now, not posted: a hot reload binds the same port right after this returns.
  // (A pending accept then completes with operation_aborted.)
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->retire_connections();
}

uint16_t HttpServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

}  // namespace iii
