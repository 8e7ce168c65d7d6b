// The moving parts of iii-observability between the engine and the stores: the latency histogram
// and the counters' history, the hub's gates (log sampling, exporter-only logs, the pending bound),
// the engine's invocation observer (CallTracer) on a real Engine with an in-process function, and
// the alert metrics.
#include <gtest/gtest.h>

#include <chrono>

#include <thread>

#include "engine/engine.h"
#include "engine/in_process_worker.h"
#include "workers/observability/alerts.h"
#include "workers/observability/call_tracer.h"
#include "workers/observability/engine_metrics.h"
#include "workers/observability/telemetry_hub.h"
#include "workers/observability/trace_context.h"

namespace iii::obs {
namespace {

TEST(LatencyHistogram, QuantilesAndCumulativeBuckets) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile_nanos(0.5), 0);
  for (uint64_t us = 1; us <= 1000; ++us) h.record(us * 1000);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.min_nanos(), 1000u);
  EXPECT_EQ(h.max_nanos(), 1'000'000u);
  EXPECT_NEAR(h.quantile_nanos(0.5), 500'000, 100'000);  // within a bucket's width (19 %)
  EXPECT_NEAR(h.quantile_nanos(0.99), 990'000, 190'000);
  EXPECT_LE(h.quantile_nanos(1.0), 1'000'000);
  const std::vector<uint64_t> c = h.cumulative({0.0001, 0.001, 10});
  EXPECT_LE(c[0], 100u);  // at most the values up to 100 µs
  EXPECT_GE(c[0], 80u);
  EXPECT_EQ(c[2], 1000u);
  EXPECT_LE(c[0], c[1]);
}

TEST(EngineMetrics, CountsByFunctionAndWindows) {
  EngineMetrics m;
  m.roll(1000, 3600);  // opens the first slot
  m.record_call("a::b", true, 1000);
  m.record_call("a::b", false, 3000);
  m.record_deferred();
  EXPECT_EQ(m.total(), 2u);
  EXPECT_EQ(m.error(), 1u);
  MetricsSlot w = m.window(1005, 60);
  EXPECT_EQ(w.total, 2u);
  EXPECT_EQ(w.error, 1u);
  EXPECT_EQ(w.deferred, 1u);
  m.roll(1010, 3600);  // closes the slot [1000, 1010)
  m.record_call("c::d", true, 1000);
  ASSERT_EQ(m.slots().size(), 1u);
  EXPECT_EQ(m.slots()[0].total, 2u);
  EXPECT_EQ(m.window(1015, 60).total, 3u);  // the closed slot and the open one
  EXPECT_EQ(m.window(1200, 60).total, 1u);  // only the open one is that recent
  int functions = 0;
  m.for_each_function([&](const std::string& id, const FunctionCounters& c) {
    ++functions;
    if (id == "a::b") {
      EXPECT_EQ(c.error.load(), 1u);
    }
  });
  EXPECT_EQ(functions, 2);
}

TEST(EngineMetrics, CallsRecordedFromManyThreadsAllCount) {
  EngineMetrics m;
  constexpr int kThreads = 6, kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kEach; ++i) m.record_call("f::x", i % 4 != 0, (t + 1) * 1000);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.total(), uint64_t{kThreads} * kEach);
  EXPECT_EQ(m.error(), uint64_t{kThreads} * kEach / 4);
  EXPECT_EQ(m.latency().count(), uint64_t{kThreads} * kEach);
  uint64_t expected_sum = 0;
  for (int t = 0; t < kThreads; ++t) expected_sum += uint64_t{kEach} * (t + 1) * 1000;
  EXPECT_EQ(m.latency().sum_nanos(), expected_sum);
  EXPECT_EQ(m.latency().cumulative({10}).at(0), uint64_t{kThreads} * kEach);
  EXPECT_EQ(m.latency().min_nanos(), 1000u);
  EXPECT_EQ(m.latency().max_nanos(), uint64_t{kThreads} * 1000);
  m.for_each_function([&](const std::string&, const FunctionCounters& c) {
    EXPECT_EQ(c.success.load() + c.error.load(), uint64_t{kThreads} * kEach);
    EXPECT_EQ(c.latency.count(), uint64_t{kThreads} * kEach);
  });
}

std::shared_ptr<const ObservabilityConfig> config_with(void (*change)(ObservabilityConfig&)) {
  auto c = std::make_shared<ObservabilityConfig>();
  c->logs_console_output = false;
  change(*c);
  return c;
}

LogRecord a_log() {
  LogRecord l;
  l.time_unix_nano = unix_nanos_now();
  l.body = "\"x\"";
  return l;
}

