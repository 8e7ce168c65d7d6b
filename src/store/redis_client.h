// A pipelining Redis client on an event loop of its own (docs/redis.md "The client").
//
// Why: the blocking pool (store/redis_connection.h) costs a waiting thread per command in flight,
// and on a small machine the thread wake-ups cost more than Redis itself. Here the commands of
// every caller go down one connection as they come (each caller writes its command straight to
// the socket, in the calling thread, without waiting), and one thread reads the replies and
// matches them to the commands in send order, which is the order Redis answers them in. A command
// then costs its share of a write and of a read, however many are in flight.
//
// Guarantees, each tested in tests/unit/redis_client_test.cpp:
//  * Every command is answered exactly once: its reply, or a RedisError naming the server.
//  * Deadlines. A command not answered within `timeout` of being issued fails with "timed out
//    after <n> ms waiting for a reply", and the connection is closed at once with every command
//    still in flight on it (they fail too), so that no late reply can be taken for the answer to
//    a later command. A connection attempt has the same deadline.
//  * Bounds. At most `max_pending` commands waiting for a reply and `max_buffered_bytes` not yet
//    written: beyond that a command fails at once ("the pipeline is full"), nothing grows.
//  * Reconnection. A lost connection is opened again by the client's thread, backing off from
//    50 ms up to `max_backoff` while the server stays away. A command issued meanwhile starts an
//    attempt itself and waits for it, so the first call after the server is back succeeds; while
//    the server refuses (Connection refused), that fails at once. After an attempt that found no
//    answer within the timeout, commands fail at once with that error until a retry connects.
#pragma once
#include <chrono>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/redis_connection.h"

namespace boost::asio {
class io_context;
}

namespace iii {

// The outcome of one command: `error` set (a RedisError) or `reply` (which may be an error reply
// of the server, reply.is_error(): that is an answer, and the connection goes on).
using RedisCallback = std::function<void(std::exception_ptr error, RedisReply reply)>;

struct RedisClientOptions {
  std::chrono::milliseconds timeout{5000};   // to connect, and for each reply
  size_t max_pending = 65536;                // commands issued and not answered yet
  size_t max_buffered_bytes = 64u << 20;     // bytes of commands not written to the socket yet
  std::chrono::milliseconds max_backoff{2000};
  // Event loops, each run by one thread, that issue commands (the engine's connection loops,
  // net/io_pool.h). Each gets a connection of its own (a lane) that its loop reads, so a command
  // issued on a loop's thread is written, answered and completed there: no other thread wakes
  // up. Commands from any other thread, and those of a WaitingCaller, go down the connection of
  // the client's own thread. Commands issued on one thread stay in order (one connection each).
  std::vector<boost::asio::io_context*> loops;
};

// `done`, with an error reply of the server turned into a RedisError naming it at `address`: for
// callers to whom an error reply is a failure like any other.
RedisCallback failing_on_error_reply(std::string address, RedisCallback done);

class RedisClient {
 public:
  // Starts the client's thread, which connects at once (commands issued meanwhile wait for it).
  explicit RedisClient(RedisEndpoint endpoint, RedisClientOptions options = {});
  // Fails every command in flight ("the client is closed") and ends the thread. May run on the
  // client's own thread (the last owner dropped in a callback): the thread then ends by itself.
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Issues one command. `done` runs exactly once: on the client's thread with the reply, or
  // before command() returns when the command is refused at once (not connected, full). The args
  // are copied before command() returns. `done` runs with no lock held and may issue commands,
  // but must not wait for one (run() from the client's thread throws).
  // On a thread with a FlushBatch open (wire/flush_batch.h: an engine thread handling a read's
  // worth of frames), the command is written when the batch ends, with the others it issued,
  // unless a WaitingCaller is open there.
  void command(const std::vector<std::string_view>& args, RedisCallback done);

  // Commands that Redis runs as one (MULTI, the commands, EXEC, written together so that no other
  // caller's command comes between them). `done` gets EXEC's reply: an array of the commands'
  // replies, or an error reply (EXECABORT) when Redis refused one of them, and then ran none.
  void transaction(std::initializer_list<std::initializer_list<std::string_view>> commands, RedisCallback done);

  // One command, waiting for its reply (which arrives by the deadline); throws RedisError.
  RedisReply run(const std::vector<std::string_view>& args);

  // While one is alive on a thread, the commands the thread issues go down the connection that
  // the client's own thread reads, and are written at once (with whatever a FlushBatch of this
  // thread held back). For a caller that will wait for them: on a loop's lane it would wait for a
  // reply only its own thread can read, and in a batch for a write that comes after the wait.
  // run() opens one.
  class WaitingCaller {
   public:
    WaitingCaller();
    ~WaitingCaller();
    WaitingCaller(const WaitingCaller&) = delete;
    WaitingCaller& operator=(const WaitingCaller&) = delete;
  };

  // Runs `fn` on the client's own thread after `delay` (a pause before a retry). When the client
  // closes first, `fn` runs then instead, so a chain of commands always reaches its end.
  void defer(std::chrono::microseconds delay, std::function<void()> fn);

  const RedisEndpoint& endpoint() const;
  std::string address() const { return endpoint().address(); }
  const RedisClientOptions& options() const;
  // True on the client's own thread (where waiting for a reply would wait for itself).
  bool on_client_thread() const;

 private:
  struct Impl;
  Impl& pick() const;  // the connection for a command issued on this thread now

  std::shared_ptr<Impl> impl_;  // shared with the thread, so a detached thread outlives us safely
  std::vector<std::shared_ptr<Impl>> lanes_;  // one per options.loops
  std::thread thread_;
};

}  // namespace iii
