#include "core/access.h"

#include <boost/json.hpp>

#include <array>

#include "core/json_text.h"
#include "core/registry.h"

namespace iii {
namespace json = boost::json;

bool glob_match(std::string_view pattern, std::string_view value) {
  // Iterative wildcard matching with one backtrack point: linear in practice, no recursion.
  size_t p = 0, v = 0, star = std::string_view::npos, resume = 0;
  while (v < value.size()) {
    if (p < pattern.size() && pattern[p] != '*' && pattern[p] == value[v]) {
      ++p, ++v;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = v;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      v = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::optional<std::string> parse_match_pattern(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  for (std::string_view quote : {"\"", "'"}) {
    const std::string open = "match(" + std::string(quote), close = std::string(quote) + ")";
    if (text.size() >= open.size() + close.size() && text.starts_with(open) && text.ends_with(close))
      return std::string(text.substr(open.size(), text.size() - open.size() - close.size()));
  }
  return std::nullopt;
}

bool ExposeFilter::matches(std::string_view function_id, const json::object* metadata_of) const {
  if (id_glob) return glob_match(*id_glob, function_id);
  if (!metadata_of) return false;
  for (const MetadataRule& rule : metadata) {
    const json::value* v = metadata_of->if_contains(rule.key);
    if (!v) return false;
    if (rule.glob) {
      if (!v->is_string() || !glob_match(*rule.glob, std::string_view(v->get_string()))) return false;
    } else if (*v != rule.exact) {
      return false;
    }
  }
  return true;
}

std::string ExposeFilter::describe() const {
  if (id_glob) return "match(\"" + *id_glob + "\")";
  json::object o;
  for (const MetadataRule& rule : metadata) o[rule.key] = rule.glob ? json::value("match(\"" + *rule.glob + "\")") : rule.exact;
  return "{metadata: " + json_text::serialize(o) + "}";
}

namespace {

bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

std::nullopt_t refuse(std::string* error, std::string message) {
  fail(error, std::move(message));
  return std::nullopt;
}

bool read_expose_filter(const json::value& v, ExposeFilter& out, std::string* error) {
  if (v.is_string()) {
    auto glob = parse_match_pattern(std::string_view(v.get_string()));
    if (!glob)
      return fail(error, "an `expose_functions` entry must be match(\"pattern\") or {metadata: {…}}, got \"" +
                             std::string(v.get_string()) + "\"");
    out.id_glob = std::move(*glob);
    return true;
  }
  if (!v.is_object()) return fail(error, "an `expose_functions` entry must be match(\"pattern\") or {metadata: {…}}");
  for (const auto& [key, value] : v.get_object()) {
    if (key == "match") {
      if (!value.is_string()) return fail(error, "`match` in an `expose_functions` entry must be a string");
      out.id_glob = std::string(value.get_string());
    } else if (key == "metadata") {
      if (!value.is_object() || value.get_object().empty())
        return fail(error, "`metadata` in an `expose_functions` entry must be a non-empty mapping");
      for (const auto& [mkey, mvalue] : value.get_object()) {
        ExposeFilter::MetadataRule rule{std::string(mkey), std::nullopt, mvalue};
        if (mvalue.is_string()) rule.glob = parse_match_pattern(std::string_view(mvalue.get_string()));
        out.metadata.push_back(std::move(rule));
      }
    } else {
      return fail(error, "unknown key `" + std::string(key) + "` in an `expose_functions` entry (known: match, metadata)");
    }
  }
  if (out.id_glob.has_value() == !out.metadata.empty())
    return fail(error, "an `expose_functions` entry has either `match` or `metadata`, not both and not neither");
  return true;
}

bool read_optional_id(const json::object& o, std::string_view key, std::string& out, std::string* error) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_string() || v->get_string().empty()) return fail(error, "`rbac." + std::string(key) + "` must be a function id");
  out = std::string(v->get_string());
  return true;
}

}  // namespace

std::optional<AccessRules> parse_access_rules(const json::value& rbac, std::string middleware_function_id,
                                              std::string* error) {
  AccessRules rules;
  rules.middleware_function_id = std::move(middleware_function_id);
  json::object source;
  if (!rbac.is_null()) {
    if (!rbac.is_object()) return refuse(error, "`rbac` must be a mapping");
    const json::object& o = rbac.get_object();
    rules.rbac = true;
    for (const auto& [key, value] : o) {
      if (key == "auth_function_id" || key == "on_function_registration_function_id" ||
          key == "on_trigger_registration_function_id" || key == "on_trigger_type_registration_function_id")
        continue;
      if (key != "expose_functions")
        return refuse(error, "unknown key `" + std::string(key) +
                               "` in `rbac` (known: auth_function_id, expose_functions, "
                               "on_function_registration_function_id, on_trigger_registration_function_id, "
                               "on_trigger_type_registration_function_id)");
      if (value.is_null()) continue;
      if (!value.is_array()) return refuse(error, "`rbac.expose_functions` must be a list");
      for (const json::value& entry : value.get_array()) {
        ExposeFilter filter;
        if (!read_expose_filter(entry, filter, error)) return std::nullopt;
        rules.expose_functions.push_back(std::move(filter));
      }
    }
    if (!read_optional_id(o, "auth_function_id", rules.auth_function_id, error) ||
        !read_optional_id(o, "on_function_registration_function_id", rules.on_function_registration_function_id, error) ||
        !read_optional_id(o, "on_trigger_registration_function_id", rules.on_trigger_registration_function_id, error) ||
        !read_optional_id(o, "on_trigger_type_registration_function_id", rules.on_trigger_type_registration_function_id,
                          error))
      return std::nullopt;
    source["rbac"] = rbac;
  }
  source["middleware_function_id"] = rules.middleware_function_id;
  rules.source = json_text::serialize(source);
  return rules;
}

std::string AccessSession::registered_id(std::string_view id) const {
  if (prefix.empty()) return std::string(id);
  return prefix + "::" + std::string(id);
}

namespace {

// An allowed/forbidden list entry: an exact id, a bare glob or match("glob").
bool list_entry_matches(std::string_view entry, std::string_view function_id) {
  if (auto glob = parse_match_pattern(entry)) return glob_match(*glob, function_id);
  return glob_match(entry, function_id);
}

const std::string* first_match(const std::vector<std::string>& list, std::string_view function_id) {
  for (const std::string& entry : list)
    if (list_entry_matches(entry, function_id)) return &entry;
  return nullptr;
}

}  // namespace

bool AccessSession::may_bind_trigger_type(std::string_view trigger_type) const {
  return !allowed_trigger_types || first_match(*allowed_trigger_types, trigger_type) != nullptr;
}

AccessSession default_access_session(std::shared_ptr<const AccessRules> rules) {
  AccessSession s;
  s.rules = std::move(rules);
  return s;
}

namespace {

bool read_strings(const json::object& o, std::string_view key, std::vector<std::string>& out, std::string* error) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_array()) return fail(error, "`" + std::string(key) + "` must be a list of strings, got " + json_text::describe(*v));
  for (const json::value& item : v->get_array()) {
    if (!item.is_string()) return fail(error, "`" + std::string(key) + "` must be a list of strings, got an item " + json_text::describe(item));
    out.emplace_back(item.get_string());
  }
  return true;
}

bool read_bool(const json::object& o, std::string_view key, bool& out, std::string* error) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_bool()) return fail(error, "`" + std::string(key) + "` must be a boolean, got " + json_text::describe(*v));
  out = v->get_bool();
  return true;
}

}  // namespace

