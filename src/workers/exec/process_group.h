// Child processes of the iii-exec built-in (docs/builtins.md §11.3, §11.5): each command runs as
// `/bin/sh -c <command>` in a session and process group of its own, so that stopping it reaches
// every process it started (a `node` behind `npm run`, a `&` background job), not only the shell.
//
// Linux only (fork, setsid, prctl). Every function here is called from one thread, the runner's.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace iii {

// The descriptors a child gets as its stdin, stdout and stderr (all > 2 and close-on-exec in the
// engine, so no other child inherits them).
struct ChildStdio {
  int in = -1;
  int out = -1;
  int err = -1;
};

// Starts `/bin/sh -c command` in `cwd` with the engine's environment, in a new session whose
// process group id is the returned pid. The child gets `stdio`, no other descriptor of the engine
// (its listening sockets included), default signal handling, and SIGKILL when the thread that
// started it exits (PR_SET_PDEATHSIG: a crashed engine takes its children along). Returns once
// the shell runs; throws std::runtime_error when it could not be started (fork failed, `cwd` is
// missing), saying why.
pid_t spawn_command(const std::string& command, const std::filesystem::path& cwd, const ChildStdio& stdio);

// A process group this worker started. Its id is the pid of its first process, the shell.
struct ProcessGroup {
  pid_t pgid = -1;
  bool leader_reaped = false;
  int leader_status = 0;  // wait status, once reaped
};

// Reaps the group's leader if it has exited. True when it is (now or before) reaped.
bool reap_leader(ProcessGroup& group);
// Whether any process of the group still runs (zombies do not count).
bool group_alive(pid_t pgid);

// Stops every group: SIGTERM to each, up to `grace` for all of them to be gone (leader reaped,
// group_alive false), then SIGKILL to what is left and up to 2 s more. `wait` is called to pass
// the time in small steps (the runner reads output meanwhile). Returns how many groups needed
// SIGKILL. `groups` is empty afterwards, except for groups whose processes outlived even
// SIGKILL's wait (then `stuck` names them).
struct StopResult {
  size_t killed = 0;
  std::vector<pid_t> stuck;
};
StopResult stop_groups(std::vector<ProcessGroup>& groups, std::chrono::milliseconds grace,
                       const std::function<void(std::chrono::milliseconds)>& wait);

// "exit status 3", "killed by SIGSEGV", … for a wait status.
std::string describe_wait_status(int status);

}  // namespace iii
