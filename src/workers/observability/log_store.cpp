#include "workers/observability/log_store.h"

#include <boost/json.hpp>

#include <algorithm>
#include <stdexcept>

#include "workers/observability/query_input.h"
#include "core/ascii.h"

namespace iii::obs {
namespace {

namespace json = boost::json;

bool matches(const LogRecord& l, const LogQuery& q) {
  const uint64_t ms = l.time_unix_nano / 1'000'000;
  if (q.start_time_ms && ms < q.start_time_ms) return false;
  if (q.end_time_ms && ms > q.end_time_ms) return false;
  if (!q.trace_id.empty() && l.trace_id != q.trace_id) return false;
  if (!q.span_id.empty() && l.span_id != q.span_id) return false;
  if (l.severity_number < q.severity_min) return false;
  if (!q.severity_text.empty() && !ascii_iequals(l.severity_text, q.severity_text)) return false;
  return true;
}

}  // namespace

void LogStore::add(LogPtr log) {
  std::lock_guard lock(mu_);
  logs_.push_back(std::move(log));
  trim_locked(0);
}

void LogStore::trim_locked(uint64_t now) {
  const uint64_t horizon = retention_seconds_ * 1'000'000'000ull;
  const bool by_age = now > horizon;
  for (; !logs_.empty(); ++evicted_) {
    const bool too_many = logs_.size() > max_count_;
    const bool too_old = by_age && logs_.front()->time_unix_nano < now - horizon;
    if (!too_many && !too_old) break;
    logs_.pop_front();
  }
}

LogPage LogStore::list(const LogQuery& q) const {
  LogPage page;
  std::lock_guard lock(mu_);
  for (auto it = logs_.rbegin(); it != logs_.rend(); ++it) {
    if (!matches(**it, q)) continue;
    if (page.total >= q.offset && page.logs.size() < q.limit) page.logs.push_back(*it);
    ++page.total;
  }
  return page;
}

void LogStore::clear() {
  std::lock_guard lock(mu_);
  logs_.clear();
}

void LogStore::expire(uint64_t now) {
  std::lock_guard lock(mu_);
  trim_locked(now);
}

void LogStore::set_bounds(size_t max_count, uint64_t retention_seconds) {
  std::lock_guard lock(mu_);
  max_count_ = max_count;
  retention_seconds_ = retention_seconds;
  trim_locked(0);
}

LogStore::Stats LogStore::stats() const {
  std::lock_guard lock(mu_);
  return Stats{logs_.size(), evicted_};
}

LogQuery parse_log_query(const json::object& in) {
  const QueryInput input(in);
  LogQuery q;
  q.start_time_ms = input.count("start_time");
  q.end_time_ms = input.count("end_time");
  q.trace_id = input.string("trace_id");
  q.span_id = input.string("span_id");
  q.severity_min = static_cast<int>(input.number("severity_min", 0));
  q.severity_text = input.string("severity_text");
  q.offset = input.count("offset");
  q.limit = std::min<uint64_t>(input.count("limit", 100), 10000);
  return q;
}

}  // namespace iii::obs
