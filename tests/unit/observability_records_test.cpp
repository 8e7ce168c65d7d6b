// The pieces of iii-observability below the worker: W3C trace context, OTLP/JSON ingest of the
// SDK's frames, the span and log stores with their bounds and queries, the sampler and the
// config block.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "config_error.h"
#include "core/json_text.h"
#include "workers/observability/log_store.h"
#include "workers/observability/observability_config.h"
#include "workers/observability/otlp_ingest.h"
#include "workers/observability/sampler.h"
#include "workers/observability/span_store.h"
#include "workers/observability/trace_context.h"

namespace iii::obs {
namespace {

namespace json = boost::json;

json::value parse(std::string_view text) {
  auto v = json_text::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

TEST(TraceContext, ParsesAndFormatsTraceparent) {
  auto tp = parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tp->span_id, "00f067aa0ba902b7");
  EXPECT_TRUE(tp->sampled());
  EXPECT_EQ(format_traceparent(tp->trace_id, tp->span_id, false),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  EXPECT_FALSE(parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));  // zero trace id
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));  // zero span id
  EXPECT_FALSE(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));  // invalid version
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"));   // short
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"));  // v00 is exact
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"));
}

TEST(TraceContext, FreshIdsAreHexAndDistinct) {
  const std::string a = new_trace_id(), b = new_trace_id();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(new_span_id().size(), 16u);
  EXPECT_TRUE(parse_traceparent(format_traceparent(a, new_span_id(), true)));
}

TEST(TraceContext, ParsesBaggage) {
  auto b = parse_baggage("iii.function.id=math%3A%3Aadd, tenant = acme;prop=1,bad,=x");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].first, "iii.function.id");
  EXPECT_EQ(b[0].second, "math::add");
  EXPECT_EQ(b[1].first, "tenant");
  EXPECT_EQ(b[1].second, "acme");
}

// The frames below are the shapes the official Node SDK (iii-sdk 0.22.1) sends on /otel.
constexpr std::string_view kSpanFrame =
    R"(OTLP{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"iii-node"}}]},)"
    R"("scopeSpans":[{"scope":{"name":"iii-node","version":"1"},"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736",)"
    R"("spanId":"588cc6e40e75a977","parentSpanId":"00f067aa0ba902b7","name":"execute cap::fn","kind":1,)"
    R"("startTimeUnixNano":"1796529645811000000","endTimeUnixNano":"1796529645814863472",)"
    R"("attributes":[{"key":"n","value":{"intValue":"7"}},{"key":"ok","value":{"boolValue":true}},)"
    R"({"key":"d","value":{"doubleValue":1.5}},{"key":"list","value":{"arrayValue":{"values":[{"stringValue":"a"}]}}}],)"
    R"("events":[{"name":"iii.invocation.input","timeUnixNano":"1796529645811882257",)"
    R"("attributes":[{"key":"iii.payload.json","value":{"stringValue":"{\"x\":1}"}}]}],"status":{"code":2,"message":"boom"}},)"
    R"({"spanId":"1111111111111111","name":"no trace id"}]}]}]})";

TEST(OtlpIngest, ReadsSpansFromTheSdkFrame) {
  IngestedTelemetry t = parse_telemetry_frame(kSpanFrame, 0);
  ASSERT_EQ(t.error, "");
  ASSERT_EQ(t.spans.size(), 1u);
  EXPECT_EQ(t.skipped, 1u);
  const SpanRecord& s = t.spans[0];
  EXPECT_EQ(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(s.parent_span_id, "00f067aa0ba902b7");
  EXPECT_EQ(s.name, "execute cap::fn");
  EXPECT_EQ(s.service_name, "iii-node");
  EXPECT_EQ(s.scope_version, "1");
  EXPECT_EQ(s.start_time_unix_nano, 1796529645811000000ull);
  EXPECT_EQ(s.duration_nanos(), 3863472u);
  EXPECT_EQ(s.status, SpanStatus::kError);
  EXPECT_EQ(s.status_message, "boom");
  EXPECT_EQ(s.attribute("n"), "7");
  EXPECT_EQ(s.attribute("ok"), "true");
  EXPECT_EQ(s.attribute("d"), "1.5");
  EXPECT_EQ(s.attribute("list"), R"(["a"])");
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].attributes[0].value, R"("{\"x\":1}")");
  // The record's JSON (what engine::traces::list answers) parses and keeps the fields.
  json::value j = parse(to_json(s));
  EXPECT_EQ(j.at("parent_span_id"), "00f067aa0ba902b7");
  EXPECT_EQ(j.at("status"), "error");
  EXPECT_EQ(j.at("attributes").at("n"), 7);
}

