#include "store/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <span>

#include "wire/flush_batch.h"

namespace iii {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kFirstBackoff = std::chrono::milliseconds(50);

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

// How many RedisClient::WaitingCaller scopes are open on this thread.
thread_local int waiting_callers = 0;

void call(const RedisCallback& done, std::exception_ptr error, RedisReply reply) {
  if (!done) return;  // a command of a group whose answer goes to the last one's callback
  try {
    done(std::move(error), std::move(reply));
  } catch (...) {  // a callback's failure is its own; the client goes on
  }
}

}  // namespace

struct RedisClient::Impl : BatchedSender, std::enable_shared_from_this<Impl> {
  enum class State { kConnecting, kUp, kDown, kClosed };
  struct Pending {
    RedisCallback done;
    Clock::time_point deadline;
  };

  // On `loop` when given (a lane: that loop's thread reads it), else on an io_context of its own
  // that the client's thread runs.
  Impl(RedisEndpoint e, RedisClientOptions o, asio::io_context* loop)
      : endpoint(std::move(e)), address(endpoint.address()), options(std::move(o)),
        own(loop ? nullptr : std::make_unique<asio::io_context>(1)), io(loop ? *loop : *own),
        sweep_every(std::clamp<std::chrono::milliseconds>(options.timeout / 4, std::chrono::milliseconds(10),
                                                          std::chrono::milliseconds(100))) {}
  ~Impl() {
    if (reader) redisReaderFree(reader);
  }

  const RedisEndpoint endpoint;
  const std::string address;
  const RedisClientOptions options;
  const std::unique_ptr<asio::io_context> own;
  asio::io_context& io;
  const std::chrono::milliseconds sweep_every;

  // Used on io's thread only.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work =
      own ? std::make_optional(asio::make_work_guard(*own)) : std::nullopt;
  tcp::socket socket{io};
  asio::steady_timer sweep{io}, retry{io};
  std::set<std::shared_ptr<asio::steady_timer>> deferred;
  redisReader* reader = nullptr;
  std::vector<char> buffer = std::vector<char>(64 * 1024);
  std::chrono::milliseconds backoff{0};

  // Shared with the callers' threads, under mu. The socket's descriptor is written to by callers
  // (under mu) and closed by the client's thread (under mu), so a write never reaches a descriptor
  // number that was closed and reused.
  std::mutex mu;
  State state = State::kConnecting;
  int fd = -1;
  uint64_t generation = 0;  // a new one for each connection: handlers of an older one do nothing
  std::string out;          // commands not written yet, from out_sent on
  size_t out_sent = 0;
  bool write_parked = false;  // out waits for the socket to be writable (or for a reset)
  // The FlushBatch (of some thread) this joined: out leaves when it ends (flush_batch).
  const FlushBatch* joined_batch = nullptr;
  std::deque<Pending> pending;  // in send order, which is reply order
  std::string last_error = "not connected yet";
  Clock::time_point connect_deadline{};
  bool connect_timed_out = false;  // the last attempt ended at its deadline

  RedisError error(const std::string& what) const { return RedisError("redis " + address + ": " + what); }

  // --- callers' side ---

  void command(const std::vector<std::string_view>& args, RedisCallback done) {
    const std::span<const std::string_view> one(args);
    send({&one, 1}, std::move(done));
  }

  // Commands written one after another with nothing between them; `done` gets the last one's
  // reply (or the error that ends them all), the others' replies are dropped.
  void send(std::span<const std::span<const std::string_view>> group, RedisCallback done) {
    std::unique_lock lock(mu);
    const auto now = Clock::now();
    if (state == State::kClosed) return refuse(lock, done, "the client is closed");
    if (state == State::kDown) {
      // A server that refused or closed answers the next attempt in no time, so try again now:
      // the first command after it is back succeeds. One that did not answer in time would hold
      // every command for a deadline: fail at once, and leave the retries to the backoff.
      if (connect_timed_out) return refuse(lock, done, last_error);
      begin_connect_locked(now);
    }
    if (pending.size() + group.size() > options.max_pending || out.size() - out_sent >= options.max_buffered_bytes)
      return refuse(lock, done,
                    "the pipeline is full (" + std::to_string(pending.size()) + " commands waiting for a reply)");
    for (size_t i = 0; i < group.size(); ++i) {
      append_resp_command(out, group[i]);
      pending.push_back(Pending{i + 1 == group.size() ? std::move(done) : RedisCallback{}, now + options.timeout});
    }
    if (state != State::kUp || write_parked) return;
    // A caller about to wait for its reply never holds its command back: its batch would only
    // end after the wait.
    FlushBatch* batch = waiting_callers ? nullptr : FlushBatch::current();
    if (batch && batch == joined_batch) return;  // leaves with the others when the batch ends
    if (batch && !joined_batch) {
      // This thread is handling a read's worth of frames (wire/flush_batch.h): the commands they
      // issue leave together when it is done, in one write instead of one each.
      joined_batch = batch;
      batch->join(shared_from_this());
      return;
    }
    // No batch here (or a waiting caller), or the one joined is another thread's: write now
    // (what that batch holds too). Never held for another thread's batch, which may be waiting
    // for this very reply.
    flush_locked();
  }

