#include "core/message.h"

#include <simdjson.h>

#include <array>
#include <utility>

#include "core/json_walk.h"
#include "wire/json_limits.h"

namespace iii {
namespace {

// simdjson's parsers below keep their default depth limit, the ceiling; the configured limit
// (json_depth_limit()) is checked while walking.
static_assert(simdjson::DEFAULT_MAX_DEPTH == kMaxJsonDepth);

using simdjson::ondemand::json_type;
using simdjson::ondemand::value;

// Per-thread: the padded copy of the frame and the On-Demand parser whose string buffer backs the
// unescaped views (core/json_walk.h), and a DOM parser for the rare small error bodies.
struct FrameScratch {};
OnDemandScratch& frame_scratch() { return OnDemandScratch::of<FrameScratch>(); }
simdjson::dom::parser& validator() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

std::string field_error(std::string_view key, std::string_view what) {
  std::string out = "field \"";
  out += key;
  out += "\" ";
  out += what;
  return out;
}

// The error for field `key` of what checking its value gave ("" when it is valid JSON within the
// depth limit).
std::string value_error(simdjson::error_code err, std::string_view key) {
  if (!err) return {};
  if (err == simdjson::DEPTH_ERROR)
    return field_error(key, "is nested deeper than " + std::to_string(json_depth_limit()) + " levels");
  return field_error(key, "holds invalid JSON");
}

// Walks `v` (at nesting level `depth`) to check it.
std::string check_value(value v, size_t depth, std::string_view key) {
  return value_error(json_walk::check(v, depth), key);
}

// Checks `v` and returns its raw JSON text (null ⇒ nullopt).
std::string read_raw(simdjson::ondemand::document& doc, value v, std::string_view key,
                     std::optional<std::string_view>& dst) {
  std::string_view text;
  json_type type;
  if (std::string err = value_error(json_walk::raw_text(doc, v, 2, text, type), key); !err.empty()) return err;
  if (type == json_type::null) dst.reset();
  else dst = text;
  return {};
}

std::string read_string(value v, std::string_view key, std::optional<std::string_view>& dst) {
  json_type type;
  if (v.type().get(type)) return field_error(key, "holds invalid JSON");
  if (type == json_type::null) {
    bool is_null = false;
    if (v.is_null().get(is_null) || !is_null) return field_error(key, "holds invalid JSON");
    dst.reset();
    return {};
  }
  if (type != json_type::string) return field_error(key, "must be a string");
  std::string_view s;
  if (v.get_string().get(s)) return field_error(key, "holds an invalid string");
  dst = s;
  return {};
}

// Reads an ErrorBody; anything that is not {code: string, message: string} is coerced into
// {"code":"UNKNOWN","message":<its JSON text>} so the caller still learns something went wrong.
std::string read_error(simdjson::ondemand::document& doc, value v, std::optional<ErrorBody>& dst) {
  std::optional<std::string_view> raw;
  if (auto err = read_raw(doc, v, "error", raw); !err.empty()) return err;
  if (!raw) {
    dst.reset();
    return {};
  }
  // Error bodies are small and rare: a DOM parse of the checked slice is the simple way in.
  simdjson::dom::element e;
  if (validator().parse(raw->data(), raw->size(), true).get(e)) return "field \"error\" holds invalid JSON";
  std::string_view code, message, stack;
  if (e.is_object() && !e["code"].get(code) && !e["message"].get(message)) {
    ErrorBody body{std::string(code), std::string(message), std::nullopt};
    if (!e["stacktrace"].get(stack)) body.stacktrace = std::string(stack);
    dst = std::move(body);
  } else {
    dst = ErrorBody{"UNKNOWN", std::string(*raw), std::nullopt};
  }
  return {};
}

std::string read_action(value v, Message& out) {
  json_type type;
  if (v.type().get(type)) return field_error("action", "holds invalid JSON");
  if (type == json_type::null) {
    bool is_null = false;
    if (v.is_null().get(is_null) || !is_null) return field_error("action", "holds invalid JSON");
    return {};
  }
  if (type != json_type::object) return json_walk::check(v, 2) ? field_error("action", "holds invalid JSON") : field_error("action", "must be an object");
  simdjson::ondemand::object o;
  if (v.get_object().get(o)) return field_error("action", "holds invalid JSON");
  std::optional<std::string_view> action_type;
  for (auto f : o) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return field_error("action", "holds invalid JSON");
    std::string err;
    if (key == "type") err = read_string(field.value(), "action.type", action_type);
    else if (key == "queue") err = read_string(field.value(), "action.queue", out.action_queue);
    else if (json_walk::check(field.value(), 3)) err = field_error("action", "holds invalid JSON");
    if (!err.empty()) return err;
  }
  if (!action_type) return field_error("action", "needs a \"type\"");
  if (*action_type == "void") out.action = ActionKind::kVoid;
  else if (*action_type == "enqueue") out.action = ActionKind::kEnqueue;
  else return "unknown action type \"" + std::string(*action_type) + "\"";
  return {};
}

using StringField = std::optional<std::string_view> Message::*;
struct NamedField {
  std::string_view key;
  StringField member;
};
constexpr std::array kStringFields = {
    NamedField{"id", &Message::id},
    NamedField{"function_id", &Message::function_id},
    NamedField{"trigger_type", &Message::trigger_type},
    NamedField{"description", &Message::description},
    NamedField{"invocation_id", &Message::invocation_id},
    NamedField{"previous_worker_id", &Message::previous_worker_id},
    NamedField{"reattach_token", &Message::reattach_token},
    NamedField{"traceparent", &Message::traceparent},
    NamedField{"baggage", &Message::baggage},
    NamedField{"name", &Message::name},
    NamedField{"parent_service_id", &Message::parent_service_id},
};
constexpr std::array kRawFields = {
    NamedField{"data", &Message::data},
    NamedField{"result", &Message::result},
    NamedField{"config", &Message::config},
    NamedField{"metadata", &Message::metadata},
    NamedField{"request_format", &Message::request_format},
    NamedField{"response_format", &Message::response_format},
    NamedField{"trigger_request_format", &Message::trigger_request_format},
    NamedField{"call_request_format", &Message::call_request_format},
    NamedField{"invocation", &Message::invocation},
};

std::string read_field(simdjson::ondemand::document& doc, std::string_view key, value v, Message& out,
                       std::optional<std::string_view>& type_name) {
  if (key == "type") return read_string(v, key, type_name);
  for (const auto& f : kStringFields)
    if (f.key == key) return read_string(v, key, out.*(f.member));
  for (const auto& f : kRawFields)
    if (f.key == key) return read_raw(doc, v, key, out.*(f.member));
  if (key == "error") return read_error(doc, v, out.error);
  if (key == "action") return read_action(v, out);
  // Unknown keys are ignored (docs/protocol.md §1.3 rule 2), but must still be valid JSON.
  return check_value(v, 2, key);
}

}  // namespace

