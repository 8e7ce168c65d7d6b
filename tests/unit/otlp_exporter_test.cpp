// The OTLP/HTTP JSON exporter (workers/observability/otlp_exporter.h): the encoders checked field
// by field against the OTLP JSON rules, the endpoint and header parsers, and real exchanges with
// a collector stand-in on 127.0.0.1 (one that answers, one that fails, and a closed port).
#include "workers/observability/otlp_exporter.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "eventually.h"
#include "net/http_server.h"

namespace iii::obs {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// --- JSON helpers ------------------------------------------------------------------------------

json::value parse(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return v;
}

// The AnyValue of attribute `key` in an OTLP attribute list, or null when it is absent.
json::value attr(const json::value& attributes, std::string_view key) {
  for (const json::value& kv : attributes.as_array())
    if (kv.at("key").as_string() == key) return kv.at("value");
  return nullptr;
}

// Every attribute value type our raw JSON can hold, and the AnyValue each must become.
Attributes all_kinds() {
  return {{"s", "\"text\""}, {"i", "42"}, {"neg", "-7"},          {"d", "1.5"},        {"b", "true"},
          {"arr", "[1,\"a\"]"}, {"obj", "{\"k\":\"v\"}"}, {"nil", "null"}, {"big", "18446744073709551615"}};
}

void expect_all_kinds(const json::value& attributes) {
  EXPECT_EQ(attr(attributes, "s"), json::parse(R"({"stringValue":"text"})"));
  EXPECT_EQ(attr(attributes, "i"), json::parse(R"({"intValue":"42"})"));  // a string, not a number
  EXPECT_EQ(attr(attributes, "neg"), json::parse(R"({"intValue":"-7"})"));
  EXPECT_EQ(attr(attributes, "d"), json::parse(R"({"doubleValue":1.5})"));
  EXPECT_EQ(attr(attributes, "b"), json::parse(R"({"boolValue":true})"));
  EXPECT_EQ(attr(attributes, "arr"), json::parse(R"({"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"a"}]}})"));
  EXPECT_EQ(attr(attributes, "obj"), json::parse(R"({"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}})"));
  EXPECT_EQ(attr(attributes, "nil"), json::object{});  // present, with an empty AnyValue
  // Beyond int64: only a double can carry it.
  ASSERT_TRUE(attr(attributes, "big").is_object());
  EXPECT_TRUE(attr(attributes, "big").as_object().contains("doubleValue"));
}

OtlpResource engine_resource() { return OtlpResource{"iii", "0.22.1", "prod"}; }

SpanRecord span(std::string name, std::string parent = "") {
  SpanRecord s;
  s.trace_id = "0af7651916cd43dd8448eb211c80319c";
  s.span_id = "b7ad6b7169203331";
  s.parent_span_id = std::move(parent);
  s.name = std::move(name);
  s.kind = 2;
  s.start_time_unix_nano = 1700000000123456789ull;
  s.end_time_unix_nano = 1700000000223456789ull;
  s.service_name = "iii";
  return s;
}

// --- Encoders ------------------------------------------------------------------------------------

