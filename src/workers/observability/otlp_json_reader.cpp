#include "workers/observability/otlp_json_reader.h"

#include <charconv>
#include <cstdlib>

#include <boost/json/value.hpp>

#include "core/json_text.h"
#include "workers/observability/otlp_ingest.h"
#include "wire/json_writer.h"

namespace iii::obs::otlp {

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

}  // namespace

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

error_code JsonWalker::number(od::value& v, Leaf& out) {
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

error_code JsonWalker::leaf(od::value v, size_t depth, Leaf& out) {
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

error_code JsonWalker::skip(od::value v, size_t depth) {
  json_type type;
  III_TRY(type_of(v, type));
  if (type == json_type::object)
    return fields(v, depth, [&](std::string_view, od::value x) { return skip(x, depth + 1); });
  if (type == json_type::array) return items(v, depth, [&](od::value x) { return skip(x, depth + 1); });
  Leaf ignored;
  return leaf(v, depth, ignored);
}

error_code JsonWalker::str(od::value v, size_t depth, std::string_view& out) {
  Leaf l;
  III_TRY(leaf(v, depth, l));
  out = str_of(l);
  return SUCCESS;
}

error_code JsonWalker::u64(od::value v, size_t depth, uint64_t& out) {
  Leaf l;
  III_TRY(leaf(v, depth, l));
  out = u64_of(l);
  return SUCCESS;
}

error_code JsonWalker::dbl(od::value v, size_t depth, double& out) {
  Leaf l;
  III_TRY(leaf(v, depth, l));
  out = dbl_of(l);
  return SUCCESS;
}

error_code JsonWalker::array_value(od::value v, size_t depth, std::string& out) {
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

error_code JsonWalker::kvlist_value(od::value v, size_t depth, std::string& out) {
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

error_code JsonWalker::any_value(od::value v, size_t depth, std::string& out, std::optional<std::string>* text) {
  json_type type;
  III_TRY(type_of(v, type));
  if (type != json_type::object) {
    III_TRY(skip(v, depth));
    out += "null";
    return SUCCESS;
  }
  Leaf string_value, bool_value, int_value, double_value, bytes_value;
  const std::pair<std::string_view, Leaf*> scalars[] = {{"stringValue", &string_value},
                                                        {"boolValue", &bool_value},
                                                        {"intValue", &int_value},
                                                        {"doubleValue", &double_value},
                                                        {"bytesValue", &bytes_value}};
  std::string array_json, kvlist_json;  // empty: not given (or not an object)
  III_TRY(fields(v, depth, [&](std::string_view key, od::value x) -> error_code {
    for (const auto& [name, dst] : scalars)
      if (key == name) return leaf(x, depth + 1, *dst);
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

error_code JsonWalker::key_value(od::value v, size_t depth, std::string& key, std::string& value,
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

error_code JsonWalker::attributes(od::value v, size_t depth, Attributes& out, std::optional<std::string>* service) {
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

}  // namespace iii::obs::otlp
