#include "workers/observability/otlp_ingest.h"

#include <algorithm>
#include <optional>

#include "wire/json_limits.h"
#include "workers/observability/otlp_json_reader.h"

namespace iii::obs {
namespace {

using namespace otlp;  // the walker, its Leaf and error codes (otlp_json_reader.h)

static_assert(kTelemetryFramePadding == simdjson::SIMDJSON_PADDING);
// The parser keeps its default depth ceiling; json_depth_limit() is checked while walking.
static_assert(simdjson::DEFAULT_MAX_DEPTH == kMaxJsonDepth);

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

}  // namespace

std::string otlp_id_hex(std::string_view s, size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  if (s.size() == bytes * 2) {
    out.assign(s);
    for (char& c : out) {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return {};
    }
  } else {
    uint32_t buffer = 0;
    int bits = 0;
    for (char c : s) {
      if (c == '=') break;
      const int v = base64_value(c);
      if (v < 0) return {};
      buffer = (buffer << 6) | static_cast<uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        const auto byte = static_cast<unsigned char>((buffer >> bits) & 0xff);
        out += kHex[byte >> 4];
        out += kHex[byte & 0xf];
      }
    }
    if (out.size() != bytes * 2) return {};
  }
  return out.find_first_not_of('0') == std::string::npos ? std::string() : out;
}

