#include "workers/observability/otlp_ingest.h"

#include <simdjson.h>

#include <boost/json/value.hpp>

#include <algorithm>
#include <charconv>
#include <optional>
#include <cstdlib>

#include "core/json_text.h"
#include "wire/json_limits.h"
#include "wire/json_writer.h"

namespace iii::obs {
namespace {

namespace od = simdjson::ondemand;
using od::json_type;
using simdjson::error_code;
using simdjson::SUCCESS;

static_assert(kTelemetryFramePadding == simdjson::SIMDJSON_PADDING);
// The parser keeps its default depth ceiling; json_depth_limit() is checked while walking.
static_assert(simdjson::DEFAULT_MAX_DEPTH == kMaxJsonDepth);

#define III_TRY(expr)                      \
  do {                                     \
    if (const error_code e_ = (expr)) return e_; \
  } while (0)

// One scalar as the readers need it. An object or array is walked (checked) and read as kOther.
struct Leaf {
  enum Kind : uint8_t { kAbsent, kNull, kBool, kInt, kUint, kDouble, kString, kOther } kind = kAbsent;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  std::string_view s;  // in the parser's string buffer: valid for the whole frame

  bool given() const { return kind != kAbsent && kind != kNull; }  // a null field counts as absent
};

// `text` NUL-terminated for strtoull / strtoll / strtod (which stop at an embedded NUL, as
// they did on the std::string the DOM gave).
template <class Fn>
auto with_cstr(std::string_view text, Fn&& fn) {
  char small[128];
  if (text.size() < sizeof small) {
    std::copy(text.begin(), text.end(), small);
    small[text.size()] = '\0';
    return fn(static_cast<const char*>(small));
  }
  const std::string copy(text);
  return fn(copy.c_str());
}

// A 64-bit field the JSON mapping writes as a string ("1796529645813000000") or a number.
uint64_t u64_of(const Leaf& l) {
  switch (l.kind) {
    case Leaf::kUint: return l.u;
    case Leaf::kInt: return l.i < 0 ? 0 : static_cast<uint64_t>(l.i);
    case Leaf::kDouble: return l.d < 0 ? 0 : static_cast<uint64_t>(l.d);
    case Leaf::kString: {
      // Plain digits that cannot overflow (the usual "1796529645813000000") without strtoull.
      if (!l.s.empty() && l.s.size() <= 19 &&
          std::all_of(l.s.begin(), l.s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        uint64_t n = 0;
        for (char c : l.s) n = n * 10 + static_cast<uint64_t>(c - '0');
        return n;
      }
      return with_cstr(l.s, [](const char* c) { return std::strtoull(c, nullptr, 10); });
    }
    default: return 0;
  }
}

double dbl_of(const Leaf& l) {
  switch (l.kind) {
    case Leaf::kDouble: return l.d;
    case Leaf::kInt: return static_cast<double>(l.i);
    case Leaf::kUint: return static_cast<double>(l.u);
    case Leaf::kString: return with_cstr(l.s, [](const char* c) { return std::strtod(c, nullptr); });
    default: return 0;
  }
}

long long ll_of_string(std::string_view s) {
  return with_cstr(s, [](const char* c) { return std::strtoll(c, nullptr, 10); });
}

std::string_view str_of(const Leaf& l) { return l.kind == Leaf::kString ? l.s : std::string_view(); }

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

template <class T>
void append_integer(std::string& out, T n) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

// Whether `t` is a JSON number (RFC 8259 grammar) whose exponent a DOM parser takes: for the
// ones simdjson refuses as out of a double's range. Boost.JSON refuses an exponent beyond INT_MAX
// less what the digits shift it by (at most their count, the bound used here).
bool is_json_number(std::string_view t) {
  size_t i = 0;
  int64_t exponent = 0;
  auto digits = [&] {
    const size_t from = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > from;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') ++i;
  else if (!digits()) return false;
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    const size_t from = i;
    if (!digits()) return false;
    for (size_t d = from; d < i && exponent <= INT32_MAX; ++d) exponent = exponent * 10 + (t[d] - '0');
  }
  return i == t.size() && exponent <= INT32_MAX - static_cast<int64_t>(t.size());
}

// Walks an OTLP export, reading records into `out`. Every value is visited once: the fields the
// records take are read, any other is checked (skip) so the frame is valid JSON as a whole.
class Reader {
 public:
  Reader(size_t max_bytes, IngestedTelemetry& out) : max_bytes_(max_bytes), limit_(json_depth_limit()), out_(out) {}

  error_code frame(od::document& doc, std::string_view prefix);

 private:
  // Calls fn(key, value) for every field of object `v` (nested at `depth`).
  template <class Fn>
  error_code fields(od::value v, size_t depth, Fn&& fn) {
    if (depth > limit_) return simdjson::DEPTH_ERROR;
    od::object o;
    III_TRY(v.get_object().get(o));
    for (auto f : o) {
      od::field field;
      std::string_view key;
      III_TRY(std::move(f).get(field));
      III_TRY(key_of(field, key));
      III_TRY(fn(key, field.value()));
    }
    return SUCCESS;
  }

  // The text of a string token that starts at `raw` (after its opening quote) when it has no
  // escapes: then it is the bytes up to the next quote, already checked as UTF-8 by stage 1.
  static bool plain_string(const char* raw, std::string_view& out) {
    const char* end = raw;
    while (*end != '"') {
      if (*end == '\\') return false;
      ++end;
    }
    out = std::string_view(raw, static_cast<size_t>(end - raw));
    return true;
  }

  static error_code key_of(od::field& field, std::string_view& key) {
    if (plain_string(field.key().raw(), key)) return SUCCESS;
    return field.unescaped_key().get(key);
  }

  // Calls fn(element) for every element of array `v` (nested at `depth`).
  template <class Fn>
  error_code items(od::value v, size_t depth, Fn&& fn) {
    if (depth > limit_) return simdjson::DEPTH_ERROR;
    od::array a;
    III_TRY(v.get_array().get(a));
    for (auto e : a) {
      od::value element;
      III_TRY(std::move(e).get(element));
      III_TRY(fn(element));
    }
    return SUCCESS;
  }

  static error_code type_of(od::value& v, json_type& type) { return v.type().get(type); }

  // A number as a DOM reads it: an integer when it is one that fits 64 bits, else a double.
  // (get_number() is not used: simdjson 3.0.1 reads a double of 20 or more digits as 0 there.)
  error_code number(od::value& v, Leaf& out) {
    od::number_type type;
    III_TRY(v.get_number_type().get(type));
    if (type == od::number_type::signed_integer && !v.get_int64().get(out.i)) return out.kind = Leaf::kInt, SUCCESS;
    if (type == od::number_type::unsigned_integer && !v.get_uint64().get(out.u)) return out.kind = Leaf::kUint, SUCCESS;
    out.kind = Leaf::kDouble;  // a fraction or exponent, or an integer beyond 64 bits
    const error_code err = v.get_double().get(out.d);
    if (err != simdjson::NUMBER_ERROR) return err;
    // Valid JSON beyond a double's range (1e400): a DOM reads it as ±inf or 0, so do we.
    std::string_view token = v.raw_json_token();
    while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\r' || token.back() == '\t'))
      token.remove_suffix(1);
    if (!is_json_number(token)) return err;
    out.d = with_cstr(token, [](const char* c) { return std::strtod(c, nullptr); });
    return SUCCESS;
  }

  // Reads a scalar into `out`; an object or array is checked and read as kOther.
  error_code leaf(od::value v, size_t depth, Leaf& out) {
    out = Leaf{};
    json_type type;
    III_TRY(type_of(v, type));
    switch (type) {
      case json_type::object:
      case json_type::array: out.kind = Leaf::kOther; return skip(v, depth);
      case json_type::string: {
        out.kind = Leaf::kString;
        od::raw_json_string raw;
        III_TRY(v.get_raw_json_string().get(raw));
        if (plain_string(raw.raw(), out.s)) return SUCCESS;
        return v.get_string().get(out.s);
      }
      case json_type::number: return number(v, out);
      case json_type::boolean: out.kind = Leaf::kBool; return v.get_bool().get(out.b);
      case json_type::null: {
        bool is_null = false;
        III_TRY(v.is_null().get(is_null));
        if (!is_null) return simdjson::N_ATOM_ERROR;
        out.kind = Leaf::kNull;
        return SUCCESS;
      }
    }
    return simdjson::INCORRECT_TYPE;
  }

  // Checks a value nobody reads.
  error_code skip(od::value v, size_t depth) {
    json_type type;
    III_TRY(type_of(v, type));
    if (type == json_type::object)
      return fields(v, depth, [&](std::string_view, od::value x) { return skip(x, depth + 1); });
    if (type == json_type::array) return items(v, depth, [&](od::value x) { return skip(x, depth + 1); });
    Leaf ignored;
    return leaf(v, depth, ignored);
  }

  error_code str(od::value v, size_t depth, std::string_view& out) {
    Leaf l;
    III_TRY(leaf(v, depth, l));
    out = str_of(l);
    return SUCCESS;
  }

  error_code u64(od::value v, size_t depth, uint64_t& out) {
    Leaf l;
    III_TRY(leaf(v, depth, l));
    out = u64_of(l);
    return SUCCESS;
  }

  error_code dbl(od::value v, size_t depth, double& out) {
    Leaf l;
    III_TRY(leaf(v, depth, l));
    out = dbl_of(l);
    return SUCCESS;
  }

  // The JSON of `{"values": [AnyValue…]}` as an array ("[]" without values).
  error_code array_value(od::value v, size_t depth, std::string& out) {
    out = "[]";
    return fields(v, depth, [&](std::string_view key, od::value x) -> error_code {
      if (key != "values") return skip(x, depth + 1);
      out = "[";
      json_type type;
      III_TRY(type_of(x, type));
      if (type != json_type::array) {
        out += ']';
        return skip(x, depth + 1);
      }
      bool first = true;
      III_TRY(items(x, depth + 1, [&](od::value e) {
        if (!first) out += ',';
        first = false;
        return any_value(e, depth + 2, out, nullptr);
      }));
      out += ']';
      return SUCCESS;
    });
  }

  // The JSON of `{"values": [{"key","value"}…]}` as an object; a key given twice keeps its
  // first place and its last value.
  error_code kvlist_value(od::value v, size_t depth, std::string& out) {
    std::vector<std::pair<std::string, std::string>> entries;
    III_TRY(fields(v, depth, [&](std::string_view key, od::value x) -> error_code {
      if (key != "values") return skip(x, depth + 1);
      entries.clear();
      json_type type;
      III_TRY(type_of(x, type));
      if (type != json_type::array) return skip(x, depth + 1);
      return items(x, depth + 1, [&](od::value e) -> error_code {
        json_type t;
        III_TRY(type_of(e, t));
        if (t != json_type::object) return skip(e, depth + 2);
        std::string k, value;
        III_TRY(key_value(e, depth + 2, k, value, nullptr));
        for (auto& [ek, ev] : entries)
          if (ek == k) {
            ev = std::move(value);
            return SUCCESS;
          }
        entries.emplace_back(std::move(k), std::move(value));
        return SUCCESS;
      });
    }));
    out = "{";
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i) out += ',';
      append_json_string(out, entries[i].first);
      out += ':';
      out += entries[i].second;
    }
    out += '}';
    return SUCCESS;
  }

