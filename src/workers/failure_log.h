// Logging for a failure that can repeat many times a second, such as a store whose server is
// down (every tick and every delivery fails): the first failure is logged at once, repeats at
// most once per interval (with how many were not logged), and the first success after failures
// says that it recovered. Thread-safe.
#pragma once
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>

namespace iii {

class FailureLog {
 public:
  explicit FailureLog(std::string subject, std::chrono::milliseconds every = std::chrono::seconds(10))
      : subject_(std::move(subject)), every_(every) {}

  // An error line "<subject>: <message>", unless one was logged less than `every` ago.
  void failed(std::string_view message);
  // After failures: an info line "<subject>: working again". Cheap when nothing failed.
  void succeeded();

 private:
  const std::string subject_;
  const std::chrono::milliseconds every_;
  std::mutex mu_;
  bool failing_ = false;
  std::chrono::steady_clock::time_point logged_at_{};
  size_t unlogged_ = 0;
};

}  // namespace iii
