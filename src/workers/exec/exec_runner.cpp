#include "workers/exec/exec_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace iii {
namespace {

using std::chrono::milliseconds;

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Moves `fd` to a number above 2, close-on-exec, so that it can never be mistaken for (or
// clobbered as) a child's stdin, stdout or stderr when the engine runs with those closed.
int above_stdio(int fd) {
  if (fd > 2) return fd;
  const int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  if (moved < 0) throw std::runtime_error(std::string("fcntl: ") + std::strerror(errno));
  return moved;
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// A pipe whose read end does not block: [read, write], both close-on-exec.
std::pair<int, int> output_pipe() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const int r = above_stdio(p[0]), w = above_stdio(p[1]);
  fcntl(r, F_SETFL, fcntl(r, F_GETFL) | O_NONBLOCK);
  return {r, w};
}

}  // namespace

ExecRunner::ExecRunner(ExecConfig config)
    : config_(std::move(config)),
      tag_("iii-exec [" + config_.name + "]"),
      backoff_(config_.restart_delay, config_.restart_max_delay) {}

ExecRunner::~ExecRunner() {
  stop();
  for (int* fd : {&out_read_, &out_write_, &err_read_, &err_write_, &null_, &wake_}) close_fd(*fd);
}

void ExecRunner::start() {
  std::tie(out_read_, out_write_) = output_pipe();
  std::tie(err_read_, err_write_) = output_pipe();
  null_ = above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
  wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  if (!config_.watch.empty())
    watcher_ = std::make_unique<ExecFileWatcher>(config_.watch, [this](const std::string& w) { spdlog::warn("{}: watch {}", tag_, w); });
  thread_ = std::thread([this] { run(); });
}

void ExecRunner::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_, &one, sizeof one);
  thread_.join();
}

