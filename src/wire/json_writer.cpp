#include "wire/json_writer.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace iii {
namespace {

uint64_t load8(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Whether any of the 8 bytes of `v` is below 0x20, a '"' or a '\\' (bit tricks on the word: a
// byte b has its high bit set in `x - 0x01…` & ~x & 0x80… exactly when b == 0, for any byte).
bool needs_escape(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  auto has_zero = [](uint64_t x) { return ((x - kOnes) & ~x & kHigh) != 0; };
  const bool control = ((v - kOnes * 0x20) & ~v & kHigh) != 0;  // a byte < 0x20 (bytes >= 0x80 excluded by ~v)
  return control || has_zero(v ^ (kOnes * '"')) || has_zero(v ^ (kOnes * '\\'));
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Grow geometrically: an exact reserve on every call would reallocate a string built from many
  // appends each time (quadratic copying).
  if (const size_t need = out.size() + text.size() + 2; need > out.capacity())
    out.reserve(std::max(need, out.capacity() * 2));
  out += '"';
  size_t run_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    // Skip 8 plain bytes at a time (no control character, quote or backslash among them).
    while (i + 8 <= text.size() && !needs_escape(load8(text.data() + i))) i += 8;
    if (i == text.size()) break;
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
