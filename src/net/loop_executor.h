// An event loop's executor that lets another loop of the pool enter it (docs/architecture.md
// "Threads").
//
// asio runs a dispatched function inline only on the io_context's own thread; from any other
// thread it posts it, which wakes the loop. With one loop per thread (net/io_pool.h) that turned
// every engine completion arriving on one loop for a connection on another (an HTTP trigger's
// result read from the worker's socket, answered on the client's) into an extra wake-up per
// request. Under a strand, LoopExecutor runs such a dispatch inline on whichever loop of the pool
// calls it while the owning loop sleeps: the strand still runs one handler at a time, so the
// connection's handlers never run concurrently, they may only run on the caller's loop thread when
// its strand is idle. A loop that is awake gets the dispatch posted as before, which costs it no
// wake-up and keeps its connections' work on its own thread: under load, running every result's
// response on the loop that read the result would pile the work of all connections onto the
// worker's loop (bench/README.md "HTTP trigger: a result enters the client's loop"). Posts
// (blocking.never) go to the owning loop, and threads outside the pool always post.
#pragma once
#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/require.hpp>

#include "net/io_pool.h"

#include <atomic>
#include <type_traits>
#include <utility>

namespace iii::net {

class LoopExecutor {
 public:
  using Inner = boost::asio::io_context::executor_type;

  // `loop`'s executor. `loop_idle` is the loop's idle flag (net/io_pool.h idle_flag()); without
  // one, dispatches from other threads are posted as asio does.
  explicit LoopExecutor(boost::asio::io_context& loop, const std::atomic<bool>* loop_idle) noexcept
      : inner_(loop.get_executor()), loop_idle_(loop_idle) {}

  boost::asio::io_context& query(boost::asio::execution::context_t) const noexcept { return inner_.context(); }

  boost::asio::execution::blocking_t query(boost::asio::execution::blocking_t) const noexcept {
    if (never_blocking_) return boost::asio::execution::blocking.never;
    return boost::asio::execution::blocking.possibly;
  }
  LoopExecutor require(boost::asio::execution::blocking_t::never_t) const noexcept { return with_blocking(true); }
  LoopExecutor require(boost::asio::execution::blocking_t::possibly_t) const noexcept { return with_blocking(false); }

  template <class F>
  void execute(F&& f) const {
    if (!never_blocking_ && (inner_.running_in_this_thread() || (loop_idle_ && on_pool_thread() &&
                                                                  loop_idle_->load(std::memory_order_relaxed)))) {
      std::decay_t<F> local(std::forward<F>(f));
      std::move(local)();
      return;
    }
    boost::asio::require(inner_, boost::asio::execution::blocking.never).execute(std::forward<F>(f));
  }

  friend bool operator==(const LoopExecutor& a, const LoopExecutor& b) noexcept {
    return a.inner_ == b.inner_ && a.loop_idle_ == b.loop_idle_ && a.never_blocking_ == b.never_blocking_;
  }
  friend bool operator!=(const LoopExecutor& a, const LoopExecutor& b) noexcept { return !(a == b); }

 private:
  LoopExecutor with_blocking(bool never) const noexcept {
    LoopExecutor copy = *this;
    copy.never_blocking_ = never;
    return copy;
  }

  Inner inner_;
  const std::atomic<bool>* loop_idle_;
  bool never_blocking_ = false;
};

}  // namespace iii::net