TEST(OtlpJson, TracesFieldByField) {
  SpanRecord root = span("root");
  root.status = SpanStatus::kError;
  root.status_message = "boom";
  root.scope_name = "iii-engine";
  root.scope_version = "1";
  root.attributes = all_kinds();
  root.events.push_back(SpanEvent{"retry", 1700000000150000000ull, {{"attempt", "2"}}});
  SpanRecord child = span("child", "00f067aa0ba902b7");
  child.trace_id = "0AF7651916CD43DD8448EB211C80319C";  // upper case from a worker: normalized
  child.scope_name = "iii-engine";
  child.scope_version = "1";
  SpanRecord other = span("sdk-span", "not-hex-at-all!!");
  other.service_name = "billing";
  SpanRecord unnamed = span("no-service");
  unnamed.service_name.clear();  // belongs to the engine's resource

  const json::value doc = parse(otlp_traces_json({root, other, child, unnamed}, engine_resource()));
  const json::array& resources = doc.at("resourceSpans").as_array();
  ASSERT_EQ(resources.size(), 2u);  // "iii" and "billing"

  const json::value& engine_attrs = resources[0].at("resource").at("attributes");
  EXPECT_EQ(attr(engine_attrs, "service.name"), json::parse(R"({"stringValue":"iii"})"));
  EXPECT_EQ(attr(engine_attrs, "service.version"), json::parse(R"({"stringValue":"0.22.1"})"));
  EXPECT_EQ(attr(engine_attrs, "service.namespace"), json::parse(R"({"stringValue":"prod"})"));
  const json::value& billing_attrs = resources[1].at("resource").at("attributes");
  EXPECT_EQ(attr(billing_attrs, "service.name"), json::parse(R"({"stringValue":"billing"})"));
  EXPECT_TRUE(attr(billing_attrs, "service.version").is_null());  // the engine's version is not the SDK's

  // The engine's records: scope "iii-engine"@1 (root, child) then the unnamed scope.
  const json::array& scopes = resources[0].at("scopeSpans").as_array();
  ASSERT_EQ(scopes.size(), 2u);
  EXPECT_EQ(scopes[0].at("scope"), json::parse(R"({"name":"iii-engine","version":"1"})"));
  EXPECT_EQ(scopes[1].at("scope"), json::object{});
  const json::array& spans = scopes[0].at("spans").as_array();
  ASSERT_EQ(spans.size(), 2u);
  const json::value& s = spans[0];
  EXPECT_EQ(s.at("traceId"), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(s.at("spanId"), "b7ad6b7169203331");
  EXPECT_FALSE(s.as_object().contains("parentSpanId"));  // a root
  EXPECT_EQ(s.at("name"), "root");
  EXPECT_EQ(s.at("kind"), 2);
  EXPECT_EQ(s.at("startTimeUnixNano"), "1700000000123456789");  // beyond 2^53: strings
  EXPECT_EQ(s.at("endTimeUnixNano"), "1700000000223456789");
  EXPECT_EQ(s.at("status"), json::parse(R"({"code":2,"message":"boom"})"));
  expect_all_kinds(s.at("attributes"));
  EXPECT_EQ(s.at("events"), json::parse(R"([{"name":"retry","timeUnixNano":"1700000000150000000",
                                              "attributes":[{"key":"attempt","value":{"intValue":"2"}}]}])"));

  EXPECT_EQ(spans[1].at("parentSpanId"), "00f067aa0ba902b7");
  EXPECT_EQ(spans[1].at("traceId"), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(spans[1].at("status"), json::parse(R"({"code":0})"));
  EXPECT_EQ(scopes[1].at("spans").at(0).at("name"), "no-service");
  // A malformed id becomes "" (the collector would refuse the whole request for it).
  EXPECT_EQ(resources[1].at("scopeSpans").at(0).at("spans").at(0).at("parentSpanId"), "");
}

TEST(OtlpJson, LogsFieldByField) {
  LogRecord a;
  a.time_unix_nano = 1700000000000000001ull;
  a.observed_time_unix_nano = 1700000000000000002ull;
  a.severity_number = 17;
  a.severity_text = "ERROR";
  a.body = "\"disk full\"";
  a.attributes = all_kinds();
  a.trace_id = "0af7651916cd43dd8448eb211c80319c";
  a.span_id = "b7ad6b7169203331";
  a.service_name = "billing";
  a.scope_name = "billing.logger";
  a.resource = {{"host.name", "\"box-1\""}, {"service.name", "\"spoofed\""}};
  LogRecord b;  // the engine's own: no service, structured body, no trace context
  b.body = R"({"user":"ann","n":3})";
  b.severity_text = "INFO";

  const json::value doc = parse(otlp_logs_json({a, b}, engine_resource()));
  const json::array& resources = doc.at("resourceLogs").as_array();
  ASSERT_EQ(resources.size(), 2u);
  const json::value& billing = resources[0].at("resource").at("attributes");
  EXPECT_EQ(attr(billing, "service.name"), json::parse(R"({"stringValue":"billing"})"));
  EXPECT_EQ(attr(billing, "host.name"), json::parse(R"({"stringValue":"box-1"})"));  // the SDK's resource
  EXPECT_EQ(billing.as_array().size(), 2u);  // its service.name did not duplicate ours
  EXPECT_EQ(resources[0].at("scopeLogs").at(0).at("scope"), json::parse(R"({"name":"billing.logger"})"));

  const json::value& l = resources[0].at("scopeLogs").at(0).at("logRecords").at(0);
  EXPECT_EQ(l.at("timeUnixNano"), "1700000000000000001");
  EXPECT_EQ(l.at("observedTimeUnixNano"), "1700000000000000002");
  EXPECT_EQ(l.at("severityNumber"), 17);
  EXPECT_EQ(l.at("severityText"), "ERROR");
  EXPECT_EQ(l.at("body"), json::parse(R"({"stringValue":"disk full"})"));
  EXPECT_EQ(l.at("traceId"), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(l.at("spanId"), "b7ad6b7169203331");
  expect_all_kinds(l.at("attributes"));

  EXPECT_EQ(attr(resources[1].at("resource").at("attributes"), "service.name"), json::parse(R"({"stringValue":"iii"})"));
  const json::value& e = resources[1].at("scopeLogs").at(0).at("logRecords").at(0);
  EXPECT_EQ(e.at("body"), json::parse(R"({"kvlistValue":{"values":[{"key":"user","value":{"stringValue":"ann"}},
                                                                   {"key":"n","value":{"intValue":"3"}}]}})"));
  EXPECT_FALSE(e.as_object().contains("traceId"));
  EXPECT_FALSE(e.as_object().contains("spanId"));
}

