// Runs blocking work — a round trip to a remote store (Redis) — off the engine's network threads.
//
// A built-in's handler runs on the thread that read the call, and every call of one worker
// connection is read by the same thread. A handler that waits for Redis there makes the calls of
// that connection wait one behind the other (one round trip at a time) and holds up the other
// connections of that thread. A BlockingRunner gives such handlers a fixed set of threads (as
// many as the store has connections) and a bounded queue, so round trips overlap. Stores in
// memory or in a local SQLite file answer in microseconds and run inline instead (a thread hop
// would cost more than it saves).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace iii {

class BlockingRunner {
 public:
  BlockingRunner(std::string name, size_t threads, size_t max_queued);
  // Runs the tasks already queued, then joins the threads. May run on one of its own threads
  // (the last owner released inside a task): that thread is then detached, not joined.
  ~BlockingRunner();
  BlockingRunner(const BlockingRunner&) = delete;
  BlockingRunner& operator=(const BlockingRunner&) = delete;

  // Queues `task`. False, and `task` dropped, when max_queued tasks are waiting already: the
  // caller answers an error rather than letting the queue grow without bound.
  bool post(std::function<void()> task);

  size_t queued() const;

 private:
  struct Shared;  // what the threads use: owned by them too, so a detached thread outlives us safely
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
};

}  // namespace iii
