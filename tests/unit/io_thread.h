// One io_context run by a thread of its own: a test's sockets and timers, or an event loop of the
// kind the engine runs (one thread per io_context, net/io_pool.h).
#pragma once
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

namespace iii::testing {

class IoThread {
 public:
  IoThread() : work_(boost::asio::make_work_guard(io)), thread_([this] { io.run(); }) {}
  ~IoThread() { stop(); }
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  // Idempotent. Call before destroying what the handlers use.
  void stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    io.stop();
    thread_.join();
  }

  // Runs `fn` on the thread and waits for its result; throws when it has not run within 10 s.
  template <class Fn>
  auto run_here(Fn fn) -> decltype(fn()) {
    auto done = std::make_shared<std::promise<decltype(fn())>>();
    boost::asio::post(io, [done, fn] { done->set_value(fn()); });
    auto result = done->get_future();
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready)
      throw std::runtime_error("the io thread did not run it within 10 s");
    return result.get();
  }

  boost::asio::io_context io{1};

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace iii::testing
