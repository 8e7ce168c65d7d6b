#include "workers/configuration/json_schema.h"

// Without this valijson reports a schema it cannot parse by calling abort().
#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <boost/json.hpp>

#include <cctype>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <regex>
#include <set>
#include <string_view>

namespace iii {
namespace {

namespace json = boost::json;

bool names(const json::object& schema, std::string_view dialect) {
  const json::value* s = schema.if_contains("$schema");
  return s && s->is_string() && std::string_view(s->get_string()).find(dialect) != std::string_view::npos;
}

// Rewrites the 2019-09 / 2020-12 keywords that have a draft-7 equivalent, in every subschema
// (json_schema.h). `modern`: the schema declared 2019-09 or 2020-12, so `$ref` siblings apply.
void normalize(json::value& node, bool modern) {
  if (!node.is_object()) return;
  json::object& o = node.get_object();
  for (std::string_view key : {"properties", "patternProperties", "definitions", "$defs", "dependentSchemas"})
    if (json::value* map = o.if_contains(key); map && map->is_object())
      for (auto& [name, sub] : map->get_object()) normalize(sub, modern);
  for (std::string_view key : {"allOf", "anyOf", "oneOf", "prefixItems", "items"})
    if (json::value* list = o.if_contains(key); list && list->is_array())
      for (auto& sub : list->get_array()) normalize(sub, modern);
  for (std::string_view key : {"items", "additionalProperties", "additionalItems", "contains", "propertyNames", "not",
                               "if", "then", "else"})
    if (json::value* sub = o.if_contains(key)) normalize(*sub, modern);
  if (json::value* deps = o.if_contains("dependencies"); deps && deps->is_object())
    for (auto& [name, sub] : deps->get_object()) normalize(sub, modern);

  if (json::value* prefix = o.if_contains("prefixItems"); prefix && prefix->is_array()) {
    json::value tuple = std::move(*prefix);
    o.erase("prefixItems");
    if (json::value* rest = o.if_contains("items"); rest && !rest->is_array() && !o.contains("additionalItems"))
      o["additionalItems"] = std::move(*rest);
    o["items"] = std::move(tuple);
  }
  for (std::string_view key : {"dependentRequired", "dependentSchemas"}) {
    json::value* deps = o.if_contains(key);
    if (!deps || !deps->is_object()) continue;
    json::value moved = std::move(*deps);
    o.erase(key);
    json::value& into = o["dependencies"];
    if (!into.is_object()) into = json::object();
    for (auto& [name, dep] : moved.get_object()) into.get_object()[name] = std::move(dep);
  }
  if (modern && o.size() > 1)
    if (json::value* ref = o.if_contains("$ref")) {
      json::value target = json::object{{"$ref", std::move(*ref)}};
      o.erase("$ref");
      json::value& all = o["allOf"];
      if (!all.is_array()) all = json::array();
      all.get_array().push_back(std::move(target));
    }
}

// --- in-place reference cycles ---
//
// valijson follows `$ref` chains and in-place applicators (allOf, anyOf, oneOf, not, if/then/else,
// dependencies) by recursion, without a limit: a schema where one of these leads back to itself
// without descending into the value (`{"$ref":"#"}`, `{"allOf":[{"$ref":"#"}]}`) overflows the
// stack while compiling or validating. Such a schema constrains nothing sensible, so it is
// refused before valijson sees it. Refs are resolved as valijson does for local documents: JSON
// pointers ("#/definitions/a"), `$id` fragments ("#foo") and `$id` URIs; anything else is
// remote (and refused by valijson, which never fetches).

std::string percent_decoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The node at JSON pointer `pointer` ("" or "/a/b", already percent-decoded) under `root`.
const json::value* at_pointer(const json::value& root, std::string_view pointer) {
  const json::value* node = &root;
  while (!pointer.empty()) {
    if (pointer.front() != '/') return nullptr;
    pointer.remove_prefix(1);
    const size_t end = pointer.find('/');
    std::string token(pointer.substr(0, end));
    pointer = end == std::string_view::npos ? std::string_view() : pointer.substr(end);
    for (size_t at; (at = token.find("~1")) != std::string::npos;) token.replace(at, 2, "/");
    for (size_t at; (at = token.find("~0")) != std::string::npos;) token.replace(at, 2, "~");
    if (node->is_object()) {
      node = node->get_object().if_contains(token);
    } else if (node->is_array()) {
      char* stop = nullptr;
      const unsigned long i = std::strtoul(token.c_str(), &stop, 10);
      node = !token.empty() && *stop == '\0' && i < node->get_array().size() ? &node->get_array()[i] : nullptr;
    } else {
      node = nullptr;
    }
    if (!node) return nullptr;
  }
  return node;
}

class CycleCheck {
 public:
  explicit CycleCheck(const json::value& root) : root_(root) { collect_ids(root); }

