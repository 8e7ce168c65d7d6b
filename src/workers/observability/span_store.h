// The in-memory span store behind engine::traces::* (docs/observability.md "Traces"): the most
// recent spans, oldest evicted first once there are more than `max_spans` or they take more than
// `max_bytes`. Thread-safe; add() is on the call path, so it only appends under a short lock.
#pragma once
#include <boost/json/object.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "workers/observability/stored_span.h"
#include "workers/observability/telemetry_records.h"

namespace iii::obs {

struct SpanQuery {
  std::vector<std::string> trace_ids;  // any of them; empty = all
  std::string service_name;            // exact, case-insensitive
  std::string name;                    // substring of the span name
  std::string status;                  // ok | error | unset
  double min_duration_ms = -1, max_duration_ms = -1;  // < 0 = no bound
  uint64_t start_time_ms = 0, end_time_ms = 0;       // spans starting in [start, end]; 0 = open
  Attributes attributes;          // every one must match (raw JSON values, strings compared unquoted too)
  Attributes exclude_attributes;  // none may match
  bool include_internal = false;  // the engine's spans of engine::* calls
  std::string sort_by = "start_time";  // start_time | duration | name
  bool descending = true;
  size_t offset = 0, limit = 100;
};

struct SpanPage {
  std::vector<SpanPtr> spans;
  size_t total = 0;
};

struct SpanTreeNode {
  SpanPtr span;
  std::vector<SpanTreeNode> children;
};

struct SpanGroup {
  std::string value, label;
  std::vector<std::string> trace_ids;
  size_t span_count = 0, error_count = 0;
  uint64_t first_seen_ms = 0, last_seen_ms = 0;
  double duration_ms = 0;  // sum of the group's span durations
};

struct SpanStoreStats {
  size_t spans = 0, bytes = 0;
  uint64_t added = 0, evicted = 0;
};

// True for spans hidden unless a query asks for internal ones: the engine's own spans of
// engine::* functions (the console polling engine::traces::list would otherwise fill the list).
bool is_internal_span(const SpanRecord& span);

class SpanStore {
 public:
  SpanStore(size_t max_spans, size_t max_bytes) : max_spans_(max_spans), max_bytes_(max_bytes) {}

  void add(SpanRecord span);
  void add_all(std::vector<SpanRecord> spans);
  void add_stored(const std::vector<StoredSpan>& spans);
  void set_bounds(size_t max_spans, size_t max_bytes);

  SpanPage list(const SpanQuery& query) const;
  // Every span of one trace, oldest first.
  std::vector<SpanPtr> trace(std::string_view trace_id) const;
  std::vector<SpanGroup> group_by(std::string_view attribute, uint64_t since_ms, size_t limit, bool include_internal,
                                  std::string_view label_attribute) const;
  void clear();
  SpanStoreStats stats() const;

 private:
  void evict_locked();

  mutable std::mutex mu_;
  std::vector<StoredSpan> snapshot() const;

  std::deque<StoredSpan> spans_;  // in arrival order
  size_t bytes_ = 0;
  size_t max_spans_, max_bytes_;
  uint64_t added_ = 0, evicted_ = 0;
};

// The roots of `spans` (one trace) with their descendants; a span whose parent is not among them
// is a root.
std::vector<SpanTreeNode> build_tree(const std::vector<SpanPtr>& spans);

// Reads engine::traces::list's input into a query; throws std::invalid_argument with a message.
SpanQuery parse_span_query(const boost::json::object& input);

}  // namespace iii::obs