std::optional<AccessSession> access_session_from_auth_result(std::shared_ptr<const AccessRules> rules,
                                                             std::string_view result, std::string* error) {
  if (result.empty()) return refuse(error, "auth function returned no result");
  std::string parse_error;
  std::optional<json::value> v = json_text::parse(result, &parse_error);
  if (!v) return refuse(error, "auth function returned invalid JSON: " + parse_error);
  if (v->is_null()) return refuse(error, "auth function returned no result");
  if (!v->is_object()) return refuse(error, "auth function must return an object, got " + json_text::describe(*v));
  const json::object& o = v->get_object();
  AccessSession s;
  s.rules = std::move(rules);
  s.allow_trigger_type_registration = false;  // an auth function grants it explicitly
  std::vector<std::string> trigger_types;
  if (!read_strings(o, "allowed_functions", s.allowed_functions, error) ||
      !read_strings(o, "forbidden_functions", s.forbidden_functions, error) ||
      !read_strings(o, "allowed_trigger_types", trigger_types, error) ||
      !read_bool(o, "allow_trigger_type_registration", s.allow_trigger_type_registration, error) ||
      !read_bool(o, "allow_function_registration", s.allow_function_registration, error))
    return std::nullopt;
  if (const json::value* t = o.if_contains("allowed_trigger_types"); t && !t->is_null())
    s.allowed_trigger_types = std::move(trigger_types);
  if (const json::value* c = o.if_contains("context"); c && !c->is_null()) s.context = json_text::serialize(*c);
  if (const json::value* p = o.if_contains("function_registration_prefix"); p && !p->is_null()) {
    if (!p->is_string()) return refuse(error, "`function_registration_prefix` must be a string, got " + json_text::describe(*p));
    s.prefix = std::string(p->get_string());
  }
  return s;
}

