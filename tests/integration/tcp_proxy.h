// A loopback TCP proxy for tests that need a misbehaving network between a worker and the engine:
// freeze() stops moving bytes while keeping connections open (a silent peer), cut() drops every
// proxied connection while the engine itself stays up.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace iii::test {

class TcpProxy {
 public:
  explicit TcpProxy(std::uint16_t upstream_port);  // listens on a free loopback port
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::uint16_t port() const { return port_; }
  void freeze(bool frozen);
  void cut();
  std::size_t connections_accepted() const { return accepted_.load(); }

 private:
  void run();
  void wake();
  void close_all_locked();

  std::uint16_t upstream_port_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<std::size_t> accepted_{0};
  std::mutex mutex_;
  std::vector<std::pair<int, int>> links_;  // (client side, engine side)
  bool frozen_ = false;
  bool cut_requested_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace iii::test
