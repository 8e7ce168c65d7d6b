// A C++ worker that provides `math::add`. Build: `make build`; run: ./build/example_math_worker
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
        const auto& in = payload.as_object();
        const double c = in.at("a").to_number<double>() + in.at("b").to_number<double>();
        return json::value{{"c", c}};
      },
      {.description = "Add two numbers"});
  std::cout << "math-worker: serving math::add (Ctrl+C to stop)" << std::endl;
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return 0;
}