bool is_infrastructure_function(std::string_view id) {
  static constexpr std::array<std::string_view, 10> kIds = {
      "engine::channels::create", "engine::workers::register", "engine::log::info",   "engine::log::warn",
      "engine::log::error",       "engine::log::debug",        "engine::log::trace",  "engine::baggage::get",
      "engine::baggage::set",     "engine::baggage::get_all"};
  for (std::string_view k : kIds)
    if (k == id) return true;
  return false;
}

AccessDecision decide_invoke(const AccessSession& session, std::string_view function_id, std::string_view metadata) {
  if (!session.rules || !session.rules->rbac) return {true, AccessRule::kNoRbac, {}};
  if (const std::string* e = first_match(session.forbidden_functions, function_id))
    return {false, AccessRule::kForbiddenList, *e};
  if (const std::string* e = first_match(session.allowed_functions, function_id))
    return {true, AccessRule::kAllowedList, *e};
  if (is_infrastructure_function(function_id)) return {true, AccessRule::kInfrastructure, {}};
  std::optional<json::value> parsed;  // the metadata, parsed once if a filter needs it
  bool parsed_tried = false;
  for (const ExposeFilter& filter : session.rules->expose_functions) {
    const json::object* meta = nullptr;
    if (filter.uses_metadata()) {
      if (!parsed_tried) {
        parsed_tried = true;
        if (!metadata.empty()) parsed = json_text::parse(metadata);
      }
      if (parsed && parsed->is_object()) meta = &parsed->get_object();
    }
    if (filter.matches(function_id, meta)) return {true, AccessRule::kExposeFilter, filter.describe()};
  }
  return {false, AccessRule::kNoRule, {}};
}

AccessDecision decide_call(const AccessSession& session, const Endpoint& caller, std::string_view function_id,
                           const FunctionEntry* fn) {
  if (fn && fn->owner.get() == &caller) return {true, AccessRule::kOwnFunction, {}};
  return decide_invoke(session, function_id, fn ? std::string_view(fn->metadata) : std::string_view());
}

std::string AccessDecision::describe() const {
  switch (rule) {
    case AccessRule::kForbiddenList: return "forbidden_functions entry \"" + pattern + "\"";
    case AccessRule::kAllowedList: return "allowed_functions entry \"" + pattern + "\"";
    case AccessRule::kInfrastructure: return "the infrastructure carve-out";
    case AccessRule::kExposeFilter: return "expose_functions entry " + pattern;
    case AccessRule::kNoRule: return "no allowed_functions or expose_functions entry matches";
    case AccessRule::kNoRbac: return "no rbac block";
    case AccessRule::kOwnFunction: return "the worker's own function";
  }
  return {};
}

std::string forbidden_message(std::string_view function_id, const AccessDecision& decision) {
  return "function '" + std::string(function_id) + "' not allowed (" +
         (decision.rule == AccessRule::kForbiddenList ? "remove from rbac.forbidden_functions"
                                                      : "add to rbac.expose_functions") +
         ")";
}

}  // namespace iii
