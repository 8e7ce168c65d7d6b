// RBAC decision logic (core/access.h): globs, expose filters, the rules parser, sessions built from
// an auth function's answer, and the order in which decide_invoke applies its rules. A mistake
// here widens access silently, so most cases check both the allowing and the denying side.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <memory>
#include <string>

#include "core/access.h"
#include "core/registry.h"

namespace iii {
namespace {

// The rules of an `rbac` block written as JSON (what the config layer hands over); fails the
// test when the block is rejected.
std::shared_ptr<const AccessRules> rules_of(const std::string& rbac_json, std::string middleware = "") {
  std::string error;
  auto rules = parse_access_rules(boost::json::parse(rbac_json), std::move(middleware), &error);
  EXPECT_TRUE(rules.has_value()) << error;
  return rules ? std::make_shared<const AccessRules>(std::move(*rules)) : nullptr;
}

// The error a rejected block gives, "(accepted)" when it is accepted.
std::string rules_error(const std::string& rbac_json) {
  std::string error;
  auto rules = parse_access_rules(boost::json::parse(rbac_json), "", &error);
  return rules ? "(accepted)" : error;
}

// The single filter of `expose_functions: [entry]`.
ExposeFilter filter_of(const std::string& entry_json) {
  auto rules = rules_of(R"({"expose_functions": [)" + entry_json + "]}");
  EXPECT_TRUE(rules && rules->expose_functions.size() == 1);
  return rules && rules->expose_functions.size() == 1 ? rules->expose_functions[0] : ExposeFilter{};
}

bool filter_matches(const ExposeFilter& f, std::string_view id, const std::string& metadata_json) {
  boost::json::value m = boost::json::parse(metadata_json);
  return f.matches(id, m.is_object() ? &m.get_object() : nullptr);
}

std::string session_error(std::string_view result) {
  std::string error;
  auto s = access_session_from_auth_result(nullptr, result, &error);
  return s ? "(accepted)" : error;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// ---------------------------------------------------------------------------------------------
// glob_match

TEST(AccessGlob, StarAloneMatchesEverythingIncludingEmpty) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "a::b::c"));
  EXPECT_TRUE(glob_match("**", ""));
  EXPECT_TRUE(glob_match("**", "xyz"));
}

TEST(AccessGlob, PrefixAndSuffixStars) {
  EXPECT_TRUE(glob_match("a*", "a"));
  EXPECT_TRUE(glob_match("a*", "abc"));
  EXPECT_FALSE(glob_match("a*", "ba"));
  EXPECT_FALSE(glob_match("a*", ""));
  EXPECT_TRUE(glob_match("*b", "b"));
  EXPECT_TRUE(glob_match("*b", "aab"));
  EXPECT_FALSE(glob_match("*b", "ba"));
  EXPECT_TRUE(glob_match("api::*", "api::users::get"));
  EXPECT_FALSE(glob_match("api::*", "api:x"));
}

TEST(AccessGlob, SeveralStarsInTheMiddle) {
  EXPECT_TRUE(glob_match("a*b*c", "abc"));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
  EXPECT_TRUE(glob_match("a*b*c", "abcbc"));  // the last `c` must be the last character
  EXPECT_FALSE(glob_match("a*b*c", "acb"));
  EXPECT_FALSE(glob_match("a*b*c", "abcd"));
  EXPECT_FALSE(glob_match("a*b*c", "bc"));
}

TEST(AccessGlob, WithoutStarIsAnExactAnchoredId) {
  EXPECT_TRUE(glob_match("a::b", "a::b"));
  EXPECT_FALSE(glob_match("a::b", "a::bc"));
  EXPECT_FALSE(glob_match("a::b", "xa::b"));
  EXPECT_FALSE(glob_match("a::b", "a::"));
  // `?`, `.` and brackets are ordinary characters, not regex or shell syntax.
  EXPECT_TRUE(glob_match("a?b", "a?b"));
  EXPECT_FALSE(glob_match("a?b", "axb"));
  EXPECT_FALSE(glob_match("a.b", "axb"));
  EXPECT_FALSE(glob_match("[ab]", "a"));
}