  // Appends the JSON an OTLP AnyValue converts to: a string (cut), bool, integer, double, array
  // or object; null for anything else. `text`, when given, gets the string of a string value.
  error_code any_value(od::value v, size_t depth, std::string& out, std::optional<std::string>* text) {
    json_type type;
    III_TRY(type_of(v, type));
    if (type != json_type::object) {
      III_TRY(skip(v, depth));
      out += "null";
      return SUCCESS;
    }
    Leaf string_value, bool_value, int_value, double_value, bytes_value;
    std::string array_json, kvlist_json;  // empty: not given (or not an object)
    III_TRY(fields(v, depth, [&](std::string_view key, od::value x) -> error_code {
      if (key == "stringValue") return leaf(x, depth + 1, string_value);
      if (key == "boolValue") return leaf(x, depth + 1, bool_value);
      if (key == "intValue") return leaf(x, depth + 1, int_value);
      if (key == "doubleValue") return leaf(x, depth + 1, double_value);
      if (key == "bytesValue") return leaf(x, depth + 1, bytes_value);
      if (key == "arrayValue" || key == "kvlistValue") {
        std::string& dst = key == "arrayValue" ? array_json : kvlist_json;
        dst.clear();
        json_type t;
        III_TRY(type_of(x, t));
        if (t != json_type::object) return skip(x, depth + 1);
        return key == "arrayValue" ? array_value(x, depth + 1, dst) : kvlist_value(x, depth + 1, dst);
      }
      return skip(x, depth + 1);
    }));
    // Which one counts, when several are given, is the DOM reader's order.
    if (string_value.kind == Leaf::kString) {
      std::string storage;
      const std::string_view s = cut_attribute(string_value.s, max_bytes_, storage);
      append_json_string(out, s);
      if (text) *text = std::string(s);
      return SUCCESS;
    }
    if (bool_value.given()) {
      out += bool_value.kind == Leaf::kBool ? (bool_value.b ? "true" : "false") : "null";
      return SUCCESS;
    }
    if (int_value.given()) {
      if (int_value.kind == Leaf::kInt) return append_integer(out, int_value.i), SUCCESS;
      if (int_value.kind == Leaf::kUint) return append_integer(out, int_value.u), SUCCESS;
      if (int_value.kind == Leaf::kString) return append_integer(out, ll_of_string(int_value.s)), SUCCESS;
    }
    if (double_value.given()) {
      json_text::append(out, boost::json::value(dbl_of(double_value)));
      return SUCCESS;
    }
    if (!array_json.empty()) return out += array_json, SUCCESS;
    if (!kvlist_json.empty()) return out += kvlist_json, SUCCESS;
    if (bytes_value.kind == Leaf::kString) {
      append_json_string(out, bytes_value.s);
      if (text) *text = std::string(bytes_value.s);
      return SUCCESS;
    }
    out += "null";
    return SUCCESS;
  }

