// A C++ worker that provides `math::add`. Build: `make build`; run: ./build/hello_math_worker
// (connects to III_URL, default ws://localhost:49134).
#include <iii/iii.h>

#include <csignal>
#include <iostream>
#include <thread>

namespace json = boost::json;

int main() {
  static std::atomic<bool> stop{false};
  std::signal(SIGINT, [](int) { stop = true; });
  std::signal(SIGTERM, [](int) { stop = true; });

  iii::Worker worker({.name = "math-worker", .description = "adds numbers"});
  worker.register_function(
      "math::add",
      [](json::value payload) -> std::optional<json::value> {
        const auto& a = payload.at("a");
        const auto& b = payload.at("b");
        if (a.is_int64() && b.is_int64()) return json::value{{"c", a.as_int64() + b.as_int64()}};
        return json::value{{"c", a.to_number<double>() + b.to_number<double>()}};
      },
      {.description = "Add two numbers"});
  std::cout << "math-worker: serving math::add (Ctrl+C to stop)" << std::endl;
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return 0;
}
