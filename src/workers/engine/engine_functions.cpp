// The iii-engine-functions worker: construction, engine::workers::register and
// engine::register_trigger / engine::unregister_trigger (docs/protocol.md §4.1). The introspection
// functions and the two trigger types live in their own files.
#include "workers/engine/engine_functions.h"

#include <spdlog/spdlog.h>

#include "wire/uuid.h"
#include "workers/engine/engine_functions_internal.h"

namespace iii {
namespace engine_fn {
namespace {

constexpr size_t kWorkerTextMaxChars = 280;

// Worker names and descriptions are untrusted text shown by consoles, terminals and LLM agents:
// no C0/C1 controls, no bidi overrides/isolates (Trojan Source), no line/paragraph separators.
bool unsafe_display_char(char32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) ||
         c == 0x2028 || c == 0x2029;
}

bool unicode_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes valid UTF-8 (Boost.JSON validated it) into code points.
std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
    if (i + len > s.size()) len = 1;
    char32_t c = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < len; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(c);
    i += len;
  }
  return out;
}

void encode_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

}  // namespace

// Strips unsafe characters, keeps the first 280 of the rest, trims. Empty ⇒ nullopt.
std::optional<std::string> sanitize_worker_text(std::string_view raw) {
  std::u32string kept;
  for (char32_t c : decode_utf8(raw)) {
    if (kept.size() == kWorkerTextMaxChars) break;
    if (!unsafe_display_char(c)) kept.push_back(c);
  }
  size_t first = 0, last = kept.size();
  while (first < last && unicode_space(kept[first])) ++first;
  while (last > first && unicode_space(kept[last - 1])) --last;
  if (first == last) return std::nullopt;
  std::string out;
  for (size_t i = first; i < last; ++i) encode_utf8(out, kept[i]);
  return out;
}

namespace {

// --- engine::workers::register ---

std::string telemetry_of(const Input& in) {
  const json::value* v = in.value("telemetry");
  if (!v) return {};
  if (!v->is_object()) throw_invalid_type("telemetry", *v, "struct WorkerConnectionTelemetryMeta");
  for (const char* key : {"language", "project_name", "framework"}) {
    const json::value* field = v->get_object().if_contains(key);
    if (field && !field->is_null() && !field->is_string()) throw_invalid_type(key, *field, "a string");
  }
  return to_text(*v);
}

Outcome register_worker(Engine& engine, const Input& in, const InProcessCall& call) {
  // The connection the engine says called us; an engine-originated call may name one in data.
  std::string worker_id = call.caller_worker_id;
  if (worker_id.empty()) {
    std::optional<std::string> injected = in.string("_caller_worker_id");
    if (!injected) throw InputError("missing field `_caller_worker_id`");
    worker_id = *std::move(injected);
  }
  WorkerMetadata meta;
  meta.runtime = in.string("runtime").value_or("unknown");
  meta.version = in.string("version");
  if (auto name = in.string("name")) meta.name = sanitize_worker_text(*name);
  if (auto description = in.string("description")) meta.description = sanitize_worker_text(*description);
  meta.os = in.string("os");
  meta.pid = in.u32("pid");
  if (auto isolation = in.string("isolation")) meta.isolation = to_text(json::value(*isolation));
  meta.telemetry = telemetry_of(in);

  if (!engine.update_worker_metadata(worker_id, std::move(meta))) {
    spdlog::debug("engine::workers::register for unknown worker {} ignored", worker_id);
  }
  return Outcome::success(R"({"success":true})");
}

// --- engine::register_trigger / engine::unregister_trigger ---

constexpr const char* kRegisterTrigger = "engine::register_trigger";
constexpr const char* kUnregisterTrigger = "engine::unregister_trigger";

void register_trigger(Engine& engine, const InProcessCall& call, Completion done) {
  TriggerBinding binding;
  try {
    Input in(call.data);
    binding.trigger_type = in.required_string("trigger_type");
    binding.function_id = in.required_string("function_id");
    const json::value* config = in.value("config");
    binding.config = config ? to_text(*config) : "null";
    if (const json::value* metadata = in.value("metadata")) binding.metadata = to_text(*metadata);
  } catch (const InputError& e) {
    return done(deserialization_failure(kRegisterTrigger, e.what()));
  }
  // The binding will run its function: a caller behind RBAC may only bind one it may call.
  if (auto denied = engine.check_call_access(call.caller_worker_id, binding.function_id))
    return done(Outcome{{}, std::move(*denied)});
  binding.id = new_uuid();
  const std::string id = binding.id;
  engine.register_trigger(std::move(binding), [id, done = std::move(done)](std::optional<ErrorBody> error) {
    if (error) {
      done(Outcome::failure(codes::kTriggerRegistrationFailed, error->code + ": " + error->message));
    } else {
      json::object out;
      out["id"] = id;
      done(Outcome::success(to_text(out)));
    }
  });
}

Outcome unregister_trigger(Engine& engine, const Input& in) {
  const std::string id = in.required_string("id");
  (void)in.string("trigger_type");  // a hint only; read to reject a wrongly typed one
  json::object out;
  out["removed"] = engine.unregister_trigger(id);
  return Outcome::success(to_text(out));
}

}  // namespace
}  // namespace engine_fn

std::shared_ptr<InProcessWorker> make_engine_functions_worker(Engine& engine) {
  using namespace engine_fn;
  auto worker = std::make_shared<InProcessWorker>(engine, kEngineFunctionsWorkerName);

  worker->add_function(FunctionSpec{"engine::workers::register", "Register worker metadata", {}, {}, {}},
                       with_input("engine::workers::register", [&engine](const Input& in, const InProcessCall& call) {
                         return register_worker(engine, in, call);
                       }));
  worker->add_function(
      FunctionSpec{kRegisterTrigger,
                   "Register a trigger that fires `function_id` directly, with `metadata` delivered to the handler "
                   "as a distinct argument. Returns the trigger id (pass it to engine::unregister_trigger).",
                   {}, {}, {}},
      AsyncFunctionHandler([&engine](const InProcessCall& call, Completion done) {
        register_trigger(engine, call, std::move(done));
      }));
  worker->add_function(
      FunctionSpec{kUnregisterTrigger, "Unregister a trigger by id. Idempotent; reports whether it existed.", {}, {}, {}},
      with_input(kUnregisterTrigger,
                 [&engine](const Input& in, const InProcessCall&) { return unregister_trigger(engine, in); }));

  add_introspection_functions(*worker, engine);
  add_worker_introspection_functions(*worker, engine);
  add_availability_trigger_types(*worker, engine);
  return worker;
}

}  // namespace iii
