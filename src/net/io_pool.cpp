#include "net/io_pool.h"

#include <boost/asio/post.hpp>
#include <stdexcept>

#include "wire/flush_batch.h"

namespace iii::net {
namespace {

// The installed pool's connection loops, and the round-robin cursor. Set before any listener
// accepts and cleared after the listeners are gone (IoPool's lifetime in main()).
std::atomic<std::vector<boost::asio::io_context*>*> installed{nullptr};
std::atomic<unsigned> next_loop{0};

thread_local EventLoop* this_thread_loop = nullptr;  // set on the pool's threads
thread_local std::unique_ptr<FlushBatch> turn_batch;

}  // namespace

bool on_pool_thread() noexcept { return this_thread_loop != nullptr; }

void mark_loop_awake() noexcept {
  if (this_thread_loop) this_thread_loop->idle.store(false, std::memory_order_relaxed);
}

void batch_rest_of_turn() {
  if (!this_thread_loop || turn_batch || FlushBatch::current()) return;
  turn_batch = std::make_unique<FlushBatch>();
  // Runs after the handlers queued now, at the top level of the loop: no other batch is open
  // above this one by then, so closing it restores "no batch" as FlushBatch's nesting expects.
  boost::asio::post(*this_thread_loop, [] { turn_batch.reset(); });
}

boost::asio::io_context& connection_context(boost::asio::io_context& fallback) {
  auto* loops = installed.load(std::memory_order_acquire);
  if (!loops || loops->empty()) return fallback;
  return *(*loops)[next_loop.fetch_add(1, std::memory_order_relaxed) % loops->size()];
}

const std::atomic<bool>* idle_flag(boost::asio::io_context& loop) {
  auto* loops = installed.load(std::memory_order_acquire);
  if (!loops) return nullptr;
  for (auto* l : *loops)
    if (l == &loop) return &static_cast<EventLoop*>(l)->idle;
  return nullptr;
}

std::vector<boost::asio::io_context*> connection_loops() {
  auto* loops = installed.load(std::memory_order_acquire);
  return loops ? *loops : std::vector<boost::asio::io_context*>{};
}

IoPool::IoPool(unsigned loops) {
  if (loops == 0) throw std::invalid_argument("IoPool: at least one loop");
  auto* all = new std::vector<boost::asio::io_context*>;
  for (unsigned i = 0; i < loops; ++i) {
    loops_.push_back(std::make_unique<EventLoop>());
    work_.push_back(boost::asio::make_work_guard(*loops_.back()));
    all->push_back(loops_.back().get());
  }
  std::vector<boost::asio::io_context*>* expected = nullptr;
  if (!installed.compare_exchange_strong(expected, all)) {
    delete all;
    throw std::logic_error("IoPool: a pool is installed already");
  }
}

IoPool::~IoPool() {
  stop();
  for (auto& loop : loops_) loop->shutdown();
  delete installed.exchange(nullptr);
}

void IoPool::start() {
  for (auto& loop : loops_)
    threads_.emplace_back([&io = *loop] {
      this_thread_loop = &io;
      // io.run(), with the idle flag kept: run_one() sleeps when nothing is ready and runs the
      // handler that woke it; poll() then runs what that wake made ready without blocking. (A
      // handler that was ready already when run_one() was entered runs with the flag still set:
      // the approximation EventLoop::idle states. Testing for ready work first with an extra
      // poll() would cost an epoll_wait per wake-up.)
      while (!io.stopped()) {
        io.idle.store(true, std::memory_order_relaxed);
        io.run_one();
        io.idle.store(false, std::memory_order_relaxed);
        io.poll();
      }
      turn_batch.reset();  // stopped with a turn open: what it holds goes out (or fails) now
    });
}

void IoPool::stop() {
  for (auto& guard : work_) guard.reset();
  for (auto& loop : loops_) loop->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void IoPool::shutdown_all(EventLoop& main) {
  stop();
  for (auto& loop : loops_) loop->shutdown();
  main.shutdown();
}

}  // namespace iii::net