TEST(OtlpJson, MetricsFieldByField) {
  auto point = [](std::string name, std::string type) {
    MetricPoint p;
    p.name = std::move(name);
    p.type = std::move(type);
    p.time_unix_nano = 1700000000000000003ull;
    p.service_name = "billing";
    return p;
  };
  MetricPoint g1 = point("queue.depth", "gauge");
  g1.value = 4.25;
  g1.unit = "{items}";
  g1.attributes = {{"queue", "\"emails\""}};
  MetricPoint g2 = g1;  // a second point of the same metric
  g2.value = std::numeric_limits<double>::quiet_NaN();
  g2.attributes = {{"queue", "\"sms\""}};
  MetricPoint c = point("requests", "sum");
  c.value = 12;
  MetricPoint h = point("latency", "histogram");
  h.count = 5;
  h.sum = 0.75;

  const json::value doc = parse(otlp_metrics_json({g1, c, g2, h}, engine_resource()));
  ASSERT_EQ(doc.at("resourceMetrics").as_array().size(), 1u);
  const json::value& r = doc.at("resourceMetrics").at(0);
  EXPECT_EQ(attr(r.at("resource").at("attributes"), "service.name"), json::parse(R"({"stringValue":"billing"})"));
  const json::array& metrics = r.at("scopeMetrics").at(0).at("metrics").as_array();
  ASSERT_EQ(metrics.size(), 3u);

  EXPECT_EQ(metrics[0].at("name"), "queue.depth");
  EXPECT_EQ(metrics[0].at("unit"), "{items}");
  const json::array& gauge = metrics[0].at("gauge").at("dataPoints").as_array();
  ASSERT_EQ(gauge.size(), 2u);
  EXPECT_EQ(gauge[0].at("asDouble"), 4.25);
  EXPECT_EQ(gauge[0].at("timeUnixNano"), "1700000000000000003");
  EXPECT_EQ(attr(gauge[0].at("attributes"), "queue"), json::parse(R"({"stringValue":"emails"})"));
  EXPECT_EQ(gauge[1].at("asDouble"), "NaN");  // proto3 JSON's spelling; a bare NaN is not JSON

  const json::value& sum = metrics[1].at("sum");
  EXPECT_EQ(sum.at("aggregationTemporality"), 2);
  EXPECT_EQ(sum.at("isMonotonic"), true);
  EXPECT_EQ(sum.at("dataPoints").at(0).at("asDouble"), 12.0);

  const json::value& hist = metrics[2].at("histogram");
  EXPECT_EQ(hist.at("aggregationTemporality"), 2);
  EXPECT_EQ(hist.at("dataPoints").at(0).at("count"), "5");
  EXPECT_EQ(hist.at("dataPoints").at(0).at("sum"), 0.75);
}

