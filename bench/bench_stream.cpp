// Stream benchmarks: the engine's `iii-stream` built-in against its nearest peers.
//
// A. Fan-out (--mode fanout). N subscriber sockets (default 1,000) all joined to one stream group;
//    ONE writer changes items as fast as a window allows, and every change reaches every socket.
//      iii:  N WebSocket clients on the stream port, each sends
//            {"type":"join","data":{"subscriptionId":"s<n>","streamName":"bench","groupId":"g"}} and
//            waits for its sync message; the writer is one C++ SDK connection calling `stream::set`
//            {stream_name:"bench", group_id:"g", item_id:"i<k % 100>", data:{t, seq, pad}} with up to
//            --inflight (64, the window: like the NATS publisher, which waits for nothing else)
//            calls outstanding on that connection.
//      nats: N TCP connections to nats-server, each `SUB bench.fanout <sid>`; the writer is one libnats
//            connection publishing the same data bytes to that subject.
//    Flow control, the same on both sides: the writer never has more than --window (64) events out
//    that have not yet reached EVERY socket. Each socket receives the events in order, so a per-event
//    counter (a ring of atomics) tells when an event has reached all N sockets; the highest such event
//    is the watermark the writer waits on.
//    Receivers, the same harness on both sides: --recv-threads (default 2) epoll threads in this
//    process reading the N non-blocking sockets, parsing WebSocket frames (iii: unmasked server
//    frames, 7/16/64-bit lengths, fragments, ping -> masked pong, close = error) or the NATS text
//    protocol (INFO, MSG subj sid [reply] len, PING -> PONG, -ERR = error) by hand, and reading "t"
//    and "seq" out of every event with the same number scanner. Every receipt on every socket is
//    sampled: latency = time of the read() that brought the frame - "t" (stamped by the writer just
//    before the call / publish; ns since this process started, on the steady clock).
//    Output: deliveries per second summed over all sockets, p50/p99 write -> receive.
//    The receivers and the state they share with the writer are in fanout_receiver.h.
//
// B. stream::set throughput (--mode set). --concurrency (16) threads on one SDK connection call
//    stream::set (no subscribers; item ids cycle over 1,000; the 200-byte JSON payload), against
//    redis-server with 16 hiredis connections, each op = HSET stream:bench:g <item> <json> and
//    PUBLISH stream::events <json> pipelined in one round trip.
//
//   bench_stream --mode fanout --system iii  --url ws://127.0.0.1:P --stream-url ws://127.0.0.1:SP
//                [--subscribers 1000] [--window 64] [--inflight 64] [--recv-threads 2] [--seconds 5]
//   bench_stream --mode fanout --system nats --url nats://127.0.0.1:P [same options; --nats-asap: libnats
//                SendAsap, a write per publish; default: libnats' own write batching, as bench_call;
//                --label L: the `system` of the fan-out line, default the --system]
//   bench_stream --mode set --system iii   --url ws://127.0.0.1:P [--concurrency 16] [--seconds 5]
//   bench_stream --mode set --system redis --redis 127.0.0.1:PORT
// Bounded everywhere: sockets must connect and join within --setup-timeout (20 s), the writer fails
// when no event reaches every socket for --stall-timeout (5 s) or when it could write none during
// the measurement, a stream::set unanswered for 15 s fails it, and run.sh kills it at 120 s.
#include <hiredis/hiredis.h>
#include <iii/iii.h>
#include <nats/nats.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <deque>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "common.h"
#include "fanout_receiver.h"

namespace json = boost::json;
using bench::Clock;

