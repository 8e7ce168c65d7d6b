// Scale and cost benchmark (issue 5, item 7 / brief item 6). Starts its own server processes so it
// can time them from exec to listening:
//   - start-up time: exec to the first accepted TCP connect (median of 3 starts)
//   - resident memory (VmRSS) idle, 1 s after start
//   - with N idle worker connections: raw WebSocket upgrades (GET / -> 101) that then stay
//     silent; per-connection figure = (RSS with N - idle RSS) / N
//   - with 100,000 registered functions (one C++ SDK worker registers them; ready when a second
//     connection can call the last one), and the time to get there
// Peer: nats-server with the same steps (N connections that sent CONNECT and got PONG; 100,000
// subscriptions on one connection as the analogue of registered functions).
//
//   bench_scale --engine-bin build-release/iii [--nats-bin nats-server] [--conns 1000,10000]
//               [--functions 100000] [--system iii|nats|both]
#include <iii/iii.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "common.h"

namespace json = boost::json;
using bench::Clock;

namespace {

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (sockaddr*)&a, sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, (sockaddr*)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (sockaddr*)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool read_until(int fd, const std::string& marker, std::string& got) {
  char buf[4096];
  while (got.find(marker) == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    got.append(buf, n);
  }
  return true;
}

struct Server {
  pid_t pid = -1;
  int port = 0;
  double startup_ms = -1;
};

// exec argv (with "{PORT}" replaced), wait until the port accepts.
Server start_server(std::vector<std::string> argv) {
  Server s;
  s.port = free_port();
  for (auto& a : argv)
    if (auto p = a.find("{PORT}"); p != std::string::npos) a.replace(p, 6, std::to_string(s.port));
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  auto t0 = Clock::now();
  s.pid = fork();
  if (s.pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  while (bench::seconds_since(t0) < 10) {
    int fd = connect_to(s.port);
    if (fd >= 0) {
      close(fd);
      s.startup_ms = bench::seconds_since(t0) * 1000;
      return s;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return s;
}

void stop_server(Server& s) {
  if (s.pid <= 0) return;
  kill(s.pid, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    if (waitpid(s.pid, nullptr, WNOHANG) == s.pid) { s.pid = -1; return; }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(s.pid, SIGKILL);
  waitpid(s.pid, nullptr, 0);
  s.pid = -1;
}

// Median start-up of 3; returns the last server, left running.
Server start_measured(const std::vector<std::string>& argv, double& median_ms) {
  std::vector<double> ms;
  Server s;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) stop_server(s);
    s = start_server(argv);
    ms.push_back(s.startup_ms);
  }
  std::sort(ms.begin(), ms.end());
  median_ms = ms[1];
  return s;
}

// N silent connections: WebSocket upgrades (iii) or CONNECT+PING/PONG (nats).
std::vector<int> open_idle(int port, int n, bool websocket) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = connect_to(port);
    if (fd < 0) break;
    std::string got;
    if (websocket) {
      std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
      (void)!write(fd, req.data(), req.size());
      if (!read_until(fd, "\r\n\r\n", got) || got.find(" 101 ") == std::string::npos) { close(fd); break; }
    } else {
      std::string req = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n";
      (void)!write(fd, req.data(), req.size());
      if (!read_until(fd, "PONG\r\n", got)) { close(fd); break; }
    }
    fds.push_back(fd);
  }
  return fds;
}

void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(1000)); }

void emit(const std::string& bench_name, const std::string& system, double value, const std::string& unit) {
  bench::Line().s("bench", bench_name).s("system", system).n("value", value).s("unit", unit).print();
}

