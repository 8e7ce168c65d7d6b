// Test helpers that run real processes: the engine binary (III_BINARY) on a free loopback port in
// a temporary working directory, and one-shot commands such as `iii trigger` with a deadline.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace iii::test {

// The engine binary under test: env III_BINARY when set, else the one this test was built with.
std::string engine_binary();

// A loopback port that was free a moment ago.
std::uint16_t free_loopback_port();

// True when something accepts TCP connections on 127.0.0.1:port.
bool port_accepts(std::uint16_t port);

class EngineProcess {
 public:
  // Only the worker socket and the engine's own functions: no fixed ports (such as the HTTP
  // trigger's 3111) that would collide with a parallel test run.
  static constexpr const char* kMinimalConfig = "workers: []\n";

  // Writes `config_yaml` to config.yaml in a fresh temporary directory, starts
  // `engine_binary() --port <free port> --host 127.0.0.1 <extra_args>` there, and waits (up to
  // 10 s) until the port accepts connections. Throws std::runtime_error (with the engine's log)
  // when it does not come up.
  explicit EngineProcess(std::string config_yaml = kMinimalConfig, std::vector<std::string> extra_args = {});
  // SIGTERM, SIGKILL after a deadline, then removes the temporary directory.
  ~EngineProcess();
  EngineProcess(const EngineProcess&) = delete;
  EngineProcess& operator=(const EngineProcess&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }
  const std::string& directory() const { return directory_; }
  bool running() const { return pid_ > 0; }

  void kill_hard();  // SIGKILL: the engine vanishes without closing its sockets politely
  void stop();       // SIGTERM, then SIGKILL after 5 s
  void start();      // (re)starts on the same port and directory; waits until it accepts

  // Everything the engine wrote to stdout/stderr so far.
  std::string log() const;

 private:
  void wait_for_exit(std::chrono::milliseconds deadline);

  std::vector<std::string> extra_args_;
  std::string directory_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed (deadline) or by a signal
  std::string out, err;
  bool timed_out = false;
  std::chrono::milliseconds elapsed{0};
};

// Runs argv[0] with argv, capturing stdout and stderr; killed with SIGKILL at the deadline.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds deadline);

}  // namespace iii::test
