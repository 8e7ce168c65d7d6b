// Reading engine → worker frames without building a DOM of the whole frame: the envelope's
// fields are read with simdjson On-Demand, and only the payload a handler or caller needs
// (data / result / config / metadata / error) is turned into a json::value, from its raw text.
#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

#include "iii/iii.h"

namespace iii::detail {

// Views into per-thread buffers, or into the frame itself when it was read in place: valid until
// the next read_inbound_frame() on the same thread, and no longer than the frame's text.
struct InboundFrame {
  // Present only when the field is a JSON string (unescaped); anything else reads as absent,
  // as the old DOM lookups did.
  std::optional<std::string_view> type, id, invocation_id, function_id, trigger_type, worker_id, reattach_token;
  // Raw JSON text of the value; absent and null are both nullopt (callers read them as null).
  std::optional<std::string_view> data, result, config, metadata, error;
};

// False when `text` is not a well-formed JSON object. `readable_after`: bytes past the end of
// `text` that may be read (content unspecified); with simdjson's 64 (what the WebSocket reader
// leaves, net::ws::kMessagePadding) the frame is read in place instead of from a padded copy.
bool read_inbound_frame(std::string_view text, InboundFrame& out, std::size_t readable_after = 0);

// Parses raw JSON text from an InboundFrame into a value owned by the default allocator (it goes
// to user code). nullopt ⇒ null. False when the text is not valid JSON.
bool parse_raw_value(std::optional<std::string_view> raw, json::value& out);

// True when `text` is one well-formed JSON value (nested at most kMaxJsonDepth deep): what the
// raw forms of the API check before they send text as a payload or a result, without a DOM.
bool is_json_value(std::string_view text);

}  // namespace iii::detail