TEST(AccessGlob, EmptyPatternAndEmptyValue) {
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_FALSE(glob_match("a", ""));
  EXPECT_FALSE(glob_match("a*", ""));
}

TEST(AccessGlob, BacktracksAfterAFalseStart) {
  // The first `a` of the value starts a failed attempt; the star must take it and retry.
  EXPECT_TRUE(glob_match("*ab", "aab"));
  EXPECT_TRUE(glob_match("*ab", "abab"));
  EXPECT_TRUE(glob_match("*aab", "aaab"));
  EXPECT_TRUE(glob_match("a*ab", "aaab"));
  EXPECT_FALSE(glob_match("*ab", "aba"));
  EXPECT_FALSE(glob_match("a*a", "a"));
  EXPECT_TRUE(glob_match("*x*y", "xxyxy"));
}

TEST(AccessGlob, IsCaseSensitive) {
  EXPECT_FALSE(glob_match("API::*", "api::x"));
  EXPECT_FALSE(glob_match("a::b", "A::B"));
  EXPECT_TRUE(glob_match("A*", "Abc"));
}

// ---------------------------------------------------------------------------------------------
// parse_match_pattern

TEST(AccessMatchPattern, DoubleAndSingleQuotes) {
  EXPECT_EQ(parse_match_pattern(R"j(match("api::*"))j"), "api::*");
  EXPECT_EQ(parse_match_pattern("match('api::*')"), "api::*");
  EXPECT_EQ(parse_match_pattern(R"j(match(""))j"), "");
}

TEST(AccessMatchPattern, SurroundingBlanksAreIgnoredInnerOnesKept) {
  EXPECT_EQ(parse_match_pattern("  match('x::*')\t "), "x::*");
  EXPECT_EQ(parse_match_pattern("\tmatch(\" a b \")"), " a b ");
}

