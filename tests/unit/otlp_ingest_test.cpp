// OTLP/JSON ingest (otlp_ingest.h): the On-Demand reader against expected records on exports the
// official Node SDK's serializers write, against the DOM reader it replaced (otlp_ingest_reference.h)
// on those and on odd, malformed and mutated frames, attribute cuts, the depth limit; and the
// ingest queue (telemetry_ingest.h): off the caller's thread, bounded, drops counted.
#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "workers/observability/call_tracer.h"
#include "workers/observability/otlp_ingest.h"
#include "workers/observability/telemetry_ingest.h"
#include "core/json_text.h"
#include "otlp_ingest_reference.h"

namespace iii::obs {
namespace {

// Exports written by @opentelemetry/otlp-transformer's JSON serializers (what iii-sdk 0.22.1 sends
// on /otel) from real SDK spans, log records and metrics: server and client spans with events,
// a link, attributes of every type the JS API allows; logs with a kvlist body and attributes, one
// without ids, one whose timestamp overflows 64 bits; a counter, an up-down counter, a histogram,
// a gauge.
constexpr std::string_view kNodeSpans =
    R"_(OTLP{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"iii-node"}},{"k)_"
    R"_(ey":"telemetry.sdk.language","value":{"stringValue":"nodejs"}},{"key":"telemetry.sdk.name","value":{"stringVal)_"
    R"_(ue":"opentelemetry"}},{"key":"telemetry.sdk.version","value":{"stringValue":"1.30.1"}},{"key":"service.version)_"
    R"_(","value":{"stringValue":"0.22.1"}},{"key":"process.pid","value":{"intValue":4242}}],"droppedAttributesCount":)_"
    R"_(0},"scopeSpans":[{"scope":{"name":"iii-node","version":"0.22.1"},"spans":[{"traceId":"4bf92f3577b34da6a3ce929d)_"
    R"_(0e0e4736","spanId":"d517adf35643706b","parentSpanId":"00f067aa0ba902b7","name":"execute cap::fn","kind":2,"sta)_"
    R"_(rtTimeUnixNano":"1796610126848000000","endTimeUnixNano":"1796610126848484102","attributes":[{"key":"iii.functi)_"
    R"_(on.id","value":{"stringValue":"cap::fn"}},{"key":"n","value":{"intValue":7}},{"key":"big","value":{"intValue":)_"
    R"_(12345678901}},{"key":"d","value":{"doubleValue":1.5}},{"key":"ok","value":{"boolValue":true}},{"key":"list","v)_"
    R"_(alue":{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b"}]}}},{"key":"nums","value":{"arrayValue")_"
    R"_(:{"values":[{"intValue":1},{"doubleValue":2.5}]}}},{"key":"flags","value":{"arrayValue":{"values":[{"boolValue)_"
    R"_(":true},{"boolValue":false}]}}},{"key":"utf8","value":{"stringValue":"héllo wörld ✓"}}],"droppedAttributesCoun)_"
    R"_(t":0,"events":[{"attributes":[{"key":"iii.payload.json","value":{"stringValue":"{\"x\":1,\"s\":\"quote \\\" an)_"
    R"_(d \\\\ slash\"}"}}],"name":"iii.invocation.input","timeUnixNano":"1796610126848392587","droppedAttributesCount)_"
    R"_(":0},{"attributes":[{"key":"exception.message","value":{"stringValue":"boom\nline2"}},{"key":"exception.type",)_"
    R"_("value":{"stringValue":"Error"}}],"name":"exception","timeUnixNano":"1796610126848419018","droppedAttributesCo)_"
    R"_(unt":0}],"droppedEventsCount":0,"status":{"code":2,"message":"boom"},"links":[{"attributes":[{"key":"why","val)_"
    R"_(ue":{"stringValue":"follows"}}],"spanId":"b7ad6b7169203331","traceId":"0af7651916cd43dd8448eb211c80319c","drop)_"
    R"_(pedAttributesCount":0}],"droppedLinksCount":0},{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"43c9f98)_"
    R"_(1d282538e","parentSpanId":"d517adf35643706b","name":"fetch https://example.com","kind":3,"startTimeUnixNano":")_"
    R"_(1796610126849000000","endTimeUnixNano":"1796610126849018375","attributes":[{"key":"http.status_code","value":{)_"
    R"_("intValue":200}}],"droppedAttributesCount":0,"events":[],"droppedEventsCount":0,"status":{"code":1},"links":[])_"
    R"_(,"droppedLinksCount":0}]}]}]})_";

constexpr std::string_view kNodeLogs =
    R"_(LOGS{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"iii-node"}},{"ke)_"
    R"_(y":"telemetry.sdk.language","value":{"stringValue":"nodejs"}},{"key":"telemetry.sdk.name","value":{"stringValu)_"
    R"_(e":"opentelemetry"}},{"key":"telemetry.sdk.version","value":{"stringValue":"1.30.1"}},{"key":"service.version")_"
    R"_(,"value":{"stringValue":"0.22.1"}},{"key":"process.pid","value":{"intValue":4242}}],"droppedAttributesCount":0)_"
    R"_(},"scopeLogs":[{"scope":{"name":"iii-node","version":"0.22.1"},"logRecords":[{"timeUnixNano":"1796610126856000)_"
    R"_(000","observedTimeUnixNano":"1796610126856000000","severityNumber":9,"severityText":"INFO","body":{"stringValu)_"
    R"_(e":"order placed"},"attributes":[{"key":"log.data","value":{"kvlistValue":{"values":[{"key":"id","value":{"int)_"
    R"_(Value":42}},{"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b"}]}}},{"key":)_"
    R"_("nested","value":{"kvlistValue":{"values":[{"key":"ok","value":{"boolValue":true}}]}}}]}}}],"droppedAttributes)_"
    R"_(Count":0,"flags":1,"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"588cc6e40e75a977"},{"timeUnixNano":")_"
    R"_(1796610126857000000","observedTimeUnixNano":"1796610126857000000","severityNumber":17,"body":{"kvlistValue":{")_"
    R"_(values":[{"key":"message","value":{"stringValue":"structured"}},{"key":"code","value":{"intValue":7}}]}},"attr)_"
    R"_(ibutes":[{"key":"attempt","value":{"intValue":3}}],"droppedAttributesCount":0},{"timeUnixNano":"17965296458110)_"
    R"_(00000000","observedTimeUnixNano":"1796610126857000000","severityNumber":13,"severityText":"WARN","body":{"stri)_"
    R"_(ngValue":"no ids"},"attributes":[],"droppedAttributesCount":0}]}]}]})_";