void measure(const std::string& system, const std::vector<std::string>& argv, const std::vector<int>& conns,
             int functions) {
  const bool iii_sys = system == "iii";
  double startup_ms = 0;
  Server s = start_measured(argv, startup_ms);
  if (s.startup_ms < 0) {
    std::cerr << system << ": server did not start\n";
    stop_server(s);
    return;
  }
  emit("scale_startup", system, startup_ms, "ms");
  settle();
  const long idle = bench::process_rss_kib(s.pid);
  emit("scale_idle_rss", system, idle / 1024.0, "MiB");
  for (int n : conns) {
    auto fds = open_idle(s.port, n, iii_sys);
    settle();
    const long rss = bench::process_rss_kib(s.pid);
    if ((int)fds.size() != n) std::cerr << system << ": only " << fds.size() << " of " << n << " connections opened\n";
    else emit("scale_conn_" + std::to_string(n), system, (rss - idle) * 1024.0 / n, "bytes/conn");
    emit("scale_rss_" + std::to_string(n) + "_conns", system, rss / 1024.0, "MiB");
    for (int fd : fds) close(fd);
    settle();
  }
  // A fresh server for the functions step: the allocator keeps what the connections used.
  stop_server(s);
  s = start_server(argv);
  settle();
  const long before = bench::process_rss_kib(s.pid);
  auto t0 = Clock::now();
  if (iii_sys) {
    const std::string url = "ws://127.0.0.1:" + std::to_string(s.port);
    iii::Worker owner({.url = url, .name = "bench-many", .max_queued_messages = size_t(functions) + 16, .quiet = true});
    iii::Worker caller({.url = url, .name = "bench-many-caller", .quiet = true});
    auto handler = [](json::value) -> std::optional<json::value> { return json::value(1); };
    for (int i = 0; i < functions; ++i) owner.register_function("bench::f" + std::to_string(i), handler);
    caller.wait_connected(std::chrono::seconds(10));
    bool ready = false;
    while (!ready && bench::seconds_since(t0) < 120) {
      try {
        caller.trigger({.function_id = "bench::f" + std::to_string(functions - 1), .payload = nullptr,
                        .timeout = std::chrono::milliseconds(5000)});
        ready = true;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    const double secs = bench::seconds_since(t0);
    settle();
    const long rss = bench::process_rss_kib(s.pid);
    if (ready) {
      emit("scale_register_100k", system, secs * 100000.0 / functions, "s");
      emit("scale_rss_100k_functions", system, rss / 1024.0, "MiB");
      emit("scale_function_bytes", system, (rss - before) * 1024.0 / functions, "bytes/function");
    } else {
      std::cerr << "iii: functions never became callable\n";
    }
    owner.shutdown();
    caller.shutdown();
  } else {
    int fd = connect_to(s.port);
    std::string got;
    read_until(fd, "\r\n", got);
    std::string batch = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
    for (int i = 0; i < functions; ++i) {
      batch += "SUB bench.f" + std::to_string(i) + " " + std::to_string(i + 1) + "\r\n";
      if (batch.size() > 65536) { (void)!write(fd, batch.data(), batch.size()); batch.clear(); }
    }
    batch += "PING\r\n";
    (void)!write(fd, batch.data(), batch.size());
    got.clear();
    read_until(fd, "PONG\r\n", got);
    const double secs = bench::seconds_since(t0);
    settle();
    const long rss = bench::process_rss_kib(s.pid);
    emit("scale_register_100k", system, secs * 100000.0 / functions, "s");
    emit("scale_rss_100k_functions", system, rss / 1024.0, "MiB");
    emit("scale_function_bytes", system, (rss - before) * 1024.0 / functions, "bytes/function");
    close(fd);
  }
  stop_server(s);
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  bench::Args args(argc, argv);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;  // the servers inherit it
  setrlimit(RLIMIT_NOFILE, &rl);
  std::vector<int> conns;
  {
    std::stringstream ss(args.str("conns", "1000,10000"));
    for (std::string c; std::getline(ss, c, ',');)
      if (int n = std::atoi(c.c_str()); n > 0 && rlim_t(n) + 64 < rl.rlim_cur) conns.push_back(n);
      else std::cerr << "skipping " << c << " connections: open-file limit " << rl.rlim_cur << "\n";
  }
  const int functions = static_cast<int>(args.num("functions", 100000));
  const std::string system = args.str("system", "both");
  const std::string config = "/tmp/bench_scale_" + std::to_string(getpid()) + ".yaml";
  // iii-observability as users get it by default (on, spans in memory, trace archive on disk), named
  // explicitly so that its archive goes to /tmp rather than ./data of the directory run.sh runs in.
  const std::string traces = "/tmp/bench_scale_" + std::to_string(getpid()) + "_traces";
  {
    std::ofstream(config) << "workers:\n  - name: iii-observability\n    config: { enabled: true, exporter: memory, "
                             "sampling_ratio: 1.0, trace_storage: { directory: " << traces << " } }\n";
  }
  if (system != "nats")
    measure("iii", {args.str("engine-bin", "build-release/iii"), "--port", "{PORT}", "--host", "127.0.0.1",
                    "--config", config}, conns, functions);
  if (system != "iii")
    measure("nats", {args.str("nats-bin", "nats-server"), "-a", "127.0.0.1", "-p", "{PORT}"}, conns, functions);
  unlink(config.c_str());
  std::error_code ignored;
  std::filesystem::remove_all(traces, ignored);
  std::quick_exit(0);
}
