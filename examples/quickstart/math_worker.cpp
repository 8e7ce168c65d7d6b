// The Quickstart's math worker in C++ (our SDK): `math::add` adds two integers and adds the sum
// to a running total kept in engine state (scope "quickstart", key "total").
// Run: ./build/quickstart_math_worker   (III_URL defaults to ws://localhost:49134)
#include <iii/iii.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

namespace json = boost::json;

int main() {
  static std::atomic<bool> stop{false};
  std::signal(SIGINT, [](int) { stop = true; });
  std::signal(SIGTERM, [](int) { stop = true; });

  iii::Worker worker({.name = "math-worker", .description = "adds numbers and keeps a running total"});
  worker.register_function(
      "math::add",
      [&worker](json::value payload) -> std::optional<json::value> {
        const json::value& a = payload.at("a");
        const json::value& b = payload.at("b");
        if (!a.is_int64() || !b.is_int64()) throw std::invalid_argument("a and b must be integers");
        const int64_t c = a.as_int64() + b.as_int64();
        // One atomic update: the running total and how many sums went into it.
        json::value updated = worker.trigger(
            "state::update",
            {{"scope", "quickstart"},
             {"key", "total"},
             {"ops", json::array{json::object{{"type", "increment"}, {"path", "sum"}, {"by", c}},
                                 json::object{{"type", "increment"}, {"path", "count"}, {"by", 1}}}}});
        return json::value{{"c", c}, {"total", updated.at("new_value").at("sum")}};
      },
      {.description = "Add two integers and add the sum to the running total",
       .request_format = json::parse(R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["a","b"]})")});
  std::cout << "math-worker (C++): serving math::add" << std::endl;
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return 0;
}