constexpr std::string_view kNodeMetrics =
    R"_(MTRC{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"iii-node"}},{)_"
    R"_("key":"telemetry.sdk.language","value":{"stringValue":"nodejs"}},{"key":"telemetry.sdk.name","value":{"stringV)_"
    R"_(alue":"opentelemetry"}},{"key":"telemetry.sdk.version","value":{"stringValue":"1.30.1"}},{"key":"service.versi)_"
    R"_(on","value":{"stringValue":"0.22.1"}},{"key":"process.pid","value":{"intValue":4242}}],"droppedAttributesCount)_"
    R"_(":0},"scopeMetrics":[{"scope":{"name":"iii-node","version":"0.22.1"},"metrics":[{"name":"iii.calls","descripti)_"
    R"_(on":"calls made","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"attributes":[)_"
    R"_({"key":"fn","value":{"stringValue":"cap::fn"}}],"startTimeUnixNano":"1796610126859000000","timeUnixNano":"1796)_"
    R"_(610126859000000","asDouble":4}]}},{"name":"iii.inflight","description":"","unit":"","sum":{"aggregationTempora)_"
    R"_(lity":2,"isMonotonic":false,"dataPoints":[{"attributes":[],"startTimeUnixNano":"1796610126859000000","timeUnix)_"
    R"_(Nano":"1796610126859000000","asDouble":-2}]}},{"name":"iii.duration","description":"","unit":"ms","histogram":)_"
    R"_({"aggregationTemporality":2,"dataPoints":[{"attributes":[{"key":"fn","value":{"stringValue":"cap::fn"}}],"buck)_"
    R"_(etCounts":[0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0],"explicitBounds":[0,5,10,25,50,75,100,250,500,750,1000,2500,5000,7)_"
    R"_(500,10000],"count":1,"sum":12.5,"min":12.5,"max":12.5,"startTimeUnixNano":"1796610126859000000","timeUnixNano")_"
    R"_(:"1796610126859000000"}]}},{"name":"process.memory","description":"","unit":"By","gauge":{"dataPoints":[{"attr)_"
    R"_(ibutes":[{"key":"kind","value":{"stringValue":"rss"}}],"startTimeUnixNano":"1796610126859000000","timeUnixNano)_"
    R"_(":"1796610126859000000","asDouble":123.25}]}}]}]}]})_";

// Boost.JSON 1.81, which the DOM reader used, rounds about one double in eight of those JavaScript
// writes (17 significant digits) to a neighbour of the right value; simdjson reads them exactly.
// So a double may differ by one unit in the last place, and nothing else may.
bool same_double(double a, double b) {
  if (std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b))) return true;
  return std::isfinite(a) && std::isfinite(b) && (std::nextafter(a, b) == b);
}

bool same_json(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) return same_double(a.get_double(), b.get_double());
  if (a.is_array() && b.is_array()) {
    const auto &x = a.get_array(), &y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!same_json(x[i], y[i])) return false;
    return true;
  }
  if (a.is_object() && b.is_object()) {
    const auto &x = a.get_object(), &y = b.get_object();
    if (x.size() != y.size()) return false;
    for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j)
      if (i->key() != j->key() || !same_json(i->value(), j->value())) return false;
    return true;
  }
  return a == b;
}

// Attribute values (raw JSON): the same text, or the same JSON but for doubles (above).
bool same_value(const std::string& a, const std::string& b) {
  if (a == b) return true;
  const auto x = json_text::parse(a), y = json_text::parse(b);
  return x && y && same_json(*x, *y);
}

