#include "store/redis_connection.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/url/parse.hpp>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace iii {
namespace {

using Clock = std::chrono::steady_clock;

int millis_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

// Waits until fd is ready for `events`; false at the deadline.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, millis_left(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

RedisReply convert(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::kString; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::kStatus; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::kError; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::kInteger; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::kArray; break;
    default: out.type = RedisReply::Type::kNil; break;
  }
  if (r.type == REDIS_REPLY_STRING || r.type == REDIS_REPLY_STATUS || r.type == REDIS_REPLY_ERROR)
    out.str.assign(r.str, r.len);
  if (r.type == REDIS_REPLY_INTEGER) out.integer = r.integer;
  if (r.type == REDIS_REPLY_ARRAY) {
    out.elements.reserve(r.elements);
    for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(convert(*r.element[i]));
  }
  return out;
}

}  // namespace

RedisReply redis_reply_from_hiredis(const void* reply) { return convert(*static_cast<const redisReply*>(reply)); }

void append_resp_command(std::string& out, std::span<const std::string_view> args) {
  char number[24];
  auto count = [&](char kind, size_t n) {
    out += kind;
    out.append(number, std::to_chars(number, number + sizeof number, n).ptr);
    out += "\r\n";
  };
  count('*', args.size());
  for (std::string_view a : args) {
    count('$', a.size());
    out.append(a);
    out += "\r\n";
  }
}

RedisEndpoint RedisEndpoint::parse(std::string_view url) {
  // The URL as errors show it: a password (anything between "//" and "@") is not repeated.
  std::string shown(url);
  if (const size_t at = shown.find('@'), start = shown.find("//"); at != std::string::npos && start != std::string::npos &&
                                                                    start + 2 <= at)
    shown.replace(start + 2, at - start - 2, "***");
  auto bad = [&](const std::string& why) -> RedisError {
    return RedisError("redis_url `" + shown + "`: " + why + " (expected redis://[[user]:password@]host[:port][/db])");
  };
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) throw bad("not a URL");
  if (parsed->scheme() != "redis") throw bad("the scheme must be redis");
  RedisEndpoint e;
  if (!parsed->has_authority() || parsed->host().empty()) throw bad("no host");
  e.host = std::string(parsed->host_address());
  if (e.host.size() > 2 && e.host.front() == '[' && e.host.back() == ']') e.host = e.host.substr(1, e.host.size() - 2);
  if (parsed->has_port()) {
    const auto port = parsed->port_number();
    if (port == 0) throw bad("bad port");
    e.port = port;
  }
  if (parsed->has_userinfo()) {
    e.user = std::string(parsed->user());
    e.password = std::string(parsed->password());
    if (e.password.empty() && !parsed->has_password()) std::swap(e.user, e.password);  // redis://secret@host
  }
  std::string path(parsed->path());
  if (!path.empty() && path != "/") {
    unsigned db = 0;
    const char* begin = path.data() + 1;
    const char* end = path.data() + path.size();
    auto [ptr, ec] = std::from_chars(begin, end, db);
    if (ec != std::errc() || ptr != end || db > 1000) throw bad("the path must be a database number");
    e.db = db;
  }
  return e;
}

// --- one connection ---

RedisConnection::RedisConnection(std::string address, std::chrono::milliseconds timeout)
    : address_(std::move(address)), timeout_(timeout), reader_(redisReaderCreate()) {}

RedisConnection::~RedisConnection() {
  if (fd_ >= 0) ::close(fd_);
  if (reader_) redisReaderFree(static_cast<redisReader*>(reader_));
}

void RedisConnection::fail(const std::string& what) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  throw RedisError("redis " + address_ + ": " + what);
}

std::unique_ptr<RedisConnection> RedisConnection::open(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout) {
  std::unique_ptr<RedisConnection> c(new RedisConnection(endpoint.address(), timeout));
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(endpoint.port);
  if (int rc = ::getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw RedisError("redis " + c->address_ + ": cannot resolve the host: " + gai_strerror(rc));
  std::string last_error = "no address";
  for (addrinfo* a = found; a && c->fd_ < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int err = 0;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        err = ETIMEDOUT;
        socklen_t len = sizeof err;
        if (wait_for(fd, POLLOUT, deadline)) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    if (err) {
      last_error = std::strerror(err);
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd_ = fd;
  }
  ::freeaddrinfo(found);
  if (c->fd_ < 0) throw RedisError("redis " + c->address_ + ": cannot connect: " + last_error);
  std::vector<std::vector<std::string_view>> hello;
  if (!endpoint.password.empty()) {
    if (endpoint.user.empty()) hello.push_back({"AUTH", endpoint.password});
    else hello.push_back({"AUTH", endpoint.user, endpoint.password});
  }
  const std::string db = std::to_string(endpoint.db);
  if (endpoint.db) hello.push_back({"SELECT", db});
  if (!hello.empty())
    for (const RedisReply& r : c->pipeline(hello))
      if (r.is_error()) throw RedisError("redis " + c->address_ + ": " + r.str);
  return c;
}

void RedisConnection::write_all(std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_for(fd_, POLLOUT, deadline)) fail("timed out after " + std::to_string(timeout_.count()) + " ms writing");
      continue;
    }
    fail(std::string("write: ") + std::strerror(errno));
  }
}

