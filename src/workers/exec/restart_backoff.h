// When iii-exec starts a pipeline again after its last command exited or a step failed
// (docs/builtins.md §11.3): the first restart waits `initial`, each further one twice the
// previous wait, never more than `max`. reset() starts over at `initial`; the runner calls it
// after a run that lasted `restart_reset_ms` and when a watched file changed.
#pragma once
#include <algorithm>
#include <chrono>

namespace iii {

class RestartBackoff {
 public:
  using ms = std::chrono::milliseconds;

  // REQUIRES: 0 < initial <= max.
  RestartBackoff(ms initial, ms max) : initial_(initial), max_(max), next_(initial) {}

  // The wait before this restart; the following one will wait twice as long (up to max).
  ms next() {
    const ms now = next_;
    next_ = next_ >= max_ / 2 ? max_ : next_ * 2;
    return now;
  }
  void reset() { next_ = initial_; }
  // The wait next() would return, without advancing.
  ms peek() const { return std::min(next_, max_); }

 private:
  ms initial_, max_, next_;
};

}  // namespace iii
