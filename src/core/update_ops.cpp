#include "core/update_ops.h"

#include <boost/json/object.hpp>

#include <cmath>
#include <limits>

#include "core/json_text.h"

namespace iii::update_ops {
namespace {

namespace json = boost::json;

// --- parsing ---

using json_text::describe;

[[noreturn]] void fail(size_t index, std::string_view field, std::string_view message) {
  std::string where = "ops[" + std::to_string(index) + "]";
  if (!field.empty()) where += "." + std::string(field);
  throw ParseError(where + ": " + std::string(message));
}

// A required string path: "" is the root, anything else one literal top-level key.
std::vector<std::string> field_path(const json::object& op, size_t index) {
  const json::value* p = op.if_contains("path");
  if (!p) fail(index, "", "missing field `path`");
  if (!p->is_string()) fail(index, "path", "invalid type: " + describe(*p) + ", expected a string");
  if (p->get_string().empty()) return {};
  return {std::string(p->get_string())};
}

// merge/append: absent, null, a string, or an array of strings.
std::vector<std::string> flexible_path(const json::object& op, size_t index) {
  const json::value* p = op.if_contains("path");
  if (!p || p->is_null()) return {};
  if (p->is_string()) return field_path(op, index);
  if (!p->is_array())
    fail(index, "path", "invalid type: " + describe(*p) + ", expected a string or an array of strings");
  std::vector<std::string> segments;
  for (size_t i = 0; i < p->get_array().size(); ++i) {
    const json::value& s = p->get_array()[i];
    if (!s.is_string())
      fail(index, "path[" + std::to_string(i) + "]", "invalid type: " + describe(s) + ", expected a string");
    segments.emplace_back(s.get_string());
  }
  return segments;
}

const json::value& required_value(const json::object& op, size_t index) {
  const json::value* v = op.if_contains("value");
  if (!v) fail(index, "", "missing field `value`");
  return *v;
}

int64_t required_by(const json::object& op, size_t index) {
  const json::value* v = op.if_contains("by");
  if (!v) fail(index, "", "missing field `by`");
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) fail(index, "by", "invalid value: " + describe(*v) + ", expected i64");
  fail(index, "by", "invalid type: " + describe(*v) + ", expected i64");
}

Op parse_one(const json::value& item, size_t index) {
  if (!item.is_object()) fail(index, "", "invalid type: " + describe(item) + ", expected an update op object");
  const json::object& op = item.get_object();
  const json::value* type = op.if_contains("type");
  if (!type) fail(index, "", "missing field `type`");
  if (!type->is_string()) fail(index, "type", "invalid type: " + describe(*type) + ", expected a string");
  const std::string_view name = type->get_string();
  Op out;
  if (name == "set") {
    out.type = OpType::kSet;
    out.path = field_path(op, index);
    if (const json::value* v = op.if_contains("value")) out.value = *v;
  } else if (name == "merge") {
    out.type = OpType::kMerge;
    out.path = flexible_path(op, index);
    out.value = required_value(op, index);
  } else if (name == "increment" || name == "decrement") {
    out.type = name == "increment" ? OpType::kIncrement : OpType::kDecrement;
    out.path = field_path(op, index);
    out.by = required_by(op, index);
  } else if (name == "append") {
    out.type = OpType::kAppend;
    out.path = flexible_path(op, index);
    out.value = required_value(op, index);
  } else if (name == "remove") {
    out.type = OpType::kRemove;
    out.path = field_path(op, index);
  } else {
    fail(index, "type",
         "unknown variant " + json_text::serialize(*type) +
             ", expected one of `set`, `merge`, `increment`, `decrement`, `append`, `remove`");
  }
  return out;
}

// --- applying ---

const char* op_name(OpType t) {
  switch (t) {
    case OpType::kSet: return "set";
    case OpType::kMerge: return "merge";
    case OpType::kIncrement: return "increment";
    case OpType::kDecrement: return "decrement";
    case OpType::kAppend: return "append";
    case OpType::kRemove: return "remove";
  }
  return "op";
}

bool is_proto_key(std::string_view s) { return s == "__proto__" || s == "constructor" || s == "prototype"; }

// "root" for the root, else the key; used in messages of the single-key ops.
std::string label(const std::vector<std::string>& path) { return path.empty() ? "root" : path.front(); }

// "root" or "[a, b]": the bracketed form keeps the literal-segment contract visible.
std::string segments_label(const std::vector<std::string>& path) {
  if (path.empty()) return "root";
  std::string out = "[";
  for (size_t i = 0; i < path.size(); ++i) out += (i ? ", " : "") + path[i];
  return out + "]";
}

class Applier {
 public:
  explicit Applier(std::optional<json::value> current)
      : missing_(!current), current_(current ? std::move(*current) : json::value(json::object())) {}

