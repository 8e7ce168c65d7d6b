// The event loops that the engine's connections run on (docs/architecture.md "Threads").
//
// One io_context run by several threads wakes a second thread for nearly every event (asio's
// scheduler hands the next epoll wait to an idle thread while this one runs the handler): on a
// 2-core machine shared with the workers, that is a futex wake-up and a context switch per
// frame, and it showed as most of a lone call's latency. Instead the engine runs one io_context
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
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "wire/asio_fwd.h"

namespace iii::net {

// The io_context a newly accepted (or opened) connection should run on: the next loop of the
// installed pool, or `fallback` when no pool is installed. Thread-safe.
boost::asio::io_context& connection_context(boost::asio::io_context& fallback);

class IoPool {
 public:
  // `loops` event loops for connections (at least 1), each run by a thread of this pool once
  // start() is called, besides `main`, which the caller runs. Installs the pool for
  // connection_context() until destroyed. REQUIRES: one IoPool at a time in the process.
  IoPool(boost::asio::io_context& main, unsigned loops);
  // Stops and joins the pool's threads, then destroys their loops (after everything that holds
  // a socket on them: declare the pool right after `main`).
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  void start();
  // Stops the connections' loops (not `main`) and waits for their threads: after this no handler
  // runs on them (main() calls it once `main` has stopped, before tearing the engine down).
  void stop();

  // For the single-thread loops: the concurrency hint each is created with.
  static constexpr int kSingleThreaded = 1;

 private:
  struct Loop;
  boost::asio::io_context& main_;
  std::vector<std::unique_ptr<Loop>> loops_;  // the connections' loops (not main)
  std::vector<std::thread> threads_;
};

}  // namespace iii::net
