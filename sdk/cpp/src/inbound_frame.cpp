#include "inbound_frame.h"

#include <simdjson.h>

#include <memory>
#include <string>

#include "wire/json_limits.h"

namespace iii::detail {
namespace {

using simdjson::ondemand::json_type;

// Frames above this size are read with a throw-away parser, so one huge payload does not pin
// its buffers on the I/O thread for the rest of the process.
constexpr std::size_t kReusedBufferLimit = 1 << 20;

struct Scratch {
  std::string input;  // the frame, copied with the padding simdjson reads past the end
  simdjson::ondemand::parser parser;
};

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Only JSON strings are kept; other types leave `dst` absent.
simdjson::error_code read_string(simdjson::ondemand::value value, std::optional<std::string_view>& dst) {
  json_type type;
  if (auto err = value.type().get(type)) return err;
  dst.reset();
  if (type != json_type::string) return simdjson::SUCCESS;
  std::string_view s;
  if (auto err = value.get_string().get(s)) return err;
  dst = s;
  return simdjson::SUCCESS;
}

simdjson::error_code read_raw(simdjson::ondemand::value value, std::optional<std::string_view>& dst) {
  json_type type;
  if (auto err = value.type().get(type)) return err;
  dst.reset();
  std::string_view raw;
  if (type == json_type::object) {
    simdjson::ondemand::object object;
    if (auto err = value.get_object().get(object)) return err;
    if (auto err = object.raw_json().get(raw)) return err;
  } else if (type == json_type::array) {
    simdjson::ondemand::array array;
    if (auto err = value.get_array().get(array)) return err;
    if (auto err = array.raw_json().get(raw)) return err;
  } else {
    raw = trim_right(value.raw_json_token());
    if (type == json_type::null) return raw == "null" ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
  }
  dst = raw;
  return simdjson::SUCCESS;
}

simdjson::error_code read_fields(simdjson::ondemand::document& doc, InboundFrame& out) {
  simdjson::ondemand::object object;
  if (auto err = doc.get_object().get(object)) return err;
  for (auto entry : object) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (auto err = std::move(entry).get(field)) return err;
    if (auto err = field.unescaped_key().get(key)) return err;
    simdjson::error_code err = simdjson::SUCCESS;
    // Repeated keys: the last one wins, like the DOM parse did.
    if (key == "type") err = read_string(field.value(), out.type);
    else if (key == "invocation_id") err = read_string(field.value(), out.invocation_id);
    else if (key == "function_id") err = read_string(field.value(), out.function_id);
    else if (key == "data") err = read_raw(field.value(), out.data);
    else if (key == "result") err = read_raw(field.value(), out.result);
    else if (key == "error") err = read_raw(field.value(), out.error);
    else if (key == "id") err = read_string(field.value(), out.id);
    else if (key == "trigger_type") err = read_string(field.value(), out.trigger_type);
    else if (key == "config") err = read_raw(field.value(), out.config);
    else if (key == "metadata") err = read_raw(field.value(), out.metadata);
    else if (key == "worker_id") err = read_string(field.value(), out.worker_id);
    else if (key == "reattach_token") err = read_string(field.value(), out.reattach_token);
    if (err) return err;
  }
  // simdjson 3.0 On-Demand cannot tell trailing text after the object; frames come from the
  // engine's own writer, so that leniency costs nothing in practice.
  return simdjson::SUCCESS;
}

}  // namespace

bool read_inbound_frame(std::string_view text, InboundFrame& out, std::size_t readable_after) {
  thread_local Scratch reused;
  // The views handed out must outlive this call, so an oversized frame's scratch lives until
  // the next frame arrives.
  thread_local std::unique_ptr<Scratch> oversized;
  oversized.reset();
  Scratch& scratch = text.size() <= kReusedBufferLimit ? reused : *(oversized = std::make_unique<Scratch>());
  simdjson::padded_string_view input;
  if (readable_after >= simdjson::SIMDJSON_PADDING) {  // read where it lies: no copy of the payload
    input = simdjson::padded_string_view(text.data(), text.size(), text.size() + readable_after);
  } else {
    scratch.input.reserve(text.size() + simdjson::SIMDJSON_PADDING);
    scratch.input.assign(text);
    input = simdjson::padded_string_view(scratch.input.data(), scratch.input.size(), scratch.input.capacity());
  }
  out = InboundFrame{};
  simdjson::ondemand::document doc;
  if (scratch.parser.iterate(input).get(doc)) return false;
  return read_fields(doc, out) == simdjson::SUCCESS;
}

bool parse_raw_value(std::optional<std::string_view> raw, json::value& out) {
  if (!raw) {
    out = nullptr;
    return true;
  }
  // The parser's own stack is kept between payloads; the value itself uses the default
  // allocator because user code owns it afterwards.
  thread_local json::parser parser(json::storage_ptr(), [] {
    json::parse_options options;
    options.max_depth = kMaxJsonDepth;  // as deep as the engine accepts (Boost's default is 32)
    return options;
  }());
  parser.reset();
  boost::system::error_code ec;
  parser.write(raw->data(), raw->size(), ec);
  if (ec) {
    parser.reset();
    return false;
  }
  out = parser.release();
  return true;
}

bool is_json_value(std::string_view text) {
  // simdjson's DOM parser validates in two passes over its own tape; it keeps its buffers (the
  // padded copy of the text included) for the next check unless the text is big (then a
  // throw-away parser, as for frames).
  thread_local simdjson::dom::parser reused;
  std::unique_ptr<simdjson::dom::parser> oversized;
  simdjson::dom::parser& parser =
      text.size() <= kReusedBufferLimit ? reused : *(oversized = std::make_unique<simdjson::dom::parser>());
  simdjson::dom::element ignored;
  return parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(ignored) == simdjson::SUCCESS;
}

}  // namespace iii::detail