  void run() { visit(&root_, "/"); }

 private:
  void collect_ids(const json::value& node) {
    if (node.is_array())
      for (const auto& item : node.get_array()) collect_ids(item);
    if (!node.is_object()) return;
    if (const json::value* id = node.get_object().if_contains("$id"); id && id->is_string())
      ids_.emplace_back(std::string(id->get_string()), &node);
    for (const auto& [key, item] : node.get_object())
      if (key != "enum" && key != "const" && key != "default" && key != "examples") collect_ids(item);
  }

  // Where a `$ref` leads inside this document; empty when it is remote.
  std::vector<const json::value*> targets(std::string_view ref) const {
    const size_t hash = ref.find('#');
    const std::string_view base = ref.substr(0, hash);
    const std::string fragment = hash == std::string_view::npos ? "" : percent_decoded(ref.substr(hash + 1));
    std::vector<const json::value*> documents;
    if (base.empty()) {
      documents.push_back(&root_);
    } else {
      // An `$id` naming this base (exactly, or as the last segment of a longer URI).
      for (const auto& [id, node] : ids_) {
        const std::string_view id_base = std::string_view(id).substr(0, id.find('#'));
        if (id_base == base || (id_base.size() > base.size() && id_base.ends_with(base) &&
                                id_base[id_base.size() - base.size() - 1] == '/'))
          documents.push_back(node);
      }
    }
    std::vector<const json::value*> out;
    for (const json::value* doc : documents) {
      if (fragment.empty() || fragment.front() == '/') {
        if (const json::value* t = at_pointer(*doc, fragment)) out.push_back(t);
      } else {  // a location-independent identifier: an `$id` ending in "#<fragment>"
        for (const auto& [id, node] : ids_)
          if (std::string_view(id).ends_with("#" + fragment)) out.push_back(node);
      }
    }
    return out;
  }

  // The subschemas `node` applies to the same value.
  std::vector<std::pair<const json::value*, std::string>> in_place(const json::value& node) const {
    std::vector<std::pair<const json::value*, std::string>> out;
    if (!node.is_object()) return out;
    const json::object& o = node.get_object();
    if (const json::value* ref = o.if_contains("$ref"); ref && ref->is_string())
      for (const json::value* t : targets(ref->get_string())) out.emplace_back(t, "$ref " + std::string(ref->get_string()));
    for (std::string_view key : {"allOf", "anyOf", "oneOf"})
      if (const json::value* list = o.if_contains(key); list && list->is_array())
        for (size_t i = 0; i < list->get_array().size(); ++i)
          out.emplace_back(&list->get_array()[i], std::string(key) + "/" + std::to_string(i));
    for (std::string_view key : {"not", "if", "then", "else"})
      if (const json::value* sub = o.if_contains(key)) out.emplace_back(sub, std::string(key));
    if (const json::value* deps = o.if_contains("dependencies"); deps && deps->is_object())
      for (const auto& [name, sub] : deps->get_object()) out.emplace_back(&sub, "dependencies/" + std::string(name));
    return out;
  }