TEST(AccessMatchPattern, AnythingElseIsNotAMatch) {
  EXPECT_EQ(parse_match_pattern("api::*"), std::nullopt);
  EXPECT_EQ(parse_match_pattern(""), std::nullopt);
  EXPECT_EQ(parse_match_pattern("match(api::*)"), std::nullopt);
  EXPECT_EQ(parse_match_pattern(R"j(match("x'))j"), std::nullopt);  // mixed quotes
  EXPECT_EQ(parse_match_pattern(R"j(match('x"))j"), std::nullopt);
  EXPECT_EQ(parse_match_pattern(R"j(Match("x"))j"), std::nullopt);
  EXPECT_EQ(parse_match_pattern(R"j(match("x") and more)j"), std::nullopt);
  EXPECT_EQ(parse_match_pattern(R"j(match("))j"), std::nullopt);  // opening and closing overlap
  EXPECT_EQ(parse_match_pattern(R"j(match("x")j"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// ExposeFilter

TEST(AccessExposeFilter, IdGlobIgnoresMetadata) {
  ExposeFilter f = filter_of(R"j("match(\"test::rbac-worker::*\")")j");
  ASSERT_TRUE(f.id_glob.has_value());
  EXPECT_FALSE(f.uses_metadata());
  EXPECT_TRUE(f.matches("test::rbac-worker::echo", nullptr));
  EXPECT_FALSE(f.matches("test::other::echo", nullptr));
  EXPECT_FALSE(filter_matches(f, "test::other::echo", R"j({"public": true})j"));
  // The object form `{match: glob}` takes the glob as written.
  ExposeFilter g = filter_of(R"j({"match": "a::*"})j");
  EXPECT_TRUE(g.matches("a::b", nullptr));
  EXPECT_FALSE(g.matches("b::a", nullptr));
}

TEST(AccessExposeFilter, MetadataExactBool) {
  ExposeFilter f = filter_of(R"j({"metadata": {"public": true}})j");
  EXPECT_TRUE(f.uses_metadata());
  EXPECT_TRUE(filter_matches(f, "any::id", R"j({"public": true, "other": 1})j"));
  EXPECT_FALSE(filter_matches(f, "any::id", R"j({"public": false})j"));
  EXPECT_FALSE(filter_matches(f, "any::id", R"j({"public": "true"})j"));  // a string is not a bool
  EXPECT_FALSE(filter_matches(f, "any::id", R"j({"public": 1})j"));
  EXPECT_FALSE(filter_matches(f, "any::id", R"j({"other": true})j"));
  EXPECT_FALSE(filter_matches(f, "any::id", "{}"));
}

TEST(AccessExposeFilter, FunctionWithoutMetadataNeverMatchesAMetadataFilter) {
  ExposeFilter f = filter_of(R"j({"metadata": {"team": "match(\"*\")"}})j");
  EXPECT_FALSE(f.matches("any::id", nullptr));
  EXPECT_FALSE(filter_matches(f, "any::id", "null"));
  EXPECT_FALSE(filter_matches(f, "any::id", "{}"));
}

TEST(AccessExposeFilter, MetadataExactNumberStringObjectArray) {
  ExposeFilter n = filter_of(R"j({"metadata": {"tier": 2}})j");
  EXPECT_TRUE(filter_matches(n, "f", R"j({"tier": 2})j"));
  EXPECT_FALSE(filter_matches(n, "f", R"j({"tier": 3})j"));
  EXPECT_FALSE(filter_matches(n, "f", R"j({"tier": "2"})j"));

  ExposeFilter s = filter_of(R"j({"metadata": {"team": "core"}})j");
  EXPECT_TRUE(filter_matches(s, "f", R"j({"team": "core"})j"));
  EXPECT_FALSE(filter_matches(s, "f", R"j({"team": "Core"})j"));
  EXPECT_FALSE(filter_matches(s, "f", R"j({"team": "core2"})j"));

  // Without match() a star in a string is a literal character, not a glob.
  ExposeFilter lit = filter_of(R"j({"metadata": {"team": "co*"}})j");
  EXPECT_FALSE(lit.metadata[0].glob.has_value());
  EXPECT_FALSE(filter_matches(lit, "f", R"j({"team": "core"})j"));
  EXPECT_TRUE(filter_matches(lit, "f", R"j({"team": "co*"})j"));

  ExposeFilter o = filter_of(R"j({"metadata": {"owner": {"team": "a", "n": 1}}})j");
  EXPECT_TRUE(filter_matches(o, "f", R"j({"owner": {"n": 1, "team": "a"}})j"));  // key order is irrelevant
  EXPECT_FALSE(filter_matches(o, "f", R"j({"owner": {"team": "a", "n": 1, "x": 2}})j"));
  EXPECT_FALSE(filter_matches(o, "f", R"j({"owner": {"team": "a"}})j"));

  ExposeFilter a = filter_of(R"j({"metadata": {"tags": ["x", "y"]}})j");
  EXPECT_TRUE(filter_matches(a, "f", R"j({"tags": ["x", "y"]})j"));
  EXPECT_FALSE(filter_matches(a, "f", R"j({"tags": ["y", "x"]})j"));
}

TEST(AccessExposeFilter, MetadataGlobOnStringValues) {
  ExposeFilter f = filter_of(R"j({"metadata": {"team": "match('core-*')"}})j");
  ASSERT_EQ(f.metadata.size(), 1u);
  EXPECT_EQ(f.metadata[0].glob, "core-*");
  EXPECT_TRUE(filter_matches(f, "f", R"j({"team": "core-api"})j"));
  EXPECT_TRUE(filter_matches(f, "f", R"j({"team": "core-"})j"));
  EXPECT_FALSE(filter_matches(f, "f", R"j({"team": "edge"})j"));
  EXPECT_FALSE(filter_matches(f, "f", R"j({"team": 5})j"));  // a glob only applies to strings
  EXPECT_FALSE(filter_matches(f, "f", R"j({"team": ["core-api"]})j"));
}

TEST(AccessExposeFilter, EveryMetadataKeyMustMatch) {
  ExposeFilter f = filter_of(R"j({"metadata": {"public": true, "team": "match(\"core*\")"}})j");
  EXPECT_TRUE(filter_matches(f, "f", R"j({"public": true, "team": "core"})j"));
  EXPECT_FALSE(filter_matches(f, "f", R"j({"public": true, "team": "edge"})j"));
  EXPECT_FALSE(filter_matches(f, "f", R"j({"public": false, "team": "core"})j"));
  EXPECT_FALSE(filter_matches(f, "f", R"j({"public": true})j"));
}

TEST(AccessExposeFilter, DescribeWritesTheEntryBack) {
  EXPECT_EQ(filter_of(R"j("match('a::*')")j").describe(), R"j(match("a::*"))j");
  EXPECT_EQ(filter_of(R"j({"metadata": {"public": true}})j").describe(), R"j({metadata: {"public":true}})j");
  const std::string glob = filter_of(R"j({"metadata": {"team": "match(\"core-*\")"}})j").describe();
  EXPECT_TRUE(contains(glob, "team")) << glob;
  EXPECT_TRUE(contains(glob, "core-*")) << glob;
  EXPECT_TRUE(contains(glob, "match(")) << glob;
}

// ---------------------------------------------------------------------------------------------
// parse_access_rules

TEST(AccessRulesParse, FullBlock) {
  auto r = rules_of(R"j({"auth_function_id": "sec::auth", "on_function_registration_function_id": "sec::fn",
      "on_trigger_registration_function_id": "sec::trig", "on_trigger_type_registration_function_id": "sec::type",
      "expose_functions": ["match(\"a::*\")", {"metadata": {"public": true}}]})j",
                    "sec::mw");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->rbac);
  EXPECT_EQ(r->auth_function_id, "sec::auth");
  EXPECT_EQ(r->on_function_registration_function_id, "sec::fn");
  EXPECT_EQ(r->on_trigger_registration_function_id, "sec::trig");
  EXPECT_EQ(r->on_trigger_type_registration_function_id, "sec::type");
  EXPECT_EQ(r->middleware_function_id, "sec::mw");
  ASSERT_EQ(r->expose_functions.size(), 2u);
  EXPECT_EQ(r->expose_functions[0].id_glob, "a::*");
  EXPECT_TRUE(r->expose_functions[1].uses_metadata());
}

