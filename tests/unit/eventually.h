// Waiting in tests for something another thread or process does: polls `done` every 10 ms and
// gives up after `limit`, so a test that waits always ends.
#pragma once
#include <chrono>
#include <thread>

namespace iii::testing {

template <class Pred>
bool eventually(Pred done, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace iii::testing
