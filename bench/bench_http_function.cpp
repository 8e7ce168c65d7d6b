// HTTP-invoked function benchmark (issue 11): a function whose implementation is an HTTP endpoint
// (iii-http-functions), called through the engine by a C++ SDK caller, against calling the same
// local HTTP server directly with a blocking keep-alive client. Same payload, same threads, the
// same run_phase harness on both sides; the endpoint is bench/floor_server.h.
//
//   bench_http_function --engine-url ws://127.0.0.1:P [--concurrency 1,16] [--seconds 5]
//
// The engine needs `- name: iii-http-functions` with security allowing http://127.0.0.1.
#include <iii/iii.h>

#include <csignal>
#include <iostream>
#include <sstream>

#include "common.h"
#include "floor_server.h"

namespace json = boost::json;

namespace {

// One keep-alive connection that POSTs and reads a Content-Length response, blocking.
class DirectClient {
 public:
  explicit DirectClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("direct: cannot connect");
  }
  ~DirectClient() { close(fd_); }

  void post(const std::string& body) {
    const std::string req = "POST /fn HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    if (write(fd_, req.data(), req.size()) != static_cast<ssize_t>(req.size())) throw std::runtime_error("direct: write");
    for (;;) {
      size_t end = in_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t cl = in_.find("Content-Length: ");
        size_t length = cl != std::string::npos && cl < end ? std::strtoul(in_.c_str() + cl + 16, nullptr, 10) : 0;
        if (in_.size() >= end + 4 + length) {
          if (in_.compare(0, 12, "HTTP/1.1 200") != 0) throw std::runtime_error("direct: not 200");
          in_.erase(0, end + 4 + length);
          return;
        }
      }
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error("direct: connection closed");
      in_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string in_;
};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bench::Args args(argc, argv);
  const double seconds = args.num("seconds", 5);
  std::vector<int> levels;
  {
    std::stringstream ss(args.str("concurrency", "1,16"));
    for (std::string c; std::getline(ss, c, ',');) levels.push_back(std::atoi(c.c_str()));
  }
  const std::string payload_text = bench::make_payload(200);
  const json::value payload = json::parse(payload_text);
  bench::FloorServer endpoint;
  const int port = endpoint.start();
  if (port <= 0) { std::cerr << "bench_http_function: cannot start the endpoint\n"; return 1; }

  iii::Worker worker(iii::WorkerOptions{.url = args.str("engine-url"), .name = "bench-http-function", .quiet = true});
  if (!worker.wait_connected(std::chrono::seconds(10))) { std::cerr << "bench_http_function: no engine\n"; return 1; }
  worker.register_http_function("bench::http_fn", {.url = "http://127.0.0.1:" + std::to_string(port) + "/fn",
                                                   .timeout_ms = 10000});
  for (int attempt = 0;; ++attempt) {  // until the function answers {"ok":true}
    try {
      if (worker.trigger("bench::http_fn", payload).at("ok").as_bool()) break;
    } catch (const std::exception& e) {
      if (attempt > 250) {
        std::cerr << "bench_http_function: the HTTP function never answered: " << e.what() << "\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  bool ok = true;
  for (int c : levels) {
    std::vector<bench::PhaseResult> rs;
    double elapsed = bench::run_phase(c, seconds, [&](int, uint64_t) { worker.trigger("bench::http_fn", payload); }, rs);
    ok &= bench::report("http_function_c" + std::to_string(c), "iii", c, elapsed, rs);
    std::vector<std::unique_ptr<DirectClient>> clients;
    for (int t = 0; t < c; ++t) clients.push_back(std::make_unique<DirectClient>(port));
    elapsed = bench::run_phase(c, seconds, [&](int t, uint64_t) { clients[t]->post(payload_text); }, rs);
    ok &= bench::report("http_function_c" + std::to_string(c), "direct", c, elapsed, rs);
  }
  std::quick_exit(ok ? 0 : 1);
}