std::string_view cut_attribute(std::string_view text, size_t max_bytes, std::string& storage) {
  if (max_bytes == 0 || text.size() <= max_bytes) return text;
  size_t at = max_bytes;
  while (at > 0 && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;
  storage.assign(text.substr(0, at));
  storage += "…[truncated " + std::to_string(text.size() - at) + " bytes]";
  return storage;
}

namespace {

// Walks an OTLP export, reading records into `out`. Every value is visited once: the fields the
// records take are read, any other is checked (skip) so the frame is valid JSON as a whole.
class Reader : public JsonWalker {
 public:
  Reader(size_t max_bytes, IngestedTelemetry& out) : JsonWalker(max_bytes), out_(out) {}

  error_code frame(od::document& doc, std::string_view prefix);

 private:
  error_code span(od::value v, size_t depth);
  error_code log(od::value v, size_t depth);
  error_code metric(od::value v, size_t depth);
  error_code points(od::value v, size_t depth, std::string_view type);
  error_code scoped(od::value v, size_t depth);
  error_code resource(od::value v, size_t depth);

  // Where a level's records start in `out_`: a key given twice drops what its first value gave.
  struct Mark {
    size_t spans, logs, metrics, skipped;
  };
  Mark mark() const { return Mark{out_.spans.size(), out_.logs.size(), out_.metrics.size(), out_.skipped}; }
  void rewind(const Mark& m) {
    out_.spans.erase(out_.spans.begin() + static_cast<ptrdiff_t>(m.spans), out_.spans.end());
    out_.logs.erase(out_.logs.begin() + static_cast<ptrdiff_t>(m.logs), out_.logs.end());
    out_.metrics.erase(out_.metrics.begin() + static_cast<ptrdiff_t>(m.metrics), out_.metrics.end());
    out_.skipped = m.skipped;
  }

  IngestedTelemetry& out_;
  const char* resources_key_ = "";
  const char* scopes_key_ = "";
  const char* records_key_ = "";
  enum class Signal { kSpans, kLogs, kMetrics } signal_ = Signal::kSpans;
};

error_code Reader::span(od::value v, size_t depth) {
  SpanRecord s;
  std::string_view trace, span, parent, name, message;
  uint64_t kind = 0, code = 0, flags = 0;
  III_TRY(fields(v, depth, [&](std::string_view key, od::value x) -> error_code {
    if (key == "traceId") return str(x, depth + 1, trace);
    if (key == "spanId") return str(x, depth + 1, span);
    if (key == "parentSpanId") return str(x, depth + 1, parent);
    if (key == "name") return str(x, depth + 1, name);
    if (key == "kind") return u64(x, depth + 1, kind);
    if (key == "startTimeUnixNano") return u64(x, depth + 1, s.start_time_unix_nano);
    if (key == "endTimeUnixNano") return u64(x, depth + 1, s.end_time_unix_nano);
    if (key == "flags") return u64(x, depth + 1, flags);
    if (key == "attributes") return attributes(x, depth + 1, s.attributes);
    if (key == "status") {
      code = 0, message = {};
      json_type t;
      III_TRY(type_of(x, t));
      if (t != json_type::object) return skip(x, depth + 1);
      return fields(x, depth + 1, [&](std::string_view k, od::value y) -> error_code {
        if (k == "code") return u64(y, depth + 2, code);
        if (k == "message") return str(y, depth + 2, message);
        return skip(y, depth + 2);
      });
    }
    if (key == "events") {
      s.events.clear();
      return objects(x, depth + 1, [&](od::value e) -> error_code {
        SpanEvent ev;
        std::string_view event_name;
        III_TRY(fields(e, depth + 2, [&](std::string_view k, od::value y) -> error_code {
          if (k == "name") return str(y, depth + 3, event_name);
          if (k == "timeUnixNano") return u64(y, depth + 3, ev.time_unix_nano);
          if (k == "attributes") return attributes(y, depth + 3, ev.attributes);
          return skip(y, depth + 3);
        }));
        ev.name.assign(event_name);
        s.events.push_back(std::move(ev));
        return SUCCESS;
      });
    }
    return skip(x, depth + 1);
  }));
  s.trace_id = otlp_id_hex(trace, 16);
  s.span_id = otlp_id_hex(span, 8);
  if (s.trace_id.empty() || s.span_id.empty()) {
    ++out_.skipped;
    return SUCCESS;
  }
  s.parent_span_id = otlp_id_hex(parent, 8);
  s.name.assign(name);
  s.kind = static_cast<uint8_t>(kind);
  s.status = code == 1 ? SpanStatus::kOk : code == 2 ? SpanStatus::kError : SpanStatus::kUnset;
  s.status_message.assign(message);
  s.flags = static_cast<uint32_t>(flags & 0xff);
  if (s.flags == 0) s.flags = 1;  // exported spans were sampled
  out_.spans.push_back(std::move(s));
  return SUCCESS;
}

error_code Reader::log(od::value v, size_t depth) {
  LogRecord l;
  std::string_view severity_text, trace, span;
  uint64_t severity = 0;
  bool has_body = false;
  III_TRY(fields(v, depth, [&](std::string_view key, od::value x) -> error_code {
    if (key == "timeUnixNano") return u64(x, depth + 1, l.time_unix_nano);
    if (key == "observedTimeUnixNano") return u64(x, depth + 1, l.observed_time_unix_nano);
    if (key == "severityNumber") return u64(x, depth + 1, severity);
    if (key == "severityText") return str(x, depth + 1, severity_text);
    if (key == "traceId") return str(x, depth + 1, trace);
    if (key == "spanId") return str(x, depth + 1, span);
    if (key == "attributes") return attributes(x, depth + 1, l.attributes);
    if (key == "body") {
      l.body.clear();
      json_type t;
      III_TRY(type_of(x, t));
      has_body = t != json_type::null;  // a null body counts as none
      return any_value(x, depth + 1, l.body, nullptr);
    }
    return skip(x, depth + 1);
  }));
  if (!has_body) l.body = "\"\"";
  if (l.time_unix_nano == 0) l.time_unix_nano = l.observed_time_unix_nano;
  l.severity_number = static_cast<int>(severity);
  l.severity_text.assign(severity_text);
  if (l.severity_text.empty()) l.severity_text = std::string(severity_text_for(l.severity_number));
  l.trace_id = otlp_id_hex(trace, 16);
  l.span_id = otlp_id_hex(span, 8);
  out_.logs.push_back(std::move(l));
  return SUCCESS;
}

constexpr std::string_view kMetricKinds[] = {"gauge", "sum", "histogram", "exponentialHistogram", "summary"};
constexpr std::string_view kMetricTypes[] = {"gauge", "sum", "histogram", "exponential_histogram", "summary"};

size_t type_rank(std::string_view type) {
  for (size_t i = 0; i < std::size(kMetricTypes); ++i)
    if (kMetricTypes[i] == type) return i;
  return std::size(kMetricTypes);
}

// The data points of one kind's body ({"dataPoints": […]}), appended with type `type`.
error_code Reader::points(od::value v, size_t depth, std::string_view type) {
  const size_t first = out_.metrics.size();
  return fields(v, depth, [&](std::string_view key, od::value x) -> error_code {
    if (key != "dataPoints") return skip(x, depth + 1);
    out_.metrics.erase(out_.metrics.begin() + static_cast<ptrdiff_t>(first), out_.metrics.end());
    return objects(x, depth + 1, [&](od::value p) -> error_code {
      MetricPoint m;
      m.type.assign(type);
      double as_double = 0, as_int = 0;
      bool has_int = false;
      III_TRY(fields(p, depth + 2, [&](std::string_view k, od::value y) -> error_code {
        if (k == "timeUnixNano") return u64(y, depth + 3, m.time_unix_nano);
        if (k == "asDouble") return dbl(y, depth + 3, as_double);
        if (k == "asInt") {  // a 64-bit integer, possibly negative, often a string
          Leaf l;
          III_TRY(leaf(y, depth + 3, l));
          has_int = l.given();
          as_int = l.kind == Leaf::kString ? static_cast<double>(ll_of_string(l.s)) : dbl_of(l);
          return SUCCESS;
        }
        if (k == "count") return u64(y, depth + 3, m.count);
        if (k == "sum") return dbl(y, depth + 3, m.sum);
        if (k == "attributes") return attributes(y, depth + 3, m.attributes);
        return skip(y, depth + 3);
      }));
      m.value = has_int ? as_int : as_double;
      out_.metrics.push_back(std::move(m));
      return SUCCESS;
    });
  });
}

error_code Reader::metric(od::value v, size_t depth) {
  const size_t first = out_.metrics.size();
  std::string_view name, description, unit;
  unsigned kinds_given = 0;
  III_TRY(fields(v, depth, [&](std::string_view key, od::value x) -> error_code {
    if (key == "name") return str(x, depth + 1, name);
    if (key == "description") return str(x, depth + 1, description);
    if (key == "unit") return str(x, depth + 1, unit);
    for (size_t k = 0; k < std::size(kMetricKinds); ++k) {
      if (key != kMetricKinds[k]) continue;
      const std::string_view type = kMetricTypes[k];
      if (kinds_given & (1u << k))  // given twice: the last one counts
        out_.metrics.erase(std::remove_if(out_.metrics.begin() + static_cast<ptrdiff_t>(first), out_.metrics.end(),
                                          [&](const MetricPoint& m) { return m.type == type; }),
                           out_.metrics.end());
      kinds_given |= 1u << k;
      json_type t;
      III_TRY(type_of(x, t));
      return t == json_type::object ? points(x, depth + 1, type) : skip(x, depth + 1);
    }
    return skip(x, depth + 1);
  }));
  const auto begin = out_.metrics.begin() + static_cast<ptrdiff_t>(first);
  // The points come by kind (gauge, sum, histogram, exponential histogram, summary).
  if (kinds_given & (kinds_given - 1))
    std::stable_sort(begin, out_.metrics.end(),
                     [](const MetricPoint& a, const MetricPoint& b) { return type_rank(a.type) < type_rank(b.type); });
  for (auto it = begin; it != out_.metrics.end(); ++it) {
    it->name.assign(name);
    it->description.assign(description);
    it->unit.assign(unit);
  }
  return SUCCESS;
}

// {"scope": {name, version}, "<records>": […]}
error_code Reader::scoped(od::value v, size_t depth) {
  const Mark start = mark();
  std::string_view scope_name, scope_version;
  III_TRY(fields(v, depth, [&](std::string_view key, od::value x) -> error_code {
    if (key == "scope") {
      scope_name = scope_version = {};
      json_type t;
      III_TRY(type_of(x, t));
      if (t != json_type::object) return skip(x, depth + 1);
      return fields(x, depth + 1, [&](std::string_view k, od::value y) -> error_code {
        if (k == "name") return str(y, depth + 2, scope_name);
        if (k == "version") return str(y, depth + 2, scope_version);
        return skip(y, depth + 2);
      });
    }
    if (key == records_key_) {
      rewind(start);
      return objects(x, depth + 1, [&](od::value r) {
        switch (signal_) {
          case Signal::kSpans: return span(r, depth + 2);
          case Signal::kLogs: return log(r, depth + 2);
          case Signal::kMetrics: return metric(r, depth + 2);
        }
        return SUCCESS;
      });
    }
    return skip(x, depth + 1);
  }));
  for (size_t i = start.spans; i < out_.spans.size(); ++i) {
    out_.spans[i].scope_name.assign(scope_name);
    out_.spans[i].scope_version.assign(scope_version);
  }
  for (size_t i = start.logs; i < out_.logs.size(); ++i) {
    out_.logs[i].scope_name.assign(scope_name);
    out_.logs[i].scope_version.assign(scope_version);
  }
  return SUCCESS;
}

// {"resource": {"attributes": […]}, "<scopes>": […]}
error_code Reader::resource(od::value v, size_t depth) {
  const Mark start = mark();
  Attributes attrs;
  std::optional<std::string> service;
  III_TRY(fields(v, depth, [&](std::string_view key, od::value x) -> error_code {
    if (key == "resource") {
      attrs.clear();
      service.reset();
      json_type t;
      III_TRY(type_of(x, t));
      if (t != json_type::object) return skip(x, depth + 1);
      return fields(x, depth + 1, [&](std::string_view k, od::value y) -> error_code {
        return k == "attributes" ? attributes(y, depth + 2, attrs, &service) : skip(y, depth + 2);
      });
    }
    if (key == scopes_key_) {
      rewind(start);
      return objects(x, depth + 1, [&](od::value s) { return scoped(s, depth + 2); });
    }
    return skip(x, depth + 1);
  }));
  const std::string name = service.value_or(std::string());
  for (size_t i = start.spans; i < out_.spans.size(); ++i) out_.spans[i].service_name = name;
  for (size_t i = start.metrics; i < out_.metrics.size(); ++i) out_.metrics[i].service_name = name;
  for (size_t i = start.logs; i < out_.logs.size(); ++i) {
    out_.logs[i].service_name = name;
    out_.logs[i].resource = attrs;
  }
  return SUCCESS;
}

error_code Reader::frame(od::document& doc, std::string_view prefix) {
  if (prefix == "OTLP") resources_key_ = "resourceSpans", scopes_key_ = "scopeSpans", records_key_ = "spans", signal_ = Signal::kSpans;
  else if (prefix == "LOGS") resources_key_ = "resourceLogs", scopes_key_ = "scopeLogs", records_key_ = "logRecords", signal_ = Signal::kLogs;
  else resources_key_ = "resourceMetrics", scopes_key_ = "scopeMetrics", records_key_ = "metrics", signal_ = Signal::kMetrics;
  od::object root;
  III_TRY(doc.get_object().get(root));
  III_TRY(each_field(root, [&](std::string_view key, od::value x) -> error_code {
    if (key != resources_key_) return skip(x, 2);
    rewind(Mark{0, 0, 0, 0});
    return objects(x, 2, [&](od::value r) { return resource(r, 3); });
  }));
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) != simdjson::OUT_OF_BOUNDS) return simdjson::TRAILING_CONTENT;
  return SUCCESS;
}