TEST(OtlpIngest, ReadsLogsAndMetricsAndRejectsBadFrames) {
  IngestedTelemetry logs = parse_telemetry_frame(
      R"(LOGS{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"w"}}]},)"
      R"("scopeLogs":[{"scope":{"name":"s"},"logRecords":[{"timeUnixNano":"5","severityNumber":13,)"
      R"("body":{"stringValue":"top-level warn"},"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"588cc6e40e75a977",)"
      R"("attributes":[{"key":"log.data","value":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":1}}]}}}]}]}]}]})",
      0);
  ASSERT_EQ(logs.logs.size(), 1u);
  EXPECT_EQ(logs.logs[0].severity_text, "WARN");
  EXPECT_EQ(logs.logs[0].body, R"("top-level warn")");
  EXPECT_EQ(logs.logs[0].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(logs.logs[0].attributes[0].value, R"({"a":1})");
  EXPECT_EQ(logs.logs[0].service_name, "w");

  IngestedTelemetry metrics = parse_telemetry_frame(
      R"(MTRC{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"mem","gauge":{"dataPoints":[{"asDouble":2.5,"timeUnixNano":"9"}]}},)"
      R"({"name":"calls","sum":{"dataPoints":[{"asInt":"4"}]}}]}]}]})",
      0);
  ASSERT_EQ(metrics.metrics.size(), 2u);
  EXPECT_EQ(metrics.metrics[0].type, "gauge");
  EXPECT_EQ(metrics.metrics[0].value, 2.5);
  EXPECT_EQ(metrics.metrics[1].value, 4);

  EXPECT_NE(parse_telemetry_frame("OTLP{not json", 0).error, "");
  EXPECT_NE(parse_telemetry_frame("XXXX{}", 0).error, "");
  EXPECT_NE(parse_telemetry_frame("OT", 0).error, "");
}

TEST(OtlpIngest, CutsLongAttributesAndReadsBase64Ids) {
  const std::string frame = R"(OTLP{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"S/kvNXezTaajzpKdDg5HNg==",)"
                            R"("spanId":"APBnqgupArc=","name":"x","attributes":[{"key":"big","value":{"stringValue":")" +
                            std::string(100, 'a') + R"("}}]}]}]}]})";
  IngestedTelemetry t = parse_telemetry_frame(frame, 10);
  ASSERT_EQ(t.spans.size(), 1u);
  EXPECT_EQ(t.spans[0].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t.spans[0].span_id, "00f067aa0ba902b7");
  EXPECT_TRUE(t.spans[0].attribute("big").starts_with("\"aaaaaaaaaa…[truncated 90 bytes]"));
}

SpanRecord span(std::string trace, std::string id, std::string parent, uint64_t start, uint64_t end,
                std::string name = "call a::b", SpanStatus status = SpanStatus::kOk) {
  SpanRecord s;
  s.trace_id = std::move(trace);
  s.span_id = std::move(id);
  s.parent_span_id = std::move(parent);
  s.start_time_unix_nano = start;
  s.end_time_unix_nano = end;
  s.name = std::move(name);
  s.status = status;
  s.service_name = "iii";
  s.attributes.push_back({"iii.function.id", "\"a::b\""});
  return s;
}

TEST(SpanStore, EvictsOldestByCountAndBytes) {
  SpanStore store(3, 1u << 30);
  for (int i = 0; i < 5; ++i) store.add(span("t" + std::to_string(i), "s", "", i * 1000000, i * 1000000 + 1));
  EXPECT_EQ(store.stats().spans, 3u);
  EXPECT_EQ(store.stats().evicted, 2u);
  EXPECT_TRUE(store.trace("t0").empty());
  EXPECT_EQ(store.trace("t4").size(), 1u);
  const size_t one = StoredSpan(std::make_shared<const SpanRecord>(span("t", "s", "", 0, 1))).approx_bytes();
  store.set_bounds(100, one * 2 + one / 2);  // room for two
  EXPECT_EQ(store.stats().spans, 2u);
  EXPECT_TRUE(store.trace("t2").empty());
}

