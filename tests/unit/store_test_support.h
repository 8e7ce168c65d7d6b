// What the store tests share (kv, stream, queue): names for the implementations of a typed
// conformance suite, and a child process that writes and is then killed with SIGKILL.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

namespace iii {

// Names typed-test instances after `T::kName` ("memory", "sqlite").
struct ImplementationNames {
  template <class T>
  static std::string GetName(int) {
    return T::kName;
  }
};

// Runs `work` in a forked child that then kills itself with SIGKILL (no destructor, no close, no
// checkpoint: objects the child makes should be leaked on purpose), and checks that it died so.
template <class Work>
void run_then_kill9(Work&& work) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    work();
    raise(SIGKILL);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
}

}  // namespace iii
