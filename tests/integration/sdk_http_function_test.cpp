// The C++ SDK's register_http_function against the real engine with iii-http-functions: the
// engine calls a real HTTP server (a small one in this test) for every call of the function.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "test_workers.h"

namespace {

namespace json = boost::json;
using iii::test::connected_worker;
using iii::test::EngineProcess;
using iii::test::wait_function_visible;

// Answers every POST with {"got": <request body>} on keep-alive connections; records the bodies
// and the x-iii-Function-Path headers it saw.
class EchoHttpServer {
 public:
  EchoHttpServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~EchoHttpServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    for (auto& t : connections_) t.join();
  }
  int port() const { return port_; }
  std::vector<std::string> paths() {
    std::lock_guard lock(mu_);
    return paths_;
  }

 private:
  void accept_loop() {
    for (;;) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      connections_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string in;
    char buf[4096];
    for (;;) {
      size_t end = in.find("\r\n\r\n");
      while (end == std::string::npos) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) return (void)close(c);
        in.append(buf, static_cast<size_t>(n));
        end = in.find("\r\n\r\n");
      }
      const std::string head = in.substr(0, end);
      size_t length = 0;
      if (size_t p = head.find("Content-Length: "); p != std::string::npos) length = std::stoul(head.substr(p + 16));
      while (in.size() < end + 4 + length) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) return (void)close(c);
        in.append(buf, static_cast<size_t>(n));
      }
      const std::string body = in.substr(end + 4, length);
      in.erase(0, end + 4 + length);
      {
        std::lock_guard lock(mu_);
        if (size_t p = head.find("x-iii-Function-Path: "); p != std::string::npos)
          paths_.push_back(head.substr(p + 21, head.find("\r\n", p) - p - 21));
      }
      const std::string reply = "{\"got\":" + body + "}";
      const std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(reply.size()) + "\r\n\r\n" + reply;
      if (write(c, out.data(), out.size()) < 0) return (void)close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<std::thread> connections_;
  std::mutex mu_;
  std::vector<std::string> paths_;
};

TEST(SdkHttpFunction, TheEngineCallsTheEndpointForEveryCall) {
  EchoHttpServer server;
  EngineProcess engine(
      "workers:\n"
      "  - name: iii-http-functions\n"
      "    config:\n"
      "      security: { url_allowlist: [\"127.0.0.1\"], block_private_ips: false, require_https: false }\n");
  auto owner = connected_worker(engine, "owner");
  auto caller = connected_worker(engine, "caller");
  owner->register_http_function(
      "hook::echo", {.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/echo", .timeout_ms = 5000});
  ASSERT_TRUE(wait_function_visible(*caller, "hook::echo"));
  for (int i = 0; i < 3; ++i) {
    json::value r = caller->trigger("hook::echo", {{"n", i}});
    EXPECT_EQ(r.at("got").at("n").as_int64(), i);
  }
  EXPECT_EQ(server.paths(), (std::vector<std::string>{"hook::echo", "hook::echo", "hook::echo"}));
}

TEST(SdkHttpFunction, RefusedUnderTheDefaultSecurity) {
  EchoHttpServer server;
  EngineProcess engine("workers:\n  - name: iii-http-functions\n");
  auto owner = connected_worker(engine, "owner");
  auto caller = connected_worker(engine, "caller");
  owner->register_http_function("hook::loopback", {.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/"});
  owner->register_function("plain::fn", [](json::value) -> json::value { return "ok"; });
  ASSERT_TRUE(wait_function_visible(*caller, "plain::fn"));  // registered after the HTTP one
  try {
    caller->trigger("hook::loopback", nullptr);
    ADD_FAILURE() << "a loopback HTTP function was registered under the default security";
  } catch (const iii::InvocationError& e) {
    EXPECT_EQ(e.code(), "function_not_found");
  }
  EXPECT_TRUE(server.paths().empty());
}

}  // namespace
