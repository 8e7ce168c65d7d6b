// A small Redis client for the store adapters (docs/redis.md): blocking commands with a deadline
// each, over a pool of connections. RESP is written by hand and read with hiredis's reply parser.
//
// Blocking fits the synchronous store interfaces (the queue, cron, cluster): a call costs one
// loopback round trip and a thread waiting for it. The state and stream stores use the pipelining
// client instead (store/redis_client.h), where no thread waits. Every wait has a deadline (connect, write, read); a connection
// that timed out or failed is closed and never reused, so a late reply cannot be read as the
// answer to the next command.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iii {

struct RedisError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where a Redis server is: redis://[[user]:password@]host[:port][/db]
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string user, password;  // AUTH when the password is set
  unsigned db = 0;             // SELECT when not 0

  // Throws RedisError naming what is wrong with the URL.
  static RedisEndpoint parse(std::string_view url);
  std::string address() const { return host + ":" + std::to_string(port); }
};

struct RedisReply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<RedisReply> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
};

class RedisConnection {
 public:
  // Connects (and authenticates, selects the database) within `timeout`; throws RedisError.
  static std::unique_ptr<RedisConnection> open(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends the commands in one write and reads their replies, in order. An error reply is a
  // reply (is_error()); a failed or late exchange throws RedisError and breaks the connection.
  std::vector<RedisReply> pipeline(const std::vector<std::vector<std::string_view>>& commands);
  // One command (a pipeline of one).
  RedisReply run(const std::vector<std::string_view>& command);

  bool broken() const { return fd_ < 0; }

  // For a subscriber connection, whose replies come unasked: send() writes commands without
  // reading; next_reply() returns the next complete reply, or nullopt when none is complete after
  // waiting `wait` (which breaks nothing). Failures throw RedisError and break the connection.
  void send(const std::vector<std::vector<std::string_view>>& commands);
  std::optional<RedisReply> next_reply(std::chrono::milliseconds wait);

 private:
  RedisConnection(std::string address, std::chrono::milliseconds timeout);
  void send(const std::vector<std::vector<std::string_view>>& commands, std::chrono::steady_clock::time_point deadline);
  void write_all(std::string_view data, std::chrono::steady_clock::time_point deadline);
  RedisReply read_reply(std::chrono::steady_clock::time_point deadline);
  std::optional<RedisReply> take_parsed();  // a reply already complete in the reader's buffer
  // Reads what arrived into the reader; false when nothing arrived before the deadline.
  bool receive(std::chrono::steady_clock::time_point deadline);
  [[noreturn]] void fail(const std::string& what);

  std::string address_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  void* reader_ = nullptr;  // hiredis redisReader
};

// Up to `max_connections` connections, opened when needed and kept while healthy.
class RedisPool {
 public:
  RedisPool(RedisEndpoint endpoint, size_t max_connections = 8,
            std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Runs the commands on one connection (see RedisConnection::pipeline). Waits at most the timeout for
  // a free connection.
  std::vector<RedisReply> pipeline(const std::vector<std::vector<std::string_view>>& commands);
  RedisReply run(const std::vector<std::string_view>& command);

  const RedisEndpoint& endpoint() const { return endpoint_; }

 private:
  std::unique_ptr<RedisConnection> take();
  void give_back(std::unique_ptr<RedisConnection> connection);

  const RedisEndpoint endpoint_;
  const size_t max_connections_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<RedisConnection>> idle_;
  size_t open_ = 0;  // idle or lent out
};

// The RESP encoding of one command (an array of bulk strings).
void append_resp_command(std::string& out, std::span<const std::string_view> args);
inline void append_resp_command(std::string& out, const std::vector<std::string_view>& args) {
  append_resp_command(out, std::span<const std::string_view>(args));
}

// A copy of a reply parsed by hiredis (`reply` is a redisReply*; the caller frees it).
RedisReply redis_reply_from_hiredis(const void* reply);

}  // namespace iii
