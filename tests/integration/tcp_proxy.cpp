#include "tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace iii::test {
namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Copies what is readable on `from` to `to`. False when `from` is finished.
bool pump(int from, int to) {
  char buffer[65536];
  ssize_t n = ::read(from, buffer, sizeof buffer);
  if (n <= 0) return false;
  for (ssize_t done = 0; done < n;) {
    ssize_t written = ::write(to, buffer + done, static_cast<std::size_t>(n - done));
    if (written <= 0) return false;
    done += written;
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(std::uint16_t upstream_port) : upstream_port_(upstream_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto address = loopback(0);
  socklen_t length = sizeof address;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 16) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    throw std::runtime_error("TcpProxy: cannot listen");
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake();
  thread_.join();
  std::lock_guard lock(mutex_);
  close_all_locked();
  ::close(listener_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

void TcpProxy::freeze(bool frozen) {
  {
    std::lock_guard lock(mutex_);
    frozen_ = frozen;
  }
  wake();
}

void TcpProxy::cut() {
  {
    std::lock_guard lock(mutex_);
    cut_requested_ = true;
  }
  wake();
}

void TcpProxy::wake() {
  char byte = 1;
  [[maybe_unused]] auto ignored = ::write(wake_pipe_[1], &byte, 1);
}

void TcpProxy::close_all_locked() {
  for (auto [client, engine] : links_) {
    ::shutdown(client, SHUT_RDWR);
    ::shutdown(engine, SHUT_RDWR);
    ::close(client);
    ::close(engine);
  }
  links_.clear();
}

void TcpProxy::run() {
  for (;;) {
    std::vector<pollfd> fds{{wake_pipe_[0], POLLIN, 0}, {listener_, POLLIN, 0}};
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      if (cut_requested_) {
        close_all_locked();
        cut_requested_ = false;
      }
      if (!frozen_) {
        for (auto [client, engine] : links_) {
          fds.push_back({client, POLLIN, 0});
          fds.push_back({engine, POLLIN, 0});
        }
      }
    }
    if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      char drain[64];
      [[maybe_unused]] auto ignored = ::read(wake_pipe_[0], drain, sizeof drain);
    }
    if (fds[1].revents & POLLIN) {
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      int engine = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      auto upstream = loopback(upstream_port_);
      if (client >= 0 && engine >= 0 &&
          ::connect(engine, reinterpret_cast<sockaddr*>(&upstream), sizeof upstream) == 0) {
        std::lock_guard lock(mutex_);
        links_.emplace_back(client, engine);
        ++accepted_;
      } else {
        if (client >= 0) ::close(client);
        if (engine >= 0) ::close(engine);
      }
    }
    std::lock_guard lock(mutex_);
    for (std::size_t i = 2; i + 1 < fds.size(); i += 2) {
      int client = fds[i].fd, engine = fds[i + 1].fd;
      bool alive = true;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) alive = pump(client, engine);
      if (alive && (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) alive = pump(engine, client);
      if (!alive) {
        for (auto it = links_.begin(); it != links_.end(); ++it) {
          if (it->first == client) {
            ::shutdown(client, SHUT_RDWR);
            ::shutdown(engine, SHUT_RDWR);
            ::close(client);
            ::close(engine);
            links_.erase(it);
            break;
          }
        }
      }
    }
  }
}

}  // namespace iii::test