TEST(OtlpJson, EscapesTextAndEmptyBatches) {
  SpanRecord s = span("quote \" backslash \\ newline \n");
  const json::value doc = parse(otlp_traces_json({s}, engine_resource()));
  EXPECT_EQ(doc.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").at(0).at("name").as_string(), s.name);
  EXPECT_EQ(parse(otlp_logs_json({}, engine_resource())), json::parse(R"({"resourceLogs":[]})"));
}

// --- Parsers -------------------------------------------------------------------------------------

TEST(OtlpEndpointParse, AcceptsBaseUrls) {
  auto e = parse_otlp_endpoint("http://127.0.0.1:4318");
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->https);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 4318);
  EXPECT_EQ(e->target("/v1/traces"), "/v1/traces");

  e = parse_otlp_endpoint("HTTPS://otel.example.com/otlp/");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->https);
  EXPECT_EQ(e->port, 443);
  EXPECT_EQ(e->target("/v1/logs"), "/otlp/v1/logs");

  e = parse_otlp_endpoint("http://[::1]:4318/v1/traces");  // a per-signal URL: its base is used
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->target("/v1/metrics"), "/v1/metrics");

  e = parse_otlp_endpoint("http://collector/prefix/v1/logs/");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->port, 80);
  EXPECT_EQ(e->base_path, "/prefix");
}

TEST(OtlpEndpointParse, RefusesMalformedUrls) {
  for (const char* url : {"127.0.0.1:4318", "ftp://host", "http://", "http://host:0", "http://host:65536", "http://host:",
                          "http://host:12ab", "http://user@host", "http://host/a?b=1", "http://[::1", "http://[nothex]:1",
                          "http://ho st/", "http://host/a b"}) {
    std::string error;
    EXPECT_FALSE(parse_otlp_endpoint(url, &error)) << url;
    EXPECT_FALSE(error.empty()) << url;
  }
}

TEST(OtlpHeadersParse, DecodesAndSkipsInvalidEntries) {
  std::string error;
  OtlpHeaders h = parse_otlp_headers(" api-key = secret%20value , x-tenant=a%2Cb,,empty=", &error);
  EXPECT_EQ(h, (OtlpHeaders{{"api-key", "secret value"}, {"x-tenant", "a,b"}, {"empty", ""}}));
  EXPECT_TRUE(error.empty()) << error;

  // No '=', a name that is not a token, a bad escape, and a CR/LF that would inject a header.
  h = parse_otlp_headers("novalue,bad name=1,x=%zz,inject=a%0D%0AEvil: 1,ok=1", &error);
  EXPECT_EQ(h, (OtlpHeaders{{"ok", "1"}}));
  EXPECT_NE(error.find("novalue"), std::string::npos) << error;  // names the first problem
  EXPECT_TRUE(parse_otlp_headers("").empty());
}

// --- Real exchanges ------------------------------------------------------------------------------

struct Received {
  std::string method, target, content_type, api_key, body;
};

class NoopExchange : public HttpServerExchange {
 public:
  void abort() override {}
};

// A collector stand-in: records each request and answers `status` (or, with `hold`, never).
class RecordingCollector : public HttpService {
 public:
  explicit RecordingCollector(int status = 200) : status_(status) {}
  size_t body_limit() const override { return 64u << 20; }
  std::string refusal(int status) const override {
    return "HTTP/1.1 " + std::to_string(status) + " Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  }
  std::shared_ptr<HttpServerExchange> start(std::shared_ptr<HttpTransport> transport, const HttpRequestView& request,
                                            HttpExchangeOptions options) override {
    Received r{std::string(request.method), std::string(request.target), "", "", std::string(request.body)};
    for (const HttpHeaderView& h : *request.headers) {
      std::string name(h.name);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      if (name == "content-type") r.content_type = h.value;
      if (name == "x-api-key") r.api_key = h.value;
    }
    {
      std::lock_guard lock(mu_);
      received_.push_back(std::move(r));
    }
    const std::string response = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    transport->post([transport, response, keep = options.keep_alive] {
      transport->write(response, [transport, keep](bool ok) { transport->finish(ok && keep); });
    });
    return std::make_shared<NoopExchange>();
  }

  std::vector<Received> received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  // The requests received for `target`.
  std::vector<Received> to(std::string_view target) {
    std::vector<Received> out;
    for (Received& r : received())
      if (r.target == target) out.push_back(std::move(r));
    return out;
  }

 private:
  const int status_;
  std::mutex mu_;
  std::vector<Received> received_;
};

// An io_context run by two threads for the duration of a test.
class IoThreads {
 public:
  IoThreads() {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io.run(); });
  }
  ~IoThreads() {
    work_.reset();
    io.stop();
    for (auto& t : threads_) t.join();
  }
  boost::asio::io_context io;

 private:
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{io.get_executor()};
  std::vector<std::thread> threads_;
};

