// The direct-answer HTTP server of the HTTP benchmarks (bench_http's floor, bench_http_function's
// endpoint): one epoll thread, keep-alive, parses just enough HTTP/1.1 to answer every request
// with 200 and {"ok":true}. Also the upstream behind the nginx peer of bench_http (bench_upstream).
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <thread>
#include <unordered_map>

namespace bench {

class FloorServer {
 public:
  // Listens on 127.0.0.1:port (0: a free port) and returns the port, or -1.
  int start(int port = 0) {
    lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(lfd_, (sockaddr*)&a, sizeof a) != 0 || listen(lfd_, 1024) != 0) return -1;
    socklen_t len = sizeof a;
    getsockname(lfd_, (sockaddr*)&a, &len);
    ep_ = epoll_create1(0);
    epoll_event ev{EPOLLIN, {.fd = lfd_}};
    epoll_ctl(ep_, EPOLL_CTL_ADD, lfd_, &ev);
    thread_ = std::thread([this] { loop(); });
    return ntohs(a.sin_port);
  }

 private:
  void loop() {
    static const std::string kResponse =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
    epoll_event evs[256];
    char buf[65536];
    for (;;) {
      int n = epoll_wait(ep_, evs, 256, -1);
      for (int i = 0; i < n; ++i) {
        int fd = evs[i].data.fd;
        if (fd == lfd_) {
          int c;
          while ((c = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
            int one = 1;
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            epoll_event ev{EPOLLIN, {.fd = c}};
            epoll_ctl(ep_, EPOLL_CTL_ADD, c, &ev);
          }
          continue;
        }
        std::string& in = inbuf_[fd];
        ssize_t r;
        bool closed = false;
        while ((r = read(fd, buf, sizeof buf)) > 0) in.append(buf, r);
        if (r == 0 || (r < 0 && errno != EAGAIN)) closed = true;
        std::string out;
        for (;;) {  // every complete request in the buffer
          size_t end = in.find("\r\n\r\n");
          if (end == std::string::npos) break;
          size_t body = 0;
          size_t cl = in.find("Content-Length:");
          if (cl == std::string::npos) cl = in.find("content-length:");
          if (cl != std::string::npos && cl < end) body = std::strtoul(in.c_str() + cl + 15, nullptr, 10);
          if (in.size() < end + 4 + body) break;
          in.erase(0, end + 4 + body);
          out += kResponse;
        }
        if (!out.empty() && write(fd, out.data(), out.size()) < 0) closed = true;
        if (closed) {
          close(fd);
          inbuf_.erase(fd);
        }
      }
    }
  }
  int lfd_ = -1, ep_ = -1;
  std::thread thread_;
  std::unordered_map<int, std::string> inbuf_;
};

}  // namespace bench