// "" when both readers gave the same outcome, else what differs first.
std::string diff(const IngestedTelemetry& got, const IngestedTelemetry& want) {
  if (got.error.empty() != want.error.empty()) return "error: got \"" + got.error + "\", want \"" + want.error + "\"";
  if (got.skipped != want.skipped) return "skipped " + std::to_string(got.skipped) + " vs " + std::to_string(want.skipped);
  if (got.spans.size() != want.spans.size()) return "span count";
  if (got.logs.size() != want.logs.size()) return "log count";
  if (got.metrics.size() != want.metrics.size()) return "metric count";
  auto attrs = [](const Attributes& a, const Attributes& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].key != b[i].key || !same_value(a[i].value, b[i].value)) return false;
    return true;
  };
  for (size_t i = 0; i < got.spans.size(); ++i) {
    const SpanRecord &a = got.spans[i], &b = want.spans[i];
    const std::string at = "span " + std::to_string(i) + ": ";
    if (a.trace_id != b.trace_id || a.span_id != b.span_id || a.parent_span_id != b.parent_span_id) return at + "ids";
    if (a.name != b.name || a.kind != b.kind || a.flags != b.flags) return at + "name/kind/flags";
    if (a.start_time_unix_nano != b.start_time_unix_nano || a.end_time_unix_nano != b.end_time_unix_nano) return at + "times";
    if (a.status != b.status || a.status_message != b.status_message) return at + "status";
    if (a.service_name != b.service_name || a.scope_name != b.scope_name || a.scope_version != b.scope_version) return at + "service/scope";
    if (!attrs(a.attributes, b.attributes)) return at + "attributes";
    if (a.events.size() != b.events.size()) return at + "event count";
    for (size_t e = 0; e < a.events.size(); ++e)
      if (a.events[e].name != b.events[e].name || a.events[e].time_unix_nano != b.events[e].time_unix_nano ||
          !attrs(a.events[e].attributes, b.events[e].attributes))
        return at + "event " + std::to_string(e);
    if (a.engine_span != b.engine_span) return at + "engine_span";
  }
  for (size_t i = 0; i < got.logs.size(); ++i) {
    const LogRecord &a = got.logs[i], &b = want.logs[i];
    const std::string at = "log " + std::to_string(i) + ": ";
    if (a.time_unix_nano != b.time_unix_nano || a.observed_time_unix_nano != b.observed_time_unix_nano) return at + "times";
    if (a.severity_number != b.severity_number || a.severity_text != b.severity_text) return at + "severity";
    if (!same_value(a.body, b.body)) return at + "body " + a.body + " vs " + b.body;
    if (!attrs(a.attributes, b.attributes)) return at + "attributes";
    if (!attrs(a.resource, b.resource)) return at + "resource";
    if (a.trace_id != b.trace_id || a.span_id != b.span_id) return at + "ids";
    if (a.service_name != b.service_name || a.scope_name != b.scope_name || a.scope_version != b.scope_version) return at + "service/scope";
    if (a.worker_id != b.worker_id) return at + "worker";
  }
  for (size_t i = 0; i < got.metrics.size(); ++i) {
    const MetricPoint &a = got.metrics[i], &b = want.metrics[i];
    const std::string at = "metric " + std::to_string(i) + ": ";
    if (a.name != b.name || a.description != b.description || a.unit != b.unit || a.type != b.type) return at + "names";
    if (!same_double(a.value, b.value) || !same_double(a.sum, b.sum) || a.count != b.count) return at + "values";
    if (a.time_unix_nano != b.time_unix_nano || a.service_name != b.service_name) return at + "time/service";
    if (!attrs(a.attributes, b.attributes)) return at + "attributes";
  }
  return {};
}

IngestedTelemetry dom(std::string_view frame, size_t cap = 0) { return reference::parse_telemetry_frame_dom(frame, cap); }

std::string_view attribute(const Attributes& list, std::string_view key) {
  for (const Attribute& a : list)
    if (a.key == key) return a.value;
  return {};
}