  void visit(const json::value* node, const std::string& where) {
    if (done_.count(node)) return;
    for (size_t i = 0; i < path_.size(); ++i)
      if (path_[i].first == node) {
        std::string cycle;
        for (size_t j = i; j < path_.size(); ++j) cycle += path_[j].second + " → ";
        throw JsonSchemaError("invalid JSON Schema: it refers to itself without reaching into the value (" + cycle +
                              where + ")");
      }
    // Reached again through a part of the value (a tree's `properties/child: {$ref: "#"}`): fine.
    if (!open_.insert(node).second) return;
    path_.emplace_back(node, where);
    for (const auto& [next, step] : in_place(*node)) visit(next, step);
    // Subschemas that apply to parts of the value start fresh chains.
    if (node->is_object()) {
      const json::object& o = node->get_object();
      for (std::string_view key : {"properties", "patternProperties", "definitions", "$defs"})
        if (const json::value* map = o.if_contains(key); map && map->is_object())
          for (const auto& [name, sub] : map->get_object()) fresh(&sub, std::string(key) + "/" + std::string(name));
      for (std::string_view key : {"items", "additionalItems", "additionalProperties", "contains", "propertyNames"})
        if (const json::value* sub = o.if_contains(key)) {
          if (sub->is_array())
            for (size_t i = 0; i < sub->get_array().size(); ++i) fresh(&sub->get_array()[i], std::string(key));
          else
            fresh(sub, std::string(key));
        }
    }
    path_.pop_back();
    open_.erase(node);
    done_.insert(node);
  }

  void fresh(const json::value* node, const std::string& where) {
    std::vector<std::pair<const json::value*, std::string>> saved;
    saved.swap(path_);
    visit(node, where);
    path_.swap(saved);
  }

