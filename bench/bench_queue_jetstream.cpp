// The durable-queue peer of bench_queue (issue 14): NATS JetStream, file storage, one durable pull
// consumer with explicit acks, in the shape of bench_queue's side:
//
//   bench_queue_jetstream --url nats://127.0.0.1:P [--producers 16] [--seconds 5] [--max-ack-pending 64]
//                         [--batch 64] [--send-asap 0|1] [--label jetstream]
//
// Producers: N threads on ONE connection (ours: N threads on one SDK connection), each with one
// js_Publish in flight; js_Publish returns on the server's PubAck, i.e. once the message is in the
// file store (ours: the enqueue receipt means stored). Consumer: another connection, one durable
// pull consumer (AckPolicy explicit, MaxAckPending = ours' queue concurrency 64), one thread
// fetching up to --batch messages and acking each (natsMsg_Ack: the ack is sent, not waited for;
// ours: the consumer function returns and the engine acks). The payload is bench_queue's:
// {"t":<send time, ns>,"pad":"<160 x q>"}. Latency = fetch returned - publish started (same process,
// same steady clock); throughput = messages delivered / (last delivery - first publish) after the
// backlog drained (at most 15 s). The stream is deleted and made anew at the start, so every run
// starts empty. Durability matches ours: nats-server 2.9 writes each message to its file before
// the PubAck but does not fsync each one; our queue's SQLite runs WAL with synchronous=NORMAL.
#include <nats/nats.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "common.h"

using bench::Clock;

namespace {
const char* kStream = "BENCHQ";
const char* kSubject = "benchq.jobs";

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

natsConnection* connect(const std::string& url, bool asap) {
  natsOptions* opts = nullptr;
  natsOptions_Create(&opts);
  natsOptions_SetURL(opts, url.c_str());
  natsOptions_SetSendAsap(opts, asap);
  natsOptions_SetTimeout(opts, 5000);
  natsConnection* nc = nullptr;
  natsStatus s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) std::cerr << "nats connect: " << natsStatus_GetText(s) << "\n";
  return s == NATS_OK ? nc : nullptr;
}
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  bench::Args args(argc, argv);
  const std::string url = args.str("url");
  const int producers = static_cast<int>(args.num("producers", 16));
  const double seconds = args.num("seconds", 5);
  const int batch = static_cast<int>(args.num("batch", 64));
  const bool asap = args.num("send-asap", 1) != 0;
  const std::string pad(160, 'q');
  nats_Open(-1);

  natsConnection* pnc = connect(url, asap);
  natsConnection* cnc = connect(url, asap);
  if (!pnc || !cnc) return 1;
  jsCtx *pjs = nullptr, *cjs = nullptr;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 10000;  // a publish waits at most this long for its PubAck (a loaded machine)
  if (natsConnection_JetStream(&pjs, pnc, &jo) != NATS_OK || natsConnection_JetStream(&cjs, cnc, &jo) != NATS_OK) {
    std::cerr << "bench_queue_jetstream: no JetStream context\n";
    return 1;
  }
  jsErrCode jerr = jsErrCode(0);
  js_DeleteStream(pjs, kStream, nullptr, nullptr);  // a fresh, empty stream for every run
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = kStream;
  const char* subjects[] = {kSubject};
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  if (natsStatus s = js_AddStream(nullptr, pjs, &sc, nullptr, &jerr); s != NATS_OK) {
    std::cerr << "bench_queue_jetstream: add stream: " << natsStatus_GetText(s) << " (" << jerr << ", "
              << nats_GetLastError(nullptr) << "); is nats-server running with -js?\n";
    return 1;
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.MaxAckPending = static_cast<int64_t>(args.num("max-ack-pending", 64));
  natsSubscription* sub = nullptr;
  if (natsStatus s = js_PullSubscribe(&sub, cjs, kSubject, "bench", nullptr, &so, &jerr); s != NATS_OK) {
    std::cerr << "bench_queue_jetstream: pull subscribe: " << natsStatus_GetText(s) << " (" << jerr << ")\n";
    return 1;
  }

  std::mutex mu;
  bench::Latencies lat;
  std::atomic<uint64_t> delivered{0}, enqueued{0};
  std::atomic<int64_t> last_delivery_ns{0};
  std::atomic<bool> stop{false}, stop_consumer{false};
  std::string error;
  std::mutex error_mu;
  auto fail = [&](const std::string& e) {
    std::lock_guard lock(error_mu);
    if (error.empty()) error = e;
    stop = true;
  };
  std::thread consumer([&] {
    bench::Latencies mine;
    while (!stop_consumer.load(std::memory_order_relaxed)) {
      natsMsgList list{};
      natsStatus s = natsSubscription_Fetch(&list, sub, batch, 200, &jerr);
      if (s == NATS_TIMEOUT) continue;
      if (s != NATS_OK) { fail(std::string("fetch: ") + natsStatus_GetText(s)); break; }
      const int64_t t = now_ns();
      for (int i = 0; i < list.Count; ++i) {
        natsMsg* m = list.Msgs[i];
        const char* d = natsMsg_GetData(m);
        const char* tp = d ? std::strstr(d, "\"t\":") : nullptr;
        if (tp) mine.add(std::chrono::nanoseconds(t - std::strtoll(tp + 4, nullptr, 10)));
        natsMsg_Ack(m, nullptr);
      }
      if (list.Count > 0) {
        {
          std::lock_guard lock(mu);
          lat.merge(mine);
        }
        mine = {};
        last_delivery_ns = t;
        delivered += list.Count;
      }
      natsMsgList_Destroy(&list);
    }
  });

  const int64_t start_ns = now_ns();
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&] {
      std::string body;
      while (!stop.load(std::memory_order_relaxed)) {
        body = "{\"t\":" + std::to_string(now_ns()) + ",\"pad\":\"" + pad + "\"}";
        jsPubAck* pa = nullptr;
        jsErrCode e = jsErrCode(0);
        natsStatus s = js_Publish(&pa, pjs, kSubject, body.data(), static_cast<int>(body.size()), nullptr, &e);
        jsPubAck_Destroy(pa);
        if (s != NATS_OK) { fail(std::string("publish: ") + natsStatus_GetText(s) + " (" + std::to_string(e) + ")"); break; }
        ++enqueued;
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double enqueue_s = (now_ns() - start_ns) / 1e9;
  const auto drain_start = Clock::now();
  while (error.empty() && delivered.load() < enqueued.load() && bench::seconds_since(drain_start) < 15)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop_consumer = true;
  consumer.join();
  if (!error.empty()) {
    std::cerr << "bench_queue_jetstream: " << error << "\n";
    std::quick_exit(1);
  }
  const uint64_t n = delivered.load();
  if (n < enqueued.load()) std::cerr << "bench_queue_jetstream: " << enqueued.load() - n << " messages not delivered within 15 s\n";
  const double span = (last_delivery_ns.load() - start_ns) / 1e9;
  bench::Line().s("bench", "queue").s("system", args.str("label", "jetstream")).n("producers", producers)
      .n("batch", batch).n("enqueued", enqueued.load()).n("delivered", n).n("enqueue_per_s", enqueued.load() / enqueue_s)
      .n("msgs_per_s", n / span).n("p50_us", lat.pct_us(0.5)).n("p99_us", lat.pct_us(0.99)).print();
  std::quick_exit(n == enqueued.load() ? 0 : 1);  // skip libnats teardown waits; everything is measured
}
