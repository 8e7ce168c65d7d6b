#include "workers/exec/output_lines.h"

namespace iii {

void OutputLines::emit_held(const Emit& emit, bool cut) {
  std::string_view line = held_;
  if (!cut && !line.empty() && line.back() == '\r') line.remove_suffix(1);
  emit(line, cut);
  held_.clear();
}

void OutputLines::feed(std::string_view bytes, const Emit& emit) {
  while (!bytes.empty()) {
    const size_t nl = bytes.find('\n');
    const std::string_view part = bytes.substr(0, nl);
    if (!skipping_) {
      const size_t room = max_line_ - held_.size();
      held_.append(part.substr(0, room));
      if (part.size() > room) {
        emit_held(emit, true);
        skipping_ = true;
      }
    }
    if (nl == std::string_view::npos) return;
    if (skipping_) skipping_ = false;
    else emit_held(emit, false);
    bytes.remove_prefix(nl + 1);
  }
}

void OutputLines::flush(const Emit& emit) {
  if (!held_.empty()) emit_held(emit, false);
  skipping_ = false;
}

}  // namespace iii