TEST(SpanStore, FiltersSortsPagesAndHidesInternalSpans) {
  SpanStore store(100, 1u << 30);
  store.add(span("t1", "a", "", 1'000'000, 3'000'000, "call a::b"));                      // 2 ms
  store.add(span("t2", "b", "", 2'000'000, 12'000'000, "call c::d", SpanStatus::kError));  // 10 ms
  SpanRecord internal = span("t3", "c", "", 3'000'000, 4'000'000, "call engine::traces::list");
  internal.engine_span = true;
  internal.attributes = {{"iii.function.id", "\"engine::traces::list\""}};
  store.add(internal);
  SpanQuery q;
  EXPECT_EQ(store.list(q).total, 2u);
  q.include_internal = true;
  EXPECT_EQ(store.list(q).total, 3u);
  q = SpanQuery{};
  q.status = "error";
  ASSERT_EQ(store.list(q).spans.size(), 1u);
  EXPECT_EQ(store.list(q).spans[0]->trace_id, "t2");
  q = SpanQuery{};
  q.min_duration_ms = 5;
  EXPECT_EQ(store.list(q).total, 1u);
  q = parse_span_query(parse(R"({"sort_by":"duration","sort_order":"asc","limit":1,"offset":1})").get_object());
  SpanPage page = store.list(q);
  EXPECT_EQ(page.total, 2u);
  ASSERT_EQ(page.spans.size(), 1u);
  EXPECT_EQ(page.spans[0]->trace_id, "t2");
  q = parse_span_query(parse(R"({"attributes":{"iii.function.id":"a::b"},"name":"a::"})").get_object());
  EXPECT_EQ(store.list(q).total, 1u);
  EXPECT_THROW(parse_span_query(parse(R"({"status":"bad"})").get_object()), std::invalid_argument);
  EXPECT_THROW(parse_span_query(parse(R"({"trace_ids":[1]})").get_object()), std::invalid_argument);
}

TEST(SpanStore, BuildsATreeAndGroups) {
  SpanStore store(100, 1u << 30);
  store.add(span("t", "root", "", 1, 10));
  store.add(span("t", "kid2", "root", 5, 6));
  store.add(span("t", "kid1", "root", 2, 3));
  store.add(span("t", "grand", "kid1", 2, 3));
  store.add(span("t", "orphan", "missing", 4, 5));
  std::vector<SpanTreeNode> roots = build_tree(store.trace("t"));
  ASSERT_EQ(roots.size(), 2u);  // the orphan's parent is not here: it is a root too
  EXPECT_EQ(roots[0].span->span_id, "root");
  ASSERT_EQ(roots[0].children.size(), 2u);
  EXPECT_EQ(roots[0].children[0].span->span_id, "kid1");  // by start time
  EXPECT_EQ(roots[0].children[0].children[0].span->span_id, "grand");
  std::vector<SpanGroup> groups = store.group_by("iii.function.id", 0, 10, false, "");
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].value, "a::b");
  EXPECT_EQ(groups[0].span_count, 5u);
  EXPECT_EQ(groups[0].trace_ids.size(), 1u);
}

LogPtr log_entry(uint64_t ms, int severity, std::string trace = {}) {
  auto l = std::make_shared<LogRecord>();
  l->time_unix_nano = ms * 1'000'000;
  l->severity_number = severity;
  l->severity_text = std::string(severity_text_for(severity));
  l->body = "\"m" + std::to_string(ms) + "\"";
  l->trace_id = std::move(trace);
  return l;
}

