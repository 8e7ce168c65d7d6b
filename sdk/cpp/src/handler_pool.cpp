#include "handler_pool.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>

namespace iii::detail {

struct HandlerPool::State {
  std::mutex mutex;
  std::condition_variable work_ready, thread_exited;
  std::deque<std::function<void()>> tasks;
  std::vector<std::thread::id> thread_ids;
  std::size_t alive = 0;
  bool stopping = false;
  std::size_t max_queued = SIZE_MAX;
};

HandlerPool::HandlerPool(std::size_t threads, std::string name, std::size_t max_queued)
    : state_(std::make_shared<State>()), name_(std::move(name)) {
  state_->max_queued = std::max<std::size_t>(max_queued, 1);
  threads = std::max<std::size_t>(threads, 1);
  std::lock_guard lock(state_->mutex);
  for (std::size_t i = 0; i < threads; ++i) {
    ++state_->alive;
    threads_.emplace_back([state = state_] {
      for (;;) {
        std::function<void()> task;
        {
          std::unique_lock lock(state->mutex);
          state->work_ready.wait(lock, [&] { return state->stopping || !state->tasks.empty(); });
          if (state->stopping) break;
          task = std::move(state->tasks.front());
          state->tasks.pop_front();
        }
        try {
          task();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "[iii] uncaught exception in a handler task: %s\n", e.what());
        } catch (...) {
          std::fprintf(stderr, "[iii] uncaught exception in a handler task\n");
        }
      }
      std::lock_guard lock(state->mutex);
      --state->alive;
      state->thread_exited.notify_all();
    });
    state_->thread_ids.push_back(threads_.back().get_id());
  }
}

HandlerPool::~HandlerPool() { shutdown(std::chrono::seconds(5)); }

HandlerPool::PostResult HandlerPool::post(std::function<void()>&& task) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return PostResult::kStopping;
    if (state_->tasks.size() >= state_->max_queued) return PostResult::kFull;
    state_->tasks.push_back(std::move(task));
  }
  state_->work_ready.notify_one();
  return PostResult::kAccepted;
}

bool HandlerPool::on_pool_thread() const {
  std::lock_guard lock(state_->mutex);
  const auto& ids = state_->thread_ids;
  return std::find(ids.begin(), ids.end(), std::this_thread::get_id()) != ids.end();
}

void HandlerPool::shutdown(std::chrono::milliseconds deadline) {
  if (threads_.empty()) return;
  bool self = on_pool_thread();
  std::deque<std::function<void()>> dropped;  // destroyed outside the lock: they may own a Worker
  bool all_exited;
  {
    std::unique_lock lock(state_->mutex);
    state_->stopping = true;
    dropped.swap(state_->tasks);
    state_->work_ready.notify_all();
    std::size_t allowed = self ? 1 : 0;  // the calling thread cannot exit while it waits here
    all_exited = state_->thread_exited.wait_for(lock, deadline, [&] { return state_->alive <= allowed; });
  }
  dropped.clear();
  if (!all_exited) {
    std::fprintf(stderr, "[iii] %s: handlers still running at shutdown; leaving them detached\n",
                 name_.c_str());
  }
  for (auto& thread : threads_) {
    if (all_exited && thread.get_id() != std::this_thread::get_id()) {
      thread.join();
    } else {
      thread.detach();
    }
  }
  threads_.clear();
}

}  // namespace iii::detail
