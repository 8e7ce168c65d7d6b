// A small hand-written JSON writer for protocol envelopes. Payloads that pass through the
// engine are never re-serialized: they are spliced in as raw JSON text with raw().
#pragma once
#include <cstddef>
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

// A key or string value for FrameWriter. A string literal is checked at compile time and, holding
// nothing that JSON escapes, is copied as it is; any other text is escaped when written. Keys and
// message types are literals: half of an envelope's strings then cost a copy instead of a scan.
class JsonStringArg {
 public:
  template <std::size_t N>
  consteval JsonStringArg(const char (&literal)[N]) : text_(literal, N - 1), plain_(true) {
    for (std::size_t i = 0; i + 1 < N; ++i) {
      const auto c = static_cast<unsigned char>(literal[i]);
      if (c < 0x20 || c == '"' || c == '\\') plain_ = false;
    }
  }
  JsonStringArg(std::string_view text) : text_(text) {}
  JsonStringArg(const std::string& text) : text_(text) {}

  void append_to(std::string& out) const {
    if (!plain_) return append_json_string(out, text_);
    out += '"';
    out += text_;
    out += '"';
  }

 private:
  std::string_view text_;
  bool plain_ = false;
};

// Builds one JSON object field by field:
//   FrameWriter w; w.string("type", "pong"); std::string frame = w.finish();
class FrameWriter {
 public:
  explicit FrameWriter(size_t reserve = 256) { out_.reserve(reserve); out_ += '{'; }

  FrameWriter& string(const JsonStringArg& key, const JsonStringArg& value) {
    begin(key);
    value.append_to(out_);
    return *this;
  }
  // REQUIRES: `json` is one complete, valid JSON value.
  FrameWriter& raw(const JsonStringArg& key, std::string_view json) {
    begin(key);
    out_ += json;
    return *this;
  }
  // The value written by `write(std::string&)`, which must append one complete, valid JSON value.
  template <class Write>
  FrameWriter& raw_with(const JsonStringArg& key, Write&& write) {
    begin(key);
    write(out_);
    return *this;
  }
  FrameWriter& boolean(const JsonStringArg& key, bool value) { return raw(key, value ? "true" : "false"); }
  FrameWriter& number(const JsonStringArg& key, long long value) {
    begin(key);
    out_ += std::to_string(value);
    return *this;
  }
  std::string finish() {
    out_ += '}';
    return std::move(out_);
  }

 private:
  void begin(const JsonStringArg& key) {
    if (out_.size() > 1) out_ += ',';
    key.append_to(out_);
    out_ += ':';
  }
  std::string out_;
};

}  // namespace iii