struct Scratch {
  std::string input;
  od::parser parser;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

IngestedTelemetry parse_padded_telemetry_frame(std::string_view frame, size_t max_attribute_bytes) {
  IngestedTelemetry out;
  if (frame.size() < 4) {
    out.error = "frame shorter than its prefix";
    return out;
  }
  const std::string_view prefix = frame.substr(0, 4);
  if (prefix != "OTLP" && prefix != "LOGS" && prefix != "MTRC") {
    out.error = "unknown telemetry prefix";
    return out;
  }
  const std::string_view body = frame.substr(4);
  od::document doc;
  error_code err = scratch().parser.iterate(body.data(), body.size(), body.size() + kTelemetryFramePadding).get(doc);
  if (!err) {
    json_type type;
    err = doc.type().get(type);
    if (!err && type != json_type::object) {
      out.error = "not a JSON object";
      return out;
    }
  }
  if (!err) err = Reader(max_attribute_bytes, out).frame(doc, prefix);
  if (err) {
    out = IngestedTelemetry{};
    out.error = err == simdjson::DEPTH_ERROR
                    ? "not valid JSON: nested deeper than " + std::to_string(json_depth_limit()) + " levels"
                    : std::string("not valid JSON: ") + simdjson::error_message(err);
  }
  return out;
}

IngestedTelemetry parse_telemetry_frame(std::string_view frame, size_t max_attribute_bytes) {
  std::string& input = scratch().input;
  input.reserve(frame.size() + kTelemetryFramePadding);
  input.assign(frame.data(), frame.size());
  return parse_padded_telemetry_frame(std::string_view(input.data(), input.size()), max_attribute_bytes);
}

#undef III_TRY

}  // namespace iii::obs