void ExecRunner::run() {
  try {
    start_step(0);
    auto next_prune = Clock::now() + std::chrono::seconds(1);
    while (!stopping_) {
      // Exits are noticed by polling waitpid every 100 ms while a step runs (no SIGCHLD handler:
      // the engine's signals belong to main.cpp).
      auto now = Clock::now();
      auto until = std::min(next_prune, now + (running_ ? milliseconds(100) : milliseconds(1000)));
      if (restart_at_) until = std::min(until, *restart_at_);
      if (change_due_) until = std::min(until, *change_due_);
      pollfd fds[4] = {{wake_, POLLIN, 0}, {out_read_, POLLIN, 0}, {err_read_, POLLIN, 0},
                       {watcher_ ? watcher_->fd() : -1, POLLIN, 0}};
      const auto timeout = std::chrono::ceil<milliseconds>(until - now).count();
      poll(fds, 4, static_cast<int>(std::max<int64_t>(0, timeout)));
      if (fds[0].revents) {
        uint64_t count;
        [[maybe_unused]] ssize_t n = read(wake_, &count, sizeof count);
      }
      drain_output();
      if (fds[3].revents)
        if (auto changed = watcher_->read_changes(); changed && !change_due_) {
          change_due_ = Clock::now() + kWatchDebounce;
          change_ = *changed;
        }
      if (running_) {
        auto it = std::find_if(groups_.begin(), groups_.end(), [&](const ProcessGroup& g) { return g.pgid == *running_; });
        if (it != groups_.end() && reap_leader(*it)) on_step_exit(it->leader_status);
      }
      now = Clock::now();
      if (change_due_ && now >= *change_due_) restart_for_change(change_);
      if (restart_at_ && now >= *restart_at_) {
        restart_at_.reset();
        start_step(0);
      }
      if (now >= next_prune) {
        prune_finished_groups();
        next_prune = now + std::chrono::seconds(1);
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("{}: stopped by an internal error: {}", tag_, e.what());
  }
  if (!groups_.empty()) spdlog::info("{}: stopping: SIGTERM to its process group(s)", tag_);
  stop_run();
  drain_output();
  auto log_line = [this](std::string_view line, bool) { spdlog::info("[{}] {}", config_.name, line); };
  out_lines_.flush(log_line);
  err_lines_.flush(log_line);
}

void ExecRunner::start_step(size_t step) {
  step_ = step;
  const std::string& command = config_.commands[step];
  const size_t n = config_.commands.size();
  if (n > 1) spdlog::info("{}: starting step {}/{}: {}", tag_, step + 1, n, command);
  else spdlog::info("{}: starting {}", tag_, command);
  try {
    const pid_t pid = spawn_command(command, config_.cwd, ChildStdio{null_, out_write_, err_write_});
    groups_.push_back(ProcessGroup{pid});
    running_ = pid;
    step_started_ = Clock::now();
  } catch (const std::runtime_error& e) {
    spdlog::error("{}: cannot start `{}`: {}", tag_, command, e.what());
    stop_run();
    schedule_restart(false);
  }
}

void ExecRunner::on_step_exit(int status) {
  running_.reset();
  const std::string& command = config_.commands[step_];
  const bool last = step_ + 1 == config_.commands.size();
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!last && ok) return start_step(step_ + 1);
  const auto ran = Clock::now() - step_started_;
  if (!last) {
    spdlog::error("{}: step {}/{} `{}` failed ({}): the pipeline stops here", tag_, step_ + 1,
                  config_.commands.size(), command, describe_wait_status(status));
  } else {
    spdlog::warn("{}: `{}` exited ({}) after {:.1f} s", tag_, command, describe_wait_status(status), seconds(ran));
  }
  stop_run();  // what the run left behind (background jobs) goes with it
  schedule_restart(last && ran >= config_.restart_reset);
}

void ExecRunner::schedule_restart(bool ran_long) {
  if (ran_long) backoff_.reset();
  const milliseconds delay = backoff_.next();
  restart_at_ = Clock::now() + delay;
  ++restarts_;
  spdlog::warn("{}: restarting the pipeline in {:.1f} s (restart {})", tag_, seconds(delay), restarts_);
}

void ExecRunner::restart_for_change(const std::string& what) {
  spdlog::info("{}: {} changed: restarting the pipeline", tag_, relative(what));
  change_due_.reset();
  restart_at_.reset();
  running_.reset();
  stop_run();
  // Changes made while the old run was stopping are already there for the new run to see.
  if (watcher_) watcher_->read_changes();
  backoff_.reset();
  start_step(0);
}

void ExecRunner::stop_run() {
  running_.reset();
  if (groups_.empty()) return;
  const StopResult r = stop_groups(groups_, config_.stop_grace, [this](milliseconds ms) { wait_for_output(ms); });
  if (r.killed > 0)
    spdlog::warn("{}: {} process group(s) still running {:.1f} s after SIGTERM: sent SIGKILL", tag_, r.killed,
                 seconds(config_.stop_grace));
  for (pid_t pgid : r.stuck) spdlog::warn("{}: process group {} survived SIGKILL (uninterruptible?); still watching it", tag_, pgid);
}

void ExecRunner::prune_finished_groups() {
  // Groups of steps that finished but left processes behind: forget them once those are gone.
  std::erase_if(groups_, [this](ProcessGroup& g) {
    return (!running_ || g.pgid != *running_) && reap_leader(g) && !group_alive(g.pgid);
  });
}

void ExecRunner::drain_output() {
  auto log_line = [this](std::string_view line, bool cut) {
    if (cut) spdlog::info("[{}] {} [line cut at {} bytes]", config_.name, line, kMaxLineBytes);
    else spdlog::info("[{}] {}", config_.name, line);
  };
  char buf[16 * 1024];
  for (auto [fd, lines] : {std::pair{out_read_, &out_lines_}, std::pair{err_read_, &err_lines_}}) {
    // Bounded per call, so that a child writing without pause cannot starve the loop.
    for (int i = 0; i < 16; ++i) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      lines->feed(std::string_view(buf, static_cast<size_t>(n)), log_line);
    }
  }
}

void ExecRunner::wait_for_output(milliseconds ms) {
  pollfd fds[2] = {{out_read_, POLLIN, 0}, {err_read_, POLLIN, 0}};
  if (poll(fds, 2, static_cast<int>(ms.count())) > 0) drain_output();
}

std::string ExecRunner::relative(const std::string& path) const {
  const std::filesystem::path rel = std::filesystem::path(path).lexically_relative(config_.cwd);
  return rel.empty() || rel.begin()->string() == ".." ? path : rel.string();
}

}  // namespace iii