TEST(AccessRulesParse, MiddlewareAloneIsNotRbac) {
  std::string error;
  auto r = parse_access_rules(nullptr, "sec::mw", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_FALSE(r->rbac);
  EXPECT_EQ(r->middleware_function_id, "sec::mw");
  EXPECT_TRUE(r->auth_function_id.empty());
  EXPECT_TRUE(r->expose_functions.empty());
}

TEST(AccessRulesParse, EmptyBlockIsRbacWithNothingExposed) {
  auto r = rules_of("{}");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->rbac);
  EXPECT_TRUE(r->auth_function_id.empty());
  EXPECT_TRUE(rules_of(R"j({"expose_functions": null, "auth_function_id": null})j")->expose_functions.empty());
}

TEST(AccessRulesParse, UnknownKeysAreErrorsNamingTheKey) {
  EXPECT_TRUE(contains(rules_error(R"j({"expose_function": []})j"), "unknown key `expose_function` in `rbac`"));
  EXPECT_TRUE(contains(rules_error(R"j({"auth_function": "x"})j"), "`auth_function`"));
  EXPECT_TRUE(contains(rules_error(R"j({"expose_functions": [{"metdata": {"a": 1}}]})j"), "unknown key `metdata`"));
}

TEST(AccessRulesParse, MalformedBlocksAndFiltersAreErrors) {
  EXPECT_TRUE(contains(rules_error("[]"), "`rbac` must be a mapping"));
  EXPECT_TRUE(contains(rules_error(R"j("yes")j"), "`rbac` must be a mapping"));
  EXPECT_TRUE(contains(rules_error(R"j({"expose_functions": "match(\"a\")"})j"), "must be a list"));
  // A bare glob would be an easy typo; it must not be read as an id.
  EXPECT_TRUE(contains(rules_error(R"j({"expose_functions": ["api::*"]})j"), "\"api::*\""));
  EXPECT_NE(rules_error(R"j({"expose_functions": [5]})j"), "(accepted)");
  EXPECT_NE(rules_error(R"j({"expose_functions": [{}]})j"), "(accepted)");
  EXPECT_NE(rules_error(R"j({"expose_functions": [{"metadata": {}}]})j"), "(accepted)");
  EXPECT_NE(rules_error(R"j({"expose_functions": [{"metadata": true}]})j"), "(accepted)");
  EXPECT_NE(rules_error(R"j({"expose_functions": [{"match": 5}]})j"), "(accepted)");
  EXPECT_TRUE(contains(rules_error(R"j({"expose_functions": [{"match": "a", "metadata": {"x": 1}}]})j"), "not both"));
  EXPECT_TRUE(contains(rules_error(R"j({"auth_function_id": ""})j"), "`rbac.auth_function_id` must be a function id"));
  EXPECT_TRUE(contains(rules_error(R"j({"auth_function_id": 5})j"), "`rbac.auth_function_id`"));
  EXPECT_TRUE(contains(rules_error(R"j({"on_trigger_registration_function_id": true})j"),
                       "`rbac.on_trigger_registration_function_id`"));
}

TEST(AccessRulesParse, EqualWhenSourceAndListenerAreEqual) {
  auto a = rules_of(R"j({"expose_functions": ["match(\"a::*\")"]})j");
  auto b = rules_of(R"j({"expose_functions": ["match(\"a::*\")"]})j");
  auto c = rules_of(R"j({"expose_functions": ["match(\"b::*\")"]})j");
  auto d = rules_of(R"j({"expose_functions": ["match(\"a::*\")"]})j", "sec::mw");
  EXPECT_TRUE(*a == *b);
  EXPECT_FALSE(*a == *c);
  EXPECT_FALSE(*a == *d);  // the middleware is part of the rules
  AccessRules other_listener = *a;
  other_listener.listener = "0.0.0.0:1";
  EXPECT_FALSE(*a == other_listener);
}