  void run(size_t index, const Op& op) {
    index_ = index;
    name_ = op_name(op.type);
    if (!valid_path(op.path)) return;
    switch (op.type) {
      case OpType::kSet: return set(op);
      case OpType::kMerge: return merge(op);
      case OpType::kIncrement:
      case OpType::kDecrement: return shift(op);
      case OpType::kAppend: return append(op);
      case OpType::kRemove: return remove(op);
    }
  }

  Result finish() && { return Result{std::move(current_), std::move(errors_)}; }

 private:
  void error(std::string code, std::string message) {
    errors_.push_back(OpError{index_, std::move(code), std::move(message)});
  }
  std::string code(std::string_view reason) const { return std::string(name_) + "." + std::string(reason); }

  bool valid_path(const std::vector<std::string>& path) {
    if (path.size() > kMaxPathDepth) {
      error(code("path.too_deep"), "Path depth " + std::to_string(path.size()) + " exceeds maximum of " +
                                       std::to_string(kMaxPathDepth));
      return false;
    }
    for (const std::string& segment : path) {
      if (segment.empty()) {
        error(code("path.empty_segment"), "Path contains an empty segment");
        return false;
      }
      if (segment.size() > kMaxSegmentBytes) {
        error(code("path.segment_too_long"), "Path segment of " + std::to_string(segment.size()) +
                                                 " bytes exceeds maximum of " + std::to_string(kMaxSegmentBytes));
        return false;
      }
      if (is_proto_key(segment)) {
        error(code("path.proto_polluted"), "Path segment '" + segment + "' is not allowed (prototype pollution).");
        return false;
      }
    }
    return true;
  }

  // Depth of nested objects/arrays (a scalar is 0, {} is 1), counting no further than `limit` + 1.
  static size_t depth(const json::value& v, size_t limit) {
    if (limit == 0) return v.is_object() || v.is_array() ? 1 : 0;
    size_t deepest = 0;
    if (v.is_object()) {
      for (const auto& kv : v.get_object()) deepest = std::max(deepest, depth(kv.value(), limit - 1));
    } else if (v.is_array()) {
      for (const json::value& item : v.get_array()) deepest = std::max(deepest, depth(item, limit - 1));
    } else {
      return 0;
    }
    return 1 + deepest;
  }

  bool valid_merge_value(const json::value& value) {
    if (!value.is_object()) {
      error("merge.value.not_an_object", "Merge value must be a JSON object");
      return false;
    }
    const json::object& object = value.get_object();
    if (object.size() > kMaxValueKeys) {
      error("merge.value.too_many_keys", "Merge value has " + std::to_string(object.size()) +
                                             " top-level keys, exceeds maximum of " + std::to_string(kMaxValueKeys));
      return false;
    }
    for (const auto& kv : object) {
      if (is_proto_key(kv.key())) {
        error("merge.value.proto_polluted",
              "Merge value top-level key \"" + std::string(kv.key()) + "\" is a prototype-pollution sink");
        return false;
      }
    }
    const size_t d = depth(value, kMaxValueDepth);
    if (d > kMaxValueDepth) {
      error("merge.value.too_deep", "Merge value JSON nesting depth exceeds maximum of " + std::to_string(kMaxValueDepth));
      return false;
    }
    return true;
  }

