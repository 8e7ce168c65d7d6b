// A real redis-server for the Redis store tests: started on a free loopback port the first time a
// test asks for it, with no persistence, and stopped by pid when the test binary exits. Tests
// share it and call flush() for a clean database.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "store/redis_connection.h"

namespace iii::testing {

class RedisServer {
 public:
  // The shared server; throws std::runtime_error when redis-server cannot be started (it is
  // installed by scripts/install-deps.sh: a missing one fails the test, it does not skip it).
  static RedisServer& shared() {
    static RedisServer server;
    return server;
  }

  uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  RedisEndpoint endpoint() const { return RedisEndpoint::parse(url()); }

  // Empties every database.
  void flush() {
    auto c = RedisConnection::open(endpoint(), std::chrono::seconds(5));
    c->run({"FLUSHALL"});
  }

  ~RedisServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }

 private:
  RedisServer() {
    for (int attempt = 0; attempt < 3 && pid_ <= 0; ++attempt) start();
    if (pid_ <= 0) throw std::runtime_error("could not start redis-server (scripts/install-deps.sh installs it)");
  }

  static uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
  }

  void start() {
    port_ = free_port();
    const std::string port = std::to_string(port_);
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (const int null = ::open("/dev/null", O_WRONLY); null >= 0) ::dup2(null, 1);  // its start/stop lines
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--loglevel", "warning", static_cast<char*>(nullptr));
      _exit(127);
    }
    if (pid < 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) return;  // exited: port taken, or not installed
      try {
        RedisConnection::open(RedisEndpoint::parse(url()), std::chrono::milliseconds(200))->run({"PING"});
        pid_ = pid;
        return;
      } catch (const RedisError&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }

  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace iii::testing