  // One {"key","value"} entry. `text` as in any_value: the value's string, if it is one.
  error_code key_value(od::value v, size_t depth, std::string& key, std::string& value,
                       std::optional<std::string>* text) {
    std::string_view k;
    III_TRY(fields(v, depth, [&](std::string_view name, od::value x) -> error_code {
      if (name == "key") return str(x, depth + 1, k);
      if (name == "value") {
        value.clear();
        if (text) text->reset();
        return any_value(x, depth + 1, value, text);
      }
      return skip(x, depth + 1);
    }));
    key.assign(k);
    if (value.empty()) value = "null";
    return SUCCESS;
  }

  // An "attributes" list into `out` (cleared: a key given twice keeps its last list). With
  // `service`, the first string value of "service.name" goes there.
  error_code attributes(od::value v, size_t depth, Attributes& out, std::optional<std::string>* service = nullptr) {
    out.clear();
    if (service) service->reset();
    json_type type;
    III_TRY(type_of(v, type));
    if (type != json_type::array) return skip(v, depth);
    std::optional<std::string> text;
    scratch_.clear();  // never in use here: attribute lists do not nest
    III_TRY(items(v, depth, [&](od::value e) -> error_code {
      json_type t;
      III_TRY(type_of(e, t));
      if (t != json_type::object) return skip(e, depth + 1);
      Attribute& a = scratch_.emplace_back();
      text.reset();
      III_TRY(key_value(e, depth + 1, a.key, a.value, service && !*service ? &text : nullptr));
      if (service && !*service && text && a.key == "service.name") *service = std::move(text);
      return SUCCESS;
    }));
    // Sized as the list is, as the DOM reader's were (the stores keep these).
    out.reserve(scratch_.size());
    for (Attribute& a : scratch_) out.push_back(std::move(a));
    scratch_.clear();
    return SUCCESS;
  }

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

  // Calls record(element) for every object element of array `v`; other elements are checked.
  template <class Fn>
  error_code objects(od::value v, size_t depth, Fn&& record) {
    json_type type;
    III_TRY(type_of(v, type));
    if (type != json_type::array) return skip(v, depth);
    return items(v, depth, [&](od::value e) -> error_code {
      json_type t;
      III_TRY(type_of(e, t));
      return t == json_type::object ? record(e) : skip(e, depth + 1);
    });
  }

  const size_t max_bytes_;
  const size_t limit_;
  IngestedTelemetry& out_;
  Attributes scratch_;  // attributes() collects here
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
  for (auto f : root) {
    od::field field;
    std::string_view key;
    III_TRY(std::move(f).get(field));
    III_TRY(field.unescaped_key().get(key));
    if (key == resources_key_) {
      rewind(Mark{0, 0, 0, 0});
      III_TRY(objects(field.value(), 2, [&](od::value r) { return resource(r, 3); }));
    } else {
      III_TRY(skip(field.value(), 2));
    }
  }
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
