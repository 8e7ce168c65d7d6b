// The JSON walking the OTLP reader (otlp_ingest.cpp) is built on: a simdjson On-Demand walker
// that visits every value once, checks what it does not read (so a frame is valid JSON as a
// whole, within json_depth_limit()), reads scalars as a DOM parser would, and turns OTLP
// AnyValues and attribute lists into the JSON text and records the stores keep. Internal to
// the observability worker.
//
// simdjson's On-Demand types depend on the kernel a file is compiled for: every file that includes
// this header is listed in III_SIMD_SOURCES (CMakeLists.txt), so that all see the same types.
#pragma once
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "wire/json_limits.h"
#include "workers/observability/telemetry_records.h"

// Returns from the enclosing function with the error of `expr`, if any.
#define III_TRY(expr)                                      \
  do {                                                     \
    if (const simdjson::error_code e_ = (expr)) return e_; \
  } while (0)

namespace iii::obs::otlp {

namespace od = simdjson::ondemand;
using od::json_type;
using simdjson::error_code;
using simdjson::SUCCESS;

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

// A Leaf as the OTLP fields read it: a 64-bit unsigned (a string of digits or a number), a
// double, a signed integer given as a string, or the text of a string (empty otherwise).
uint64_t u64_of(const Leaf& l);
double dbl_of(const Leaf& l);
long long ll_of_string(std::string_view s);
inline std::string_view str_of(const Leaf& l) { return l.kind == Leaf::kString ? l.s : std::string_view(); }

// Walks values of one frame. `max_bytes` cuts long string attribute values (cut_attribute).
class JsonWalker {
 public:
  explicit JsonWalker(size_t max_bytes) : max_bytes_(max_bytes), limit_(json_depth_limit()) {}

 protected:
  // Calls fn(key, value) for every field of object `v` (nested at `depth`).
  template <class Fn>
  error_code fields(od::value v, size_t depth, Fn&& fn) {
    if (depth > limit_) return simdjson::DEPTH_ERROR;
    od::object o;
    III_TRY(v.get_object().get(o));
    return each_field(o, fn);
  }

  // Calls fn(key, value) for every field of `o` (the frame's top level too).
  template <class Fn>
  static error_code each_field(od::object& o, Fn&& fn) {
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

  // A number as a DOM reads it: an integer when it is one that fits 64 bits, else a double.
  // (get_number() is not used: simdjson 3.0.1 reads a double of 20 or more digits as 0 there.)
  error_code number(od::value& v, Leaf& out);

  // Reads a scalar into `out`; an object or array is checked and read as kOther.
  error_code leaf(od::value v, size_t depth, Leaf& out);

  // Checks a value nobody reads.
  error_code skip(od::value v, size_t depth);

  // A scalar field as str_of, u64_of and dbl_of read it.
  error_code str(od::value v, size_t depth, std::string_view& out);
  error_code u64(od::value v, size_t depth, uint64_t& out);
  error_code dbl(od::value v, size_t depth, double& out);

  // The JSON of `{"values": [AnyValue…]}` as an array ("[]" without values).
  error_code array_value(od::value v, size_t depth, std::string& out);

  // The JSON of `{"values": [{"key","value"}…]}` as an object; a key given twice keeps its
  // first place and its last value.
  error_code kvlist_value(od::value v, size_t depth, std::string& out);

  // Appends the JSON an OTLP AnyValue converts to: a string (cut), bool, integer, double, array
  // or object; null for anything else. `text`, when given, gets the string of a string value.
  error_code any_value(od::value v, size_t depth, std::string& out, std::optional<std::string>* text);

  // One {"key","value"} entry. `text` as in any_value: the value's string, if it is one.
  error_code key_value(od::value v, size_t depth, std::string& key, std::string& value,
                       std::optional<std::string>* text);

  // An "attributes" list into `out` (cleared: a key given twice keeps its last list). With
  // `service`, the first string value of "service.name" goes there.
  error_code attributes(od::value v, size_t depth, Attributes& out, std::optional<std::string>* service = nullptr);

  const size_t max_bytes_;
  const size_t limit_;
  Attributes scratch_;  // attributes() collects here
};

}  // namespace iii::obs::otlp
