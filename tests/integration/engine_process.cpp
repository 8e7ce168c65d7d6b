#include "engine_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace iii::test {
namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (auto& arg : args) out.push_back(arg.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string engine_binary() {
  const char* override_path = std::getenv("III_BINARY");
  return override_path && *override_path ? override_path : III_BINARY;
}

std::uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  auto address = loopback(0);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool port_accepts(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  auto address = loopback(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

EngineProcess::EngineProcess(std::string config_yaml, std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  char pattern[] = "/tmp/iii-engine-XXXXXX";
  if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
  directory_ = pattern;
  std::ofstream(directory_ + "/config.yaml") << config_yaml;
  port_ = free_loopback_port();
  try {
    start();
  } catch (...) {
    std::error_code ignored;  // no destructor runs for a half-built object
    std::filesystem::remove_all(directory_, ignored);
    throw;
  }
}

EngineProcess::~EngineProcess() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

void EngineProcess::start() {
  if (running()) return;
  std::vector<std::string> args{engine_binary(), "--port", std::to_string(port_), "--host", "127.0.0.1"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  auto argv = c_argv(args);
  std::string log_path = directory_ + "/engine.log";

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {  // child: only async-signal-safe calls until exec
    if (::chdir(directory_.c_str()) != 0) ::_exit(126);
    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::close_range(3, ~0U, 0);  // the test's own sockets must not live on in the engine
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }

  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    if (port_accepts(port_)) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("engine exited during startup:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill_hard();
  throw std::runtime_error("engine did not accept connections within 10 s:\n" + log());
}

void EngineProcess::wait_for_exit(std::chrono::milliseconds deadline) {
  auto until = Clock::now() + deadline;
  while (running()) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_ || done < 0) {
      pid_ = -1;
      return;
    }
    if (Clock::now() >= until) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void EngineProcess::kill_hard() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  wait_for_exit(std::chrono::seconds(5));
}

void EngineProcess::stop() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  wait_for_exit(std::chrono::seconds(5));
  kill_hard();
}

std::string EngineProcess::log() const {
  std::ifstream in(directory_ + "/engine.log");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

CommandResult run_command(const std::vector<std::string>& argv_in, std::chrono::milliseconds deadline) {
  CommandResult result;
  auto args = argv_in;
  auto argv = c_argv(args);
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  auto started = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::close_range(3, ~0U, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_pipes = 2;
  auto until = started + deadline;
  while (open_pipes > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds, 2, static_cast<int>(left)) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buffer[4096];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_pipes;
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  if (!result.timed_out && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

}  // namespace iii::test
