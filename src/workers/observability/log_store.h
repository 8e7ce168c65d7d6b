// The in-memory log store behind engine::logs::* (docs/observability.md "Logs"): the most recent
// entries, at most `max_count`, none older than `retention_seconds`; oldest evicted first.
#pragma once
#include <boost/json/object.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "workers/observability/telemetry_records.h"

namespace iii::obs {

using LogPtr = std::shared_ptr<const LogRecord>;

struct LogQuery {
  uint64_t start_time_ms = 0, end_time_ms = 0;  // 0 = open
  std::string trace_id, span_id;
  int severity_min = 0;
  std::string severity_text;  // exact, case-insensitive
  size_t offset = 0, limit = 100;
};

struct LogPage {
  std::vector<LogPtr> logs;  // newest first
  size_t total = 0;
};

class LogStore {
 public:
  LogStore(size_t max_count, uint64_t retention_seconds) : max_count_(max_count), retention_seconds_(retention_seconds) {}

  void add(LogPtr log);
  LogPage list(const LogQuery& query) const;
  void clear();
  // Drops entries older than the retention (called by the worker's timer).
  void expire(uint64_t now_unix_nanos);
  void set_bounds(size_t max_count, uint64_t retention_seconds);
  struct Stats {
    size_t size = 0;
    uint64_t evicted = 0;
  };
  Stats stats() const;

 private:
  // Evicts from the front while over the count, or (with `now` set) older than the retention.
  void trim_locked(uint64_t now_unix_nanos);

  mutable std::mutex mu_;
  std::deque<LogPtr> logs_;  // arrival order
  size_t max_count_;
  uint64_t retention_seconds_;
  uint64_t evicted_ = 0;
};

// Reads engine::logs::list's input; throws std::invalid_argument with a message.
LogQuery parse_log_query(const boost::json::object& input);

}  // namespace iii::obs