  void flush_batch() override {
    std::lock_guard lock(mu);
    joined_batch = nullptr;
    if (state == State::kUp && !write_parked) flush_locked();
  }

  void refuse(std::unique_lock<std::mutex>& lock, const RedisCallback& done, const std::string& why) {
    lock.unlock();
    call(done, std::make_exception_ptr(error(why)), {});
  }

  // Writes what it can of `out` without waiting; the rest waits for the socket on the client's
  // thread. A write error is left to the client's thread too (it fails what is in flight).
  void flush_locked() {
    while (out_sent < out.size()) {
      const ssize_t n = ::send(fd, out.data() + out_sent, out.size() - out_sent, MSG_NOSIGNAL);
      if (n > 0) {
        out_sent += static_cast<size_t>(n);
        continue;
      }
      const int err = n < 0 ? errno : EPIPE;  // send() never returns 0 for a non-empty buffer
      if (err == EINTR) continue;
      write_parked = true;
      const uint64_t gen = generation;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        asio::post(io, [self = shared_from_this(), gen] { self->await_writable(gen); });
      } else {
        asio::post(io, [self = shared_from_this(), gen, why = std::string("write: ") + std::strerror(err)] {
          if (gen == self->generation) self->reset(why);
        });
      }
      return;
    }
    out.clear();
    out_sent = 0;
  }

  // Under mu: a connection attempt, run by the client's thread.
  void begin_connect_locked(Clock::time_point now) {
    state = State::kConnecting;
    connect_deadline = now + options.timeout;
    asio::post(io, [self = shared_from_this()] { self->connect(); });
  }

  // --- the client's thread ---

  void start() {
    {
      std::lock_guard lock(mu);
      begin_connect_locked(Clock::now());
    }
    arm_sweep();
  }

  void connect() {
    retry.cancel();
    uint64_t gen;
    {
      std::lock_guard lock(mu);
      if (state != State::kConnecting) return;
      gen = ++generation;
    }
    boost::system::error_code ec;
    tcp::resolver resolver(io);
    const auto found = resolver.resolve(endpoint.host, std::to_string(endpoint.port), ec);
    if (ec) return reset("cannot resolve the host: " + ec.message());
    asio::async_connect(socket, found, [self = shared_from_this(), gen](const boost::system::error_code& ec, const tcp::endpoint&) {
      if (gen != self->generation) return;
      if (ec) return self->reset("cannot connect: " + ec.message());
      self->connected(gen);
    });
  }

  void connected(uint64_t gen) {
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    socket.non_blocking(true, ignored);
    if (reader) redisReaderFree(reader);
    reader = redisReaderCreate();
    // AUTH and SELECT go first, ahead of the commands that waited for the connection.
    std::string hello;
    std::deque<Pending> greeting;
    auto greet = [&](const std::vector<std::string_view>& args) {
      append_resp_command(hello, args);
      greeting.push_back(Pending{[self = shared_from_this(), gen, what = std::string(args[0])](std::exception_ptr e, RedisReply r) {
                                   if (!e && r.is_error() && gen == self->generation) self->reset(what + ": " + r.str);
                                 },
                                 connect_deadline});  // before any command that waited
    };
    if (!endpoint.password.empty()) {
      if (endpoint.user.empty()) greet({"AUTH", endpoint.password});
      else greet({"AUTH", endpoint.user, endpoint.password});
    }
    const std::string db = std::to_string(endpoint.db);
    if (endpoint.db) greet({"SELECT", db});
    {
      std::lock_guard lock(mu);
      if (state != State::kConnecting || gen != generation) return;
      state = State::kUp;
      fd = socket.native_handle();
      out.erase(0, out_sent);
      out.insert(0, hello);
      out_sent = 0;
      pending.insert(pending.begin(), std::make_move_iterator(greeting.begin()), std::make_move_iterator(greeting.end()));
      write_parked = false;
      flush_locked();
    }
    backoff = std::chrono::milliseconds(0);
    read(gen);
  }

  void await_writable(uint64_t gen) {
    if (gen != generation) return;
    socket.async_wait(tcp::socket::wait_write, [self = shared_from_this(), gen](const boost::system::error_code& ec) {
      if (ec || gen != self->generation) return;
      std::lock_guard lock(self->mu);
      self->write_parked = false;
      self->flush_locked();
    });
  }

  void read(uint64_t gen) {
    socket.async_read_some(asio::buffer(buffer), [self = shared_from_this(), gen](const boost::system::error_code& ec, size_t n) {
      if (gen != self->generation) return;
      if (ec) return self->reset(ec == asio::error::eof ? "the server closed the connection" : "read: " + ec.message());
      self->received(gen, n);
    });
  }

  // Parses every complete reply, matches them to the oldest commands, and answers those, with no
  // lock held; then reads on.
  void received(uint64_t gen, size_t n) {
    redisReaderFeed(reader, buffer.data(), n);
    std::vector<RedisReply> replies;
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader, &raw) != REDIS_OK) return reset(std::string("bad reply: ") + reader->errstr);
      if (!raw) break;
      replies.push_back(redis_reply_from_hiredis(raw));
      freeReplyObject(raw);
    }
    std::vector<RedisCallback> answered;
    answered.reserve(replies.size());
    if (!take(replies.size(), answered)) return reset("a reply to no command");
    // The answers this read completes (state calls) leave in one write per worker socket once
    // they all ran (wire/flush_batch.h); callbacks never wait for a reply of this connection.
    FlushBatch batch;
    for (size_t i = 0; i < answered.size(); ++i) {
      // A callback that reset the connection (a refused AUTH) fails the rest of the batch too:
      // their replies come from a connection that is no more.
      if (gen != generation) call(answered[i], std::make_exception_ptr(error(last_error_now())), {});
      else call(answered[i], nullptr, std::move(replies[i]));
    }
    if (gen == generation) read(gen);
  }

  std::string last_error_now() {
    std::lock_guard lock(mu);
    return last_error;
  }

  bool take(size_t count, std::vector<RedisCallback>& into) {
    std::lock_guard lock(mu);
    if (count > pending.size()) return false;
    for (size_t i = 0; i < count; ++i) {
      into.push_back(std::move(pending.front().done));
      pending.pop_front();
    }
    return true;
  }

  // Closes the connection and fails every command in flight with `why`; then, unless closed,
  // tries again after the backoff.
  void reset(const std::string& why, bool timed_out_connecting = false) {
    std::deque<Pending> failed;
    bool closed;
    {
      std::lock_guard lock(mu);
      connect_timed_out = timed_out_connecting;
      ++generation;
      boost::system::error_code ignored;
      socket.close(ignored);
      fd = -1;
      out.clear();
      out_sent = 0;
      write_parked = false;
      failed.swap(pending);
      last_error = why;
      closed = state == State::kClosed;
      if (!closed) state = State::kDown;
    }
    if (!failed.empty()) {
      const auto e = std::make_exception_ptr(error(why));
      for (Pending& p : failed) call(p.done, e, {});
    }
    if (closed) return;
    backoff = backoff.count() == 0 ? kFirstBackoff : std::min(backoff * 2, options.max_backoff);
    retry.expires_after(backoff);
    retry.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      std::lock_guard lock(self->mu);
      if (self->state == State::kDown) self->begin_connect_locked(Clock::now());
    });
  }

  // Every sweep_every: a connection attempt or an oldest command past its deadline resets.
  void arm_sweep() {
    sweep.expires_after(sweep_every);
    sweep.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      std::string why;
      bool connecting = false;
      {
        std::lock_guard lock(self->mu);
        if (self->state == State::kClosed) return;
        const auto now = Clock::now();
        connecting = self->state == State::kConnecting;
        if (connecting && now >= self->connect_deadline)
          why = "cannot connect: timed out after " + ms(self->options.timeout);
        else if (self->state == State::kUp && !self->pending.empty() && now >= self->pending.front().deadline)
          why = "timed out after " + ms(self->options.timeout) + " waiting for a reply (connection reset)";
      }
      if (!why.empty()) self->reset(why, connecting);
      self->arm_sweep();
    });
  }

  void defer(std::chrono::microseconds delay, std::function<void()> fn) {
    auto timer = std::make_shared<asio::steady_timer>(io, delay);
    deferred.insert(timer);
    timer->async_wait([self = shared_from_this(), timer, fn = std::move(fn)](const boost::system::error_code&) {
      self->deferred.erase(timer);
      fn();  // cancelled too (the client closed): fn's commands then fail, and its chain ends
    });
  }

  void close() {
    {
      std::lock_guard lock(mu);
      state = State::kClosed;
    }
    reset("the client is closed");
    sweep.cancel();
    retry.cancel();
    for (const auto& t : deferred) t->cancel();
    work.reset();  // the client's thread: run() returns once the cancelled handlers have run
  }

  bool on_io_thread() const { return io.get_executor().running_in_this_thread(); }
};

