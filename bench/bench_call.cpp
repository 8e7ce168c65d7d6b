// Call benchmarks (issue 5, items 1-3): round trip, throughput and payload sizes, through our
// engine (C++ SDK caller -> engine -> C++ SDK worker) or through nats-server (libnats
// request/reply), with the same payload and the same in-flight shape.
//
//   bench_call --system iii  --url ws://127.0.0.1:P   [--inflight 1] [--payload 200] [--seconds 5]
//   bench_call --system nats --url nats://127.0.0.1:P [...]
//   options: --workers W (serving connections, default 4; 1 when inflight is 1)
//            --callers C (calling connections, default 4; 1 when inflight is 1)
//            --threads T (calling threads per caller connection, default 2)
//            --cpu-pid PID (report that process's CPU time per 100k calls)  --name NAME
//            --caller-url URL (iii: callers connect there, e.g. a listener with RBAC; workers stay on --url)
//            --label L (the `system` of the output line; default the --system)
//            --function-prefix F (iii: the echo functions are F0, F1, ...; default bench::echo, so
//                                 that two runs at once on one engine can use different names)
//            --calls N (end the measurement once N calls have been answered in this run, warm-up
//                       included; --seconds is then the longest it may take)
//            --send-asap 0|1 (nats: libnats' SendAsap off or on; default on only at 1 in flight)
//            --obs-stats (iii: after the run, ask engine::traces::list for the engine's span
//                         storage figures and add them to the line as obs_*)
//            --inline 0|1 (iii: the echo handlers run on the SDK's I/O thread, FunctionOptions::
//                          run_inline, instead of its handler pool; default 0)
//            --raw 0|1 (iii: echo handlers and callback-api calls on JSON text, register_raw_function,
//                       payload_json and trigger_raw_then: the SDK builds no DOM of the payload,
//                       as libnats hands over bytes; default 0)
//            --api A (how the callers wait. iii: `future` (default), calling threads each keep their
//                     window of trigger_async futures; `callback`, no calling threads: trigger_then
//                     callbacks on the caller connection's I/O thread record each answer and make
//                     the next call. nats: `sync` (default), calling threads each read their replies
//                     with natsSubscription_NextMsg; `async`, no calling threads: a subscription
//                     callback per window records each reply and publishes the next request)
//
// Every line carries `calls_total`: every call answered in the run (the routability check, the
// warm-up, the measurement and the drain), as an exact integer.
//
// In-flight N is split into C*T calling threads, each keeping N/(C*T) calls outstanding in a
// window. Latency is measured per call from send to answer. For iii the window is a FIFO of
// futures waited oldest first, so an answer that overtakes an older one is stamped when the older
// one completes (this can only overstate our latency). For NATS each reply carries its slot in
// the reply subject, so every answer is stamped exactly.
#include <iii/iii.h>
#include <nats/nats.h>

#include <atomic>
#include <cstring>
#include <csignal>
#include <deque>
#include <iostream>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "common.h"

namespace json = boost::json;
using bench::Clock;

// Warm-up (not recorded), then `seconds` of measurement (or less: until g_target_calls answers
// when set), then stop; callers drain their windows.
void run_phases(double seconds);
extern Clock::time_point g_measure_start, g_measure_end;

