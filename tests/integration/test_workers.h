// Shared helpers for the SDK integration tests: worker options tuned for tests and bounded waits.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "engine_process.h"
#include "iii/iii.h"

namespace iii::test {

using namespace std::chrono_literals;

// Polls `condition` every 10 ms until it holds or `timeout` passes; returns the last answer.
inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

// Fast reconnects and a short default timeout, so failures show up quickly.
inline WorkerOptions test_options(const EngineProcess& engine, std::string name) {
  WorkerOptions options;
  options.url = engine.url();
  options.name = std::move(name);
  options.invocation_timeout = 10s;
  options.reconnect_initial_delay = 100ms;
  options.reconnect_max_delay = 1000ms;
  return options;
}

inline std::unique_ptr<Worker> connected_worker(const EngineProcess& engine, std::string name) {
  auto worker = std::make_unique<Worker>(test_options(engine, std::move(name)));
  if (!worker->wait_connected(5s)) throw std::runtime_error("worker did not connect: " + worker->last_error());
  return worker;
}

// Registrations from one connection and calls from another are not ordered by the engine: wait
// until `function_id` is visible to `caller` before relying on it.
inline bool wait_function_visible(Worker& caller, const std::string& function_id) {
  return wait_until([&] {
    try {
      caller.trigger({.function_id = "engine::functions::info", .payload = {{"function_id", function_id}}});
      return true;
    } catch (const InvocationError&) {
      return false;
    }
  });
}

}  // namespace iii::test