// ---------------------------------------------------------------------------------------------
// Sessions

TEST(AccessSessions, DefaultSessionIsPermissive) {
  auto rules = rules_of("{}");
  AccessSession s = default_access_session(rules);
  EXPECT_EQ(s.rules, rules);
  EXPECT_TRUE(s.allow_function_registration);
  EXPECT_TRUE(s.allow_trigger_type_registration);
  EXPECT_FALSE(s.allowed_trigger_types.has_value());
  EXPECT_EQ(s.context, "{}");
  EXPECT_TRUE(s.prefix.empty());
  EXPECT_TRUE(s.may_bind_trigger_type("http"));
}

TEST(AccessSessions, AuthResultDefaults) {
  auto rules = rules_of("{}");
  std::string error;
  auto s = access_session_from_auth_result(rules, "{}", &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->rules, rules);
  EXPECT_TRUE(s->allowed_functions.empty());
  EXPECT_TRUE(s->forbidden_functions.empty());
  EXPECT_FALSE(s->allowed_trigger_types.has_value());
  EXPECT_TRUE(s->allow_function_registration);
  EXPECT_FALSE(s->allow_trigger_type_registration);  // unlike the default session
  EXPECT_EQ(s->context, "{}");
  EXPECT_TRUE(s->prefix.empty());
  // Nulls read as absent.
  s = access_session_from_auth_result(rules, R"j({"allowed_functions": null, "allowed_trigger_types": null,
      "allow_function_registration": null, "allow_trigger_type_registration": null, "context": null,
      "function_registration_prefix": null})j", &error);
  ASSERT_TRUE(s) << error;
  EXPECT_FALSE(s->allowed_trigger_types.has_value());
  EXPECT_TRUE(s->allow_function_registration);
  EXPECT_FALSE(s->allow_trigger_type_registration);
  EXPECT_EQ(s->context, "{}");
}

TEST(AccessSessions, AuthResultEveryField) {
  std::string error;
  auto s = access_session_from_auth_result(nullptr, R"j({
      "allowed_functions": ["a::b", "match('c::*')"], "forbidden_functions": ["a::secret"],
      "allowed_trigger_types": ["http", "queue*"], "allow_trigger_type_registration": true,
      "allow_function_registration": false, "context": {"user": "u1", "roles": [1, 2]},
      "function_registration_prefix": "tenant", "unknown_field": 1})j", &error);
  ASSERT_TRUE(s) << error;
  EXPECT_EQ(s->allowed_functions, (std::vector<std::string>{"a::b", "match('c::*')"}));
  EXPECT_EQ(s->forbidden_functions, std::vector<std::string>{"a::secret"});
  ASSERT_TRUE(s->allowed_trigger_types.has_value());
  EXPECT_EQ(*s->allowed_trigger_types, (std::vector<std::string>{"http", "queue*"}));
  EXPECT_TRUE(s->allow_trigger_type_registration);
  EXPECT_FALSE(s->allow_function_registration);
  EXPECT_EQ(boost::json::parse(s->context), boost::json::parse(R"j({"user": "u1", "roles": [1, 2]})j"));
  EXPECT_EQ(s->prefix, "tenant");
}