  void target_not_object(std::string_view verb, const std::string& where) {
    error(code("target_not_object"), "Cannot " + std::string(verb) + " at path '" + where + "': target is " +
                                         json_text::type_name(current_) + ", expected object.");
  }

  // Walks `path` from the root, replacing missing or non-object nodes (the root included) with
  // empty objects, and returns the object at its end.
  json::object& walk_or_create(const std::vector<std::string>& path, size_t count) {
    if (!current_.is_object()) current_ = json::object();
    json::object* node = &current_.get_object();
    for (size_t i = 0; i < count; ++i) {
      json::value& child = (*node)[path[i]];
      if (!child.is_object()) child = json::object();
      node = &child.get_object();
    }
    return *node;
  }

  void set(const Op& op) {
    if (op.path.empty()) {
      current_ = op.value;
    } else if (current_.is_object()) {
      current_.get_object()[op.path.front()] = op.value;
    } else {
      return target_not_object("set", label(op.path));
    }
    missing_ = false;
  }

  void merge(const Op& op) {
    if (!valid_merge_value(op.value)) return;
    json::object* target = nullptr;
    if (op.path.empty()) {
      // The root is merged into only when it is an object (the reference skips silently; we
      // report it, as for every other op that cannot apply).
      if (!current_.is_object()) return target_not_object("merge", "root");
      target = &current_.get_object();
    } else {
      target = &walk_or_create(op.path, op.path.size());
    }
    for (const auto& kv : op.value.get_object()) (*target)[kv.key()] = kv.value();
    missing_ = false;
  }

  enum class Arith { kOk, kNotNumber, kOverflow };

  static json::value from_unsigned(uint64_t u) {
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return json::value(static_cast<int64_t>(u));
    return json::value(u);
  }

  static Arith shift_unsigned(json::value& v, uint64_t x, int64_t by, bool subtract) {
    const uint64_t magnitude = by >= 0 ? static_cast<uint64_t>(by) : uint64_t{0} - static_cast<uint64_t>(by);
    const bool up = (by >= 0) != subtract;
    uint64_t r = 0;
    if (up ? __builtin_add_overflow(x, magnitude, &r) : __builtin_sub_overflow(x, magnitude, &r))
      return Arith::kOverflow;
    v = from_unsigned(r);
    return Arith::kOk;
  }

  // v += by (or -= by). Integers stay integers (moving to unsigned past INT64_MAX), floats floats.
  static Arith shift_number(json::value& v, int64_t by, bool subtract) {
    if (v.is_int64()) {
      const int64_t x = v.get_int64();
      int64_t r = 0;
      if (!(subtract ? __builtin_sub_overflow(x, by, &r) : __builtin_add_overflow(x, by, &r))) {
        v = r;
        return Arith::kOk;
      }
      if (x < 0) return Arith::kOverflow;
      return shift_unsigned(v, static_cast<uint64_t>(x), by, subtract);
    }
    if (v.is_uint64()) return shift_unsigned(v, v.get_uint64(), by, subtract);
    if (v.is_double()) {
      const double r = subtract ? v.get_double() - static_cast<double>(by) : v.get_double() + static_cast<double>(by);
      if (!std::isfinite(r)) return Arith::kOverflow;
      v = r;
      return Arith::kOk;
    }
    return Arith::kNotNumber;
  }

  // The value a missing field starts at: by, or -by (which for INT64_MIN only fits unsigned).
  static json::value initial_number(int64_t by, bool subtract) {
    if (!subtract) return json::value(by);
    if (by == std::numeric_limits<int64_t>::min()) return json::value(uint64_t{1} << 63);
    return json::value(-by);
  }

