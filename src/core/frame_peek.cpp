#include "core/frame_peek.h"

#include <cstddef>

namespace iii {
namespace {

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  // A string at the cursor; `plain` is false when it holds escapes (its raw text is returned).
  std::optional<std::string_view> string(bool& plain) {
    ws();
    if (i_ >= s_.size() || s_[i_] != '"') return std::nullopt;
    const size_t start = ++i_;
    plain = true;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\') {
        plain = false;
        ++i_;
      }
      ++i_;
    }
    if (i_ >= s_.size()) return std::nullopt;
    return s_.substr(start, i_++ - start);
  }
  // Skips one value of any depth, iteratively; its raw text, or nullopt when the frame ends
  // inside it.
  std::optional<std::string_view> skip_value() {
    ws();
    const size_t start = i_;
    size_t depth = 0;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '"') {
        bool plain;
        if (!string(plain)) return std::nullopt;
        if (depth == 0) break;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) break;  // the end of the enclosing object: a scalar ended here
        if (--depth == 0) {
          ++i_;
          break;
        }
      } else if (c == ',' && depth == 0) {
        break;
      }
      ++i_;
    }
    if (depth > 0 || i_ == start) return std::nullopt;
    return s_.substr(start, i_ - start);
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::optional<PeekedCall> peek_sync_call(std::string_view frame) {
  Scanner in(frame);
  if (!in.eat('{')) return std::nullopt;
  std::optional<std::string_view> type, invocation_id, function_id;
  bool waits = true;
  if (in.eat('}')) return std::nullopt;
  do {
    bool plain = false;
    const auto key = in.string(plain);
    if (!key || !in.eat(':')) return std::nullopt;
    if (*key == "type" || *key == "invocation_id" || *key == "function_id") {
      bool value_plain = false;
      const auto value = in.string(value_plain);
      if (!value || !value_plain) return std::nullopt;
      (*key == "type" ? type : *key == "invocation_id" ? invocation_id : function_id) = value;
      continue;
    }
    const auto value = in.skip_value();
    if (!value) break;  // the frame ends early: judge on what was read
    if (*key == "action" && (value->find("\"void\"") != std::string_view::npos ||
                             value->find("\"enqueue\"") != std::string_view::npos))
      waits = false;
  } while (in.eat(','));
  if (type != "invokefunction" || !invocation_id || invocation_id->empty() || !waits) return std::nullopt;
  return PeekedCall{std::string(*invocation_id), function_id ? std::string(*function_id) : std::string()};
}

}  // namespace iii
