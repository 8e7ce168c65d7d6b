// TraceArchive: the spans of iii-observability kept on disk, so that traces can still be read
// after the engine restarts.
//
// Layout: a directory of append-only segment files `spans-<seq>.seg`, oldest data in the lowest
// sequence number, each a sequence of checksummed blocks (archive_format.h: an engine span takes
// 72 bytes, the names of its kind of call are written once per segment). The segment being written
// is rotated at `segment_bytes`. Every block header carries the newest span time of its block, so
// opening the archive learns every segment's age from its block headers without reading the
// spans. Each open starts a new segment, so nothing is ever appended after a block torn by a
// crash: readers stop at such a block.
//
// Bounds are kept by deleting whole segments, oldest first: when the directory would grow past
// max_disk_bytes it is cut to about 80% of it, and a segment whose newest span ended more than
// retention_seconds ago goes.
//
// append() never touches the disk: spans go into a bounded in-memory queue (past the bound they
// are dropped and counted) that a background thread writes in batches. Readers see queued spans
// as well as stored ones.
//
// Thread-safe: every method may be called from any thread.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "workers/observability/archive_format.h"
#include "workers/observability/stored_span.h"
#include "workers/observability/telemetry_records.h"

namespace iii::obs {

struct TraceArchiveOptions {
  std::filesystem::path directory = "./data/observability/traces";  // created if missing
  uint64_t max_disk_bytes = uint64_t{1} << 30;
  uint64_t retention_seconds = 30ull * 24 * 3600;  // 0: no age limit
  // Rotation size of a segment; 0 picks min(16 MiB, max_disk_bytes / 8).
  uint64_t segment_bytes = 0;
  // Bound of the in-memory queue, in SpanRecord::approx_bytes().
  uint64_t max_queue_bytes = uint64_t{64} << 20;
  // How long queued spans may wait before the writer takes them (sooner when many are queued).
  std::chrono::milliseconds write_interval{200};
};

struct TraceArchiveStats {
  uint64_t written = 0;     // spans written to disk since open
  uint64_t dropped = 0;     // spans refused (queue full, closed archive) or lost to a write error
  uint64_t disk_bytes = 0;  // size of the segment files
  uint64_t segments = 0;
};

class TraceArchive {
 public:
  // Opens (creating if needed) the archive in options.directory and starts its writer thread.
  // Throws std::runtime_error naming the directory when it cannot be created or written.
  static std::unique_ptr<TraceArchive> open(TraceArchiveOptions options);

  ~TraceArchive();  // close()
  TraceArchive(const TraceArchive&) = delete;
  TraceArchive& operator=(const TraceArchive&) = delete;

  // Queues spans for writing. Cheap (a short lock and moves); never blocks on I/O.
  void append_stored(const std::vector<StoredSpan>& spans);
  void append(std::vector<SpanRecord> spans);

  // The newest `max_spans` spans (queued ones included), oldest first. Engine spans come back
  // compact, sharing one set of names per kind of call and segment.
  std::vector<StoredSpan> recent(size_t max_spans);
  // Every stored or queued span of one trace, in the order they were appended. Reads every
  // segment: its cost grows with the archive.
  std::vector<StoredSpan> trace(std::string_view trace_id);

  // Waits until the spans appended before the call are on disk (or were dropped), at most
  // `timeout`. True when they are.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Flushes, stops the writer and seals the current segment. Later appends are dropped. Idempotent.
  void close();

  TraceArchiveStats stats() const;
  const TraceArchiveOptions& options() const { return options_; }

 private:
  struct Segment {
    uint64_t seq = 0;
    uint64_t bytes = 0;
    uint64_t newest_unix_nano = 0;  // latest end (or start) time of its spans
  };
  // A segment's bytes from disk, decoded (empty when it was deleted meanwhile).
  std::vector<StoredSpan> read_segment(uint64_t seq, const archive::DecodeFilter& filter) const;

  explicit TraceArchive(TraceArchiveOptions options);
  void load_segments();
  void run();
  void write_batch(const std::vector<StoredSpan>& batch);
  void write_span(const StoredSpan& span);
  bool ensure_active();
  void flush_pending();
  void seal_active();
  void close_active();
  void enforce_disk_bound(uint64_t incoming);
  void enforce_retention();
  void drop_segment(uint64_t seq);
  void report_failure(const std::string& what);
  std::filesystem::path segment_path(uint64_t seq) const;

  TraceArchiveOptions options_;

  // Shared with readers and append(): guarded by mu_.
  mutable std::mutex mu_;
  std::condition_variable wake_;  // the writer: work is waiting
  std::condition_variable done_;  // flush(): a batch was handled
  std::vector<StoredSpan> queue_;  // shared with the memory store: no copies
  uint64_t queue_bytes_ = 0;
  std::shared_ptr<const std::vector<StoredSpan>> inflight_;  // taken by the writer, maybe not on disk yet
  std::vector<Segment> segments_;                            // by seq; the last may be the active one
  uint64_t accepted_ = 0;  // spans appended into the queue, ever
  uint64_t handled_ = 0;   // of those, written or lost
  uint64_t written_ = 0;
  uint64_t dropped_ = 0;
  uint64_t disk_bytes_ = 0;
  bool flush_requested_ = false;
  bool stopping_ = false;
  bool closed_ = false;

  // The writer thread's own.
  int active_fd_ = -1;
  uint64_t next_seq_ = 1;
  archive::SegmentEncoder encoder_;  // the active segment's names dictionary
  std::string pending_;  // one block for the active segment, not yet written (empty: none begun)
  std::string json_;     // scratch: the JSON of a span that is not an engine span
  uint64_t pending_spans_ = 0;
  uint64_t pending_newest_ = 0;
  bool failing_ = false;  // the last disk operation failed (logged once until one succeeds)
  std::string last_error_;
  std::chrono::steady_clock::time_point retry_after_;
  std::thread writer_;
  std::mutex close_mu_;
};

// Reads back the JSON of a span that is not an engine span (the to_json shape, "engine_span"
// optional). nullopt when it is not a span.
std::optional<SpanRecord> span_from_json(std::string_view line);

}  // namespace iii::obs