namespace {

enum Phase { kWarmup = 0, kMeasure = 1, kStop = 2 };
std::atomic<int> g_phase{kWarmup};

struct Shape {
  int inflight, workers, callers, threads, window;
};

struct ThreadResult {
  bench::Latencies lat;
  uint64_t calls = 0;
  std::string error;
};

// Calls answered per calling thread over the whole run, each on its own cache line (one relaxed
// store per answer, read by run_phases for --calls); plus the routability checks.
struct alignas(64) AnswerCount {
  std::atomic<uint64_t> n{0};
};
std::unique_ptr<AnswerCount[]> g_answers;
size_t g_answer_slots = 0;
uint64_t g_check_calls = 0;
void init_answers(size_t threads) {
  g_answers = std::make_unique<AnswerCount[]>(threads);
  g_answer_slots = threads;
}
uint64_t answered() {
  uint64_t n = g_check_calls;
  for (size_t i = 0; i < g_answer_slots; ++i) n += g_answers[i].n.load(std::memory_order_relaxed);
  return n;
}
json::object g_obs_stats;  // --obs-stats: the `storage` object of engine::traces::list

// ---------------------------------------------------------------- iii
void iii_caller_thread(iii::Worker& caller, std::string function_id, const json::value& payload, int window,
                       ThreadResult& out, std::atomic<uint64_t>& answers) {
  struct Slot {
    std::future<json::value> f;
    Clock::time_point t;
  };
  std::deque<Slot> ring;
  auto submit = [&] {
    ring.push_back({caller.trigger_async({.function_id = function_id, .payload = payload}), Clock::now()});
  };
  uint64_t answered = 0;
  try {
    for (int i = 0; i < window; ++i) submit();
    while (!ring.empty()) {
      Slot s = std::move(ring.front());
      ring.pop_front();
      s.f.get();
      answers.store(++answered, std::memory_order_relaxed);
      int phase = g_phase.load(std::memory_order_relaxed);
      if (phase == kMeasure) {
        out.lat.add(Clock::now() - s.t);
        ++out.calls;
      }
      if (phase != kStop) submit();
    }
  } catch (const std::exception& e) {
    out.error = e.what();
  }
}

// --api callback: one chain of calls per window slot, kept going from trigger_then callbacks. All
// callbacks of one caller connection run on its I/O thread, so a slot's results need no lock.
struct CallbackChain {
  iii::Worker* caller;
  std::string function_id;
  const json::value* payload;
  ThreadResult* out;
  std::atomic<uint64_t>* answers;
  std::atomic<int>* running;  // chains not yet stopped
  const std::string* payload_json = nullptr;  // --raw: the payload's text, results as text

  void next() {
    const auto sent = Clock::now();
    if (payload_json) {
      caller->trigger_raw_then({.function_id = function_id, .payload_json = *payload_json},
                               [this, sent](std::string_view, std::optional<iii::InvocationError> error) {
                                 answered(sent, std::move(error));
                               });
      return;
    }
    caller->trigger_then({.function_id = function_id, .payload = *payload},
                         [this, sent](json::value, std::optional<iii::InvocationError> error) {
                           answered(sent, std::move(error));
                         });
  }