RedisClient::WaitingCaller::WaitingCaller() { ++waiting_callers; }
RedisClient::WaitingCaller::~WaitingCaller() { --waiting_callers; }

RedisClient::RedisClient(RedisEndpoint endpoint, RedisClientOptions options)
    : impl_(std::make_shared<Impl>(endpoint, options, nullptr)) {
  for (asio::io_context* loop : options.loops) lanes_.push_back(std::make_shared<Impl>(endpoint, options, loop));
  impl_->start();
  for (const auto& lane : lanes_) lane->start();
  thread_ = std::thread([impl = impl_] { impl->io.run(); });
}

RedisClient::~RedisClient() {
  // A lane closes on its loop. A loop that has stopped already (the process is ending) never runs
  // the close: its handlers, and the commands they hold, are destroyed with the loop's queue.
  for (const auto& lane : lanes_) asio::post(lane->io, [lane] { lane->close(); });
  asio::post(impl_->io, [impl = impl_] { impl->close(); });
  if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();
  else thread_.join();
}

RedisClient::Impl& RedisClient::pick() const {
  if (waiting_callers == 0)
    for (const auto& lane : lanes_)
      if (lane->on_io_thread()) return *lane;
  return *impl_;
}

void RedisClient::command(const std::vector<std::string_view>& args, RedisCallback done) {
  pick().command(args, std::move(done));
}