TEST(OtlpIngestOnDemand, ReadsTheNodeSdksSpans) {
  const IngestedTelemetry t = parse_telemetry_frame(kNodeSpans, 0);
  ASSERT_EQ(t.error, "");
  ASSERT_EQ(t.spans.size(), 2u);
  EXPECT_EQ(t.skipped, 0u);
  const SpanRecord& s = t.spans[0];
  EXPECT_EQ(s.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(s.span_id, "d517adf35643706b");
  EXPECT_EQ(s.parent_span_id, "00f067aa0ba902b7");
  EXPECT_EQ(s.name, "execute cap::fn");
  EXPECT_EQ(s.kind, 2);
  EXPECT_EQ(s.start_time_unix_nano, 1796610126848000000ull);
  EXPECT_EQ(s.end_time_unix_nano, 1796610126848484102ull);
  EXPECT_EQ(s.status, SpanStatus::kError);
  EXPECT_EQ(s.status_message, "boom");
  EXPECT_EQ(s.service_name, "iii-node");
  EXPECT_EQ(s.scope_name, "iii-node");
  EXPECT_EQ(s.scope_version, "0.22.1");
  EXPECT_EQ(s.flags, 1u);
  EXPECT_EQ(s.attribute("iii.function.id"), R"("cap::fn")");
  EXPECT_EQ(s.attribute("n"), "7");
  EXPECT_EQ(s.attribute("big"), "12345678901");
  EXPECT_EQ(s.attribute("d"), "1.5");
  EXPECT_EQ(s.attribute("ok"), "true");
  EXPECT_EQ(s.attribute("list"), R"(["a","b"])");
  EXPECT_EQ(s.attribute("nums"), R"([1,2.5])");
  EXPECT_EQ(s.attribute("flags"), R"([true,false])");
  EXPECT_EQ(s.attribute("utf8"), "\"h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93\"");
  ASSERT_EQ(s.events.size(), 2u);
  EXPECT_EQ(s.events[0].name, "iii.invocation.input");
  EXPECT_EQ(s.events[0].time_unix_nano, 1796610126848392587ull);
  EXPECT_EQ(s.events[0].attributes[0].value, R"("{\"x\":1,\"s\":\"quote \\\" and \\\\ slash\"}")");
  EXPECT_EQ(attribute(s.events[1].attributes, "exception.message"), R"("boom\nline2")");
  const SpanRecord& fetch = t.spans[1];
  EXPECT_EQ(fetch.parent_span_id, "d517adf35643706b");
  EXPECT_EQ(fetch.kind, 3);
  EXPECT_EQ(fetch.status, SpanStatus::kOk);
  EXPECT_EQ(fetch.attribute("http.status_code"), "200");
  EXPECT_TRUE(fetch.events.empty());
  EXPECT_EQ(diff(t, dom(kNodeSpans)), "");
}

TEST(OtlpIngestOnDemand, ReadsTheNodeSdksLogs) {
  const IngestedTelemetry t = parse_telemetry_frame(kNodeLogs, 0);
  ASSERT_EQ(t.error, "");
  ASSERT_EQ(t.logs.size(), 3u);
  const LogRecord& info = t.logs[0];
  EXPECT_EQ(info.time_unix_nano, 1796610126856000000ull);
  EXPECT_EQ(info.severity_number, 9);
  EXPECT_EQ(info.severity_text, "INFO");
  EXPECT_EQ(info.body, R"("order placed")");
  EXPECT_EQ(attribute(info.attributes, "log.data"), R"({"id":42,"tags":["a","b"],"nested":{"ok":true}})");
  EXPECT_EQ(info.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(info.span_id, "588cc6e40e75a977");
  EXPECT_EQ(info.service_name, "iii-node");
  EXPECT_EQ(info.scope_version, "0.22.1");
  ASSERT_EQ(info.resource.size(), 6u);
  EXPECT_EQ(attribute(info.resource, "process.pid"), "4242");
  const LogRecord& error = t.logs[1];
  EXPECT_EQ(error.severity_text, "ERROR");  // derived from the number
  EXPECT_EQ(error.body, R"({"message":"structured","code":7})");
  EXPECT_EQ(error.trace_id, "");
  // A timestamp beyond 64 bits saturates, as strtoull does.
  EXPECT_EQ(t.logs[2].time_unix_nano, UINT64_MAX);
  EXPECT_EQ(t.logs[2].severity_text, "WARN");
  EXPECT_EQ(diff(t, dom(kNodeLogs)), "");
}

TEST(OtlpIngestOnDemand, ReadsTheNodeSdksMetrics) {
  const IngestedTelemetry t = parse_telemetry_frame(kNodeMetrics, 0);
  ASSERT_EQ(t.error, "");
  ASSERT_EQ(t.metrics.size(), 4u);
  EXPECT_EQ(t.metrics[0].name, "iii.calls");
  EXPECT_EQ(t.metrics[0].description, "calls made");
  EXPECT_EQ(t.metrics[0].unit, "1");
  EXPECT_EQ(t.metrics[0].type, "sum");
  EXPECT_EQ(t.metrics[0].value, 4);
  EXPECT_EQ(t.metrics[0].time_unix_nano, 1796610126859000000ull);
  EXPECT_EQ(attribute(t.metrics[0].attributes, "fn"), R"("cap::fn")");
  EXPECT_EQ(t.metrics[0].service_name, "iii-node");
  EXPECT_EQ(t.metrics[1].value, -2);
  EXPECT_EQ(t.metrics[2].type, "histogram");
  EXPECT_EQ(t.metrics[2].count, 1u);
  EXPECT_EQ(t.metrics[2].sum, 12.5);
  EXPECT_EQ(t.metrics[3].type, "gauge");
  EXPECT_EQ(t.metrics[3].value, 123.25);
  EXPECT_EQ(t.metrics[3].unit, "By");
  EXPECT_EQ(diff(t, dom(kNodeMetrics)), "");
}

// Frames the Node SDK does not write but a collector-like reader must take the same way the DOM
// reader did: keys given twice (the last counts), nulls, wrong types, escapes, odd numbers, fields
// in any order, several value kinds at once.
const std::vector<std::string> kOddFrames = {
    R"(OTLP{"resourceSpans":[]})",
    R"(OTLP{})",
    R"(MTRC{"resourceMetrics":null})",
    R"(LOGS{"resourceLogs":{"a":1}})",
    // The resource and the scope after their records; ids in upper case, base64, zero, too short.
    R"(OTLP{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4BF92F3577B34DA6A3CE929D0E0E4736","spanId":"APBnqgupArc=","name":"a"},)"
    R"({"traceId":"00000000000000000000000000000000","spanId":"00f067aa0ba902b7"},{"traceId":"4bf9","spanId":"00f067aa0ba902b7"},)"
    R"({"traceId":"S/kvNXezTaajzpKdDg5HNg==","spanId":"00f067aa0ba902b7","parentSpanId":"zz"}],"scope":{"version":"2","name":"late"}}],)"
    R"("resource":{"attributes":[{"value":{"stringValue":"late-svc"},"key":"service.name"}]}}]})",
    // Keys given twice at every level: the last value counts (and a list given twice, its last).
    R"(OTLP{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"1111111111111111"}]}]}],)"
    R"("resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"one"}}]},)"
    R"("resource":{"attributes":[{"key":"service.name","value":{"intValue":1}},{"key":"service.name","value":{"stringValue":"two"}}]},)"
    R"("scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"2222222222222222"}]}],)"
    R"("scopeSpans":[{"scope":{"name":"x"},"scope":null,"spans":[{"name":"skipped"}],"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736",)"
    R"("spanId":"3333333333333333","name":"first","name":"second","kind":3,"kind":"2","status":{"code":2},"status":{"code":"1","message":7},)"
    R"("attributes":[{"key":"a","value":{"stringValue":"x"}}],"attributes":[{"key":"b","key":"c","value":{"boolValue":1},"value":{"boolValue":false}}],)"
    R"("events":[{"name":"e1"}],"events":[{"name":"e2","name":null,"timeUnixNano":12.7},7,null],"flags":256,"flags":"3"}]}]}]})",
    // Every AnyValue kind, nulls, wrong types, several kinds at once (the DOM reader's order wins).
    R"(OTLP{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"1111111111111111","attributes":[)"
    R"({"key":"s","value":{"stringValue":"x","boolValue":true}},{"key":"s2","value":{"stringValue":5,"intValue":"12x"}},)"
    R"({"key":"b","value":{"boolValue":"yes"}},{"key":"b2","value":{"boolValue":null,"doubleValue":"2.5e3"}},)"
    R"({"key":"i","value":{"intValue":-9223372036854775808}},{"key":"u","value":{"intValue":18446744073709551615}},)"
    R"({"key":"i2","value":{"intValue":"-42"}},{"key":"i3","value":{"intValue":1.5}},{"key":"i4","value":{"intValue":-0}},)"
    R"({"key":"i5","value":{"intValue":true,"arrayValue":{}}},{"key":"big","value":{"intValue":123456789012345678901234567890}},)"
    R"({"key":"d","value":{"doubleValue":3}},{"key":"d2","value":{"doubleValue":1e400}},{"key":"d3","value":{"doubleValue":-1e-400}},)"
    R"({"key":"d4","value":{"doubleValue":"nan"}},{"key":"d5","value":{"doubleValue":{}}},{"key":"d6","value":{"doubleValue":0.1}},)"
    R"({"key":"d7","value":{"doubleValue":-0.0}},{"key":"d8","value":{"doubleValue":1E+2}},)"
    R"({"key":"a","value":{"arrayValue":{"values":[{"stringValue":"x"},1,null,{"arrayValue":{"values":[]}},{"kvlistValue":{}}]}}},)"
    R"({"key":"a2","value":{"arrayValue":{"values":{}}}},{"key":"a3","value":{"arrayValue":[]}},{"key":"a4","value":{"arrayValue":{"values":[1],"values":[{"boolValue":true}]}}},)"
    R"({"key":"k","value":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":1}},{"key":"b"},{"value":{"intValue":2}},)"
    R"({"key":"a","value":{"intValue":3}},5,{"key":7,"value":{"stringValue":"seven"}}]}}},{"key":"k2","value":{"kvlistValue":{"values":null}}},)"
    R"({"key":"y","value":{"bytesValue":"AQID"}},{"key":"y2","value":{"bytesValue":5}},{"key":"n","value":null},{"key":"n2"},)"
    R"({"key":"n3","value":7},{"key":"n4","value":{}},{"key":"n5","value":{"unknown":1}},"not an attribute",{"value":{"stringValue":"no key"}},)"
    R"({"key":"e\u0301\n\"\\\/\ud83d\ude00","value":{"stringValue":"\u00e9\u0000\t\ud83d\ude00 \u2028"}})"
    R"(]}]}]}]})",
    // Escaped keys read as their text; unknown fields of every type are walked and ignored.
    R"(OTLP{"resourceSpans":[{"scopeSpans":[{"spans":[{"\u0074raceId":"4bf92f3577b34da6a3ce929d0e0e4736","span\u0049d":"1111111111111111",)"
    R"("links":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","attributes":[{"key":"x","value":{"intValue":1}}]}],)"
    R"("traceState":"k=v","droppedAttributesCount":0,"x":[true,false,null,-1.5e-3,{"y":[[]]}],"startTimeUnixNano":-5,)"
    R"("endTimeUnixNano":1.5e18,"kind":" 3","flags":"-1"}]}]}]}  )",
    // Logs: bodies of every kind, times as numbers, the observed time standing in, severities.
    R"(LOGS{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"bytesValue":"c3Zj"}}]},"scopeLogs":[{"logRecords":[)"
    R"({"observedTimeUnixNano":77,"severityNumber":21,"body":null},{"timeUnixNano":"5","severityNumber":"13","severityText":"",)"
    R"("body":{"kvlistValue":{"values":[]}},"body":{"arrayValue":{"values":[{"intValue":"9"}]}}},{"severityNumber":-3,"body":"plain",)"
    R"("severityText":"custom","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"zz"},{"severityNumber":99,"body":{}},7,)"
    R"({"severityNumber":4.9,"body":{"doubleValue":2},"attributes":null,"attributes":[{"key":"k"}]}],"scope":{"name":"s","version":1}}]}]})",
    // Metrics: every kind, the kinds in the reader's order whatever the JSON's, a kind given twice,
    // asInt over asDouble, strings, points that are not objects, a metric without points.
    R"(MTRC{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"summary":{"dataPoints":[{"count":"3","sum":"1.5"}]},)"
    R"("exponentialHistogram":{"dataPoints":[{"count":2,"sum":4,"scale":1}]},"gauge":{"dataPoints":[{"asInt":"-7","asDouble":1.5},)"
    R"({"asDouble":2,"asInt":null},{"asInt":true},{"asInt":"x"},{"asInt":18446744073709551615},3]},"unit":"u","name":"late name",)"
    R"("sum":{"dataPoints":[{"asDouble":1}]},"sum":{"dataPoints":[{"asDouble":2}],"dataPoints":[{"asDouble":3,"timeUnixNano":"9"}]},)"
    R"("histogram":{"dataPoints":[{"count":-1,"sum":-2.5,"attributes":[{"key":"le","value":{"doubleValue":0.5}}]}]},)"
    R"("histogram":{"dataPoints":null}},{"name":"none"},{"name":"odd","gauge":[1],"sum":null,"histogram":{"dataPoints":{}}}]}],)"
    R"("resource":{"attributes":[{"key":"service.name","value":{"stringValue":"m"}}]}}]})",
    // Whitespace everywhere.
    "MTRC \n{ \"resourceMetrics\" : [ { \"scopeMetrics\" : [ { \"metrics\" : [ { \"name\" : \"w\" , \"gauge\" : { \"dataPoints\" : "
    "[ { \"asDouble\" : 1.25 , \"timeUnixNano\" : \"3\" } ] } } ] } ] } ] }\r\n\t",
};

