// CallbackList: callbacks added and removed by id, called on a snapshot taken under a short lock,
// so that a callback may add or remove callbacks (itself included) without deadlocking.
// Thread-safe.
#pragma once
#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace iii {

template <class F>
class CallbackList {
 public:
  uint64_t add(F f) {
    std::lock_guard lock(mu_);
    const uint64_t id = ++last_id_;
    entries_.emplace_back(id, std::make_shared<const F>(std::move(f)));
    return id;
  }
  // Removing an unknown (or already removed) id does nothing.
  void remove(uint64_t id) {
    std::lock_guard lock(mu_);
    std::erase_if(entries_, [id](const auto& entry) { return entry.first == id; });
  }
  // The callbacks now, to be called without any lock held.
  std::vector<std::shared_ptr<const F>> snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<const F>> out;
    out.reserve(entries_.size());
    for (const auto& entry : entries_) out.push_back(entry.second);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<uint64_t, std::shared_ptr<const F>>> entries_;
  uint64_t last_id_ = 0;
};

}  // namespace iii