TEST(AccessSessions, ContextKeepsAnyJsonValue) {
  // The context is opaque: passed on to the middleware and hooks as the auth function gave it.
  EXPECT_EQ(access_session_from_auth_result(nullptr, R"j({"context": "abc"})j", nullptr)->context, "\"abc\"");
  EXPECT_EQ(access_session_from_auth_result(nullptr, R"j({"context": 7})j", nullptr)->context, "7");
  EXPECT_EQ(access_session_from_auth_result(nullptr, R"j({"context": [true]})j", nullptr)->context, "[true]");
}

TEST(AccessSessions, AuthResultErrorsFailClosed) {
  EXPECT_TRUE(contains(session_error(""), "no result"));
  EXPECT_TRUE(contains(session_error("null"), "no result"));
  EXPECT_TRUE(contains(session_error("{not json"), "invalid JSON"));
  EXPECT_TRUE(contains(session_error("5"), "must return an object"));
  EXPECT_TRUE(contains(session_error("[]"), "must return an object"));
  EXPECT_TRUE(contains(session_error(R"j("granted")j"), "must return an object"));
  EXPECT_TRUE(contains(session_error(R"j({"allowed_functions": "a::*"})j"), "`allowed_functions` must be a list of strings"));
  EXPECT_TRUE(contains(session_error(R"j({"allowed_functions": ["a", 1]})j"), "`allowed_functions`"));
  EXPECT_TRUE(contains(session_error(R"j({"forbidden_functions": {}})j"), "`forbidden_functions`"));
  EXPECT_TRUE(contains(session_error(R"j({"forbidden_functions": [null]})j"), "`forbidden_functions`"));
  EXPECT_TRUE(contains(session_error(R"j({"allowed_trigger_types": "http"})j"), "`allowed_trigger_types`"));
  EXPECT_TRUE(contains(session_error(R"j({"allow_trigger_type_registration": "yes"})j"),
                       "`allow_trigger_type_registration` must be a boolean"));
  EXPECT_TRUE(contains(session_error(R"j({"allow_function_registration": 1})j"), "`allow_function_registration` must be a boolean"));
  EXPECT_TRUE(contains(session_error(R"j({"function_registration_prefix": 5})j"),
                       "`function_registration_prefix` must be a string"));
  // A nullptr error slot is allowed and still refuses.
  EXPECT_FALSE(access_session_from_auth_result(nullptr, "null", nullptr).has_value());
}

TEST(AccessSessions, TriggerTypes) {
  auto none = access_session_from_auth_result(nullptr, R"j({"allowed_trigger_types": []})j", nullptr);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->may_bind_trigger_type("http"));  // an empty list allows none, not all
  auto some = access_session_from_auth_result(nullptr, R"j({"allowed_trigger_types": ["http", "queue*", "match('cron')"]})j", nullptr);
  ASSERT_TRUE(some);
  EXPECT_TRUE(some->may_bind_trigger_type("http"));
  EXPECT_TRUE(some->may_bind_trigger_type("queue::fifo"));
  EXPECT_TRUE(some->may_bind_trigger_type("cron"));
  EXPECT_FALSE(some->may_bind_trigger_type("https"));
  EXPECT_FALSE(some->may_bind_trigger_type("state"));
}

TEST(AccessSessions, PrefixRegisteredIds) {
  AccessSession plain;
  EXPECT_EQ(plain.registered_id("x"), "x");

  AccessSession s;
  s.prefix = "p";
  EXPECT_EQ(s.registered_id("x"), "p::x");
  EXPECT_EQ(s.registered_id("a::b"), "p::a::b");
}

// ---------------------------------------------------------------------------------------------
// decide_invoke