TEST(TelemetryHub, LogGatesAndSinks) {
  TelemetryHub none(config_with([](ObservabilityConfig& c) { c.logs_sampling_ratio = 0; }));
  int seen = 0;
  none.add_log_sink([&](const LogPtr&) { ++seen; });
  none.submit_log(a_log());
  EXPECT_EQ(none.logs().stats().size, 0u);
  EXPECT_EQ(none.counters().logs_sampled_out, 1u);
  EXPECT_EQ(seen, 0);

  TelemetryHub exported(config_with([](ObservabilityConfig& c) { c.logs_exporter = Exporter::kOtlp; }));
  exported.add_log_sink([&](const LogPtr& l) { seen += l->severity_text == "INFO"; });
  exported.submit_log(a_log());
  EXPECT_EQ(exported.logs().stats().size, 0u);  // otlp only: not kept
  EXPECT_EQ(seen, 1);                           // but handed on (to the exporter)
}

TEST(TelemetryHub, PendingSpansAreBoundedAndDrainedToSinks) {
  TelemetryHub hub(config_with([](ObservabilityConfig&) {}));
  size_t sunk = 0;
  hub.add_span_sink([&](const std::vector<StoredSpan>& spans) { sunk += spans.size(); });
  std::vector<SpanRecord> many(TelemetryHub::kMaxPendingSpans + 5);
  for (auto& s : many) s.trace_id = "t", s.span_id = "s";
  hub.submit_spans(std::move(many));
  EXPECT_EQ(hub.counters().spans_dropped, 5u);
  hub.drain();
  EXPECT_EQ(sunk, TelemetryHub::kMaxPendingSpans);
  hub.drain();  // nothing new
  EXPECT_EQ(sunk, TelemetryHub::kMaxPendingSpans);
}

TEST(TelemetryHub, SpansFromManyThreadsAreAllDrainedOrCountedAndTheTotalBoundHolds) {
  TelemetryHub hub(config_with([](ObservabilityConfig&) {}));
  size_t sunk = 0;
  hub.add_span_sink([&](const std::vector<StoredSpan>& spans) { sunk += spans.size(); });
  constexpr size_t kThreads = 6, kEach = TelemetryHub::kMaxPendingSpans / 4;  // more than fit
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t)
    threads.emplace_back([&hub] {
      std::vector<SpanRecord> spans(kEach);
      for (auto& s : spans) s.trace_id = "t", s.span_id = "s";
      hub.submit_spans(std::move(spans));
    });
  for (auto& t : threads) t.join();
  hub.drain();
  EXPECT_EQ(sunk + hub.counters().spans_dropped, kThreads * kEach);  // nothing lost uncounted
  EXPECT_EQ(sunk, TelemetryHub::kMaxPendingSpans);  // the bound holds, and is filled
}

// An engine with one in-process function that records the trace context it was called with.
struct TracedEngine {
  Engine engine;
  std::shared_ptr<TelemetryHub> hub;
  std::vector<std::string> seen_traceparents;
  std::vector<std::string> seen_invocation_ids;

  explicit TracedEngine(double ratio) {
    auto config = std::make_shared<ObservabilityConfig>();
    config->sampling_ratio = ratio;
    config->logs_console_output = false;
    hub = std::make_shared<TelemetryHub>(config);
    engine.set_invocation_observer(std::make_shared<CallTracer>(hub));
    auto worker = std::make_shared<InProcessWorker>(engine, "test");
    worker->add_function(FunctionSpec{"t::echo", "", {}, {}, {}}, SyncFunctionHandler([this](const InProcessCall& c) {
                           seen_traceparents.push_back(c.traceparent);
                           seen_invocation_ids.push_back(c.invocation_id);
                           return c.data == "1" ? Outcome::failure("bad", "one") : Outcome::success("true");
                         }));
    engine.add_in_process_worker(worker);
  }
  // Every span recorded so far (drained first), by start time.
  SpanPage spans(bool newest_first) {
    hub->drain();
    SpanQuery q;
    q.include_internal = true;
    q.sort_by = "start_time";
    q.descending = newest_first;
    return hub->spans().list(q);
  }
  Outcome call(std::string data, std::string traceparent) {
    Outcome out;
    engine.invoke("t::echo", data, {}, [&](Outcome o) { out = std::move(o); }, CallContext{"cron", traceparent, {}});
    return out;
  }
};

TEST(CallTracer, RecordsASpanInTheCallersTraceAndHandsItsContextToTheCallee) {
  TracedEngine t(1.0);
  const std::string caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  EXPECT_TRUE(t.call("0", caller).ok());
  EXPECT_FALSE(t.call("1", {}).ok());
  SpanPage page = t.spans(/*newest_first=*/false);
  ASSERT_EQ(page.spans.size(), 2u);
  const SpanRecord& first = *page.spans[0];
  EXPECT_EQ(first.name, "call t::echo");
  EXPECT_EQ(first.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(first.parent_span_id, "00f067aa0ba902b7");
  EXPECT_EQ(first.attribute("iii.trigger.type"), "\"cron\"");
  // The id the callee got, kept as bytes the engine made with it (not parsed back).
  EXPECT_EQ(first.attribute("iii.invocation.id"), "\"" + t.seen_invocation_ids[0] + "\"");
  EXPECT_EQ(first.status, SpanStatus::kOk);
  // The callee's context names the engine's span.
  auto seen = parse_traceparent(t.seen_traceparents[0]);
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->trace_id, first.trace_id);
  EXPECT_EQ(seen->span_id, first.span_id);
  const SpanRecord& second = *page.spans[1];
  EXPECT_TRUE(second.parent_span_id.empty());  // no context: a new trace
  EXPECT_NE(second.trace_id, first.trace_id);
  EXPECT_EQ(second.status, SpanStatus::kError);
  EXPECT_EQ(second.attribute("iii.error.code"), "\"bad\"");
  EXPECT_EQ(t.hub->metrics().total(), 2u);
  EXPECT_EQ(t.hub->metrics().error(), 1u);
}