namespace {

using namespace fanout;  // the receiver harness, the shared state and now_ns (fanout_receiver.h)

// The writer side of one system: write(seq, t) sends one event; it may block on its own in-flight
// limit. finish() waits for what is outstanding (errors surface as exceptions).
struct Writer {
  virtual ~Writer() = default;
  virtual void write(int64_t seq) = 0;
  virtual void finish() {}
};

std::string event_data(int64_t seq, int64_t t, const std::string& pad) {
  return "{\"t\":" + std::to_string(t) + ",\"seq\":" + std::to_string(seq) + ",\"pad\":\"" + pad + "\"}";
}

struct IiiWriter : Writer {
  IiiWriter(const std::string& url, int inflight, std::string pad)
      : worker({.url = url, .name = "bench-stream-writer", .max_queued_messages = 65536, .quiet = true}),
        max_inflight(inflight), pad(std::move(pad)) {}
  bool ready() {
    if (!worker.wait_connected(std::chrono::seconds(10))) return false;
    // stream::set must answer before the sockets count on it.
    json::value r = worker.trigger("stream::set", {{"stream_name", "bench"}, {"group_id", "g"}, {"item_id", "probe"},
                                                   {"data", {{"probe", true}}}});
    if (!r.is_object() || !r.as_object().contains("new_value"))
      throw std::runtime_error("stream::set answered " + json::serialize(r));
    return true;
  }
  void reap(bool block) {
    while (!pending.empty()) {
      auto& f = pending.front();
      if (!block && f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
      if (block && f.wait_for(std::chrono::seconds(15)) != std::future_status::ready)
        throw std::runtime_error("stream::set did not answer in 15 s");
      f.get();  // throws iii::InvocationError on an error answer
      pending.pop_front();
      block = false;
    }
  }
  void write(int64_t seq) override {
    reap(false);
    if (static_cast<int>(pending.size()) >= max_inflight) reap(true);
    const int64_t t = now_ns();
    json::object data{{"t", t}, {"seq", seq}, {"pad", pad}};
    pending.push_back(worker.trigger_async({.function_id = "stream::set",
                                            .payload = {{"stream_name", "bench"},
                                                        {"group_id", "g"},
                                                        {"item_id", "i" + std::to_string(seq % 100)},
                                                        {"data", std::move(data)}}}));
  }
  void finish() override {
    while (!pending.empty()) reap(true);
  }
  iii::Worker worker;
  int max_inflight;
  std::string pad;
  std::deque<std::future<json::value>> pending;
};

struct NatsWriter : Writer {
  NatsWriter(natsConnection* nc, std::string subject, std::string pad)
      : nc(nc), subject(std::move(subject)), pad(std::move(pad)) {}
  void write(int64_t seq) override {
    std::string d = event_data(seq, now_ns(), pad);
    natsStatus s = natsConnection_Publish(nc, subject.c_str(), d.data(), static_cast<int>(d.size()));
    if (s != NATS_OK) throw std::runtime_error(std::string("nats publish: ") + natsStatus_GetText(s));
  }
  void finish() override { natsConnection_FlushTimeout(nc, 5000); }
  natsConnection* nc;
  std::string subject, pad;
};

int port_of(const std::string& url) {
  size_t c = url.rfind(':');
  if (c == std::string::npos) return 0;
  return std::atoi(url.c_str() + c + 1);
}

bool raise_fd_limit(int need) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (rl.rlim_cur >= static_cast<rlim_t>(need)) return true;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  return rl.rlim_cur >= static_cast<rlim_t>(need);
}

int run_fanout(const bench::Args& args, const std::string& system) {
  const int n = static_cast<int>(args.num("subscribers", 1000));
  const int64_t window = static_cast<int64_t>(args.num("window", 64));
  const int inflight = static_cast<int>(args.num("inflight", 64));
  const int threads = std::max(1, std::min(n, static_cast<int>(args.num("recv-threads", 2))));
  const double seconds = args.num("seconds", 5);
  const double setup_timeout = args.num("setup-timeout", 20);
  const double stall_timeout = args.num("stall-timeout", 5);
  if (n < 1 || window < 1 || window > kRing / 4) { std::cerr << "bad --subscribers or --window\n"; return 2; }
  if (!raise_fd_limit(n + 256)) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    std::cerr << "need " << n + 256 << " file descriptors, RLIMIT_NOFILE allows " << rl.rlim_cur << " (hard "
              << rl.rlim_max << "); raise it (ulimit -n)\n";
    return 1;
  }
  std::string pad(100, 'x');
  for (size_t i = 0; i < pad.size(); ++i) pad[i] = static_cast<char>('a' + i % 26);

