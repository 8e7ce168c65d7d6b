// The event loops that the engine's connections run on (docs/architecture.md "Threads").
//
// One io_context run by several threads wakes a second thread for nearly every event (asio's
// scheduler hands the next epoll wait to an idle thread while this one runs the handler): on a
// 2-core machine shared with the workers, that is a futex wake-up and a context switch per
// frame (bench/README.md "Event loops" has the before/after). Instead the engine runs one io_context
// per thread, each with a single thread, and spreads accepted connections over them round robin:
// a connection's reads, timers and strand run on one thread with no hand-off, and a frame for
// another connection is written directly from the thread that produced it (ws_connection.h), so
// connections on different loops still meet without waking anyone.
//
// The main loop (the caller's io_context: the engine's tick, built-ins' timers, signals, the
// config watcher and reloads) takes no connections: a reload that stops a built-in, or any slow
// administrative step there, never holds up a worker's frames. A process that installs no pool
// (tests, tools) gets `fallback` from connection_context(): everything stays on its one
// io_context as before.
#pragma once
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace iii::net {

// An io_context whose shutdown() (asio keeps it protected) can be called before it is destroyed:
// at exit every loop of the process is shut down first, which destroys the handlers still queued
// on each while every loop still exists (a queued accept on the main loop holds a socket bound
// to a connection loop, and the other way round), and only then are the loops destroyed.
class EventLoop : public boost::asio::io_context {
 public:
  EventLoop() : io_context(1) {}  // one thread runs it
  using boost::asio::execution_context::shutdown;

  // True while the loop's thread waits for an event with nothing ready to run. Approximate: it
  // stays true while the first handler after the wait runs (or one that was ready as the loop was
  // about to wait), unless that handler calls mark_loop_awake(). Read by net/loop_executor.h.
  std::atomic<bool> idle{false};
};

// The io_context a newly accepted (or opened) connection should run on: the next loop of the
// installed pool, or `fallback` when no pool is installed. Thread-safe.
boost::asio::io_context& connection_context(boost::asio::io_context& fallback);

// The installed pool's loops (empty when none is installed): for clients that keep a connection
// per loop (store/redis_client.h lanes). Thread-safe.
std::vector<boost::asio::io_context*> connection_loops();

// The idle flag of `loop` if it is one of the installed pool's loops, else nullptr. Thread-safe.
const std::atomic<bool>* idle_flag(boost::asio::io_context& loop);

// True on a thread of the installed pool. Thread-safe.
bool on_pool_thread() noexcept;

// Clears this thread's loop's idle flag now (nothing off the pool's threads). The loop clears it
// itself once the first handler after a wait returns; a handler that may run long, such as a
// connection's read of a batch of frames, calls this first so that other loops post to it meanwhile.
void mark_loop_awake() noexcept;

// Write batching for the rest of this loop's turn: on a thread of the pool with no FlushBatch
// open (wire/flush_batch.h), opens one that a handler posted to the back of the loop's queue
// closes, so what every handler ready now sends to one connection leaves in one write. For
// events that come one per read, such as HTTP requests on many connections: each would otherwise
// write its invocation to the same worker socket on its own. Elsewhere (another thread, a batch
// already open) it does nothing. REQUIRES: nothing sent under it waits for an answer in place.
void batch_rest_of_turn();

class IoPool {
 public:
  // `loops` event loops for connections (at least 1), each run by a thread of this pool once
  // start() is called. Installs the pool for connection_context() until destroyed.
  // REQUIRES: one IoPool at a time in the process. Declare it before the main loop in main(), so
  // that it outlives that loop and everything that holds a socket on its loops.
  explicit IoPool(unsigned loops);
  ~IoPool();  // stop(), shutdown_all() of its own loops, then destroys them
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  void start();
  // Stops the connections' loops and waits for their threads: after this no handler runs on
  // them (main() calls it once the main loop has stopped, before tearing the engine down).
  void stop();
  // After stop(): destroys the handlers still queued on the pool's loops and on `main` while
  // every loop still exists (see EventLoop). Sockets and timers may still be destroyed later.
  void shutdown_all(EventLoop& main);

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

}  // namespace iii::net