AccessSession session_with(std::shared_ptr<const AccessRules> rules, std::vector<std::string> allowed,
                           std::vector<std::string> forbidden) {
  AccessSession s = default_access_session(std::move(rules));
  s.allowed_functions = std::move(allowed);
  s.forbidden_functions = std::move(forbidden);
  return s;
}

TEST(AccessInfrastructure, ExactIdsOnly) {
  for (const char* id : {"engine::channels::create", "engine::workers::register", "engine::log::info", "engine::log::warn",
                         "engine::log::error", "engine::log::debug", "engine::log::trace", "engine::baggage::get",
                         "engine::baggage::set", "engine::baggage::get_all"})
    EXPECT_TRUE(is_infrastructure_function(id)) << id;
  EXPECT_FALSE(is_infrastructure_function("engine::log::infos"));
  EXPECT_FALSE(is_infrastructure_function("engine::functions::list"));
  EXPECT_FALSE(is_infrastructure_function("engine::workers::list"));
  EXPECT_FALSE(is_infrastructure_function("state::get"));
  EXPECT_FALSE(is_infrastructure_function(""));
}

TEST(AccessDecide, AWorkerMayAlwaysCallItsOwnFunctions) {
  // Nothing exposed, and a forbidden list that would match: the owner still reaches its own.
  AccessSession s = session_with(rules_of(R"({"expose_functions":[]})"), {}, {"x::*"});
  auto me = std::make_shared<RemoteEndpoint>("me");
  auto other = std::make_shared<RemoteEndpoint>("other");
  FunctionEntry mine;
  mine.id = "x::mine";
  mine.owner = me;
  AccessDecision d = decide_call(s, *me, mine.id, &mine);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, AccessRule::kOwnFunction);
  EXPECT_EQ(d.describe(), "the worker's own function");
  // Another worker gets the ordinary decision, and so does a function nobody registered.
  EXPECT_EQ(decide_call(s, *other, mine.id, &mine).rule, AccessRule::kForbiddenList);
  EXPECT_FALSE(decide_call(s, *me, "y::absent", nullptr).allowed);
}

TEST(AccessDecide, WithoutRbacEverythingIsAllowed) {
  AccessSession none = session_with(nullptr, {}, {"*"});
  EXPECT_TRUE(decide_invoke(none, "a::b", "").allowed);
  EXPECT_EQ(decide_invoke(none, "a::b", "").rule, AccessRule::kNoRbac);
  // Middleware only: the lists of a session are not applied without an rbac block.
  AccessSession mw = session_with(rules_of("null", "sec::mw"), {}, {"*"});
  AccessDecision d = decide_invoke(mw, "a::b", "");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, AccessRule::kNoRbac);
}

TEST(AccessDecide, NothingMatchingIsDenied) {
  AccessSession s = session_with(rules_of(R"j({"expose_functions": ["match(\"pub::*\")"]})j"), {}, {});
  AccessDecision d = decide_invoke(s, "priv::x", "");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, AccessRule::kNoRule);
  EXPECT_TRUE(d.pattern.empty());
  EXPECT_FALSE(decide_invoke(session_with(rules_of("{}"), {}, {}), "a::b", R"j({"public": true})j").allowed);
}

TEST(AccessDecide, ForbiddenBeatsAllowedInfrastructureAndExpose) {
  auto rules = rules_of(R"j({"expose_functions": ["match(\"a::*\")", "match(\"engine::*\")"]})j");
  AccessSession s = session_with(rules, {"a::b", "engine::log::info"}, {"match('a::*')", "engine::log::*"});
  AccessDecision d = decide_invoke(s, "a::b", "");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, AccessRule::kForbiddenList);
  EXPECT_EQ(d.pattern, "match('a::*')");
  d = decide_invoke(s, "engine::log::info", "");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, AccessRule::kForbiddenList);
  EXPECT_EQ(d.pattern, "engine::log::*");
  // Not forbidden: the expose filter still applies.
  EXPECT_TRUE(decide_invoke(s, "engine::channels::create", "").allowed);
}

