// What the store tests share (kv, stream, queue): names for the implementations of a typed
// conformance suite, a child process that writes and is then killed with SIGKILL, and a wait for
// an asynchronous form's answer.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>

#include "store/kv_store.h"

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

// Waits (at most 10 s) for the answer of an asynchronous form; rethrows its error.
template <class T>
T await_answer(const std::function<void(KvDone<T>)>& launch) {
  auto answer = std::make_shared<std::promise<T>>();
  std::future<T> got = answer->get_future();
  launch([answer](std::exception_ptr e, T value) {
    if (e) answer->set_exception(e);
    else answer->set_value(std::move(value));
  });
  if (got.wait_for(std::chrono::seconds(10)) != std::future_status::ready) throw std::runtime_error("no answer in 10 s");
  return got.get();
}

}  // namespace iii
