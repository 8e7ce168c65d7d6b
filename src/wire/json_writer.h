// A small hand-written JSON writer for protocol envelopes. Payloads that pass through the
// engine are never re-serialized: they are spliced in as raw JSON text with raw().
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace iii {

// Appends `text` as a quoted, escaped JSON string.
void append_json_string(std::string& out, std::string_view text);

// A JSON array of `items` as JSON strings: ["a","b"].
std::string json_string_array(const std::vector<std::string>& items);
// A JSON array of `items`, each already one JSON text: [1,{"a":2}].
std::string json_raw_array(const std::vector<std::string>& items);

// Builds one JSON object field by field:
//   FrameWriter w; w.string("type", "pong"); std::string frame = w.finish();
class FrameWriter {
 public:
  explicit FrameWriter(size_t reserve = 256) { out_.reserve(reserve); out_ += '{'; }

  FrameWriter& string(std::string_view key, std::string_view value) {
    begin(key);
    append_json_string(out_, value);
    return *this;
  }
  // REQUIRES: `json` is one complete, valid JSON value.
  FrameWriter& raw(std::string_view key, std::string_view json) {
    begin(key);
    out_ += json;
    return *this;
  }
  // The value written by `write(std::string&)`, which must append one complete, valid JSON value.
  template <class Write>
  FrameWriter& raw_with(std::string_view key, Write&& write) {
    begin(key);
    write(out_);
    return *this;
  }
  FrameWriter& boolean(std::string_view key, bool value) { return raw(key, value ? "true" : "false"); }
  FrameWriter& number(std::string_view key, long long value) {
    begin(key);
    out_ += std::to_string(value);
    return *this;
  }
  std::string finish() {
    out_ += '}';
    return std::move(out_);
  }

 private:
  void begin(std::string_view key) {
    if (out_.size() > 1) out_ += ',';
    append_json_string(out_, key);
    out_ += ':';
  }
  std::string out_;
};

}  // namespace iii
