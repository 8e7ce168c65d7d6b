// The SDKs' telemetry frames (OTLP, LOGS, MTRC) are read here, off the event loops: a frame
// arrives on its connection's loop (src/net/io_pool.h: one loop per thread, so a heavy handler
// there stalls every connection of that loop), is copied into a bounded queue, and one thread
// of its own parses it (otlp_ingest.h) and hands the records to the hub. When the queue is full
// the frame is dropped, counted (iii_telemetry_dropped_total{kind="frames",reason="ingest_full"})
// and logged, so that telemetry never slows the calls it describes.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "workers/observability/telemetry_hub.h"

namespace iii::obs {

// Parses one frame (followed by kTelemetryFramePadding readable bytes) and submits its records
// to `hub`; a frame that cannot be read is counted as rejected and logged at debug level.
void ingest_telemetry_frame(TelemetryHub& hub, std::string_view worker_id, std::string_view padded_frame);

class TelemetryIngest {
 public:
  static constexpr size_t kMaxQueuedFrames = 4096;
  static constexpr size_t kMaxQueuedBytes = size_t{64} << 20;

  explicit TelemetryIngest(std::shared_ptr<TelemetryHub> hub, size_t max_frames = kMaxQueuedFrames,
                           size_t max_bytes = kMaxQueuedBytes);
  ~TelemetryIngest();  // stop()

  // Queues a copy of `frame` for the ingest thread (started by the first offer). False when it
  // was dropped: the queue is full (counted and logged) or the ingest is stopped.
  bool offer(std::string_view worker_id, std::string_view frame);
  // Returns once every frame offered before the call has been ingested.
  void flush();
  // Ingests what is queued and ends the thread; later offers are refused.
  void stop();

 private:
  struct Frame {
    std::string worker_id;
    std::string data;  // the frame, with kTelemetryFramePadding bytes of capacity after it
  };
  void run();
  void report_drop(std::string_view worker_id, size_t frame_bytes);

  const std::shared_ptr<TelemetryHub> hub_;
  const size_t max_frames_, max_bytes_;

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Frame> queue_;
  std::vector<Frame> spare_;  // recycled buffers: no allocation per frame once warm
  size_t queued_bytes_ = 0;
  uint64_t offered_ = 0, ingested_ = 0;  // frames accepted / finished, for flush()
  bool stopping_ = false;
  std::thread thread_;

  std::atomic<int64_t> last_warning_ms_{0};
  std::atomic<uint64_t> dropped_since_warning_{0};
};

}  // namespace iii::obs
