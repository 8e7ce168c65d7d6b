#include "core/json_members.h"

#include <boost/json.hpp>

#include "core/json_text.h"
#include "core/json_walk.h"

namespace iii {
namespace {

using simdjson::ondemand::json_type;

// Its own scratch, not the frame parser's: the views of the frame being routed point into that.
struct MembersScratch {};

JsonKind kind_of(json_type type) {
  switch (type) {
    case json_type::null: return JsonKind::kNull;
    case json_type::boolean: return JsonKind::kBoolean;
    case json_type::number: return JsonKind::kNumber;
    case json_type::string: return JsonKind::kString;
    case json_type::array: return JsonKind::kArray;
    case json_type::object: return JsonKind::kObject;
  }
  return JsonKind::kAbsent;
}

JsonKind kind_of(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return JsonKind::kNull;
    case boost::json::kind::bool_: return JsonKind::kBoolean;
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return JsonKind::kNumber;
    case boost::json::kind::string: return JsonKind::kString;
    case boost::json::kind::array: return JsonKind::kArray;
    case boost::json::kind::object: return JsonKind::kObject;
  }
  return JsonKind::kAbsent;
}

JsonMember* named(std::span<JsonMember> members, std::string_view name) {
  JsonMember* found = nullptr;
  for (JsonMember& m : members)
    if (m.name == name) found = &m;
  return found;
}

void clear(std::span<JsonMember> members) {
  for (JsonMember& m : members) {
    m.kind = JsonKind::kAbsent;
    m.text.clear();
  }
}

// The DOM's reading of `json`, for whatever the fast pass did not take.
std::string read_with_dom(std::string_view json, std::span<JsonMember> members) {
  clear(members);
  std::string error;
  const std::optional<boost::json::value> v = json_text::parse(json, &error);
  if (!v) return "invalid JSON: " + error;
  if (v->is_null()) return {};
  const boost::json::object* object = v->if_object();
  if (!object) return std::string("invalid type: ") + json_text::type_name(*v) + ", expected a JSON object";
  for (JsonMember& m : members) {
    const boost::json::value* x = object->if_contains(m.name);
    if (!x) continue;
    m.kind = kind_of(*x);
    if (x->is_string() && !m.raw) m.text.assign(x->get_string());
    else m.text = json_text::serialize(*x);
  }
  return {};
}

// The fast pass: true when it read the whole object, else the DOM reads it.
bool read_fast(std::string_view json, std::span<JsonMember> members) {
  OnDemandScratch& s = OnDemandScratch::of<MembersScratch>();
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (s.parser.iterate(s.pad(json)).get(doc) || doc.get_object().get(object)) return false;
  for (auto f : object) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
    simdjson::ondemand::value value = field.value();
    JsonMember* m = named(members, key);
    if (!m) {
      if (json_walk::check(value, 2)) return false;
      continue;
    }
    json_type type;
    if (value.type().get(type)) return false;
    std::string_view text;
    if (type == json_type::string && !m->raw) {
      if (value.get_string().get(text)) return false;
    } else if (json_walk::raw_text(doc, value, 2, text, type)) {
      return false;
    }
    m->kind = kind_of(type);
    m->text.assign(text);
  }
  const char* trailing = nullptr;
  return doc.current_location().get(trailing) == simdjson::OUT_OF_BOUNDS;
}

}  // namespace

const char* json_kind_name(JsonKind kind) {
  switch (kind) {
    case JsonKind::kAbsent: return "absent";
    case JsonKind::kNull: return "null";
    case JsonKind::kBoolean: return "boolean";
    case JsonKind::kNumber: return "number";
    case JsonKind::kString: return "string";
    case JsonKind::kArray: return "array";
    case JsonKind::kObject: return "object";
  }
  return "value";
}

std::string read_json_members(std::string_view json, std::span<JsonMember> members) {
  clear(members);
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return {};
  if (read_fast(json, members)) return {};
  return read_with_dom(json, members);
}

}  // namespace iii