  const json::value& root_;
  std::vector<std::pair<std::string, const json::value*>> ids_;
  std::vector<std::pair<const json::value*, std::string>> path_;  // the in-place chain being followed
  std::set<const json::value*> open_;  // being explored, in this chain or an outer one
  std::set<const json::value*> done_;
};

// --- patterns ---
//
// valijson matches `pattern`, `patternProperties` and some `format`s with std::regex, whose
// matcher recurses once per character: a long enough string overflows the stack. So a schema
// that uses them only checks strings up to kMaxMatchedString bytes (longer ones are a violation),
// and every pattern must compile when the schema does.
constexpr size_t kMaxMatchedString = 4096;

// Whether `node` (a schema document) matches strings with regular expressions; throws
// JsonSchemaError for a pattern std::regex cannot compile.
bool uses_regex(const json::value& node) {
  bool used = false;
  auto check = [&](std::string_view pattern) {
    used = true;
    try {
      std::regex compiled{std::string(pattern)};
    } catch (const std::regex_error& e) {
      throw JsonSchemaError("invalid JSON Schema: pattern `" + std::string(pattern) + "` is not a valid regular expression");
    }
  };
  if (node.is_array())
    for (const auto& item : node.get_array()) used = uses_regex(item) || used;
  if (!node.is_object()) return used;
  for (const auto& [key, item] : node.get_object()) {
    if (key == "enum" || key == "const" || key == "default" || key == "examples") continue;
    if (key == "pattern" && item.is_string()) check(item.get_string());
    if (key == "format") used = true;
    if (key == "patternProperties" && item.is_object())
      for (const auto& [pattern, sub] : item.get_object()) check(pattern);
    used = uses_regex(item) || used;
  }
  return used;
}

// The first string (or object key) in `value` longer than kMaxMatchedString, as a pointer.
std::optional<std::string> overlong_string(const json::value& value, const std::string& where) {
  if (value.is_string() && value.get_string().size() > kMaxMatchedString) return where.empty() ? "/" : where;
  if (value.is_array())
    for (size_t i = 0; i < value.get_array().size(); ++i)
      if (auto found = overlong_string(value.get_array()[i], where + "/" + std::to_string(i))) return found;
  if (value.is_object())
    for (const auto& [key, item] : value.get_object()) {
      if (key.size() > kMaxMatchedString) return where.empty() ? "/" : where;
      if (auto found = overlong_string(item, where + "/" + std::string(key))) return found;
    }
  return std::nullopt;
}

// valijson's context ["<root>", "[port]", "[0]"] as a JSON pointer "/port/0".
std::string pointer(const std::vector<std::string>& context) {
  std::string out;
  for (const std::string& part : context) {
    if (part == "<root>") continue;
    std::string_view p = part;
    if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
    if (p.size() >= 2 && p.front() == '"' && p.back() == '"') p = p.substr(1, p.size() - 2);
    out += '/';
    out += p;
  }
  return out.empty() ? "/" : out;
}

}  // namespace

struct JsonSchema::Impl {
  json::value document;  // the normalized schema; valijson's constraints were built from it
  valijson::Schema schema;
  bool uses_regex = false;
};

JsonSchema::JsonSchema(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JsonSchema::~JsonSchema() = default;

std::shared_ptr<const JsonSchema> JsonSchema::compile(const json::value& schema) {
  if (!schema.is_object() && !schema.is_bool())
    throw JsonSchemaError("invalid JSON Schema: a schema is an object or a boolean");
  auto impl = std::make_unique<Impl>();
  impl->document = schema;
  auto version = valijson::SchemaParser::kDraft7;
  bool modern = false;
  if (schema.is_object()) {
    const json::object& o = schema.get_object();
    if (const json::value* s = o.if_contains("$schema"); s && !s->is_string())
      throw JsonSchemaError("invalid JSON Schema: `$schema` must be a string");
    if (names(o, "draft-04")) version = valijson::SchemaParser::kDraft4;
    if (names(o, "draft-03")) version = valijson::SchemaParser::kDraft3;
    modern = names(o, "2019-09") || names(o, "2020-12");
  }
  normalize(impl->document, modern);
  CycleCheck(impl->document).run();
  impl->uses_regex = uses_regex(impl->document);
  try {
    valijson::SchemaParser parser(version);
    valijson::adapters::BoostJsonAdapter adapter(impl->document);
    parser.populateSchema(adapter, impl->schema);
  } catch (const std::exception& e) {
    throw JsonSchemaError(std::string("invalid JSON Schema: ") + e.what());
  }
  return std::shared_ptr<const JsonSchema>(new JsonSchema(std::move(impl)));
}

std::vector<std::string> JsonSchema::validate(const json::value& value, size_t limit) const {
  // Strict types: "1" is not a number and 1.0 is an integer, as JSON Schema says.
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::BoostJsonAdapter target(value);
  std::vector<std::string> out;
  if (impl_->uses_regex)
    if (auto where = overlong_string(value, ""))
      return {*where + ": a string longer than " + std::to_string(kMaxMatchedString) +
              " bytes cannot be checked against this schema's patterns"};
  try {
    if (validator.validate(impl_->schema, target, &results)) return out;
  } catch (const std::exception& e) {
    return {std::string("/: the schema cannot be applied: ") + e.what()};
  }
  // valijson reports each failure once where it happened and again at every property or item on
  // the way up ("Failed to validate against schema associated with property name 'n'"): those
  // summaries are dropped when the failure itself is there.
  std::vector<std::string> summaries;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    const bool summary = error.description.starts_with("Failed to validate against schema associated with") ||
                         error.description.starts_with("Failed to validate item #");
    std::string line = pointer(error.context) + ": " + error.description;
    if (summary) summaries.push_back(std::move(line));
    else if (out.size() < limit) out.push_back(std::move(line));
  }
  for (size_t i = 0; out.empty() && i < summaries.size() && i < limit; ++i) out.push_back(std::move(summaries[i]));
  if (out.empty()) out.push_back("/: the value does not match the schema");
  return out;
}

}  // namespace iii
