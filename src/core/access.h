// Access control for workers that connect through a listener with an `rbac` block or a
// `middleware_function_id` (docs/security.md): the listener's rules, what the auth function
// granted one connection, and the decision whether that connection may call a function.
// Plain data and pure functions: the engine applies them (engine/engine_access.cpp), the
// listener builds sessions (net/worker_listener.cpp), the config layer parses the rules.
#pragma once
#include <boost/json/value.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iii {

class Endpoint;
struct FunctionEntry;

// `*` matches any run of characters (none too); every other character matches itself; the
// pattern is anchored at both ends and case-sensitive. A pattern without `*` is an exact id.
bool glob_match(std::string_view pattern, std::string_view value);

// The glob inside `match("…")` or `match('…')` (surrounding blanks allowed), or nullopt.
std::optional<std::string> parse_match_pattern(std::string_view text);

// One `expose_functions` entry: `match("glob")` on the function id, or
// `{metadata: {key: value | match("glob")}}` on the function's registered metadata (every key
// must match: an exact JSON value, or a glob on a string value).
struct ExposeFilter {
  struct MetadataRule {
    std::string key;
    std::optional<std::string> glob;  // set: match("…") on a string value
    boost::json::value exact;         // otherwise: equal JSON value
  };
  std::optional<std::string> id_glob;
  std::vector<MetadataRule> metadata;

  // `metadata_of` is the function's metadata object (null when it has none).
  bool matches(std::string_view function_id, const boost::json::object* metadata_of) const;
  bool uses_metadata() const { return !metadata.empty(); }
  std::string describe() const;  // as written in the config, for log lines
};

// The rules of one listener: its `rbac` block and `middleware_function_id`.
struct AccessRules {
  bool rbac = false;  // an `rbac` block is present: every invocation is checked
  std::string auth_function_id;  // empty: no auth function (a permissive session, filters still apply)
  std::vector<ExposeFilter> expose_functions;
  std::string on_function_registration_function_id;
  std::string on_trigger_registration_function_id;
  std::string on_trigger_type_registration_function_id;
  std::string middleware_function_id;
  std::string listener;  // "host:port", set by the config layer, for log lines
  std::string source;    // the blocks as compact JSON: two rules are equal when their sources are

  bool operator==(const AccessRules& other) const { return source == other.source && listener == other.listener; }
};

// Parses an `rbac` block (null: none) and a middleware id (empty: none). Unknown keys and
// malformed filters are errors (a typo in a security rule must not silently widen access).
std::optional<AccessRules> parse_access_rules(const boost::json::value& rbac, std::string middleware_function_id,
                                              std::string* error);

// What one connection may do: the AuthResult of its auth function (or the permissive default
// when the listener has no auth function), with the listener's rules.
struct AccessSession {
  std::shared_ptr<const AccessRules> rules;
  std::vector<std::string> allowed_functions;    // exact ids or globs (bare or match("…"))
  std::vector<std::string> forbidden_functions;  // same; a denial wins over everything
  std::optional<std::vector<std::string>> allowed_trigger_types;  // nullopt: every type
  bool allow_trigger_type_registration = true;
  bool allow_function_registration = true;
  std::string context = "{}";  // raw JSON, passed to the middleware and the hooks
  std::string prefix;          // function_registration_prefix; empty: none

  // The id a registration of `id` gets in the engine: `<prefix>::<id>` with a prefix (calls are
  // still delivered with `id`: FunctionEntry::local_id).
  std::string registered_id(std::string_view id) const;
  bool may_bind_trigger_type(std::string_view trigger_type) const;
};

// The session of a listener without an auth function (the reference's permissive default).
AccessSession default_access_session(std::shared_ptr<const AccessRules> rules);
// Builds a session from the auth function's raw JSON result. Null, non-objects and wrongly typed
// fields are errors: the connection is refused (fail closed).
std::optional<AccessSession> access_session_from_auth_result(std::shared_ptr<const AccessRules> rules,
                                                             std::string_view result, std::string* error);

// The ids every RBAC session may call whatever its filters (the reference's carve-out): channel
// creation, the worker's self-description, logging and baggage.
bool is_infrastructure_function(std::string_view function_id);

enum class AccessRule { kForbiddenList, kAllowedList, kInfrastructure, kExposeFilter, kNoRule, kNoRbac, kOwnFunction };

struct AccessDecision {
  bool allowed = false;
  AccessRule rule = AccessRule::kNoRule;
  std::string pattern;  // the entry that decided (a list entry or a filter), "" for the others

  // "forbidden_functions entry \"x::*\"", "no rule allows it", …
  std::string describe() const;
};

// Whether `session` may call `function_id` (docs/security.md, in this order): a forbidden
// entry denies; an allowed entry allows; an infrastructure id allows; an `expose_functions`
// filter allows; otherwise denied. `metadata` is the function's raw metadata ("" when it has none
// or is not registered). A session whose listener has no `rbac` block may call everything.
AccessDecision decide_invoke(const AccessSession& session, std::string_view function_id, std::string_view metadata);

// decide_invoke for a call by `caller` to `function_id`, registered as `fn` (null when it is not):
// a worker may always call its own functions.
AccessDecision decide_call(const AccessSession& session, const Endpoint& caller, std::string_view function_id,
                           const FunctionEntry* fn);

// The FORBIDDEN message of a denied call, as the reference words it.
std::string forbidden_message(std::string_view function_id, const AccessDecision& decision);

}  // namespace iii