TEST(LogStore, BoundsRetentionAndQueries) {
  LogStore store(3, 60);
  for (uint64_t i = 1; i <= 4; ++i) store.add(log_entry(i * 1000, i % 2 ? 9 : 17, i == 4 ? "abc" : ""));
  EXPECT_EQ(store.stats().size, 3u);
  EXPECT_EQ(store.stats().evicted, 1u);
  LogPage all = store.list(LogQuery{});
  ASSERT_EQ(all.logs.size(), 3u);
  EXPECT_EQ(all.logs[0]->body, "\"m4000\"");  // newest first
  EXPECT_EQ(store.list(parse_log_query(parse(R"({"severity_min":17})").get_object())).total, 2u);
  EXPECT_EQ(store.list(parse_log_query(parse(R"({"trace_id":"abc"})").get_object())).total, 1u);
  EXPECT_EQ(store.list(parse_log_query(parse(R"({"severity_text":"info"})").get_object())).total, 1u);
  EXPECT_EQ(store.list(parse_log_query(parse(R"({"limit":1,"offset":1})").get_object())).logs[0]->body, "\"m3000\"");
  store.expire((4000 + 60'000 + 500) * 1'000'000ull);  // over 60 s after the newest: all expire
  EXPECT_EQ(store.stats().size, 0u);
}

TEST(Sampler, RatioRulesParentAndRateLimit) {
  ObservabilityConfig c;
  c.sampling_ratio = 0.5;
  Sampler half(c);
  int kept = 0;
  for (int i = 0; i < 2000; ++i) kept += half.sample("a::b", new_trace_id(), {});
  EXPECT_GT(kept, 800);
  EXPECT_LT(kept, 1200);
  const std::string t = new_trace_id();
  EXPECT_EQ(half.sample("a::b", t, {}), half.sample("a::b", t, {}));  // decided by the trace id

  c.sampling_ratio = 1;
  c.sampling_rules = {SamplingRule{"noisy::*", "", 0}};
  c.parent_based = true;
  Sampler rules(c);
  EXPECT_FALSE(rules.sample("noisy::poll", new_trace_id(), {}));
  EXPECT_TRUE(rules.sample("quiet::x", new_trace_id(), {}));
  EXPECT_TRUE(rules.sample("noisy::poll", new_trace_id(), ParentSample{true, true}));  // follows the parent
  EXPECT_FALSE(rules.sample("quiet::x", new_trace_id(), ParentSample{true, false}));

  c = ObservabilityConfig{};
  c.max_traces_per_second = 5;
  Sampler limited(c);
  int allowed = 0;
  for (int i = 0; i < 50; ++i) allowed += limited.sample("a::b", new_trace_id(), {});
  EXPECT_GE(allowed, 5);
  EXPECT_LE(allowed, 6);
}

TEST(ObservabilityConfig, DefaultsEveryKeyAndStrictness) {
  ObservabilityConfig d = parse_observability_config(json::value(), "/w");
  EXPECT_TRUE(d.enabled);
  EXPECT_EQ(d.exporter, Exporter::kMemory);
  EXPECT_EQ(d.trace_directory, "/w/data/observability/traces");
  EXPECT_FALSE(d.prometheus_host);
  ObservabilityConfig c = parse_observability_config(
      parse(R"({"enabled":true,"exporter":"both","endpoint":"http://127.0.0.1:4318","sampling_ratio":0.25,
                "sampling":{"default":0.5,"parent_based":true,"rules":[{"operation":"api.*","rate":0.1}],
                            "rate_limit":{"max_traces_per_second":100}},
                "memory_max_spans":10,"trace_storage":{"directory":"traces","max_disk_bytes":67108864},
                "logs_max_count":5,"logs_console_output":false,"level":"debug","format":"json",
                "alerts":[{"name":"e","metric":"iii.invocations.error","threshold":1,"operator":">=",
                           "action":{"type":"webhook","url":"http://127.0.0.1:9/x"}}],
                "prometheus":{"port":0}})"),
      "/w");
  EXPECT_EQ(c.exporter, Exporter::kBoth);
  EXPECT_EQ(c.sampling_ratio, 0.5);  // sampling.default wins over sampling_ratio
  EXPECT_TRUE(c.parent_based);
  EXPECT_EQ(c.sampling_rules.size(), 1u);
  EXPECT_EQ(c.max_traces_per_second, 100);
  EXPECT_EQ(c.trace_directory, "/w/traces");
  EXPECT_EQ(c.alerts[0].op, AlertOperator::kGreaterOrEqual);
  EXPECT_EQ(c.alerts[0].action_target, "http://127.0.0.1:9/x");
  EXPECT_EQ(c.prometheus_host, "127.0.0.1");
  EXPECT_EQ(c.prometheus_port, 0);
  auto error = [](std::string_view block) {
    return config_error_of([&] { parse_observability_config(parse(block), "/w"); });
  };
  EXPECT_EQ(error(R"({"nope":1})").find("unknown key `nope`") != std::string::npos, true);
  EXPECT_NE(error(R"({"sampling_ratio":2})").find("`sampling_ratio` must be between"), std::string::npos);
  EXPECT_NE(error(R"({"exporter":"jaeger"})").find("`exporter` must be memory, otlp or both"), std::string::npos);
  EXPECT_NE(error(R"({"endpoint":"localhost:4317"})").find("`endpoint`"), std::string::npos);
  EXPECT_NE(error(R"({"alerts":[{"name":"a","metric":"m","threshold":1,"operator":"~"}]})").find("alerts[0].operator"),
            std::string::npos);
  EXPECT_NE(error(R"({"alerts":[{"name":"a","metric":"m","threshold":1,"action":{"type":"webhook"}}]})")
                .find("alerts[0].action.url"),
            std::string::npos);
  EXPECT_NE(error(R"({"trace_storage":{"bogus":1}})").find("trace_storage.bogus"), std::string::npos);
  EXPECT_NE(error(R"({"level":"loud"})").find("`level`"), std::string::npos);
}

}  // namespace
}  // namespace iii::obs
