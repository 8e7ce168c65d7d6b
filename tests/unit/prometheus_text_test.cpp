// PrometheusText (workers/observability/prometheus_text.h), checked line by line, and
// MetricsHttpServer (workers/observability/metrics_http.h) on a real loopback socket with a tiny
// synchronous client: /metrics, /healthz, /readyz (ready, then not), 404, 405, HEAD, keep-alive.
#include "workers/observability/prometheus_text.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <thread>

#include "workers/observability/metrics_http.h"

namespace iii::obs {
namespace {

namespace asio = boost::asio;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(PrometheusTextTest, FamiliesWriteHelpAndTypeOnceAndGroupTheirSamples) {
  PrometheusText page;
  page.counter("iii_invocations_total", "Invocations routed").sample("", {{"function", "math.add"}}, 42);
  page.gauge("iii_workers", "Connected workers").sample("", {}, 3);
  // Back to the first family: its samples stay together, its header is not repeated.
  page.counter("iii_invocations_total", "ignored the second time").sample("", {{"function", "math.mul"}}, 7);
  const std::string text = page.finish();
  EXPECT_EQ(lines(text), (std::vector<std::string>{
                             "# HELP iii_invocations_total Invocations routed",
                             "# TYPE iii_invocations_total counter",
                             "iii_invocations_total{function=\"math.add\"} 42",
                             "iii_invocations_total{function=\"math.mul\"} 7",
                             "# HELP iii_workers Connected workers",
                             "# TYPE iii_workers gauge",
                             "iii_workers 3",
                         }));
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(page.finish(), "");  // finish() empties the builder
}

TEST(PrometheusTextTest, LabelValuesAndHelpAreEscaped) {
  PrometheusText page;
  page.gauge("g", "help with \\ and\nnewline and \"quotes\"")
      .sample("", {{"path", "C:\\dir"}, {"quote", "say \"hi\""}, {"multi", "a\nb"}}, 1);
  EXPECT_EQ(lines(page.finish()), (std::vector<std::string>{
                                      "# HELP g help with \\\\ and\\nnewline and \"quotes\"",
                                      "# TYPE g gauge",
                                      "g{path=\"C:\\\\dir\",quote=\"say \\\"hi\\\"\",multi=\"a\\nb\"} 1",
                                  }));
}

TEST(PrometheusTextTest, NamesAreSanitized) {
  EXPECT_EQ(PrometheusText::sanitize_metric_name("iii.http-requests:total"), "iii_http_requests:total");
  EXPECT_EQ(PrometheusText::sanitize_metric_name("9lives"), "_9lives");
  EXPECT_EQ(PrometheusText::sanitize_metric_name(""), "_");
  EXPECT_EQ(PrometheusText::sanitize_label_name("service.name"), "service_name");
  EXPECT_EQ(PrometheusText::sanitize_label_name("a:b"), "a_b");  // no colons in label names
  PrometheusText page;
  page.gauge("my.gauge", "h").sample("", {{"k-1", "v"}}, 2).sample("_extra", {}, 3);
  EXPECT_EQ(lines(page.finish()), (std::vector<std::string>{"# HELP my_gauge h", "# TYPE my_gauge gauge",
                                                            "my_gauge{k_1=\"v\"} 2", "my_gauge_extra 3"}));
}

TEST(PrometheusTextTest, ValuesAreSpelledTheWayPrometheusParsesThem) {
  EXPECT_EQ(PrometheusText::format_value(0), "0");
  EXPECT_EQ(PrometheusText::format_value(-0.0), "0");
  EXPECT_EQ(PrometheusText::format_value(12345678901234), "12345678901234");  // no exponent
  EXPECT_EQ(PrometheusText::format_value(-7), "-7");
  EXPECT_EQ(PrometheusText::format_value(0.25), "0.25");
  EXPECT_EQ(PrometheusText::format_value(0.1), "0.1");
  EXPECT_EQ(PrometheusText::format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(PrometheusText::format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(PrometheusText::format_value(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(PrometheusText::format_value(1e300)), 1e300);
  EXPECT_EQ(std::stod(PrometheusText::format_value(1.0 / 3)), 1.0 / 3);
}

TEST(PrometheusTextTest, HistogramWritesBucketsInfSumAndCount) {
  PrometheusText page;
  page.histogram("iii_invocation_seconds", "Invocation latency")
      .histogram_samples("", {{"function", "f"}}, {0.005, 0.1, 1}, {3, 7, 8}, 0.42, 9);
  EXPECT_EQ(lines(page.finish()), (std::vector<std::string>{
                                      "# HELP iii_invocation_seconds Invocation latency",
                                      "# TYPE iii_invocation_seconds histogram",
                                      "iii_invocation_seconds_bucket{function=\"f\",le=\"0.005\"} 3",
                                      "iii_invocation_seconds_bucket{function=\"f\",le=\"0.1\"} 7",
                                      "iii_invocation_seconds_bucket{function=\"f\",le=\"1\"} 8",
                                      "iii_invocation_seconds_bucket{function=\"f\",le=\"+Inf\"} 9",
                                      "iii_invocation_seconds_sum{function=\"f\"} 0.42",
                                      "iii_invocation_seconds_count{function=\"f\"} 9",
                                  }));
  // A +Inf bound given by the caller is not written twice; no labels means only le.
  page.histogram("h", "x").histogram_samples("", {}, {1, std::numeric_limits<double>::infinity()}, {1, 2}, 3, 2);
  EXPECT_EQ(lines(page.finish()), (std::vector<std::string>{"# HELP h x", "# TYPE h histogram",
                                                            "h_bucket{le=\"1\"} 1", "h_bucket{le=\"+Inf\"} 2",
                                                            "h_sum 3", "h_count 2"}));
  EXPECT_THROW(page.histogram("h", "x").histogram_samples("", {}, {1, 2}, {1}, 0, 1), std::invalid_argument);
}

TEST(PrometheusTextTest, SampleWithoutFamilyIsUntyped) {
  PrometheusText page;
  page.sample("loose_metric", {}, 1.5);
  EXPECT_EQ(lines(page.finish()), (std::vector<std::string>{"# TYPE loose_metric untyped", "loose_metric 1.5"}));
}

// --- MetricsHttpServer ---

struct HttpAnswer {
  int status = 0;
  std::string headers;  // the raw header block, lower-cased
  std::string body;
};

// Reads one response whose length is given by Content-Length.
HttpAnswer read_answer(asio::ip::tcp::socket& socket, std::string& buffer, bool head = false) {
  HttpAnswer answer;
  boost::system::error_code ec;
  size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    char chunk[4096];
    const size_t n = socket.read_some(asio::buffer(chunk), ec);
    if (ec) return answer;
    buffer.append(chunk, n);
  }
  answer.headers = buffer.substr(0, end + 4);
  for (char& c : answer.headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  buffer.erase(0, end + 4);
  answer.status = std::stoi(answer.headers.substr(9, 3));
  const size_t cl = answer.headers.find("content-length: ");
  const size_t length = head || cl == std::string::npos ? 0 : std::stoul(answer.headers.substr(cl + 16));
  while (buffer.size() < length) {
    char chunk[4096];
    const size_t n = socket.read_some(asio::buffer(chunk), ec);
    if (ec) break;
    buffer.append(chunk, n);
  }
  answer.body = buffer.substr(0, length);
  buffer.erase(0, length);
  return answer;
}

class MetricsHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<MetricsHttpServer>(
        io_, [] { return std::string("# TYPE up gauge\nup 1\n"); },
        [this] {
          return ready_ ? std::pair<bool, std::string>{true, "{\"ready\":true}"}
                        : std::pair<bool, std::string>{false, "{\"ready\":false,\"waiting_for\":[\"store\"]}"};
        });
    server_->listen("127.0.0.1", 0);
    ASSERT_NE(server_->port(), 0);
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    server_->stop();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  // One request on a fresh connection that asks to be closed.
  HttpAnswer get(const std::string& target, const std::string& method = "GET") {
    asio::io_context client_io;
    asio::ip::tcp::socket socket(client_io);
    socket.connect({asio::ip::make_address("127.0.0.1"), server_->port()});
    asio::write(socket, asio::buffer(method + " " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    std::string buffer;
    return read_answer(socket, buffer, method == "HEAD");
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{io_.get_executor()};
  std::unique_ptr<MetricsHttpServer> server_;
  std::thread thread_;
  std::atomic<bool> ready_{true};
};

TEST_F(MetricsHttpTest, MetricsAnswersThePrometheusPage) {
  const HttpAnswer a = get("/metrics?ignored=1");
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.headers.find("content-type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_EQ(a.body, "# TYPE up gauge\nup 1\n");
}

TEST_F(MetricsHttpTest, HealthzIsOk) {
  const HttpAnswer a = get("/healthz");
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.headers.find("content-type: application/json\r\n"), std::string::npos);
  EXPECT_EQ(a.body, "{\"status\":\"ok\"}");
}

TEST_F(MetricsHttpTest, ReadyzFollowsTheCallback) {
  HttpAnswer a = get("/readyz");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "{\"ready\":true}");
  ready_ = false;
  a = get("/readyz");
  EXPECT_EQ(a.status, 503);
  EXPECT_NE(a.headers.find("content-type: application/json\r\n"), std::string::npos);
  EXPECT_EQ(a.body, "{\"ready\":false,\"waiting_for\":[\"store\"]}");
}

TEST_F(MetricsHttpTest, UnknownPathIs404AndOtherMethods405) {
  HttpAnswer a = get("/nope");
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(a.body, "{\"error\":\"not found\"}");
  a = get("/metrics", "POST");
  EXPECT_EQ(a.status, 405);
  EXPECT_NE(a.headers.find("allow: get, head\r\n"), std::string::npos);
}

TEST_F(MetricsHttpTest, HeadHasHeadersOnly) {
  const HttpAnswer a = get("/healthz", "HEAD");
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.headers.find("content-length: 15\r\n"), std::string::npos);  // the GET body's length
  EXPECT_EQ(a.body, "");
}

TEST_F(MetricsHttpTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  asio::io_context client_io;
  asio::ip::tcp::socket socket(client_io);
  socket.connect({asio::ip::make_address("127.0.0.1"), server_->port()});
  std::string buffer;
  for (const char* target : {"/healthz", "/metrics", "/readyz"}) {
    asio::write(socket, asio::buffer(std::string("GET ") + target + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    const HttpAnswer a = read_answer(socket, buffer);
    EXPECT_EQ(a.status, 200) << target;
    EXPECT_EQ(a.headers.find("connection: close"), std::string::npos);
  }
}

TEST_F(MetricsHttpTest, ListenOnABusyPortThrowsSystemError) {
  MetricsHttpServer other(io_, [] { return std::string(); }, nullptr);
  EXPECT_THROW(other.listen("127.0.0.1", server_->port()), std::system_error);
}

TEST(MetricsHttpRespondTest, CallbackFailureIs500) {
  const std::string r = MetricsHttpServer::respond(
      "GET", "/metrics", true, false, []() -> std::string { throw std::runtime_error("no registry"); }, nullptr);
  EXPECT_TRUE(r.starts_with("HTTP/1.1 500 ")) << r;
  EXPECT_NE(r.find("{\"error\":\"no registry\"}"), std::string::npos);
  const std::string ready = MetricsHttpServer::respond("GET", "/readyz", false, false, nullptr, nullptr);
  EXPECT_TRUE(ready.starts_with("HTTP/1.1 200 ")) << ready;
  EXPECT_NE(ready.find("Connection: close\r\n"), std::string::npos);
}

}  // namespace
}  // namespace iii::obs