RedisCallback failing_on_error_reply(std::string address, RedisCallback done) {
  return [address = std::move(address), done = std::move(done)](std::exception_ptr e, RedisReply r) {
    if (!e && r.is_error()) e = std::make_exception_ptr(RedisError("redis " + address + ": " + r.str));
    done(e, std::move(r));
  };
}

void RedisClient::transaction(std::initializer_list<std::initializer_list<std::string_view>> commands,
                              RedisCallback done) {
  static constexpr std::string_view kMulti[] = {"MULTI"}, kExec[] = {"EXEC"};
  // On the stack for the usual few commands (the state store sends two): views, no copies.
  std::array<std::span<const std::string_view>, 8> small;
  std::vector<std::span<const std::string_view>> large;
  const size_t count = commands.size() + 2;
  if (count > small.size()) large.resize(count);
  const std::span<std::span<const std::string_view>> group =
      large.empty() ? std::span(small.data(), count) : std::span(large);
  size_t i = 0;
  group[i++] = kMulti;
  for (const auto& c : commands) group[i++] = std::span<const std::string_view>(c.begin(), c.size());
  group[i] = kExec;
  pick().send(group, std::move(done));
}

RedisReply RedisClient::run(const std::vector<std::string_view>& args) {
  if (on_client_thread())
    throw impl_->error("a command waited for on the client's own thread (it would wait for itself)");
  auto answer = std::make_shared<std::promise<RedisReply>>();
  std::future<RedisReply> got = answer->get_future();
  WaitingCaller waiting;  // down the client's own connection, written at once, whichever thread we are on
  command(args, [answer](std::exception_ptr e, RedisReply r) {
    if (e) answer->set_exception(e);
    else answer->set_value(std::move(r));
  });
  // The client answers by the command's deadline; this bound only guards against a bug there.
  if (got.wait_for(impl_->options.timeout * 2 + std::chrono::seconds(1)) != std::future_status::ready)
    throw impl_->error("no answer from the client within " + ms(impl_->options.timeout * 2 + std::chrono::seconds(1)));
  return got.get();
}

void RedisClient::defer(std::chrono::microseconds delay, std::function<void()> fn) {
  asio::post(impl_->io, [impl = impl_, delay, fn = std::move(fn)]() mutable { impl->defer(delay, std::move(fn)); });
}

const RedisEndpoint& RedisClient::endpoint() const { return impl_->endpoint; }
const RedisClientOptions& RedisClient::options() const { return impl_->options; }
bool RedisClient::on_client_thread() const { return impl_->on_io_thread(); }

}  // namespace iii
