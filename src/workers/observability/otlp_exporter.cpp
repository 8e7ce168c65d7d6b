// Three parts: the collector URL and header parsers, the OTLP/JSON encoders, and the exporter's
// buffering and sending (the header describes the behaviour).
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

namespace iii::obs {
namespace json = boost::json;
namespace asio = boost::asio;

// --- URL and header parsing ------------------------------------------------------------------

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

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
  if (iequals(scheme, "https")) out.https = true;
  else if (!iequals(scheme, "http")) return endpoint_error(error, "the endpoint's scheme must be http or https");
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

// --- OTLP/JSON encoding ------------------------------------------------------------------------

namespace {

// proto3 JSON writes 64-bit integers as strings (JavaScript numbers cannot hold them).
json::string u64(uint64_t v) { return json::string(std::to_string(v)); }

// proto3 JSON spells the non-finite doubles as strings; JSON numbers cannot express them.
json::value real(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return d;
}

// Lower-case hex of exactly `bytes` bytes, else "": a malformed id from a worker must not make
// the collector reject the whole batch (it accepts "" as an absent id).
std::string otlp_id(std::string_view hex, size_t bytes) {
  if (hex.size() != bytes * 2) return {};
  std::string out(hex);
  for (char& c : out) {
    if (hex_digit(c) < 0) return {};
    c = lower(c);
  }
  return out;
}

json::object any_value(const json::value& v) {
  json::object out;
  switch (v.kind()) {
    case json::kind::null: break;  // an empty AnyValue
    case json::kind::bool_: out["boolValue"] = v.get_bool(); break;
    case json::kind::int64: out["intValue"] = json::string(std::to_string(v.get_int64())); break;
    case json::kind::uint64:
      // intValue is signed 64-bit: a larger integer only fits as a double.
      if (v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) out["intValue"] = u64(v.get_uint64());
      else out["doubleValue"] = static_cast<double>(v.get_uint64());
      break;
    case json::kind::double_: out["doubleValue"] = real(v.get_double()); break;
    case json::kind::string: out["stringValue"] = v.get_string(); break;
    case json::kind::array: {
      json::array values;
      for (const json::value& item : v.get_array()) values.push_back(any_value(item));
      out["arrayValue"] = json::object{{"values", std::move(values)}};
      break;
    }
    case json::kind::object: {
      json::array values;
      for (const auto& kv : v.get_object()) values.push_back(json::object{{"key", kv.key()}, {"value", any_value(kv.value())}});
      out["kvlistValue"] = json::object{{"values", std::move(values)}};
      break;
    }
  }
  return out;
}

// Our values are raw JSON; text that does not parse (it should not happen) is kept as a string.
json::object any_value(std::string_view raw) {
  if (raw.empty()) return {};
  std::optional<json::value> parsed = json_text::parse(raw);
  if (!parsed) return json::object{{"stringValue", raw}};
  return any_value(*parsed);
}

json::object key_value(std::string_view key, json::object value) {
  return json::object{{"key", key}, {"value", std::move(value)}};
}

// OTLP keys are unique within a list: a later duplicate wins, as in append_attributes_object.
json::array attributes(const Attributes& attrs, std::initializer_list<std::string_view> skip = {}) {
  json::array out;
  for (size_t i = 0; i < attrs.size(); ++i) {
    const std::string& key = attrs[i].key;
    if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
    if (std::any_of(attrs.begin() + static_cast<std::ptrdiff_t>(i) + 1, attrs.end(), [&](const Attribute& a) { return a.key == key; })) continue;
    out.push_back(key_value(key, any_value(attrs[i].value)));
  }
  return out;
}

json::object string_value(std::string_view s) { return json::object{{"stringValue", s}}; }

// service.name always; version and namespace only for the engine's own service; then the
// record's own resource attributes (logs), which cannot override those.
json::object resource_json(const std::string& service, const OtlpResource& r, const Attributes* extra = nullptr) {
  json::array attrs;
  attrs.push_back(key_value("service.name", string_value(service)));
  if (service == r.service_name) {
    if (!r.service_version.empty()) attrs.push_back(key_value("service.version", string_value(r.service_version)));
    if (!r.service_namespace.empty()) attrs.push_back(key_value("service.namespace", string_value(r.service_namespace)));
  }
  if (extra)
    for (json::value& a : attributes(*extra, {"service.name", "service.version", "service.namespace"})) attrs.push_back(std::move(a));
  return json::object{{"attributes", std::move(attrs)}};
}

json::object scope_json(const std::string& name, const std::string& version) {
  json::object scope;
  if (!name.empty()) scope["name"] = name;
  if (!version.empty()) scope["version"] = version;
  return scope;
}

// Splits `items` into groups of equal key, groups and members in first-seen order.
template <class T, class KeyFn>
std::vector<std::vector<const T*>> group_by(const std::vector<const T*>& items, KeyFn key) {
  std::vector<std::vector<const T*>> groups;
  std::unordered_map<std::string, size_t> index;
  for (const T* item : items) {
    auto [it, fresh] = index.try_emplace(key(*item), groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(item);
  }
  return groups;
}

template <class T>
std::vector<const T*> pointers(const std::vector<T>& items) {
  std::vector<const T*> out;
  out.reserve(items.size());
  for (const T& item : items) out.push_back(&item);
  return out;
}

template <class T>
std::string service_of(const T& record, const OtlpResource& r) {
  return record.service_name.empty() ? r.service_name : record.service_name;
}

json::object span_json(const SpanRecord& s) {
  json::object span{{"traceId", otlp_id(s.trace_id, 16)}, {"spanId", otlp_id(s.span_id, 8)}};
  if (!s.parent_span_id.empty()) span["parentSpanId"] = otlp_id(s.parent_span_id, 8);
  span["name"] = s.name;
  span["kind"] = s.kind;
  span["startTimeUnixNano"] = u64(s.start_time_unix_nano);
  span["endTimeUnixNano"] = u64(s.end_time_unix_nano);
  span["flags"] = s.flags;
  span["attributes"] = attributes(s.attributes);
  json::array events;
  for (const SpanEvent& e : s.events)
    events.push_back(json::object{{"name", e.name}, {"timeUnixNano", u64(e.time_unix_nano)}, {"attributes", attributes(e.attributes)}});
  span["events"] = std::move(events);
  json::object status{{"code", static_cast<int>(s.status)}};
  if (!s.status_message.empty()) status["message"] = s.status_message;
  span["status"] = std::move(status);
  return span;
}

json::object log_json(const LogRecord& l) {
  json::object log{{"timeUnixNano", u64(l.time_unix_nano)}, {"observedTimeUnixNano", u64(l.observed_time_unix_nano)},
                   {"severityNumber", l.severity_number}, {"severityText", l.severity_text}};
  if (!l.body.empty()) log["body"] = any_value(l.body);
  log["attributes"] = attributes(l.attributes);
  if (std::string id = otlp_id(l.trace_id, 16); !id.empty()) log["traceId"] = std::move(id);
  if (std::string id = otlp_id(l.span_id, 8); !id.empty()) log["spanId"] = std::move(id);
  return log;
}

// One metric (name, type, unit, description) with a data point per MetricPoint.
json::object metric_json(const std::vector<const MetricPoint*>& points) {
  const MetricPoint& first = *points.front();
  const bool counted = first.type == "histogram" || first.type == "exponential_histogram" || first.type == "summary";
  json::array data;
  for (const MetricPoint* p : points) {
    json::object dp{{"timeUnixNano", u64(p->time_unix_nano)}, {"attributes", attributes(p->attributes)}};
    if (counted) {
      dp["count"] = u64(p->count);
      dp["sum"] = real(p->sum);
    } else {
      dp["asDouble"] = real(p->value);
    }
    data.push_back(std::move(dp));
  }
  json::object metric{{"name", first.name}};
  if (!first.description.empty()) metric["description"] = first.description;
  if (!first.unit.empty()) metric["unit"] = first.unit;
  constexpr int kCumulative = 2;  // AGGREGATION_TEMPORALITY_CUMULATIVE
  if (first.type == "sum")
    metric["sum"] = json::object{{"dataPoints", std::move(data)}, {"aggregationTemporality", kCumulative}, {"isMonotonic", true}};
  else if (first.type == "summary") metric["summary"] = json::object{{"dataPoints", std::move(data)}};
  else if (counted) metric["histogram"] = json::object{{"dataPoints", std::move(data)}, {"aggregationTemporality", kCumulative}};
  else metric["gauge"] = json::object{{"dataPoints", std::move(data)}};
  return metric;
}

std::string scope_key(const std::string& name, const std::string& version) { return name + '\0' + version; }

}  // namespace

std::string otlp_traces_json(const std::vector<SpanRecord>& spans, const OtlpResource& r) {
  json::array resources;
  for (const auto& service : group_by(pointers(spans), [&](const SpanRecord& s) { return service_of(s, r); })) {
    json::array scopes;
    for (const auto& scope : group_by(service, [](const SpanRecord& s) { return scope_key(s.scope_name, s.scope_version); })) {
      json::array out;
      for (const SpanRecord* s : scope) out.push_back(span_json(*s));
      scopes.push_back(json::object{{"scope", scope_json(scope.front()->scope_name, scope.front()->scope_version)}, {"spans", std::move(out)}});
    }
    resources.push_back(json::object{{"resource", resource_json(service_of(*service.front(), r), r)}, {"scopeSpans", std::move(scopes)}});
  }
  return json_text::serialize(json::object{{"resourceSpans", std::move(resources)}});
}

std::string otlp_logs_json(const std::vector<LogRecord>& logs, const OtlpResource& r) {
  json::array resources;
  // Logs carry their SDK's resource attributes: records of one service with different resources
  // stay apart so that each keeps its own.
  auto resource_key = [&](const LogRecord& l) {
    std::string key = service_of(l, r) + '\0';
    append_attributes_object(key, l.resource);
    return key;
  };
  for (const auto& resource : group_by(pointers(logs), resource_key)) {
    json::array scopes;
    for (const auto& scope : group_by(resource, [](const LogRecord& l) { return scope_key(l.scope_name, l.scope_version); })) {
      json::array out;
      for (const LogRecord* l : scope) out.push_back(log_json(*l));
      scopes.push_back(json::object{{"scope", scope_json(scope.front()->scope_name, scope.front()->scope_version)}, {"logRecords", std::move(out)}});
    }
    const LogRecord& first = *resource.front();
    resources.push_back(json::object{{"resource", resource_json(service_of(first, r), r, &first.resource)}, {"scopeLogs", std::move(scopes)}});
  }
  return json_text::serialize(json::object{{"resourceLogs", std::move(resources)}});
}

std::string otlp_metrics_json(const std::vector<MetricPoint>& points, const OtlpResource& r) {
  json::array resources;
  auto metric_key = [](const MetricPoint& p) { return p.name + '\0' + p.type + '\0' + p.unit + '\0' + p.description; };
  for (const auto& service : group_by(pointers(points), [&](const MetricPoint& p) { return service_of(p, r); })) {
    json::array metrics;
    for (const auto& metric : group_by(service, metric_key)) metrics.push_back(metric_json(metric));
    json::array scopes;  // MetricPoint has no scope: one empty scope
    scopes.push_back(json::object{{"scope", json::object{}}, {"metrics", std::move(metrics)}});
    resources.push_back(json::object{{"resource", resource_json(service_of(*service.front(), r), r)}, {"scopeMetrics", std::move(scopes)}});
  }
  return json_text::serialize(json::object{{"resourceMetrics", std::move(resources)}});
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
    if (iequals(name, "content-type") || iequals(name, "content-length") || iequals(name, "host") || iequals(name, "transfer-encoding"))
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
