#include "workers/failure_log.h"

#include <spdlog/spdlog.h>

namespace iii {

void FailureLog::failed(std::string_view message) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (failing_ && now - logged_at_ < every_) {
    ++unlogged_;
    return;
  }
  if (unlogged_)
    spdlog::error("{}: {} (and {} similar failure(s) not logged)", subject_, message, unlogged_);
  else
    spdlog::error("{}: {}", subject_, message);
  failing_ = true;
  logged_at_ = now;
  unlogged_ = 0;
}

void FailureLog::succeeded() {
  std::lock_guard lock(mu_);
  if (!failing_) return;
  spdlog::info("{}: working again ({} failure(s) not logged since the last line)", subject_, unlogged_);
  failing_ = false;
  unlogged_ = 0;
}

}  // namespace iii