MessageType message_type_from_name(std::string_view name) {
  static constexpr std::pair<std::string_view, MessageType> kNames[] = {
      {"invokefunction", MessageType::kInvokeFunction},
      {"invocationresult", MessageType::kInvocationResult},
      {"registerfunction", MessageType::kRegisterFunction},
      {"unregisterfunction", MessageType::kUnregisterFunction},
      {"registertriggertype", MessageType::kRegisterTriggerType},
      {"unregistertriggertype", MessageType::kUnregisterTriggerType},
      {"registertrigger", MessageType::kRegisterTrigger},
      {"unregistertrigger", MessageType::kUnregisterTrigger},
      {"triggerregistrationresult", MessageType::kTriggerRegistrationResult},
      {"registerservice", MessageType::kRegisterService},
      {"reattach", MessageType::kReattach},
      {"ping", MessageType::kPing},
      {"pong", MessageType::kPong},
      {"workerregistered", MessageType::kWorkerRegistered},
  };
  for (const auto& [n, t] : kNames)
    if (n == name) return t;
  return MessageType::kUnknown;
}

std::string parse_message(std::string_view frame, Message& out, size_t readable_after) {
  out = Message{};
  OnDemandScratch& s = frame_scratch();

  // One On-Demand pass checks and extracts at once: every value is walked (read_raw, json_walk::check).
  // A frame with simdjson's padding after it (a WebSocket message) is read in place: no copy of
  // what may be megabytes of payload.
  const simdjson::padded_string_view text =
      readable_after >= simdjson::SIMDJSON_PADDING
          ? simdjson::padded_string_view(frame.data(), frame.size(), frame.size() + readable_after)
          : s.pad(frame);
  simdjson::ondemand::document doc;
  if (auto err = s.parser.iterate(text).get(doc)) return std::string("invalid JSON: ") + simdjson::error_message(err);
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return "not a JSON object";
  std::optional<std::string_view> type_name;
  for (auto f : obj) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return "invalid JSON";
    if (auto err = read_field(doc, key, field.value(), out, type_name); !err.empty()) return err;
  }
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) != simdjson::OUT_OF_BOUNDS) return "invalid JSON: content after the top-level object";
  if (!type_name) return "missing \"type\"";
  out.type_name = *type_name;
  out.type = message_type_from_name(*type_name);
  return {};
}

std::string validate_required(const Message& m) {
  auto need = [](const std::optional<std::string_view>& f, std::string_view key) -> std::string {
    if (f && !f->empty()) return {};
    return "missing required field \"" + std::string(key) + "\"";
  };
  switch (m.type) {
    case MessageType::kRegisterFunction:
    case MessageType::kUnregisterFunction:
    case MessageType::kRegisterTriggerType:
    case MessageType::kUnregisterTriggerType:
    case MessageType::kUnregisterTrigger:
    case MessageType::kTriggerRegistrationResult:
    case MessageType::kRegisterService:
      return need(m.id, "id");
    case MessageType::kRegisterTrigger:
      if (auto e = need(m.id, "id"); !e.empty()) return e;
      if (auto e = need(m.trigger_type, "trigger_type"); !e.empty()) return e;
      return need(m.function_id, "function_id");
    case MessageType::kInvokeFunction:
      if (m.action == ActionKind::kEnqueue && !m.action_queue) return "enqueue action needs a \"queue\"";
      return need(m.function_id, "function_id");
    case MessageType::kInvocationResult:
      return need(m.invocation_id, "invocation_id");
    case MessageType::kReattach:
      return need(m.previous_worker_id, "previous_worker_id");
    default:
      return {};
  }
}

bool is_valid_json(std::string_view text) {
  std::string copy;
  copy.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  copy.assign(text);
  simdjson::dom::element ignored;
  return validator().parse(copy.data(), copy.size(), false).get(ignored) == simdjson::SUCCESS;
}

}  // namespace iii
