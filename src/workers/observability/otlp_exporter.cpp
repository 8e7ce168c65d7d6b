// Two parts: the collector URL and header parsers, and the exporter's buffering and sending (the
// header describes the behaviour). The OTLP/JSON encoders are in otlp_json.cpp.
#include "workers/observability/otlp_exporter.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <deque>
#include <iterator>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <variant>

#include "core/json_text.h"
#include "net/http_client.h"
#include "core/ascii.h"

namespace iii::obs {
namespace json = boost::json;
namespace asio = boost::asio;

// --- URL and header parsing ------------------------------------------------------------------

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_token(std::string_view s) {  // RFC 9110 token: what a header name may be
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'z') || kSpecials.find(c) != std::string_view::npos;
  });
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (lower(c) >= 'a' && lower(c) <= 'f') return lower(c) - 'a' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;  // a '%' needs two hex digits after it
    const int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::optional<OtlpEndpoint> endpoint_error(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<OtlpEndpoint> parse_otlp_endpoint(std::string_view url, std::string* error) {
  OtlpEndpoint out;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return endpoint_error(error, "the endpoint needs a scheme (http:// or https://)");
  const std::string_view scheme = url.substr(0, scheme_end);
  if (ascii_iequals(scheme, "https")) out.https = true;
  else if (!ascii_iequals(scheme, "http")) return endpoint_error(error, "the endpoint's scheme must be http or https");
  std::string_view rest = url.substr(scheme_end + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) return endpoint_error(error, "the endpoint may not have a query or fragment");
  const size_t path_start = std::min(rest.find('/'), rest.size());
  std::string_view authority = rest.substr(0, path_start), path = rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos) return endpoint_error(error, "the endpoint may not hold user info");

  std::string_view port_text;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return endpoint_error(error, "unterminated IPv6 address in the endpoint");
    out.host = std::string(authority.substr(1, close - 1));
    boost::system::error_code ec;
    asio::ip::make_address_v6(out.host, ec);
    if (ec) return endpoint_error(error, "invalid IPv6 address in the endpoint: " + out.host);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) return endpoint_error(error, "unexpected text after the IPv6 address");
    if (!after.empty()) port_text = after.substr(1);
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    const bool valid = !out.host.empty() && std::all_of(out.host.begin(), out.host.end(), [](char c) {
      return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'z') || c == '-' || c == '.' || c == '_';
    });
    if (!valid) return endpoint_error(error, "invalid host in the endpoint: \"" + out.host + "\"");
  }
  out.port = out.https ? 443 : 80;
  if (!port_text.empty() || authority.ends_with(':')) {
    unsigned port = 0;
    const char* end = port_text.data() + port_text.size();
    auto [stop, ec] = std::from_chars(port_text.data(), end, port);
    if (ec != std::errc() || stop != end || port == 0 || port > 65535) return endpoint_error(error, "invalid port in the endpoint: \"" + std::string(port_text) + "\"");
    out.port = static_cast<uint16_t>(port);
  }
  // The path goes into the request line as is: nothing that could break it.
  if (std::any_of(path.begin(), path.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return endpoint_error(error, "the endpoint's path holds spaces or control characters");
  while (path.ends_with('/')) path.remove_suffix(1);
  for (std::string_view signal : {"/v1/traces", "/v1/metrics", "/v1/logs"})
    if (path.ends_with(signal)) path.remove_suffix(signal.size());
  while (path.ends_with('/')) path.remove_suffix(1);
  out.base_path = std::string(path);
  return out;
}

OtlpHeaders parse_otlp_headers(std::string_view text, std::string* error) {
  OtlpHeaders out;
  auto fail = [&](std::string message) {
    if (error && error->empty()) *error = std::move(message);
  };
  while (!text.empty()) {
    const size_t comma = std::min(text.find(','), text.size());
    const std::string_view entry = trim(text.substr(0, comma));
    text.remove_prefix(std::min(comma + 1, text.size()));
    if (entry.empty()) continue;  // "a=1,,b=2" or a trailing comma
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) {
      fail("header entry without '=': \"" + std::string(entry) + "\"");
      continue;
    }
    const std::string_view key = trim(entry.substr(0, eq));
    if (!is_token(key)) {
      fail("invalid header name \"" + std::string(key) + "\"");
      continue;
    }
    std::optional<std::string> value = percent_decode(trim(entry.substr(eq + 1)));
    if (!value) {
      fail("invalid percent-encoding in the value of header " + std::string(key));
      continue;
    }
    // A decoded CR or LF would end the header line early and let the value inject headers.
    if (std::any_of(value->begin(), value->end(), [](char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; })) {
      fail("control character in the value of header " + std::string(key));
      continue;
    }
    out.emplace_back(std::string(key), std::move(*value));
  }
  return out;
}

// --- The exporter --------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWarningInterval = std::chrono::seconds(30);