TEST(OtlpIngestOnDemand, OddFramesReadAsTheDomReaderReadThem) {
  for (size_t cap : {size_t{0}, size_t{1}, size_t{4}}) {
    for (const std::string& frame : kOddFrames) {
      const IngestedTelemetry got = parse_telemetry_frame(frame, cap);
      EXPECT_EQ(got.error, "") << frame;
      EXPECT_EQ(diff(got, dom(frame, cap)), "") << "cap " << cap << ": " << frame;
    }
  }
  // A few of the readings spelled out.
  const IngestedTelemetry late = parse_telemetry_frame(kOddFrames[4], 0);
  ASSERT_EQ(late.spans.size(), 2u);
  EXPECT_EQ(late.skipped, 2u);
  EXPECT_EQ(late.spans[0].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(late.spans[0].span_id, "00f067aa0ba902b7");
  EXPECT_EQ(late.spans[0].service_name, "late-svc");
  EXPECT_EQ(late.spans[0].scope_name, "late");
  EXPECT_EQ(late.spans[1].parent_span_id, "");
  const IngestedTelemetry twice = parse_telemetry_frame(kOddFrames[5], 0);
  ASSERT_EQ(twice.spans.size(), 1u);
  EXPECT_EQ(twice.skipped, 0u);
  const SpanRecord& s = twice.spans[0];
  EXPECT_EQ(s.span_id, "3333333333333333");
  EXPECT_EQ(s.service_name, "two");
  EXPECT_EQ(s.scope_name, "");
  EXPECT_EQ(s.name, "second");
  EXPECT_EQ(s.kind, 2);
  EXPECT_EQ(s.status, SpanStatus::kOk);
  EXPECT_EQ(s.status_message, "");
  EXPECT_EQ(s.flags, 3u);
  ASSERT_EQ(s.attributes.size(), 1u);
  EXPECT_EQ(s.attributes[0].key, "c");
  EXPECT_EQ(s.attributes[0].value, "false");
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].name, "");
  EXPECT_EQ(s.events[0].time_unix_nano, 12u);
  const IngestedTelemetry values = parse_telemetry_frame(kOddFrames[6], 0);
  ASSERT_EQ(values.spans.size(), 1u);
  const SpanRecord& v = values.spans[0];
  EXPECT_EQ(v.attribute("s"), R"("x")");
  EXPECT_EQ(v.attribute("s2"), "12");
  EXPECT_EQ(v.attribute("b"), "null");
  EXPECT_EQ(v.attribute("b2"), "2500.0");
  EXPECT_EQ(v.attribute("i"), "-9223372036854775808");
  EXPECT_EQ(v.attribute("u"), "18446744073709551615");
  EXPECT_EQ(v.attribute("i3"), "null");
  EXPECT_EQ(v.attribute("i4"), "0");
  EXPECT_EQ(v.attribute("i5"), "[]");
  EXPECT_EQ(v.attribute("d"), "3.0");
  EXPECT_EQ(v.attribute("d2"), "null");  // infinite
  EXPECT_EQ(v.attribute("d5"), "0.0");
  EXPECT_EQ(v.attribute("a"), R"(["x",null,null,[],{}])");
  EXPECT_EQ(v.attribute("a2"), "[]");
  EXPECT_EQ(v.attribute("a3"), "null");
  EXPECT_EQ(v.attribute("a4"), "[true]");
  EXPECT_EQ(v.attribute("k"), R"({"a":3,"b":null,"":"seven"})");
  EXPECT_EQ(v.attribute("k2"), "{}");
  EXPECT_EQ(v.attribute("y"), R"("AQID")");
  EXPECT_EQ(v.attribute("n"), "null");
  EXPECT_EQ(v.attribute("n2"), "null");
  const IngestedTelemetry metrics = parse_telemetry_frame(kOddFrames[9], 0);
  std::vector<std::string> types;
  for (const MetricPoint& m : metrics.metrics) types.push_back(m.type + "=" + std::to_string(m.value));
  EXPECT_EQ(types, (std::vector<std::string>{"gauge=-7.000000", "gauge=2.000000", "gauge=0.000000", "gauge=0.000000",
                                             "gauge=18446744073709551616.000000", "sum=3.000000",
                                             "exponential_histogram=0.000000", "summary=0.000000"}));
  EXPECT_EQ(metrics.metrics[0].name, "late name");
  EXPECT_EQ(metrics.metrics[0].service_name, "m");
}