TEST(AccessDecide, AllowedListNeedsNoExposeFilter) {
  AccessSession s = session_with(rules_of("{}"), {"x::y", "glob::*", "match(\"m::*\")"}, {});
  for (const char* id : {"x::y", "glob::anything", "m::z"}) {
    AccessDecision d = decide_invoke(s, id, "");
    EXPECT_TRUE(d.allowed) << id;
    EXPECT_EQ(d.rule, AccessRule::kAllowedList) << id;
  }
  EXPECT_EQ(decide_invoke(s, "glob::anything", "").pattern, "glob::*");
  EXPECT_FALSE(decide_invoke(s, "x::yz", "").allowed);
  EXPECT_FALSE(decide_invoke(s, "X::Y", "").allowed);
}

TEST(AccessDecide, RuleOrderAllowedThenInfrastructureThenExpose) {
  auto rules = rules_of(R"j({"expose_functions": ["match(\"engine::*\")"]})j");
  // An allowed entry decides before the infrastructure carve-out…
  EXPECT_EQ(decide_invoke(session_with(rules, {"engine::*"}, {}), "engine::log::info", "").rule, AccessRule::kAllowedList);
  // …which decides before the expose filters.
  EXPECT_EQ(decide_invoke(session_with(rules, {}, {}), "engine::log::info", "").rule, AccessRule::kInfrastructure);
  AccessDecision d = decide_invoke(session_with(rules, {}, {}), "engine::functions::list", "");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, AccessRule::kExposeFilter);
  EXPECT_EQ(d.pattern, R"j(match("engine::*"))j");
  // Infrastructure ids are callable with no filter at all.
  EXPECT_TRUE(decide_invoke(session_with(rules_of("{}"), {}, {}), "engine::baggage::get", "").allowed);
}

TEST(AccessDecide, MetadataFiltersReadTheFunctionsMetadata) {
  auto rules = rules_of(R"j({"expose_functions": ["match(\"pub::*\")", {"metadata": {"public": true}}]})j");
  AccessSession s = session_with(rules, {}, {});
  AccessDecision d = decide_invoke(s, "svc::f", R"j({"public": true})j");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, AccessRule::kExposeFilter);
  EXPECT_EQ(d.pattern, R"j({metadata: {"public":true}})j");
  EXPECT_FALSE(decide_invoke(s, "svc::f", R"j({"public": false})j").allowed);
  EXPECT_FALSE(decide_invoke(s, "svc::f", "").allowed);            // no metadata
  EXPECT_FALSE(decide_invoke(s, "svc::f", "not json").allowed);    // unreadable metadata
  EXPECT_FALSE(decide_invoke(s, "svc::f", "[true]").allowed);      // not an object
  // The id filter still decides with unreadable metadata, and the first matching filter names itself.
  d = decide_invoke(s, "pub::f", "not json");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.pattern, R"j(match("pub::*"))j");
}

TEST(AccessDecide, DescribeAndForbiddenMessageNameTheEntry) {
  AccessDecision forbidden{false, AccessRule::kForbiddenList, "x::*"};
  EXPECT_EQ(forbidden.describe(), "forbidden_functions entry \"x::*\"");
  EXPECT_EQ(forbidden_message("x::y", forbidden), "function 'x::y' not allowed (remove from rbac.forbidden_functions)");
  AccessDecision allowed{true, AccessRule::kAllowedList, "a::b"};
  EXPECT_EQ(allowed.describe(), "allowed_functions entry \"a::b\"");
  AccessDecision expose{true, AccessRule::kExposeFilter, "match(\"a::*\")"};
  EXPECT_EQ(expose.describe(), "expose_functions entry match(\"a::*\")");
  AccessDecision none{false, AccessRule::kNoRule, ""};
  EXPECT_TRUE(contains(none.describe(), "no allowed_functions or expose_functions entry matches"));
  EXPECT_EQ(forbidden_message("p::q", none), "function 'p::q' not allowed (add to rbac.expose_functions)");
  EXPECT_TRUE(contains(AccessDecision{true, AccessRule::kInfrastructure, ""}.describe(), "infrastructure"));
  EXPECT_TRUE(contains(AccessDecision{true, AccessRule::kNoRbac, ""}.describe(), "rbac"));
}

}  // namespace
}  // namespace iii