std::optional<RedisReply> RedisConnection::take_parsed() {
  auto* reader = static_cast<redisReader*>(reader_);
  void* raw = nullptr;
  if (redisReaderGetReply(reader, &raw) != REDIS_OK) fail(std::string("bad reply: ") + reader->errstr);
  if (!raw) return std::nullopt;
  auto* reply = static_cast<redisReply*>(raw);
  RedisReply out = convert(*reply);
  freeReplyObject(reply);
  return out;
}

bool RedisConnection::receive(Clock::time_point deadline) {
  for (;;) {
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      redisReaderFeed(static_cast<redisReader*>(reader_), buf, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) fail("the server closed the connection");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail(std::string("read: ") + std::strerror(errno));
    if (!wait_for(fd_, POLLIN, deadline)) return false;
  }
}

RedisReply RedisConnection::read_reply(Clock::time_point deadline) {
  for (;;) {
    if (std::optional<RedisReply> reply = take_parsed()) return std::move(*reply);
    if (!receive(deadline)) fail("timed out after " + std::to_string(timeout_.count()) + " ms waiting for a reply");
  }
}

void RedisConnection::send(const std::vector<std::vector<std::string_view>>& commands, Clock::time_point deadline) {
  if (fd_ < 0) throw RedisError("redis " + address_ + ": connection closed");
  std::string out;
  for (const auto& c : commands) append_resp_command(out, c);
  write_all(out, deadline);
}

void RedisConnection::send(const std::vector<std::vector<std::string_view>>& commands) {
  send(commands, Clock::now() + timeout_);
}

std::optional<RedisReply> RedisConnection::next_reply(std::chrono::milliseconds wait) {
  if (fd_ < 0) throw RedisError("redis " + address_ + ": connection closed");
  const auto deadline = Clock::now() + wait;
  for (;;) {
    if (std::optional<RedisReply> reply = take_parsed()) return reply;
    if (!receive(deadline)) return std::nullopt;
  }
}

std::vector<RedisReply> RedisConnection::pipeline(const std::vector<std::vector<std::string_view>>& commands) {
  const auto deadline = Clock::now() + timeout_;
  send(commands, deadline);
  std::vector<RedisReply> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) replies.push_back(read_reply(deadline));
  return replies;
}

RedisReply RedisConnection::run(const std::vector<std::string_view>& command) {
  return std::move(pipeline({command}).front());
}

// --- the pool ---

RedisPool::RedisPool(RedisEndpoint endpoint, size_t max_connections, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), max_connections_(std::max<size_t>(1, max_connections)), timeout_(timeout) {}

std::unique_ptr<RedisConnection> RedisPool::take() {
  std::unique_lock lock(mu_);
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    if (open_ < max_connections_) {
      ++open_;
      lock.unlock();
      try {
        return RedisConnection::open(endpoint_, timeout_);
      } catch (...) {
        lock.lock();
        --open_;
        freed_.notify_one();
        throw;
      }
    }
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() && open_ >= max_connections_)
      throw RedisError("redis " + endpoint_.address() + ": no free connection within " +
                       std::to_string(timeout_.count()) + " ms (" + std::to_string(max_connections_) + " in use)");
  }
}

void RedisPool::give_back(std::unique_ptr<RedisConnection> connection) {
  std::lock_guard lock(mu_);
  if (connection && !connection->broken()) idle_.push_back(std::move(connection));
  else --open_;
  freed_.notify_one();
}

std::vector<RedisReply> RedisPool::pipeline(const std::vector<std::vector<std::string_view>>& commands) {
  std::unique_ptr<RedisConnection> c = take();
  try {
    auto replies = c->pipeline(commands);
    give_back(std::move(c));
    return replies;
  } catch (...) {
    give_back(std::move(c));  // broken: counted out
    throw;
  }
}

RedisReply RedisPool::run(const std::vector<std::string_view>& command) {
  return std::move(pipeline({command}).front());
}

}  // namespace iii