  void answered(Clock::time_point sent, std::optional<iii::InvocationError> error) {
    if (error) {
      out->error = error->what();
      --*running;
      return;
    }
    answers->fetch_add(1, std::memory_order_relaxed);
    const int phase = g_phase.load(std::memory_order_relaxed);
    if (phase == kMeasure) {
      out->lat.add(Clock::now() - sent);
      ++out->calls;
    }
    if (phase == kStop) {
      --*running;
    } else {
      next();
    }
  }
};

bool iii_run(const bench::Args& args, const Shape& shape, const std::string& payload_text, double seconds,
             std::vector<ThreadResult>& results) {
  const std::string url = args.str("url");
  const std::string echo = args.str("function-prefix", "bench::echo");
  json::value payload = json::parse(payload_text);
  const bool raw = args.num("raw", 0) != 0;
  std::vector<std::unique_ptr<iii::Worker>> workers, callers;
  for (int w = 0; w < shape.workers; ++w) {
    auto worker = std::make_unique<iii::Worker>(iii::WorkerOptions{
        .url = url, .name = "bench-echo-" + std::to_string(w), .handler_threads = 2, .quiet = true});
    const iii::FunctionOptions options{.run_inline = args.num("inline", 0) != 0};
    if (raw) {
      worker->register_raw_function(
          echo + std::to_string(w), [](std::string_view p) -> std::optional<std::string> { return std::string(p); },
          options);
    } else {
      worker->register_function(
          echo + std::to_string(w), [](json::value p) -> std::optional<json::value> { return p; }, options);
    }
    workers.push_back(std::move(worker));
  }
  const std::string caller_url = args.str("caller-url", url);
  for (int c = 0; c < shape.callers; ++c)
    callers.push_back(std::make_unique<iii::Worker>(
        iii::WorkerOptions{.url = caller_url, .name = "bench-caller-" + std::to_string(c), .max_queued_messages = 65536,
                           .quiet = true}));
  for (auto& w : workers)
    if (!w->wait_connected(std::chrono::seconds(10))) { std::cerr << "worker did not connect\n"; return false; }
  for (auto& c : callers)
    if (!c->wait_connected(std::chrono::seconds(10))) { std::cerr << "caller did not connect\n"; return false; }
  // Wait until every echo function is routable, and check one answer is the payload itself.
  for (int w = 0; w < shape.workers; ++w) {
    for (int attempt = 0;; ++attempt) {
      try {
        json::value r = callers[0]->trigger(echo + std::to_string(w), payload);
        ++g_check_calls;
        // The engine splices _caller_worker_id into the payload; the rest must come back unchanged.
        if (!r.is_object() || r.as_object().if_contains("pad") == nullptr ||
            r.as_object().at("pad") != payload.as_object().at("pad")) {
          std::cerr << "echo answered a different payload\n";
          return false;
        }
        break;
      } catch (const iii::InvocationError& e) {
        if (attempt > 200) { std::cerr << "echo not routable: " << e.what() << "\n"; return false; }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  std::vector<std::thread> threads;
  results.resize(shape.callers * shape.threads);
  init_answers(results.size());
  std::deque<CallbackChain> chains;  // --api callback (a deque: chains never move)
  std::atomic<int> running{0};
  // Each (caller, thread) slot of the future mode becomes `window` chains in the callback mode,
  // so both keep the same calls in flight per connection; the slot's figures are shared by its
  // chains, which all run on that caller's I/O thread.
  const bool callbacks = args.str("api", "future") == "callback";
  for (int c = 0, i = 0; c < shape.callers; ++c)
    for (int t = 0; t < shape.threads; ++t, ++i) {
      if (!callbacks) {
        threads.emplace_back(iii_caller_thread, std::ref(*callers[c]), echo + std::to_string(i % shape.workers),
                             std::cref(payload), shape.window, std::ref(results[i]), std::ref(g_answers[i].n));
        continue;
      }
      for (int k = 0; k < shape.window; ++k)
        chains.push_back({callers[c].get(), echo + std::to_string(i % shape.workers), &payload, &results[i],
                          &g_answers[i].n, &running, raw ? &payload_text : nullptr});
    }
  if (callbacks) {
    running = static_cast<int>(chains.size());
    for (auto& chain : chains) chain.next();
  }
  run_phases(seconds);
  for (auto& t : threads) t.join();
  for (int waited = 0; callbacks && running.load() > 0 && waited < 30000; waited += 2)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (callbacks && running.load() > 0) {
    std::cerr << "iii: " << running.load() << " call chains did not end within 30 s of the stop\n";
    return false;
  }
  if (args.has("obs-stats")) {
    // After the measurement: the span store's figures (engine::traces::list drains pending spans
    // first). An engine with observability off answers without them.
    try {
      json::value r = callers[0]->trigger("engine::traces::list", json::object{{"limit", 1}});
      if (auto* st = r.is_object() ? r.as_object().if_contains("storage") : nullptr; st && st->is_object())
        g_obs_stats = st->as_object();
    } catch (const std::exception& e) {
      std::cerr << "engine::traces::list: " << e.what() << "\n";
    }
  }
  return true;
}

// ---------------------------------------------------------------- nats
void nats_echo(natsConnection* nc, natsSubscription*, natsMsg* msg, void*) {
  if (const char* reply = natsMsg_GetReply(msg))
    natsConnection_Publish(nc, reply, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
  natsMsg_Destroy(msg);
}

void nats_caller_thread(natsConnection* nc, std::string subject, std::string inbox, const std::string& payload,
                        int window, ThreadResult& out, std::atomic<uint64_t>& answers) {
  natsSubscription* sub = nullptr;
  if (natsConnection_SubscribeSync(&sub, nc, (inbox + ".*").c_str()) != NATS_OK) {
    out.error = "subscribe failed";
    return;
  }
  natsSubscription_SetPendingLimits(sub, -1, -1);
  std::vector<Clock::time_point> sent(window);
  std::vector<std::string> replies(window);
  for (int i = 0; i < window; ++i) replies[i] = inbox + "." + std::to_string(i);
  auto submit = [&](int i) {
    sent[i] = Clock::now();
    natsConnection_PublishRequest(nc, subject.c_str(), replies[i].c_str(), payload.data(), (int)payload.size());
  };
  for (int i = 0; i < window; ++i) submit(i);
  int outstanding = window;
  uint64_t answered = 0;
  while (outstanding > 0) {
    natsMsg* msg = nullptr;
    natsStatus s = natsSubscription_NextMsg(&msg, sub, 10000);
    if (s != NATS_OK) {
      out.error = std::string("no reply: ") + natsStatus_GetText(s);
      break;
    }
    const char* subj = natsMsg_GetSubject(msg);
    int slot = std::atoi(std::strrchr(subj, '.') + 1);
    auto now = Clock::now();
    natsMsg_Destroy(msg);
    answers.store(++answered, std::memory_order_relaxed);
    int phase = g_phase.load(std::memory_order_relaxed);
    if (phase == kMeasure) {
      out.lat.add(now - sent[slot]);
      ++out.calls;
    }
    if (phase != kStop) submit(slot);
    else --outstanding;
  }
  natsSubscription_Destroy(sub);
}

natsConnection* nats_connect(const std::string& url, bool send_asap) {
  natsOptions* opts = nullptr;
  natsOptions_Create(&opts);
  natsOptions_SetURL(opts, url.c_str());
  natsOptions_SetSendAsap(opts, send_asap);
  natsOptions_SetTimeout(opts, 5000);  // a loaded CI machine may take more than the default 2 s
  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    std::cerr << "nats connect: " << natsStatus_GetText(s) << " (" << nats_GetLastError(nullptr) << ")\n";
    return nullptr;
  }
  return nc;
}

}  // namespace

Clock::time_point g_measure_start, g_measure_end;
uint64_t g_target_calls = 0;  // --calls

void run_phases(double seconds) {
  double warmup = std::min(1.0, std::max(0.2, seconds * 0.1));
  if (g_target_calls == 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  } else {  // the warm-up's answers count towards --calls too
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
    while (answered() < g_target_calls && Clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  g_measure_start = Clock::now();
  g_phase = kMeasure;
  if (g_target_calls == 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  } else {
    const auto deadline = g_measure_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (answered() < g_target_calls && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  g_measure_end = Clock::now();
  g_phase = kStop;
}

namespace {
// --api async: a window slot's requests, answered on its subscription's delivery thread (libnats
// runs one per asynchronous subscription), which records each reply and publishes the next.
struct NatsAsyncSlot {
  natsConnection* nc;
  std::string subject;
  const std::string* payload;
  std::vector<std::string> replies;  // reply subject of each request of the window
  std::vector<Clock::time_point> sent;
  ThreadResult* out;
  std::atomic<uint64_t>* answers;
  std::atomic<int>* running;  // requests whose chain has not stopped
  natsSubscription* sub = nullptr;

  void publish(size_t k) {
    sent[k] = Clock::now();
    natsConnection_PublishRequest(nc, subject.c_str(), replies[k].c_str(), payload->data(), (int)payload->size());
  }
};

void nats_async_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto& slot = *static_cast<NatsAsyncSlot*>(closure);
  const size_t k = std::strtoul(std::strrchr(natsMsg_GetSubject(msg), '.') + 1, nullptr, 10);
  const auto now = Clock::now();
  natsMsg_Destroy(msg);
  slot.answers->fetch_add(1, std::memory_order_relaxed);
  const int phase = g_phase.load(std::memory_order_relaxed);
  if (phase == kMeasure) {
    slot.out->lat.add(now - slot.sent[k]);
    ++slot.out->calls;
  }
  if (phase == kStop) {
    --*slot.running;
  } else {
    slot.publish(k);
  }
}

bool nats_run(const bench::Args& args, const Shape& shape, const std::string& payload, double seconds,
              std::vector<ThreadResult>& results) {
  const std::string url = args.str("url");
  // --send-asap 1: every publish is written at once (SendAsap); 0: libnats' default write batching
  // (a flusher thread that waits about 1 ms before writing). run.sh runs both and reports the
  // better per row; without the option: SendAsap at 1 in flight, batching otherwise.
  const bool asap = args.has("send-asap") ? args.num("send-asap", 1) != 0 : shape.inflight == 1;
  std::vector<natsConnection*> workers, callers;
  std::vector<natsSubscription*> subs;
  for (int w = 0; w < shape.workers; ++w) {
    natsConnection* nc = nats_connect(url, asap);
    if (!nc) return false;
    natsSubscription* sub = nullptr;
    natsConnection_Subscribe(&sub, nc, ("bench.echo." + std::to_string(w)).c_str(), nats_echo, nullptr);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    natsConnection_Flush(nc);
    workers.push_back(nc);
    subs.push_back(sub);
  }
  for (int c = 0; c < shape.callers; ++c) {
    natsConnection* nc = nats_connect(url, asap);
    if (!nc) return false;
    callers.push_back(nc);
  }
  std::vector<std::thread> threads;
  results.resize(shape.callers * shape.threads);
  init_answers(results.size());
  const bool async = args.str("api", "sync") == "async";
  std::deque<NatsAsyncSlot> slots;  // --api async (a deque: slots never move)
  std::atomic<int> running{0};
  for (int c = 0, i = 0; c < shape.callers; ++c)
    for (int t = 0; t < shape.threads; ++t, ++i) {
      const std::string subject = "bench.echo." + std::to_string(i % shape.workers);
      const std::string inbox = "_INBOX.bench" + std::to_string(getpid()) + "_" + std::to_string(i);
      if (!async) {
        threads.emplace_back(nats_caller_thread, callers[c], subject, inbox, std::cref(payload), shape.window,
                             std::ref(results[i]), std::ref(g_answers[i].n));
        continue;
      }
      auto& slot = slots.emplace_back(NatsAsyncSlot{callers[c], subject, &payload, {}, {}, &results[i],
                                                    &g_answers[i].n, &running});
      for (int k = 0; k < shape.window; ++k) slot.replies.push_back(inbox + "." + std::to_string(k));
      slot.sent.resize(slot.replies.size());
      if (natsConnection_Subscribe(&slot.sub, callers[c], (inbox + ".*").c_str(), nats_async_reply, &slot) != NATS_OK) {
        std::cerr << "nats: subscribe failed\n";
        return false;
      }
      natsSubscription_SetPendingLimits(slot.sub, -1, -1);
    }
  for (auto* nc : callers) natsConnection_Flush(nc);  // the reply subscriptions are in place
  running = static_cast<int>(slots.size()) * shape.window;
  for (auto& slot : slots)
    for (int k = 0; k < shape.window; ++k) slot.publish(static_cast<size_t>(k));
  run_phases(seconds);
  for (auto& t : threads) t.join();
  for (int waited = 0; running.load() > 0 && waited < 30000; waited += 2)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (running.load() > 0) {
    std::cerr << "nats: " << running.load() << " requests were not answered within 30 s of the stop\n";
    return false;
  }
  for (auto& slot : slots) natsSubscription_Destroy(slot.sub);
  for (auto* s : subs) natsSubscription_Destroy(s);
  for (auto* nc : callers) natsConnection_Destroy(nc);
  for (auto* nc : workers) natsConnection_Destroy(nc);
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bench::Args args(argc, argv);
  const std::string system = args.str("system", "iii");
  const double seconds = args.num("seconds", 5);
  Shape shape;
  shape.inflight = static_cast<int>(args.num("inflight", 1));
  const bool single = shape.inflight == 1;
  shape.workers = static_cast<int>(args.num("workers", single ? 1 : 4));
  shape.callers = static_cast<int>(args.num("callers", single ? 1 : 4));
  shape.threads = static_cast<int>(args.num("threads", single ? 1 : 2));
  if (shape.callers * shape.threads > shape.inflight) shape.callers = shape.threads = 1;
  shape.window = std::max(1, shape.inflight / (shape.callers * shape.threads));
  shape.inflight = shape.window * shape.callers * shape.threads;
  const size_t payload_bytes = static_cast<size_t>(args.num("payload", 200));
  const std::string payload = bench::make_payload(payload_bytes);
  const long cpu_pid = static_cast<long>(args.num("cpu-pid", 0));
  g_target_calls = static_cast<uint64_t>(args.num("calls", 0));

  std::vector<ThreadResult> results;
  // The server's CPU (--cpu-pid) and this process's own (the client library's cost: for iii the
  // SDK's calling and serving sides, for NATS libnats') over the measured window.
  double cpu0 = -1, cpu1 = -1, self0 = -1, self1 = -1;
  std::thread cpu_sampler([&] {
    while (g_phase.load() == kWarmup) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    cpu0 = bench::process_cpu_seconds(cpu_pid);
    self0 = bench::process_cpu_seconds(getpid());
    while (g_phase.load() == kMeasure) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    cpu1 = bench::process_cpu_seconds(cpu_pid);
    self1 = bench::process_cpu_seconds(getpid());
  });
  if (system == "nats") nats_Open(-1);
  bool ok = system == "nats" ? nats_run(args, shape, payload, seconds, results)
                             : iii_run(args, shape, payload, seconds, results);
  if (!ok) g_phase = kStop;
  cpu_sampler.join();
  if (!ok) return 1;
  bench::Latencies all;
  uint64_t calls = 0;
  for (auto& r : results) {
    if (!r.error.empty()) {
      std::cerr << system << ": caller error: " << r.error << "\n";
      return 1;
    }
    all.merge(r.lat);
    calls += r.calls;
  }
  const double elapsed = std::max(1e-9, std::chrono::duration<double>(g_measure_end - g_measure_start).count());
  bench::Line line;
  line.s("bench", args.str("name", "call")).s("system", args.str("label", system)).n("inflight", shape.inflight)
      .n("workers", shape.workers).n("callers", shape.callers).n("threads", shape.callers * shape.threads)
      .n("payload_bytes", payload_bytes).n("calls", calls).n("seconds", elapsed)
      .n("calls_per_s", calls / elapsed).n("bytes_per_s", calls * double(payload_bytes) / elapsed)
      .n("p50_us", all.pct_us(0.5)).n("p99_us", all.pct_us(0.99)).n("p999_us", all.pct_us(0.999));
  if (cpu_pid > 0 && cpu0 >= 0 && cpu1 >= 0 && calls > 0)
    line.n("server_cpu_ms_per_100k", (cpu1 - cpu0) * 1000.0 / calls * 1e5);
  if (self0 >= 0 && self1 >= 0 && calls > 0) line.n("client_cpu_ms_per_100k", (self1 - self0) * 1000.0 / calls * 1e5);
  line.u("calls_total", answered());
  for (const auto& [key, value] : g_obs_stats) {
    if (value.is_number()) line.u("obs_" + std::string(key), static_cast<unsigned long long>(value.to_number<double>()));
    else if (value.is_object())  // the archive's figures
      for (const auto& [k2, v2] : value.as_object())
        if (v2.is_number())
          line.u("obs_" + std::string(key) + "_" + std::string(k2), static_cast<unsigned long long>(v2.to_number<double>()));
  }
  line.print();
  std::quick_exit(0);  // skip SDK/libnats teardown waits; everything is measured
}