using testing::eventually;

// A loopback port with nothing listening on it (bound, then closed).
uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

std::vector<SpanRecord> spans(size_t n, std::string prefix = "op-") {
  std::vector<SpanRecord> out;
  for (size_t i = 0; i < n; ++i) out.push_back(span(prefix + std::to_string(i)));
  return out;
}

// Captures what is logged while it exists (the default logger is swapped and restored).
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink_));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  // How many messages contain `needle`.
  size_t count(std::string_view needle) {
    size_t n = 0;
    for (const std::string& line : sink_->last_formatted()) n += line.find(needle) != std::string::npos;
    return n;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  std::shared_ptr<spdlog::logger> previous_;
};

TEST(OtlpExporter, PostsEachSignalToTheCollector) {
  IoThreads threads;
  auto collector = std::make_shared<RecordingCollector>();
  HttpServer server(threads.io, collector);
  server.listen("127.0.0.1", 0);

  OtlpExporterOptions options;
  options.endpoint = "http://127.0.0.1:" + std::to_string(server.port()) + "/otlp/v1/traces";
  options.flush_interval = 50ms;
  options.headers = parse_otlp_headers("x-api-key=s3cret,content-length=1");  // the latter is ignored
  OtlpExporter exporter(threads.io, options);
  exporter.start();
  exporter.add_spans(spans(3));
  LogRecord log;
  log.body = "\"hello collector\"";
  exporter.add_logs({log});
  MetricPoint m;
  m.name = "jobs";
  m.type = "sum";
  m.value = 7;
  exporter.add_metrics({m});

  ASSERT_TRUE(eventually([&] {
    auto s = exporter.stats();
    return s.exported_spans == 3 && s.exported_logs == 1 && s.exported_metrics == 1;
  }));
  const auto traces = collector->to("/otlp/v1/traces");
  ASSERT_EQ(traces.size(), 1u);  // three spans, one batch
  EXPECT_EQ(traces[0].method, "POST");
  EXPECT_EQ(traces[0].content_type, "application/json");
  EXPECT_EQ(traces[0].api_key, "s3cret");
  const json::value t = parse(traces[0].body);
  const json::array& sent = t.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[2].at("name"), "op-2");

  const auto logs = collector->to("/otlp/v1/logs");
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(parse(logs[0].body).at("resourceLogs").at(0).at("scopeLogs").at(0).at("logRecords").at(0).at("body"),
            json::parse(R"({"stringValue":"hello collector"})"));
  const auto metrics = collector->to("/otlp/v1/metrics");
  ASSERT_EQ(metrics.size(), 1u);
  EXPECT_EQ(parse(metrics[0].body).at("resourceMetrics").at(0).at("scopeMetrics").at(0).at("metrics").at(0).at("name"), "jobs");
  EXPECT_EQ(collector->received().size(), 3u);  // nothing else was sent (no empty batches)
  const auto s = exporter.stats();
  EXPECT_EQ(s.failed_requests, 0u);
  EXPECT_EQ(s.dropped_spans + s.dropped_logs + s.dropped_metrics, 0u);
}

