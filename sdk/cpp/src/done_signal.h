// A one-shot "done" signal between two threads: one thread waits (with a deadline) until another
// sets it. What a blocking trigger() sleeps on until the I/O thread has its answer.
//
// Why not a mutex and a condition variable: glibc's condition variable takes the mutex back for
// the woken waiter in its contended state, so the waiter's unlock right after costs one more futex
// system call, every time: three per blocking call instead of two (bench/README.md, "The state
// rows"). Here the waiter sleeps on the word itself, and set() makes a system call only when
// someone sleeps. Elsewhere than Linux, a mutex and a condition variable do the same job.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#else
#include <condition_variable>
#include <mutex>
#endif

namespace iii::detail {

class DoneSignal {
 public:
  // Sets the signal (once; later calls do nothing) and wakes the waiter. Writes made before it
  // are seen by the waiter after wait_for() returns true.
  void set();
  // Waits until set() or `timeout` has passed; true when set. One thread waits at a time.
  bool wait_for(std::chrono::nanoseconds timeout);

 private:
#if defined(__linux__)
  static constexpr uint32_t kEmpty = 0, kSleeping = 1, kSet = 2;
  std::atomic<uint32_t> word_{kEmpty};
#else
  std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
#endif
};

#if defined(__linux__)
inline void DoneSignal::set() {
  if (word_.exchange(kSet, std::memory_order_acq_rel) == kSleeping)
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

inline bool DoneSignal::wait_for(std::chrono::nanoseconds timeout) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    uint32_t seen = word_.load(std::memory_order_acquire);
    if (seen == kSet) return true;
    if (seen == kEmpty && !word_.compare_exchange_strong(seen, kSleeping, std::memory_order_acq_rel)) {
      if (seen == kSet) return true;  // set between the load and the exchange
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) return word_.load(std::memory_order_acquire) == kSet;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec relative{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    // Sleeps only while the word still says kSleeping (a set() in between returns at once);
    // EINTR, EAGAIN and spurious wake-ups go round the loop again.
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAIT_PRIVATE, kSleeping, &relative, nullptr, 0);
  }
}
#else
inline void DoneSignal::set() {
  {
    std::lock_guard lock(mutex_);
    set_ = true;
  }
  cv_.notify_one();
}

inline bool DoneSignal::wait_for(std::chrono::nanoseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return set_; });
}
#endif

}  // namespace iii::detail