TEST(OtlpIngestOnDemand, CutsEveryLongStringValueAtAUtf8Boundary) {
  // "abcdé…": with a cap of 5 the cut falls inside é (2 bytes), so it moves back to 4.
  const std::string v = "abcd\xC3\xA9" + std::string(20, 'x');
  const std::string sv = R"({"stringValue":")" + v + R"("})";
  const std::string frame = R"(OTLP{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":)" + sv +
                            R"(}]},"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"1111111111111111",)"
                            R"("attributes":[{"key":"s","value":)" + sv + R"(},{"key":"short","value":{"stringValue":"abcde"}},)"
                            R"({"key":"bytes","value":{"bytesValue":")" + v + R"("}},)"
                            R"({"key":"list","value":{"arrayValue":{"values":[)" + sv + R"(]}}},)"
                            R"({"key":"kv","value":{"kvlistValue":{"values":[{"key":"k","value":)" + sv + R"(}]}}}],)"
                            R"("events":[{"name":"e","attributes":[{"key":"s","value":)" + sv + R"(}]}]}]}]}]})";
  const IngestedTelemetry t = parse_telemetry_frame(frame, 5);
  ASSERT_EQ(t.spans.size(), 1u);
  const SpanRecord& s = t.spans[0];
  const std::string cut = "abcd\xE2\x80\xA6[truncated 22 bytes]";
  EXPECT_EQ(s.attribute("s"), "\"" + cut + "\"");
  EXPECT_EQ(s.attribute("short"), R"("abcde")");
  EXPECT_EQ(s.attribute("bytes"), "\"" + v + "\"");  // bytes are not cut
  EXPECT_EQ(s.attribute("list"), "[\"" + cut + "\"]");
  EXPECT_EQ(s.attribute("kv"), "{\"k\":\"" + cut + "\"}");
  EXPECT_EQ(s.events[0].attributes[0].value, "\"" + cut + "\"");
  EXPECT_EQ(s.service_name, cut);
  EXPECT_EQ(diff(t, dom(frame, 5)), "");

  const std::string log = R"(LOGS{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":)" + sv + "}]}]}]}";
  const IngestedTelemetry l = parse_telemetry_frame(log, 5);
  ASSERT_EQ(l.logs.size(), 1u);
  EXPECT_EQ(l.logs[0].body, "\"" + cut + "\"");
  EXPECT_EQ(diff(l, dom(log, 5)), "");
  for (size_t cap = 1; cap < v.size() + 2; ++cap) EXPECT_EQ(diff(parse_telemetry_frame(frame, cap), dom(frame, cap)), "") << cap;
}

