// HTTP trigger benchmark (issue 5, item 4): `wrk` against a POST route of our engine's HTTP worker
// whose function runs in a C++ SDK worker (this process), and the same `wrk` against a minimal
// direct-answer HTTP server (also this process: one epoll thread, keep-alive) - the floor.
//
//   bench_http --engine-url ws://127.0.0.1:P --http-url http://127.0.0.1:H [--connections 1,64]
//              [--seconds 5] [--system iii|floor|both] [--peers NAME=URL,NAME=URL...]
//
// Ours is measured three ways per connection count: `iii` with the handler on the SDK's handler pool
// (the default), `iii-inline` with it on the SDK's I/O thread (FunctionOptions::run_inline), as the
// floor and bench_upstream answer on the thread that read the request, and `iii-raw` inline with
// the SDK's raw form (register_raw_function: the request's JSON text in, the answer's text out, no
// DOM), as bench_upstream writes a fixed answer without parsing the request.
// Both answer 200 with {"ok":true}; the request body is the 200-byte JSON payload. --peers: more
// HTTP servers measured with the same wrk runs after ours and the floor, each line's `system` the
// NAME (run.sh: nginx as a keep-alive reverse proxy in front of bench_upstream, which answers as the
// floor does, with worker_processes 1 and auto).
#include <iii/iii.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>
#include <unordered_map>

#include "common.h"
#include "floor_server.h"

namespace json = boost::json;

namespace {

struct WrkResult {
  double rps = 0, p50_us = 0, p99_us = 0;
  bool ok = false;
  std::string error;
};

double to_us(double v, const std::string& unit) {
  if (unit == "us") return v;
  if (unit == "ms") return v * 1000;
  if (unit == "s") return v * 1e6;
  return v;
}

WrkResult run_wrk(const std::string& url, int connections, double seconds, const std::string& script) {
  int threads = std::min(connections, 2);
  std::string cmd = "wrk -t" + std::to_string(threads) + " -c" + std::to_string(connections) + " -d" +
                    std::to_string(std::max(1, (int)(seconds + 0.5))) + "s --latency -s " + script + " " + url +
                    " 2>&1";
  WrkResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) r.rps = std::stod(m[1]);
  if (std::regex_search(out, m, std::regex(R"(\n\s+50%\s+([0-9.]+)(us|ms|s))"))) r.p50_us = to_us(std::stod(m[1]), m[2]);
  if (std::regex_search(out, m, std::regex(R"(\n\s+99%\s+([0-9.]+)(us|ms|s))"))) r.p99_us = to_us(std::stod(m[1]), m[2]);
  r.ok = r.rps > 0 && out.find("Non-2xx") == std::string::npos && out.find("Socket errors") == std::string::npos;
  if (!r.ok) r.error = out;
  return r;
}

// One blocking POST; returns the status code (0 on failure).
int post_once(int port, const std::string& path, const std::string& body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (sockaddr*)&a, sizeof a) != 0) { close(fd); return 0; }
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  (void)!write(fd, req.data(), req.size());
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 12) return 0;
  return std::atoi(buf + 9);
}

// The HTTP trigger's function: on the SDK's handler pool, or inline on its I/O thread; with
// `raw`, inline on JSON text.
void register_handler(iii::Worker& worker, bool run_inline, bool raw = false) {
  if (raw) {
    worker.register_raw_function(
        "bench::http",
        [](std::string_view) -> std::optional<std::string> { return R"({"status_code":200,"body":{"ok":true}})"; },
        {.run_inline = true});
    return;
  }
  worker.register_function(
      "bench::http",
      [](json::value) -> std::optional<json::value> {
        return json::value{{"status_code", 200}, {"body", {{"ok", true}}}};
      },
      {.run_inline = run_inline});
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bench::Args args(argc, argv);
  const double seconds = args.num("seconds", 5);
  const std::string system = args.str("system", "both");
  std::vector<int> conns;
  {
    std::stringstream ss(args.str("connections", "1,64"));
    for (std::string c; std::getline(ss, c, ',');) conns.push_back(std::atoi(c.c_str()));
  }
  const std::string payload = bench::make_payload(200);
  const std::string script = "/tmp/bench_http_" + std::to_string(getpid()) + ".lua";
  {
    std::ofstream f(script);
    f << "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '" << payload
      << "'\n";
  }

  std::unique_ptr<iii::Worker> worker;
  std::string engine_http = args.str("http-url");  // http://127.0.0.1:H
  int engine_http_port = 0;
  if (system != "floor") {
    engine_http_port = std::atoi(engine_http.c_str() + engine_http.rfind(':') + 1);
    worker = std::make_unique<iii::Worker>(
        iii::WorkerOptions{.url = args.str("engine-url"), .name = "bench-http", .handler_threads = 4, .quiet = true});
    register_handler(*worker, false);
    worker->register_trigger({.trigger_type = "http",
                              .function_id = "bench::http",
                              .config = {{"api_path", "bench"}, {"http_method", "POST"}}});
    int status = 0;
    for (int i = 0; i < 250 && status != 200; ++i) {
      status = post_once(engine_http_port, "/bench", payload);
      if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (status != 200) {
      std::cerr << "bench_http: POST /bench on the engine never answered 200 (last " << status << ")\n";
      return 1;
    }
  }
  std::vector<std::pair<std::string, std::string>> peers;  // name, base URL
  {
    std::stringstream ss(args.str("peers", ""));
    for (std::string p; std::getline(ss, p, ',');)
      if (auto eq = p.find('='); eq != std::string::npos) peers.emplace_back(p.substr(0, eq), p.substr(eq + 1));
  }
  bench::FloorServer floor;
  int floor_port = system != "iii" ? floor.start() : 0;

  int rc = 0;
  for (int c : conns) {
    std::vector<std::pair<std::string, std::string>> targets;
    if (system != "floor") {
      targets.emplace_back("iii", engine_http + "/bench");
      targets.emplace_back("iii-inline", engine_http + "/bench");
      targets.emplace_back("iii-raw", engine_http + "/bench");
    }
    if (system != "iii") targets.emplace_back("floor", "http://127.0.0.1:" + std::to_string(floor_port) + "/bench");
    for (auto& [name, base] : peers) targets.emplace_back(name, base + "/bench");
    for (auto& [sys, url] : targets) {
      if (sys.starts_with("iii")) {  // registering again replaces the handler and its options
        register_handler(*worker, sys == "iii-inline", sys == "iii-raw");
        if (post_once(engine_http_port, "/bench", payload) != 200) {
          std::cerr << "bench_http: POST /bench failed after re-registering the handler\n";
          rc = 1;
          continue;
        }
      }
      WrkResult r = run_wrk(url, c, seconds, script);
      if (!r.ok) {
        std::cerr << "bench_http: wrk against " << sys << " failed:\n" << r.error << "\n";
        rc = 1;
        continue;
      }
      bench::Line().s("bench", "http_c" + std::to_string(c)).s("system", sys).n("connections", c)
          .n("req_per_s", r.rps).n("p50_us", r.p50_us).n("p99_us", r.p99_us).print();
    }
  }
  unlink(script.c_str());
  std::quick_exit(rc);
}
