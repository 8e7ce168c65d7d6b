// Splits a child's output into lines for the engine's console (docs/builtins.md §11.4), with a
// bound: a line longer than `max_line` bytes is handed out cut at that length (`cut` true) and the
// rest of it, up to its newline, is dropped. So at most `max_line` bytes are ever held, whatever a
// child writes. A trailing `\r` (CRLF output) is removed.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace iii {

class OutputLines {
 public:
  using Emit = std::function<void(std::string_view line, bool cut)>;

  explicit OutputLines(size_t max_line) : max_line_(max_line) {}

  // Appends `bytes` and emits every line they complete.
  void feed(std::string_view bytes, const Emit& emit);
  // Emits what is held without a newline yet (at the end of the output).
  void flush(const Emit& emit);

 private:
  void emit_held(const Emit& emit, bool cut);

  size_t max_line_;
  std::string held_;
  bool skipping_ = false;  // dropping the rest of a line that was cut
};

}  // namespace iii