TEST(OtlpExporter, AFullBatchGoesOutWithoutWaitingForTheTimer) {
  IoThreads threads;
  auto collector = std::make_shared<RecordingCollector>();
  HttpServer server(threads.io, collector);
  server.listen("127.0.0.1", 0);
  OtlpExporterOptions options;
  options.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  options.flush_interval = std::chrono::hours(1);
  options.max_batch = 4;
  OtlpExporter exporter(threads.io, options);
  exporter.start();
  exporter.add_spans(spans(2));  // below a batch: waits for the (hour-long) interval
  exporter.add_spans(spans(9, "more-"));  // 11 buffered: two full batches go now, 3 stay

  ASSERT_TRUE(eventually([&] { return exporter.stats().exported_spans == 8; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(exporter.stats().exported_spans, 8u);
  EXPECT_EQ(exporter.stats().buffered_spans, 3u);
  const auto batches = collector->to("/v1/traces");
  ASSERT_EQ(batches.size(), 2u);
  for (const auto& b : batches)
    EXPECT_EQ(parse(b.body).at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array().size(), 4u);

  exporter.flush();  // the rest on demand
  ASSERT_TRUE(eventually([&] { return exporter.stats().exported_spans == 11; }));
}

TEST(OtlpExporter, ACollectorThatIsDownCostsBoundedMemory) {
  CapturedLog log;
  IoThreads threads;
  OtlpExporterOptions options;
  options.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  options.flush_interval = 20ms;
  options.max_batch = 10;
  options.max_buffer = 100;
  options.timeout = 2000ms;
  OtlpExporter exporter(threads.io, options);
  exporter.add_spans(spans(150));  // before start(): 50 over the bound are dropped at once
  auto s = exporter.stats();
  EXPECT_EQ(s.buffered_spans, 100u);
  EXPECT_EQ(s.dropped_spans, 50u);
  exporter.start();

  size_t added = 150;
  for (int round = 0; round < 20; ++round) {  // keep adding while requests fail
    exporter.add_spans(spans(40));
    added += 40;
    EXPECT_LE(exporter.stats().buffered_spans, options.max_buffer);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(eventually([&] { return exporter.stats().failed_requests >= 3; }));
  exporter.stop();
  // Every record is accounted for once nothing is in flight: dropped or still buffered.
  ASSERT_TRUE(eventually([&] {
    auto s = exporter.stats();
    return s.dropped_spans + s.buffered_spans == added;
  }));
  s = exporter.stats();
  EXPECT_EQ(s.exported_spans, 0u);
  EXPECT_LE(s.buffered_spans, options.max_buffer);
  EXPECT_GE(s.dropped_spans, added - options.max_buffer);
  // Many failures, one warning of each kind (at most one per 30 s per signal).
  EXPECT_EQ(log.count("OTLP exporter: sending"), 1u);
  EXPECT_EQ(log.count("buffer is full"), 1u);
}

TEST(OtlpExporter, AnErrorStatusDropsTheBatch) {
  IoThreads threads;
  auto collector = std::make_shared<RecordingCollector>(503);
  HttpServer server(threads.io, collector);
  server.listen("127.0.0.1", 0);
  OtlpExporterOptions options;
  options.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  options.flush_interval = 20ms;
  OtlpExporter exporter(threads.io, options);
  exporter.start();
  exporter.add_logs(std::vector<LogRecord>(5));

  ASSERT_TRUE(eventually([&] { return exporter.stats().dropped_logs == 5; }));
  const auto s = exporter.stats();
  EXPECT_EQ(s.failed_requests, 1u);
  EXPECT_EQ(s.exported_logs, 0u);
  EXPECT_EQ(s.buffered_logs, 0u);  // not kept for a retry
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(collector->to("/v1/logs").size(), 1u);  // and not sent again
}

TEST(OtlpExporter, StopsSendingAfterStopAndOutlivesItsRequests) {
  IoThreads threads;
  auto collector = std::make_shared<RecordingCollector>();
  HttpServer server(threads.io, collector);
  server.listen("127.0.0.1", 0);
  OtlpExporterOptions options;
  options.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  options.flush_interval = 20ms;
  {
    OtlpExporter exporter(threads.io, options);
    exporter.start();
    exporter.stop();
    exporter.add_spans(spans(3));
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(collector->received().empty());  // stopped: nothing goes out
    EXPECT_EQ(exporter.stats().buffered_spans, 3u);
  }
  {
    // Destroyed right after a request left: its completion must find the exporter gone, safely.
    OtlpExporter exporter(threads.io, options);
    exporter.start();
    exporter.add_spans(spans(1));
    ASSERT_TRUE(eventually([&] { return !collector->received().empty(); }));
  }
  std::this_thread::sleep_for(100ms);  // let the response arrive with no exporter left
  EXPECT_EQ(collector->received().size(), 1u);
}

TEST(OtlpExporter, RefusesAnInvalidEndpoint) {
  boost::asio::io_context io;
  OtlpExporterOptions options;
  options.endpoint = "localhost:4318";
  EXPECT_THROW(OtlpExporter(io, options), std::invalid_argument);
  options.endpoint = "http://localhost:4318";
  options.max_buffer = 0;
  EXPECT_THROW(OtlpExporter(io, options), std::invalid_argument);
}

}  // namespace
}  // namespace iii::obs