TEST(OtlpIngestOnDemand, ReadsDoublesExactly) {
  // Shortest round-trip forms (what JSON.stringify writes) come back as the same text: the
  // double read is the one written. The DOM reader's Boost.JSON 1.81 missed some of these.
  const std::string frame =
      R"(MTRC{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asDouble":0.9303381542885225,)"
      R"("attributes":[{"key":"a","value":{"doubleValue":183.24945331891402}},{"key":"b","value":{"doubleValue":6.023153107512124e-74}}]}]}}]}]}]})";
  const IngestedTelemetry t = parse_telemetry_frame(frame, 0);
  ASSERT_EQ(t.metrics.size(), 1u);
  EXPECT_EQ(t.metrics[0].value, 0.9303381542885225);
  EXPECT_EQ(t.metrics[0].attributes[0].value, "183.24945331891402");
  EXPECT_EQ(t.metrics[0].attributes[1].value, "6.023153107512124e-74");
  EXPECT_EQ(diff(t, dom(frame)), "");
}

TEST(OtlpIngestOnDemand, RefusesBadFramesWholeWithAReason) {
  const std::string good_span = R"({"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"1111111111111111"})";
  const std::string head = R"(OTLP{"resourceSpans":[{"scopeSpans":[{"spans":[)" + good_span + ",";
  const std::vector<std::string> bad = {
      "OT", "OTLP", "OTLP{not json", "OTLP{", "OTLP{}}", "OTLP{} x", "OTLP[]", "OTLP\"x\"", "OTLP7", "OTLPnull",
      R"(OTLP{"a":1,})", R"(OTLP{"a" 1})", R"(OTLP{'a':1})", R"(OTLP{"a":[1,2}})", R"(OTLP{"a":{"b":1]})",
      // A good span first, then something invalid later in the frame: nothing of it is kept.
      head + R"({"x":tru}]}]}]})", head + R"({"x":01}]}]}]})", head + R"({"x":1.}]}]}]})", head + R"({"x":-}]}]}]})",
      head + R"({"x":nul}]}]}]})", head + R"({"x":"\x"}]}]}]})", head + R"({"x":"\ud800"}]}]}]})",
      head + "{\"x\":\"a\x01\"}]}]}]}", head + "{\"name\":\"a\tb\"}]}]}]}", head + "{\"na\x1fme\":1}]}]}]}", head + "{\"x\":\"\xC3\x28\"}]}]}]}", head + R"({"x":"unterminated}]}]}]})",
      head + R"({"attributes":[{"key":"k","value":{"stringValue":"\u12"}}]}]}]}]})", head + "]}]}]}garbage",
      head + R"({"name":1e}]}]}]})", head + R"({"name":+1}]}]}]})", head + R"({"name":.5}]}]}]})",
      "XXXX{}", "otlp{}",
  };
  for (const std::string& frame : bad) {
    const IngestedTelemetry t = parse_telemetry_frame(frame, 0);
    EXPECT_NE(t.error, "") << frame;
    EXPECT_TRUE(t.spans.empty() && t.logs.empty() && t.metrics.empty() && t.skipped == 0) << frame;
    EXPECT_NE(dom(frame).error, "") << "the DOM reader took it too: " << frame;
  }
  EXPECT_EQ(parse_telemetry_frame("XXXX{}", 0).error, "unknown telemetry prefix");
  EXPECT_EQ(parse_telemetry_frame("OT", 0).error, "frame shorter than its prefix");
  EXPECT_EQ(parse_telemetry_frame("OTLP[]", 0).error, "not a JSON object");
  EXPECT_TRUE(parse_telemetry_frame("OTLP{not json", 0).error.starts_with("not valid JSON: ")) << parse_telemetry_frame("OTLP{not json", 0).error;
  // The same frame without the error reads.
  EXPECT_EQ(parse_telemetry_frame(head + "{}]}]}]}", 0).spans.size(), 1u);
}

TEST(OtlpIngestOnDemand, TheDepthLimitIsTheEnginesAndTheDomReadersToo) {
  const size_t saved = json_depth_limit();
  // Attribute values nested n arrays deep: the value object is at depth 10, each array adds 3.
  auto nested = [](int n) {
    std::string v = R"({"stringValue":"x"})";
    for (int i = 0; i < n; ++i) v = R"({"arrayValue":{"values":[)" + v + "]}}";
    return R"(OTLP{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"1111111111111111",)"
           R"("attributes":[{"key":"k","value":)" + v + "}]}]}]}]}";
  };
  for (size_t limit : {size_t{12}, size_t{20}, size_t{128}}) {
    set_json_depth_limit(limit);
    bool refused = false, read = false;
    for (int n = 0; n < 16; ++n) {
      const std::string frame = nested(n);
      const IngestedTelemetry got = parse_telemetry_frame(frame, 0);
      EXPECT_EQ(diff(got, dom(frame)), "") << "limit " << limit << ", depth " << n;
      (got.error.empty() ? read : refused) = true;
      if (!got.error.empty()) {
        EXPECT_NE(got.error.find("nested deeper than"), std::string::npos) << got.error;
      }
    }
    EXPECT_TRUE(read);
    EXPECT_EQ(refused, limit < 128);
  }
  set_json_depth_limit(saved);
}

