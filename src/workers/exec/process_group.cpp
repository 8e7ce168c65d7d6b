#include "workers/exec/process_group.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace iii {
namespace {

using Clock = std::chrono::steady_clock;

// What failed in the child before exec, reported to the parent through a close-on-exec pipe: a
// successful exec closes it with nothing written.
enum Stage : int { kSession = 1, kStdio, kChdir, kExec };
struct ChildFailure {
  int stage;
  int error;
};

const char* stage_text(int stage) {
  switch (stage) {
    case kSession: return "could not create its process group";
    case kStdio: return "could not set up its output";
    case kChdir: return "could not enter its directory";
    default: return "could not run /bin/sh";
  }
}

// Marks every descriptor from 3 up close-on-exec (the report pipe must stay open until exec, and
// the engine's sockets must not reach the child). Async-signal-safe.
void close_inherited(int fd_limit) {
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  for (int fd = 3; fd < fd_limit; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);  // kernels before 5.11
}

// Runs in the child between fork and exec: only async-signal-safe calls from here on.
[[noreturn]] void run_child(const char* const argv[], const char* cwd, const ChildStdio& stdio, int report,
                            pid_t parent, int fd_limit) {
  auto fail = [report](int stage) {
    const ChildFailure f{stage, errno};
    [[maybe_unused]] ssize_t n = write(report, &f, sizeof f);
    _exit(127);
  };
  if (setsid() < 0) fail(kSession);
  // Dies with the thread that started it, so a crashed engine leaves no child behind (its own
  // children are covered by the group kill of a normal stop).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the engine died before prctl took effect
  if (dup2(stdio.in, 0) < 0 || dup2(stdio.out, 1) < 0 || dup2(stdio.err, 2) < 0) fail(kStdio);
  close_inherited(fd_limit);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);  // an ignored SIGPIPE would survive exec
  if (chdir(cwd) != 0) fail(kChdir);
  execve("/bin/sh", const_cast<char* const*>(argv), environ);
  fail(kExec);
  _exit(127);
}

int fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 65536;
  return static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 1 << 20));
}

}  // namespace

pid_t spawn_command(const std::string& command, const std::filesystem::path& cwd, const ChildStdio& stdio) {
  // Everything the child uses is prepared before fork: the engine has other threads, so the child
  // must not allocate or take locks before exec.
  const std::string dir = cwd.string();
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  const int limit = fd_limit();
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(report[0]);
    close(report[1]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) run_child(argv, dir.c_str(), stdio, report[1], parent, limit);
  close(report[1]);
  ChildFailure failure{};
  ssize_t n;
  do n = read(report[0], &failure, sizeof failure);
  while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    waitpid(pid, nullptr, 0);  // it has exited (or is about to): _exit right after the write
    std::string why = std::string(stage_text(failure.stage)) + ": " + std::strerror(failure.error);
    if (failure.stage == kChdir) why += " (" + dir + ")";
    throw std::runtime_error(why);
  }
  return pid;
}

bool reap_leader(ProcessGroup& group) {
  if (group.leader_reaped) return true;
  int status = 0;
  const pid_t r = waitpid(group.pgid, &status, WNOHANG);
  if (r == group.pgid || (r < 0 && errno == ECHILD)) {
    group.leader_reaped = true;
    group.leader_status = r == group.pgid ? status : 0;
  }
  return group.leader_reaped;
}

bool group_alive(pid_t pgid) {
  if (killpg(pgid, 0) != 0 && errno != EPERM) return false;
  // kill() also finds zombies, and an orphaned zombie stays one for good under an init that does
  // not reap (some containers' PID 1): so look for a member that is not a zombie.
  DIR* proc = opendir("/proc");
  if (!proc) return true;
  bool running = false;
  char path[sizeof(dirent::d_name) + 16], stat[512];
  while (dirent* e = readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const ssize_t n = read(fd, stat, sizeof stat - 1);
    close(fd);
    if (n <= 0) continue;
    stat[n] = '\0';
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so parse after the last ')'.
    const char* rest = std::strrchr(stat, ')');
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (rest && std::sscanf(rest + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid && state != 'Z' &&
        state != 'X') {
      running = true;
      break;
    }
  }
  closedir(proc);
  return running;
}

StopResult stop_groups(std::vector<ProcessGroup>& groups, std::chrono::milliseconds grace,
                       const std::function<void(std::chrono::milliseconds)>& wait) {
  // Gone means: leader reaped (until then its group id cannot be reused) and no member running.
  auto forget_gone = [&] { std::erase_if(groups, [](ProcessGroup& g) { return reap_leader(g) && !group_alive(g.pgid); }); };
  auto settle = [&](Clock::time_point deadline) {
    for (;;) {
      forget_gone();
      const auto now = Clock::now();
      if (groups.empty() || now >= deadline) return;
      wait(std::min<std::chrono::milliseconds>(std::chrono::milliseconds(50),
                                               std::chrono::ceil<std::chrono::milliseconds>(deadline - now)));
    }
  };
  StopResult result;
  forget_gone();  // no signal to a group already gone
  for (const auto& g : groups) {
    killpg(g.pgid, SIGTERM);
    killpg(g.pgid, SIGCONT);  // a stopped process sees SIGTERM only once it runs
  }
  settle(Clock::now() + grace);
  if (groups.empty()) return result;
  result.killed = groups.size();
  for (const auto& g : groups) killpg(g.pgid, SIGKILL);
  settle(Clock::now() + std::chrono::seconds(2));
  for (const auto& g : groups) result.stuck.push_back(g.pgid);
  return result;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    std::string out = "killed by " + (name ? "SIG" + std::string(name) : "signal " + std::to_string(WTERMSIG(status)));
    if (WCOREDUMP(status)) out += " (core dumped)";
    return out;
  }
  return "wait status " + std::to_string(status);
}

}  // namespace iii
