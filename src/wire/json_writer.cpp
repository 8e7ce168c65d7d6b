#include "wire/json_writer.h"

namespace iii {

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + text.size() + 2);
  out += '"';
  size_t run_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
  }
  out.append(text.data() + run_start, text.size() - run_start);
  out += '"';
}

std::string json_string_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const std::string& s : items) {
    if (out.size() > 1) out += ',';
    append_json_string(out, s);
  }
  return out + "]";
}

std::string json_raw_array(const std::vector<std::string>& items) {
  size_t size = 2;
  for (const std::string& s : items) size += s.size() + 1;
  std::string out;
  out.reserve(size);
  out += '[';
  for (const std::string& s : items) {
    if (out.size() > 1) out += ',';
    out += s;
  }
  return out + "]";
}

}  // namespace iii
