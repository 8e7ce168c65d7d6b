#include "workers/observability/telemetry_ingest.h"

#include <spdlog/spdlog.h>

#include <pthread.h>

#include <chrono>

#include "workers/observability/otlp_ingest.h"

namespace iii::obs {

void ingest_telemetry_frame(TelemetryHub& hub, std::string_view worker_id, std::string_view padded_frame) {
  IngestedTelemetry t = parse_padded_telemetry_frame(padded_frame, hub.config().max_attribute_bytes);
  hub.count_frame(t.error.empty());
  if (!t.error.empty()) {
    spdlog::debug("telemetry frame from {} dropped: {}", worker_id, t.error);
    return;
  }
  if (!t.spans.empty()) hub.submit_spans(std::move(t.spans));
  for (LogRecord& l : t.logs) {
    l.worker_id = std::string(worker_id);
    hub.submit_log(std::move(l));
  }
  if (!t.metrics.empty()) hub.submit_metrics(std::move(t.metrics));
}

TelemetryIngest::TelemetryIngest(std::shared_ptr<TelemetryHub> hub, size_t max_frames, size_t max_bytes)
    : hub_(std::move(hub)), max_frames_(max_frames), max_bytes_(max_bytes) {}

TelemetryIngest::~TelemetryIngest() { stop(); }

bool TelemetryIngest::offer(std::string_view worker_id, std::string_view frame) {
  Frame f;
  {
    std::unique_lock lock(mu_);
    if (stopping_) return false;
    if (queue_.size() >= max_frames_ || queued_bytes_ + frame.size() > max_bytes_) {
      lock.unlock();
      report_drop(worker_id, frame.size());
      return false;
    }
    if (!spare_.empty()) {
      f = std::move(spare_.back());
      spare_.pop_back();
    }
    queued_bytes_ += frame.size();
    ++offered_;
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  // The copy is made outside the lock; the slot is already counted, so the bounds hold.
  f.worker_id.assign(worker_id);
  f.data.reserve(frame.size() + kTelemetryFramePadding);
  f.data.assign(frame.data(), frame.size());
  std::lock_guard lock(mu_);
  queue_.push_back(std::move(f));
  work_cv_.notify_one();
  return true;
}

void TelemetryIngest::run() {
  pthread_setname_np(pthread_self(), "iii-otlp-ingest");  // for top -H and profiles
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] { return !queue_.empty() || (stopping_ && ingested_ == offered_); });
    if (queue_.empty()) return;  // stopping, and every accepted frame is in
    Frame f = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    ingest_telemetry_frame(*hub_, f.worker_id, std::string_view(f.data.data(), f.data.size()));
    lock.lock();
    queued_bytes_ -= f.data.size();
    ++ingested_;
    // Keep a few buffers for the next frames, not the ones a rare large frame grew.
    if (spare_.size() < 8 && f.data.capacity() <= (size_t{1} << 20)) spare_.push_back(std::move(f));
    done_cv_.notify_all();
  }
}

void TelemetryIngest::flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = offered_;
  done_cv_.wait(lock, [&] { return ingested_ >= target || !thread_.joinable(); });
}

void TelemetryIngest::stop() {
  std::thread thread;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    thread = std::move(thread_);
    work_cv_.notify_all();
  }
  if (thread.joinable()) thread.join();
}

void TelemetryIngest::report_drop(std::string_view worker_id, size_t frame_bytes) {
  hub_->count_frame_dropped();
  const uint64_t dropped = dropped_since_warning_.fetch_add(1, std::memory_order_relaxed) + 1;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  int64_t last = last_warning_ms_.load(std::memory_order_relaxed);
  // At most one warning every 10 s, with the count since the last one.
  if (last != 0 && now_ms - last < 10'000) return;
  if (!last_warning_ms_.compare_exchange_strong(last, now_ms, std::memory_order_relaxed)) return;
  dropped_since_warning_.fetch_sub(dropped, std::memory_order_relaxed);
  spdlog::warn(
      "telemetry frame from {} ({} bytes) dropped: the ingest queue is full ({} frames or {} MiB waiting); "
      "{} dropped since the last warning",
      worker_id, frame_bytes, max_frames_, max_bytes_ >> 20, dropped);
}

}  // namespace iii::obs