  // The writer first: on our side it proves stream::set exists before 1,000 sockets wait on it.
  std::unique_ptr<Writer> writer;
  natsConnection* nc = nullptr;
  Target target;
  if (system == "iii") {
    auto w = std::make_unique<IiiWriter>(args.str("url"), inflight, pad);
    try {
      if (!w->ready()) { std::cerr << "iii: writer did not connect to " << args.str("url") << "\n"; return 1; }
    } catch (const std::exception& e) {
      std::cerr << "iii: stream::set failed (does this engine have iii-stream?): " << e.what() << "\n";
      return 1;
    }
    writer = std::move(w);
    target.websocket = true;
    target.port = port_of(args.str("stream-url"));
    if (target.port == 0) { std::cerr << "--stream-url ws://127.0.0.1:PORT needed\n"; return 2; }
  } else if (system == "nats") {
    nats_Open(-1);
    natsOptions* opts = nullptr;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, args.str("url").c_str());
    natsOptions_SetSendAsap(opts, args.has("nats-asap"));
    natsOptions_SetTimeout(opts, 5000);
    natsStatus st = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    if (st != NATS_OK) {
      std::cerr << "nats connect: " << natsStatus_GetText(st) << " (" << nats_GetLastError(nullptr) << ")\n";
      return 1;
    }
    target.websocket = false;
    target.port = port_of(args.str("url"));
    target.subject = "bench.fanout";
    writer = std::make_unique<NatsWriter>(nc, target.subject, pad);
  } else {
    std::cerr << "fanout: --system iii or nats\n";
    return 2;
  }

  FanoutShared sh;
  sh.n = n;
  std::vector<std::unique_ptr<Sock>> socks;
  for (int i = 0; i < n; ++i) {
    socks.push_back(std::make_unique<Sock>());
    socks.back()->index = i;
  }
  std::vector<RecvStats> stats(threads);
  std::vector<std::unique_ptr<Receiver>> receivers;
  for (int t = 0; t < threads; ++t) {
    std::vector<Sock*> mine;
    for (int i = t; i < n; i += threads) mine.push_back(socks[i].get());
    receivers.push_back(std::make_unique<Receiver>(sh, target, std::move(mine), stats[t]));
  }
  std::vector<std::thread> rts;
  for (auto& r : receivers) rts.emplace_back([&r] { r->run(); });
  auto stop_all = [&] {
    sh.stop = true;
    for (auto& t : rts) t.join();
    for (auto& s : socks)
      if (s->fd >= 0) close(s->fd);
  };
  auto fail_out = [&](const std::string& why) {
    stop_all();
    std::cerr << system << " fan-out: " << why << "\n";
    std::quick_exit(1);
  };

  // Every socket connected, subscribed and (ours) synced, or a clear error.
  const auto setup_deadline = Clock::now() + std::chrono::duration<double>(setup_timeout);
  while (sh.ready.load() < n && !sh.failed.load() && Clock::now() < setup_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (sh.failed.load()) fail_out(sh.error);
  if (sh.ready.load() < n) {
    int st[4] = {0, 0, 0, 0};
    for (auto& s : socks) ++st[s->state];  // racy read, diagnostics only
    fail_out(std::to_string(sh.ready.load()) + " of " + std::to_string(n) + " sockets ready after " +
             std::to_string(setup_timeout) + " s (connecting " + std::to_string(st[kConnecting]) + ", handshake " +
             std::to_string(st[kHandshake]) + ", waiting for sync " + std::to_string(st[kJoining]) + ")");
  }
  if (!target.websocket) {
    // Each SUB was confirmed by its PONG on its own connection; the publisher's connection is
    // another one, so round-trip it once more so the server has processed everything.
    natsConnection_Flush(nc);
  }

  // The writer loop: warm-up, measurement, stop.
  const double warmup = std::min(1.0, std::max(0.2, seconds * 0.1));
  const auto t_start = Clock::now();
  const auto t_measure = t_start + std::chrono::duration<double>(warmup);
  const auto t_end = t_measure + std::chrono::duration<double>(seconds);
  Clock::time_point measured_from{}, measured_to{};
  int64_t next = 0, written_measure = 0, seq_at_measure = -1;
  int64_t last_wm = -1;
  auto last_progress = Clock::now();
  std::string error;
  auto stalled = [&](double for_seconds) {
    int64_t lo = INT64_MAX;
    int slow = -1;
    for (auto& s : socks) {
      int64_t v = s->last_seq.load();
      if (v < lo) lo = v, slow = s->index;
    }
    return "no event reached every socket for " + std::to_string(for_seconds) + " s: sent " + std::to_string(next) +
           " events (seq 0..), every socket has up to seq " + std::to_string(sh.watermark.load()) +
           ", slowest socket " + std::to_string(slow) + " at seq " + std::to_string(lo) +
           (lo < 0 ? " (it received no event at all)" : "");
  };
  try {
    while (!sh.failed.load(std::memory_order_relaxed)) {
      auto now = Clock::now();
      int phase = sh.phase.load(std::memory_order_relaxed);
      if (phase == kWarmup && now >= t_measure) {
        measured_from = now;
        seq_at_measure = next;
        sh.phase = phase = kMeasure;
      }
      if (phase == kMeasure && now >= t_end) {
        measured_to = now;
        written_measure = next - seq_at_measure;
        sh.phase = kStop;
        break;
      }
      int64_t wm = sh.watermark.load();
      if (wm != last_wm) {
        last_wm = wm;
        last_progress = now;
      }
      if (next - (wm + 1) < window) {
        writer->write(next++);
        continue;
      }
      if (now - last_progress > std::chrono::duration<double>(stall_timeout))
        throw std::runtime_error(stalled(stall_timeout));
      // Window full: wait for the watermark to move (bounded wait, re-checked).
      std::unique_lock lock(sh.m);
      sh.writer_waiting = true;
      sh.cv.wait_for(lock, std::chrono::milliseconds(50),
                     [&] { return sh.watermark.load() != wm || sh.failed.load(); });
      sh.writer_waiting = false;
    }
    writer->finish();
    // A run shorter than the stall timeout still must have moved: no figure from a stuck run.
    if (written_measure == 0)
      throw std::runtime_error(stalled(std::chrono::duration<double>(Clock::now() - last_progress).count()));
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (sh.failed.load()) {
    std::lock_guard lock(sh.m);
    error = sh.error;
  }
  if (!error.empty()) fail_out(error);
  stop_all();

  bench::Latencies all;
  uint64_t delivered = 0, lost = 0, other = 0, reads = 0;
  for (auto& s : stats) {
    reads += s.reads;
    delivered += s.delivered;
    lost += s.lost;
    other += s.other;
    all.merge(s.lat);
  }
  const double elapsed = std::chrono::duration<double>(measured_to - measured_from).count();
  if (lost) std::cerr << system << " fan-out: " << lost << " event receipts skipped by sockets (gaps in seq)\n";
  bench::Line()
      .s("bench", "stream_fanout")
      .s("system", args.str("label", system))
      .n("subscribers", n)
      .n("window", window)
      .n("inflight", system == "iii" ? inflight : 0)
      .n("recv_threads", threads)
      .n("seconds", elapsed)
      .n("events_written", written_measure)
      .n("events_written_per_s", written_measure / elapsed)
      .n("deliveries", delivered)
      .n("deliveries_per_s", delivered / elapsed)
      .n("lost", lost)
      .n("other_messages", other)
      .n("events_per_read", reads ? double(delivered) / reads : 0)
      .n("p50_us", all.pct_us(0.5))
      .n("p99_us", all.pct_us(0.99))
      .n("p999_us", all.pct_us(0.999))
      .print();
  return 0;
}

// ------------------------------------------------------------------ B: stream::set throughput
int run_set(const bench::Args& args, const std::string& system) {
  const int conc = static_cast<int>(args.num("concurrency", 16));
  const double seconds = args.num("seconds", 5);
  const std::string payload_text = bench::make_payload(200);
  std::vector<std::string> items;
  for (int k = 0; k < 1000; ++k) items.push_back("item-" + std::to_string(k));
  std::vector<bench::PhaseResult> rs;
  double elapsed = 0;
  if (system == "iii") {
    iii::Worker worker({.url = args.str("url"), .name = "bench-stream-set", .quiet = true});
    if (!worker.wait_connected(std::chrono::seconds(10))) { std::cerr << "not connected\n"; return 1; }
    const json::value value = json::parse(payload_text);
    auto set = [&](int, uint64_t i) {
      json::value r = worker.trigger("stream::set", {{"stream_name", "bench"}, {"group_id", "g"},
                                                     {"item_id", items[i % items.size()]}, {"data", value}});
      if (!r.is_object()) throw std::runtime_error("stream::set returned no object");
    };
    try {
      set(0, 0);
    } catch (const std::exception& e) {
      std::cerr << "iii: stream::set failed (does this engine have iii-stream?): " << e.what() << "\n";
      return 1;
    }
    elapsed = bench::run_phase(conc, seconds, set, rs);
  } else if (system == "redis") {
    std::string addr = args.str("redis", "127.0.0.1:6379");
    std::string host = addr.substr(0, addr.rfind(':'));
    int port = std::atoi(addr.c_str() + addr.rfind(':') + 1);
    std::vector<redisContext*> ctx;
    for (int t = 0; t < conc; ++t) {
      timeval tv{5, 0};
      redisContext* c = redisConnectWithTimeout(host.c_str(), port, tv);
      if (!c || c->err) { std::cerr << "redis connect failed\n"; return 1; }
      redisSetTimeout(c, tv);
      ctx.push_back(c);
    }
    auto set = [&](int t, uint64_t i) {
      const std::string& item = items[i % items.size()];
      redisAppendCommand(ctx[t], "HSET stream:bench:g %b %b", item.data(), item.size(), payload_text.data(),
                         payload_text.size());
      redisAppendCommand(ctx[t], "PUBLISH stream::events %b", payload_text.data(), payload_text.size());
      for (int k = 0; k < 2; ++k) {
        void* reply = nullptr;
        if (redisGetReply(ctx[t], &reply) != REDIS_OK || !reply) throw std::runtime_error("redis: no reply");
        auto* r = static_cast<redisReply*>(reply);
        bool bad = r->type == REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (bad) throw std::runtime_error("redis: error reply");
      }
    };
    elapsed = bench::run_phase(conc, seconds, set, rs);
  } else {
    std::cerr << "set: --system iii or redis\n";
    return 2;
  }
  return bench::report("stream_set", system, conc, elapsed, rs) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bench::Args args(argc, argv);
  const std::string mode = args.str("mode", "fanout");
  const std::string system = args.str("system", "iii");
  int rc = 2;
  if (mode == "fanout") rc = run_fanout(args, system);
  else if (mode == "set") rc = run_set(args, system);
  else std::cerr << "--mode fanout or set\n";
  std::quick_exit(rc);  // skip SDK/libnats teardown waits; everything is measured
}