// A span's start is taken from the steady clock and a per-thread offset to the wall clock: it must
// still lie on the wall clock between the moments before and after the call.
TEST(CallTracer, SpanTimesAreOnTheWallClock) {
  TracedEngine t(1.0);
  auto wall_nanos = [] {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  };
  for (int i = 0; i < 3; ++i) {
    const uint64_t before = wall_nanos();
    ASSERT_TRUE(t.call("0", {}).ok());
    const uint64_t after = wall_nanos();
    SpanPage page = t.spans(/*newest_first=*/true);
    ASSERT_FALSE(page.spans.empty());
    const SpanRecord& newest = *page.spans[0];
    // A millisecond of slack: the wall clock may be slewed between the offset's reading and now.
    EXPECT_GE(newest.start_time_unix_nano + 1'000'000, before);
    EXPECT_LE(newest.start_time_unix_nano, after + 1'000'000);
    EXPECT_GE(newest.end_time_unix_nano, newest.start_time_unix_nano);
  }
}

TEST(CallTracer, AnUnsampledCallIsCountedAndForwardsTheCallersContextUnchanged) {
  TracedEngine t(0.0);
  const std::string caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  EXPECT_TRUE(t.call("0", caller).ok());
  t.hub->drain();
  EXPECT_EQ(t.hub->spans().stats().spans, 0u);
  EXPECT_EQ(t.seen_traceparents[0], caller);
  EXPECT_EQ(t.hub->metrics().total(), 1u);
}

TEST(EngineSpan, ItsRecordCarriesTheCallsNamesIdsAndError) {
  auto names = std::make_shared<CallNames>();
  names->function_id = "a::\"b";
  names->callee_worker_id = "w1";
  names->trigger_type = "call";
  names->span_name = "call a::\"b";
  names->service_name = "iii";
  EngineSpan s;
  s.names = names;
  random_id_bytes(s.trace_id.data(), 16);
  random_id_bytes(s.span_id.data(), 8);
  ASSERT_TRUE(uuid_bytes("87953558-6d46-4f6d-a68e-94ec866a8b71", s.invocation_id));
  s.start_time_unix_nano = 1796529645811000000ull;
  s.end_time_unix_nano = 1796529645814863472ull;
  s.status = SpanStatus::kOk;
  SpanRecord r = s.to_record();
  EXPECT_EQ(r.trace_id, to_hex(s.trace_id));
  EXPECT_EQ(r.parent_span_id, "");  // a root
  EXPECT_EQ(r.attribute("iii.invocation.id"), "\"87953558-6d46-4f6d-a68e-94ec866a8b71\"");
  EXPECT_EQ(r.attribute("iii.function.id"), "\"a::\\\"b\"");
  EXPECT_EQ(r.attribute("iii.caller.worker_id"), "");
  random_id_bytes(s.parent_span_id.data(), 8);
  names->caller_worker_id = "w2";
  s.status = SpanStatus::kError;
  s.error = std::make_shared<const CallError>(CallError{"timeout", "took \n too long"});
  r = s.to_record();
  EXPECT_EQ(r.parent_span_id, to_hex(s.parent_span_id));
  EXPECT_EQ(r.attribute("iii.caller.worker_id"), "\"w2\"");
  EXPECT_EQ(r.attribute("iii.error.code"), "\"timeout\"");
  EXPECT_NE(to_json(r).find("\"status_description\":\"took \\n too long\""), std::string::npos);
}

TEST(Alerts, MetricValuesAndUnknownNames) {
  auto hub = std::make_shared<TelemetryHub>(config_with([](ObservabilityConfig&) {}));
  hub->metrics().record_call("a", false, 1000);
  hub->metrics().record_call("a", true, 1000);
  const uint64_t now = unix_nanos_now() / 1'000'000'000;
  EXPECT_EQ(Alerts::metric_value(*hub, "iii.invocations.error", 60, now), 1.0);
  EXPECT_EQ(Alerts::metric_value(*hub, "iii.invocations.error_rate", 60, now), 0.5);
  EXPECT_FALSE(Alerts::metric_value(*hub, "no.such.metric", 60, now));
  AlertRule rule;
  rule.name = "r";
  rule.metric = "no.such.metric";
  Alerts alerts(hub, {rule}, {});
  EXPECT_TRUE(alerts.evaluate(1).empty());
  EXPECT_FALSE(alerts.states()[0].firing);
}

}  // namespace
}  // namespace iii::obs
