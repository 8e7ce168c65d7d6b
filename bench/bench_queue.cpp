// Queue benchmark (issue 5, item 6): durable enqueue (TriggerAction Enqueue on a named queue; the
// receipt means the message is stored) to delivered-and-acknowledged (the consumer function
// returned), end to end through the engine's built-in queue.
//
//   bench_queue --url ws://127.0.0.1:P [--queue bench] [--producers 16] [--seconds 5] [--label L]
//
// Producers: N threads on one C++ SDK connection, one enqueue in flight each. Consumer: one C++ SDK
// worker serving bench::consume. Latency = consumer start - enqueue call start (same process, same
// steady clock). Throughput = messages delivered / (last delivery - first enqueue), after the
// backlog drained (at most 15 s). Peer (issue 14): NATS JetStream in the same shape,
// bench_queue_jetstream.cpp.
#include <iii/iii.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>
#include <thread>

#include "common.h"

namespace json = boost::json;
using bench::Clock;

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bench::Args args(argc, argv);
  const std::string url = args.str("url");
  const std::string queue = args.str("queue", "bench");
  const int producers = static_cast<int>(args.num("producers", 16));
  const double seconds = args.num("seconds", 5);
  const std::string pad(160, 'q');

  std::mutex mu;
  bench::Latencies lat;
  std::atomic<uint64_t> delivered{0};
  std::atomic<int64_t> last_delivery_ns{0};
  auto now_ns = [] { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); };

  iii::Worker consumer({.url = url, .name = "bench-queue-consumer", .handler_threads = 16, .quiet = true});
  consumer.register_function("bench::consume", [&](json::value p) -> std::optional<json::value> {
    const int64_t t = now_ns();
    const int64_t sent = p.at("t").as_int64();
    {
      std::lock_guard lock(mu);
      lat.add(std::chrono::nanoseconds(t - sent));
    }
    last_delivery_ns = t;
    ++delivered;
    return json::value(nullptr);
  });
  iii::Worker producer({.url = url, .name = "bench-queue-producer", .quiet = true});
  if (!consumer.wait_connected(std::chrono::seconds(10)) || !producer.wait_connected(std::chrono::seconds(10))) {
    std::cerr << "bench_queue: not connected\n";
    return 1;
  }
  // Wait until bench::consume is routable (a direct call), so no enqueue waits for registration.
  for (int i = 0;; ++i) {
    try {
      producer.trigger("bench::consume", {{"t", now_ns()}});
      break;
    } catch (const std::exception& e) {
      if (i > 250) { std::cerr << "bench_queue: consumer not routable: " << e.what() << "\n"; return 1; }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  {
    std::lock_guard lock(mu);
    lat = {};
  }
  delivered = 0;

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> enqueued{0};
  std::string error;
  std::mutex error_mu;
  const int64_t start_ns = now_ns();
  std::vector<std::thread> threads;
  for (int t = 0; t < producers; ++t)
    threads.emplace_back([&] {
      try {
        while (!stop.load(std::memory_order_relaxed)) {
          json::value r = producer.trigger({.function_id = "bench::consume",
                                            .payload = {{"t", now_ns()}, {"pad", pad}},
                                            .action = iii::Enqueue{queue}});
          if (!r.is_object() || !r.as_object().contains("messageReceiptId"))
            throw std::runtime_error("enqueue answered without messageReceiptId: " + json::serialize(r));
          ++enqueued;
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(error_mu);
        error = e.what();
        stop = true;
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double enqueue_s = (now_ns() - start_ns) / 1e9;
  if (!error.empty()) {
    std::cerr << "bench_queue: " << error << "\n";
    std::quick_exit(1);
  }
  const auto drain_start = Clock::now();
  while (delivered.load() < enqueued.load() && bench::seconds_since(drain_start) < 15)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const uint64_t n = delivered.load();
  if (n < enqueued.load()) std::cerr << "bench_queue: " << enqueued.load() - n << " messages not delivered within 15 s\n";
  const double span = (last_delivery_ns.load() - start_ns) / 1e9;
  std::lock_guard lock(mu);
  bench::Line().s("bench", "queue").s("system", args.str("label", "iii")).n("producers", producers).n("enqueued", enqueued.load())
      .n("delivered", n).n("enqueue_per_s", enqueued.load() / enqueue_s).n("msgs_per_s", n / span)
      .n("p50_us", lat.pct_us(0.5)).n("p99_us", lat.pct_us(0.99)).print();
  std::quick_exit(n == enqueued.load() ? 0 : 1);
}