// At most one warning per kWarningInterval; counts the ones it holds back.
struct WarningLimit {
  Clock::time_point last = Clock::time_point::min();
  uint64_t held_back = 0;

  // Whether to warn now; if so, `*suppressed` is how many were held back since the last one.
  bool allow(uint64_t* suppressed) {
    const auto now = Clock::now();
    if (last != Clock::time_point::min() && now - last < kWarningInterval) {
      ++held_back;
      return false;
    }
    last = now;
    *suppressed = std::exchange(held_back, 0);
    return true;
  }
};

// One signal's buffer and counters (guarded by Impl::mu).
template <class Record>
struct Lane {
  using Encoder = std::string (*)(const std::vector<Record>&, const OtlpResource&);
  Lane(const char* what, const char* path, Encoder encode) : what(what), path(path), encode(encode) {}

  const char* what;  // "spans", for messages
  const char* path;  // "/v1/traces"
  Encoder encode;
  std::deque<Record> buffer;  // never more than max_buffer
  bool in_flight = false;     // a request is out: at most one per signal
  bool flush_posted = false;  // a flush for a full batch is queued on the io_context
  bool failing = false;       // the last request failed: wait for the timer instead of a full batch
  uint64_t exported = 0;
  uint64_t dropped = 0;
  WarningLimit full_warning;
  WarningLimit failure_warning;
};

std::string suppressed_note(uint64_t n) {
  return n ? " (" + std::to_string(n) + " more since the last warning)" : std::string();
}

}  // namespace

struct OtlpExporter::Impl : std::enable_shared_from_this<OtlpExporter::Impl> {
  Impl(asio::io_context& io, OtlpExporterOptions o, OtlpEndpoint e)
      : options(std::move(o)), endpoint(std::move(e)),
        resource{options.service_name, options.service_version, options.service_namespace}, client(io),
        strand(asio::make_strand(io)), timer(strand) {
    const bool v6 = endpoint.host.find(':') != std::string::npos;
    url = std::string(endpoint.https ? "https://" : "http://") + (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" +
          std::to_string(endpoint.port) + endpoint.base_path;
  }

  template <class Record>
  void add(Lane<Record>& lane, std::vector<Record> records) {
    bool post = false, warn = false;
    uint64_t dropped = 0, suppressed = 0;
    {
      std::lock_guard lock(mu);
      const size_t take = std::min(records.size(), options.max_buffer - lane.buffer.size());
      std::move(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(take), std::back_inserter(lane.buffer));
      dropped = records.size() - take;
      lane.dropped += dropped;
      if (dropped) warn = lane.full_warning.allow(&suppressed);
      if (started && !stopped && !lane.in_flight && !lane.flush_posted && !lane.failing && lane.buffer.size() >= options.max_batch)
        post = lane.flush_posted = true;
    }
    records.clear();  // the dropped ones: freed here, outside the lock
    if (warn)
      spdlog::warn("OTLP exporter: the {} buffer is full ({}), dropped {}{}", lane.what, options.max_buffer, dropped, suppressed_note(suppressed));
    // The lane lives in this Impl: dereferenced only while `weak` can be locked.
    if (post) asio::post(strand, [weak = weak_from_this(), lane = &lane] {
      if (auto self = weak.lock()) self->send(*lane);
    });
  }

  // Sends the oldest batch of `lane` unless a request is already out. Encoding happens here, on
  // an I/O thread, so that add_*() stays cheap for its callers.
  template <class Record>
  void send(Lane<Record>& lane) {
    std::vector<Record> batch;
    {
      std::lock_guard lock(mu);
      lane.flush_posted = false;
      if (stopped || lane.in_flight || lane.buffer.empty()) return;
      const auto end = lane.buffer.begin() + static_cast<std::ptrdiff_t>(std::min(options.max_batch, lane.buffer.size()));
      batch.assign(std::make_move_iterator(lane.buffer.begin()), std::make_move_iterator(end));
      lane.buffer.erase(lane.buffer.begin(), end);
      lane.in_flight = true;
    }
    HttpClientRequest request;
    request.method = "POST";
    request.https = endpoint.https;
    request.host = endpoint.host;
    request.port = endpoint.port;
    request.target = endpoint.target(lane.path);
    request.headers = headers;
    request.body = lane.encode(batch, resource);
    request.timeout = options.timeout;
    // request.check_address stays empty: the collector is the operator's choice, any address goes.
    const size_t count = batch.size();
    batch = {};  // the records are in the body now
    client.request(std::move(request), [weak = weak_from_this(), lane = &lane, count](HttpClientResult result) {
      if (auto self = weak.lock()) self->on_sent(*lane, count, result);
    });
  }

  template <class Record>
  void on_sent(Lane<Record>& lane, size_t count, const HttpClientResult& result) {
    std::string failure;
    if (const auto* e = std::get_if<HttpClientError>(&result)) {
      failure = e->message;
    } else if (const auto& r = std::get<HttpClientResponse>(result); r.status < 200 || r.status > 299) {
      failure = "the collector answered " + std::to_string(r.status);
      if (!r.body.empty()) failure += ": " + r.body.substr(0, 200);
    }
    bool warn = false, more = false;
    uint64_t suppressed = 0;
    {
      std::lock_guard lock(mu);
      lane.in_flight = false;
      lane.failing = !failure.empty();
      if (failure.empty()) {
        lane.exported += count;
        more = lane.buffer.size() >= options.max_batch;  // keep up with a busy engine
      } else {
        lane.dropped += count;  // no retry: a collector that is down must not make memory grow
        ++failed_requests;
        warn = lane.failure_warning.allow(&suppressed);
      }
    }
    if (warn)
      spdlog::warn("OTLP exporter: sending {} {} to {}{} failed: {}{}", count, lane.what, url, lane.path, failure,
                   suppressed_note(suppressed));
    if (more) send(lane);
  }

  void send_all() {
    send(spans);
    send(logs);
    send(metrics);
  }

  // Runs on the strand, like every use of the timer.
  void arm() {
    if (stopped) return;
    timer.expires_after(options.flush_interval);
    timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (!self || ec || self->stopped) return;
      self->send_all();
      self->arm();
    });
  }

  const OtlpExporterOptions options;
  const OtlpEndpoint endpoint;
  const OtlpResource resource;
  std::string url;  // for messages
  OtlpHeaders headers;
  HttpClient client;
  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer timer;
  std::atomic<bool> started{false};
  std::atomic<bool> stopped{false};

  mutable std::mutex mu;
  Lane<SpanRecord> spans{"spans", "/v1/traces", &otlp_traces_json};
  Lane<LogRecord> logs{"logs", "/v1/logs", &otlp_logs_json};
  Lane<MetricPoint> metrics{"metric points", "/v1/metrics", &otlp_metrics_json};
  uint64_t failed_requests = 0;
};

