#include "net/io_pool.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <stdexcept>

namespace iii::net {
namespace {

// The installed pool's connection loops, and the round-robin cursor. Set before any listener
// accepts and cleared after the listeners are gone (IoPool's lifetime in main()).
std::atomic<std::vector<boost::asio::io_context*>*> installed{nullptr};
std::atomic<unsigned> next_loop{0};

}  // namespace

struct IoPool::Loop {
  boost::asio::io_context io{IoPool::kSingleThreaded};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
};

boost::asio::io_context& connection_context(boost::asio::io_context& fallback) {
  auto* loops = installed.load(std::memory_order_acquire);
  if (!loops || loops->empty()) return fallback;
  return *(*loops)[next_loop.fetch_add(1, std::memory_order_relaxed) % loops->size()];
}

IoPool::IoPool(boost::asio::io_context& main, unsigned loops) : main_(main) {
  if (loops == 0) throw std::invalid_argument("IoPool: at least one loop");
  for (unsigned i = 0; i < loops; ++i) loops_.push_back(std::make_unique<Loop>());
  auto* all = new std::vector<boost::asio::io_context*>;
  for (auto& l : loops_) all->push_back(&l->io);
  std::vector<boost::asio::io_context*>* expected = nullptr;
  if (!installed.compare_exchange_strong(expected, all)) {
    delete all;
    throw std::logic_error("IoPool: a pool is installed already");
  }
}

IoPool::~IoPool() {
  stop();
  // Connections still on these loops (closing ones) are destroyed with them; no new one can
  // be placed here: the listeners are gone before the pool (see the header).
  delete installed.exchange(nullptr);
}

void IoPool::start() {
  for (auto& l : loops_) threads_.emplace_back([&io = l->io] { io.run(); });
}

void IoPool::stop() {
  for (auto& l : loops_) {
    l->work.reset();
    l->io.stop();
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

}  // namespace iii::net