  // increment / decrement
  void shift(const Op& op) {
    const bool subtract = op.type == OpType::kDecrement;
    json::value* target = nullptr;
    if (op.path.empty()) {
      if (missing_) {
        current_ = initial_number(op.by, subtract);
        missing_ = false;
        return;
      }
      target = &current_;
    } else if (current_.is_object()) {
      json::object& object = current_.get_object();
      target = object.if_contains(op.path.front());
      if (!target) {
        object[op.path.front()] = initial_number(op.by, subtract);
        missing_ = false;
        return;
      }
    } else {
      return target_not_object(name_, label(op.path));
    }
    switch (shift_number(*target, op.by, subtract)) {
      case Arith::kOk: missing_ = false; return;
      case Arith::kNotNumber:
        return error(code("not_number"), "Expected number at path '" + label(op.path) + "', got " +
                                             json_text::type_name(*target) + ".");
      case Arith::kOverflow:
        return error(code("overflow"), "Cannot " + std::string(name_) + " the number at path '" + label(op.path) +
                                           "' by " + std::to_string(op.by) + ": the result is out of range.");
    }
  }

  // What a null or missing single-key target becomes: a string stays a string (the
  // concatenation tier), anything else starts a one-element array.
  static json::value initial_append(const json::value& value) {
    if (value.is_string()) return value;
    return json::value(json::array{value});
  }

  void append_to(json::value& target, const json::value& value, const std::string& where) {
    if (target.is_array()) {
      target.get_array().push_back(value);
    } else if (target.is_string()) {
      if (!value.is_string()) {
        return error("append.type_mismatch", "Expected string append value at path '" + where + "', got " +
                                                 json_text::type_name(value) + ".");
      }
      target.get_string().append(value.get_string());
    } else if (target.is_null()) {
      target = initial_append(value);
    } else {
      return error("append.type_mismatch", "Cannot append at path '" + where + "': target is " +
                                               json_text::type_name(target) +
                                               ", expected array, string, null, or missing field.");
    }
    missing_ = false;
  }

  void append(const Op& op) {
    if (op.path.empty()) {
      if (missing_) current_ = nullptr;
      return append_to(current_, op.value, "root");
    }
    // A nested append needs an object root; checked before walk_or_create could replace it.
    if (!current_.is_object()) return target_not_object("append", segments_label(op.path));
    const std::string& leaf = op.path.back();
    json::object& parent = walk_or_create(op.path, op.path.size() - 1);
    if (json::value* existing = parent.if_contains(leaf)) return append_to(*existing, op.value, leaf);
    // A missing leaf: one key keeps the string tier; a nested path always starts an array.
    parent[leaf] = op.path.size() == 1 ? initial_append(op.value) : json::value(json::array{op.value});
    missing_ = false;
  }

  void remove(const Op& op) {
    if (op.path.empty()) {
      current_ = nullptr;
    } else if (current_.is_object()) {
      current_.get_object().erase(op.path.front());
    } else {
      return target_not_object("remove", label(op.path));
    }
    missing_ = false;
  }

  bool missing_;  // no stored value and no op has written yet: numeric/append root ops start fresh
  json::value current_;
  std::vector<OpError> errors_;
  size_t index_ = 0;
  const char* name_ = "";
};

}  // namespace

std::vector<Op> parse(const json::value& ops) {
  if (!ops.is_array()) throw ParseError("ops: invalid type: " + describe(ops) + ", expected a sequence");
  std::vector<Op> out;
  out.reserve(ops.get_array().size());
  for (size_t i = 0; i < ops.get_array().size(); ++i) out.push_back(parse_one(ops.get_array()[i], i));
  return out;
}

Result apply(std::optional<json::value> current, const std::vector<Op>& ops) {
  Applier applier(std::move(current));
  for (size_t i = 0; i < ops.size(); ++i) applier.run(i, ops[i]);
  return std::move(applier).finish();
}

json::array errors_to_json(const std::vector<OpError>& errors) {
  json::array out;
  for (const OpError& e : errors) {
    json::object item;
    item["op_index"] = e.op_index;
    item["code"] = e.code;
    item["message"] = e.message;
    item["doc_url"] = kDocUrl;
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace iii::update_ops