OtlpExporter::OtlpExporter(asio::io_context& io, OtlpExporterOptions options) {
  std::string error;
  std::optional<OtlpEndpoint> endpoint = parse_otlp_endpoint(options.endpoint, &error);
  if (!endpoint) throw std::invalid_argument("OTLP endpoint \"" + options.endpoint + "\": " + error);
  if (options.max_batch == 0 || options.max_buffer == 0 || options.flush_interval.count() <= 0)
    throw std::invalid_argument("OTLP exporter: max_batch, max_buffer and flush_interval must be positive");
  impl_ = std::make_shared<Impl>(io, std::move(options), std::move(*endpoint));
  impl_->headers.emplace_back("Content-Type", "application/json");
  // Headers that frame the request are the client's to set, whatever the configuration says.
  for (const auto& [name, value] : impl_->options.headers) {
    if (ascii_iequals(name, "content-type") || ascii_iequals(name, "content-length") || ascii_iequals(name, "host") || ascii_iequals(name, "transfer-encoding"))
      continue;
    impl_->headers.emplace_back(name, value);
  }
}

OtlpExporter::~OtlpExporter() { stop(); }

void OtlpExporter::add_spans(std::vector<SpanRecord> spans) { impl_->add(impl_->spans, std::move(spans)); }
void OtlpExporter::add_logs(std::vector<LogRecord> logs) { impl_->add(impl_->logs, std::move(logs)); }
void OtlpExporter::add_metrics(std::vector<MetricPoint> points) { impl_->add(impl_->metrics, std::move(points)); }

void OtlpExporter::start() {
  if (impl_->stopped || impl_->started.exchange(true)) return;
  asio::post(impl_->strand, [weak = impl_->weak_from_this()] {
    if (auto self = weak.lock()) self->arm();
  });
}

void OtlpExporter::stop() {
  // The flag stops the next tick even before the posted cancel runs (the timer is the strand's).
  if (impl_->stopped.exchange(true)) return;
  asio::post(impl_->strand, [weak = impl_->weak_from_this()] {
    if (auto self = weak.lock()) self->timer.cancel();
  });
}

void OtlpExporter::flush() {
  asio::post(impl_->strand, [weak = impl_->weak_from_this()] {
    if (auto self = weak.lock()) self->send_all();
  });
}

OtlpExporterStats OtlpExporter::stats() const {
  std::lock_guard lock(impl_->mu);
  const Impl& i = *impl_;
  OtlpExporterStats s;
  s.exported_spans = i.spans.exported;
  s.exported_logs = i.logs.exported;
  s.exported_metrics = i.metrics.exported;
  s.dropped_spans = i.spans.dropped;
  s.dropped_logs = i.logs.dropped;
  s.dropped_metrics = i.metrics.dropped;
  s.failed_requests = i.failed_requests;
  s.buffered_spans = i.spans.buffer.size();
  s.buffered_logs = i.logs.buffer.size();
  s.buffered_metrics = i.metrics.buffer.size();
  return s;
}

}  // namespace iii::obs
