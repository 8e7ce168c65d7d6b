// A real redis-server for the Redis store tests: started on a free loopback port the first time a
// test asks for it, with no persistence, and stopped by pid when the test binary exits. Tests
// share it and call flush() for a clean database.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
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

  // A server of the caller's own (for tests that stop it); `port` 0 picks a free one.
  explicit RedisServer(uint16_t port = 0) {
    for (int attempt = 0; attempt < 3 && pid_ <= 0; ++attempt) start(port);
    if (pid_ <= 0) throw std::runtime_error("could not start redis-server (scripts/install-deps.sh installs it)");
  }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // A loopback socket bound to a free port, listening when `listen` (it never accepts: a connect
  // completes in the backlog and nothing answers). Returns the fd; `port` gets its port.
  static int loopback_socket(bool listen, uint16_t& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (listen) ::listen(fd, 4);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
  }
  // A port nobody listens on (bound, then closed).
  static uint16_t free_port() {
    uint16_t port = 0;
    ::close(loopback_socket(false, port));
    return port;
  }

  // Kills it (SIGKILL: no goodbye to its clients).
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }

 private:

  void start(uint16_t wanted_port) {
    port_ = wanted_port ? wanted_port : free_port();
    const std::string port = std::to_string(port_);
    const pid_t pid = ::fork();
    if (pid == 0) {
      // Quiet, and gone with the test process even when that one is killed.
      if (const int null = ::open("/dev/null", O_WRONLY); null >= 0) ::dup2(null, 1), ::dup2(null, 2);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
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