// Frames with one byte deleted, inserted, replaced, or a piece repeated: wherever the DOM reader
// took one, the On-Demand reader gives the same records; wherever it refused one, so does it.
TEST(OtlpIngestOnDemand, MutatedFramesReadAsTheDomReaderReadThem) {
  std::vector<std::string> seeds = {std::string(kNodeSpans), std::string(kNodeLogs), std::string(kNodeMetrics)};
  seeds.insert(seeds.end(), kOddFrames.begin() + 4, kOddFrames.end());
  std::mt19937 rng(20261207);
  static constexpr char kBytes[] = "{}[],:\"\\0123456789eE.-+ tfnul\xC3\xA9x";
  size_t taken = 0, refused = 0;
  for (const std::string& seed : seeds) {
    for (int i = 0; i < 1500; ++i) {
      std::string f = seed;
      const size_t edits = 1 + rng() % 2;
      for (size_t e = 0; e < edits && f.size() > 5; ++e) {
        const size_t at = 4 + rng() % (f.size() - 4);
        switch (rng() % 4) {
          case 0: f.erase(at, 1); break;
          case 1: f.insert(f.begin() + static_cast<ptrdiff_t>(at), kBytes[rng() % (sizeof kBytes - 1)]); break;
          case 2: f[at] = kBytes[rng() % (sizeof kBytes - 1)]; break;
          case 3: {
            const size_t len = 1 + rng() % 40;
            f.insert(at, f.substr(at, len));
            break;
          }
        }
      }
      const size_t cap = rng() % 3 == 0 ? 3 : 0;
      const IngestedTelemetry want = dom(f, cap);
      const std::string d = diff(parse_telemetry_frame(f, cap), want);
      EXPECT_EQ(d, "") << f;
      if (!d.empty()) return;
      (want.error.empty() ? taken : refused) += 1;
    }
  }
  // Both outcomes were exercised.
  EXPECT_GT(taken, 1000u);
  EXPECT_GT(refused, 1000u);
}

std::shared_ptr<const ObservabilityConfig> quiet_config() {
  auto c = std::make_shared<ObservabilityConfig>();
  c->logs_console_output = false;
  return c;
}

const std::string kLogFrame =
    R"(LOGS{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":9,"body":{"stringValue":"hi"}}]}]}]})";

TEST(TelemetryIngest, ReadsFramesOnAThreadOfItsOwnAndNamesTheWorker) {
  auto hub = std::make_shared<TelemetryHub>(quiet_config());
  std::mutex mu;
  std::vector<std::thread::id> threads;
  hub->add_log_sink([&](const LogPtr&) {
    std::lock_guard lock(mu);
    threads.push_back(std::this_thread::get_id());
  });
  TelemetryIngest ingest(hub);
  EXPECT_TRUE(ingest.offer("w1", kLogFrame));
  EXPECT_TRUE(ingest.offer("w1", "OTLP{bad"));
  EXPECT_TRUE(ingest.offer("w2", std::string(kNodeSpans)));
  ingest.flush();
  ASSERT_EQ(threads.size(), 1u);
  EXPECT_NE(threads[0], std::this_thread::get_id());
  const LogPage logs = hub->logs().list({});
  ASSERT_EQ(logs.logs.size(), 1u);
  EXPECT_EQ(logs.logs[0]->worker_id, "w1");
  EXPECT_EQ(hub->counters().frames_ingested, 2u);
  EXPECT_EQ(hub->counters().frames_rejected, 1u);  // the bad frame, and only it
  hub->drain();
  EXPECT_EQ(hub->spans().stats().spans, 2u);
}

TEST(TelemetryIngest, AFullQueueDropsAndCountsInsteadOfWaiting) {
  auto hub = std::make_shared<TelemetryHub>(quiet_config());
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  hub->add_log_sink([&](const LogPtr&) {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  TelemetryIngest ingest(hub, /*max_frames=*/2, /*max_bytes=*/1 << 20);
  ASSERT_TRUE(ingest.offer("w", kLogFrame));  // taken by the thread, which then waits in the sink
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  EXPECT_TRUE(ingest.offer("w", kLogFrame));
  EXPECT_TRUE(ingest.offer("w", kLogFrame));
  EXPECT_FALSE(ingest.offer("w", kLogFrame));  // two waiting: the bound
  EXPECT_FALSE(ingest.offer("w", kLogFrame));
  EXPECT_EQ(hub->counters().frames_dropped, 2u);
  {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
  ingest.flush();
  EXPECT_EQ(hub->counters().frames_ingested, 3u);
  EXPECT_TRUE(ingest.offer("w", kLogFrame));  // room again
  ingest.stop();                              // ingests what is queued first
  EXPECT_EQ(hub->counters().frames_ingested, 4u);
  EXPECT_FALSE(ingest.offer("w", kLogFrame));  // stopped
  EXPECT_EQ(hub->counters().frames_dropped, 2u);

  TelemetryIngest small(hub, 16, /*max_bytes=*/64);
  EXPECT_FALSE(small.offer("w", kNodeSpans));  // larger than the byte bound
  EXPECT_EQ(hub->counters().frames_dropped, 3u);
}

TEST(TelemetryIngest, TheCallTracerHandsFramesOverAndFlushesThemWhenRetired) {
  auto hub = std::make_shared<TelemetryHub>(quiet_config());
  CallTracer tracer(hub);
  tracer.telemetry("w", kNodeSpans);
  tracer.telemetry("w", kNodeMetrics);
  tracer.flush_telemetry();
  hub->drain();
  EXPECT_EQ(hub->spans().stats().spans, 2u);
  EXPECT_EQ(hub->sdk_metrics("", 0, 0).size(), 4u);
  tracer.telemetry("w", kNodeLogs);
  tracer.retire();  // what was received is in
  EXPECT_EQ(hub->logs().stats().size, 3u);
  tracer.telemetry("w", kNodeLogs);  // retired: ignored
  tracer.flush_telemetry();
  EXPECT_EQ(hub->logs().stats().size, 3u);
  EXPECT_EQ(hub->counters().frames_dropped, 0u);
}

}  // namespace
}  // namespace iii::obs
