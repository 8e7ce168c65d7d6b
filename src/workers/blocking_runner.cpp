#include "workers/blocking_runner.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>

namespace iii {

struct BlockingRunner::Shared {
  Shared(std::string n, size_t max) : name(std::move(n)), max_queued(max) {}

  const std::string name;
  const size_t max_queued;
  std::mutex mu;
  std::condition_variable wake;
  std::deque<std::function<void()>> tasks;
  bool stopping = false;

  static void run(const std::shared_ptr<Shared>& s) {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(s->mu);
        s->wake.wait(lock, [&] { return s->stopping || !s->tasks.empty(); });
        if (s->tasks.empty()) return;  // stopping, and nothing left
        task = std::move(s->tasks.front());
        s->tasks.pop_front();
      }
      try {
        task();
      } catch (const std::exception& e) {
        spdlog::error("{}: a background task threw: {}", s->name, e.what());
      }
    }
  }
};

BlockingRunner::BlockingRunner(std::string name, size_t threads, size_t max_queued)
    : shared_(std::make_shared<Shared>(std::move(name), max_queued)) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([s = shared_] { Shared::run(s); });
}

BlockingRunner::~BlockingRunner() {
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;
  }
  shared_->wake.notify_all();
  for (std::thread& t : threads_) {
    if (t.get_id() == std::this_thread::get_id()) t.detach();  // finishes the queue, then ends on its own
    else t.join();
  }
}

bool BlockingRunner::post(std::function<void()> task) {
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->stopping || shared_->tasks.size() >= shared_->max_queued) return false;
    shared_->tasks.push_back(std::move(task));
  }
  shared_->wake.notify_one();
  return true;
}

size_t BlockingRunner::queued() const {
  std::lock_guard lock(shared_->mu);
  return shared_->tasks.size();
}

}  // namespace iii
