// A fixed set of threads running user code (function handlers, trigger-type callbacks), so the
// I/O thread never blocks on a handler. One thread ⇒ tasks run strictly in posting order.
//
// shutdown() drops tasks that have not started and waits for the running ones up to a deadline;
// threads still busy after it are detached (they own the shared state they touch), so shutdown
// never hangs on a handler that does not return.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace iii::detail {

class HandlerPool {
 public:
  // At most `max_queued` tasks wait for a thread; post() refuses more.
  HandlerPool(std::size_t threads, std::string name, std::size_t max_queued = SIZE_MAX);
  ~HandlerPool();
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  enum class PostResult { kAccepted, kStopping, kFull };
  // kStopping once shutdown() has begun, kFull when max_queued tasks already wait. A refused
  // task is left untouched in `task`, so the caller can still use what it holds.
  PostResult post(std::function<void()>&& task);

  void shutdown(std::chrono::milliseconds deadline);

  // True when called from one of this pool's threads.
  bool on_pool_thread() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
  std::string name_;
};

}  // namespace iii::detail
