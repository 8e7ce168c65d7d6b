#include "workers/observability/span_store.h"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include "core/json_text.h"
#include "workers/observability/query_input.h"
#include "core/ascii.h"

namespace iii::obs {
namespace {

namespace json = boost::json;

// A raw attribute value against a wanted one: equal JSON, or a JSON string whose text is `want`.
bool value_matches(std::string_view raw, std::string_view want) {
  if (raw == want) return true;
  if (raw.size() >= 2 && raw.front() == '"') {
    std::optional<json::value> v = json_text::parse(raw);
    if (v && v->is_string() && v->get_string() == want) return true;
  }
  return false;
}

bool has_attribute(const SpanRecord& s, const Attribute& a) {
  for (const Attribute& x : s.attributes)
    if (x.key == a.key && value_matches(x.value, a.value)) return true;
  return false;
}

uint64_t to_ms(uint64_t nanos) { return nanos / 1'000'000; }

// The query's trace ids in both forms (engine spans keep theirs as bytes).
struct TraceFilter {
  std::vector<std::pair<std::array<uint8_t, 16>, std::string>> ids;
  explicit TraceFilter(const std::vector<std::string>& hex) {
    for (const std::string& h : hex) {
      std::array<uint8_t, 16> bytes{};
      from_hex(h, bytes);  // a malformed id matches no engine span (all-zero ids are never minted)
      ids.emplace_back(bytes, h);
    }
  }
  bool accepts(const StoredSpan& s) const {
    if (ids.empty()) return true;
    for (const auto& [bytes, hex] : ids)
      if (s.in_trace(bytes, hex)) return true;
    return false;
  }
};

// Checks the fields a stored span answers directly first; attribute filters need the record.
bool matches(const StoredSpan& s, const SpanQuery& q, const TraceFilter& traces) {
  if (!q.include_internal && s.internal()) return false;
  if (!traces.accepts(s)) return false;
  if (!q.service_name.empty() && !ascii_iequals(s.service_name(), q.service_name)) return false;
  if (!q.name.empty() && s.name().find(q.name) == std::string::npos) return false;
  if (!q.status.empty() && !ascii_iequals(status_name(s.status()), q.status)) return false;
  const double ms = static_cast<double>(s.duration_nanos()) / 1e6;
  if (q.min_duration_ms >= 0 && ms < q.min_duration_ms) return false;
  if (q.max_duration_ms >= 0 && ms > q.max_duration_ms) return false;
  const uint64_t start = to_ms(s.start_time_unix_nano());
  if (q.start_time_ms && start < q.start_time_ms) return false;
  if (q.end_time_ms && start > q.end_time_ms) return false;
  if (q.attributes.empty() && q.exclude_attributes.empty()) return true;
  const SpanPtr record = s.record();
  for (const Attribute& a : q.attributes)
    if (!has_attribute(*record, a)) return false;
  for (const Attribute& a : q.exclude_attributes)
    if (has_attribute(*record, a)) return false;
  return true;
}

// A filter value as the raw JSON a span attribute would hold (strings unquoted for value_matches).
Attributes attribute_filter(const json::value& v, const char* key) {
  Attributes out;
  if (v.is_null()) return out;
  if (!v.is_object()) throw std::invalid_argument(std::string("`") + key + "` must be an object of attribute values");
  for (const auto& [k, value] : v.get_object())
    out.push_back(Attribute{std::string(k), value.is_string() ? std::string(value.get_string()) : json_text::serialize(value)});
  return out;
}

std::string unquoted(std::string_view raw) {
  if (raw.size() >= 2 && raw.front() == '"') {
    std::optional<json::value> v = json_text::parse(raw);
    if (v && v->is_string()) return std::string(v->get_string());
  }
  return std::string(raw);
}

}  // namespace

bool is_internal_span(const SpanRecord& s) {
  if (!s.engine_span) return false;
  const std::string_view fn = s.attribute("iii.function.id");
  return fn.starts_with("\"engine::");
}

void SpanStore::add(SpanRecord span) {
  std::vector<SpanRecord> one;
  one.push_back(std::move(span));
  add_all(std::move(one));
}

void SpanStore::add_all(std::vector<SpanRecord> spans) {
  add_stored(stored_spans_of(std::move(spans)));
}

void SpanStore::add_stored(const std::vector<StoredSpan>& spans) {
  size_t size = 0;
  for (const StoredSpan& s : spans) size += s.approx_bytes();
  std::lock_guard lock(mu_);
  spans_.insert(spans_.end(), spans.begin(), spans.end());
  bytes_ += size;
  added_ += spans.size();
  evict_locked();
}

void SpanStore::set_bounds(size_t max_spans, size_t max_bytes) {
  std::lock_guard lock(mu_);
  max_spans_ = max_spans;
  max_bytes_ = max_bytes;
  evict_locked();
}

void SpanStore::evict_locked() {
  while (!spans_.empty() && (spans_.size() > max_spans_ || bytes_ > max_bytes_)) {
    bytes_ -= std::min(bytes_, spans_.front().approx_bytes());
    spans_.pop_front();
    ++evicted_;
  }
}

// Queries scan a copy, so that a slow one (attribute filters make records) never holds the lock
// the timer's drain needs.
std::vector<StoredSpan> SpanStore::snapshot() const {
  std::lock_guard lock(mu_);
  return {spans_.begin(), spans_.end()};
}

SpanPage SpanStore::list(const SpanQuery& q) const {
  const TraceFilter traces(q.trace_ids);
  std::vector<StoredSpan> hits;
  for (StoredSpan& s : snapshot())
    if (matches(s, q, traces)) hits.push_back(std::move(s));
  auto key_less = [&](const StoredSpan& a, const StoredSpan& b) {
    if (q.sort_by == "duration") return a.duration_nanos() < b.duration_nanos();
    if (q.sort_by == "name") return a.name() < b.name();
    return a.start_time_unix_nano() < b.start_time_unix_nano();
  };
  std::stable_sort(hits.begin(), hits.end(), [&](const StoredSpan& a, const StoredSpan& b) {
    return q.descending ? key_less(b, a) : key_less(a, b);
  });
  SpanPage page;
  page.total = hits.size();
  for (size_t i = q.offset; i < hits.size() && page.spans.size() < q.limit; ++i) page.spans.push_back(hits[i].record());
  return page;
}

std::vector<SpanPtr> SpanStore::trace(std::string_view trace_id) const {
  const TraceFilter filter({std::string(trace_id)});
  std::vector<SpanPtr> out;
  for (const StoredSpan& s : snapshot())
    if (filter.accepts(s)) out.push_back(s.record());
  return out;
}

std::vector<SpanGroup> SpanStore::group_by(std::string_view attribute, uint64_t since_ms, size_t limit,
                                           bool include_internal, std::string_view label_attribute) const {
  std::map<std::string, SpanGroup> groups;
  {
    for (const StoredSpan& stored : snapshot()) {
      if (!include_internal && stored.internal()) continue;
      const SpanPtr s = stored.record();
      const uint64_t start = to_ms(s->start_time_unix_nano);
      if (since_ms && start < since_ms) continue;
      const std::string_view raw = attribute == "service.name" || attribute == "service_name"
                                       ? std::string_view()
                                       : attribute == "name" ? std::string_view() : s->attribute(attribute);
      std::string value;
      if (attribute == "service.name" || attribute == "service_name") value = s->service_name;
      else if (attribute == "name") value = s->name;
      else if (raw.empty()) continue;
      else value = unquoted(raw);
      SpanGroup& g = groups[value];
      if (g.span_count == 0) {
        g.value = value;
        g.first_seen_ms = start;
      }
      if (g.label.empty() && !label_attribute.empty())
        if (std::string_view l = s->attribute(label_attribute); !l.empty()) g.label = unquoted(l);
      if (std::find(g.trace_ids.begin(), g.trace_ids.end(), s->trace_id) == g.trace_ids.end() && g.trace_ids.size() < 100)
        g.trace_ids.push_back(s->trace_id);
      ++g.span_count;
      if (s->status == SpanStatus::kError) ++g.error_count;
      g.first_seen_ms = std::min(g.first_seen_ms, start);
      g.last_seen_ms = std::max(g.last_seen_ms, to_ms(s->end_time_unix_nano));
      g.duration_ms += static_cast<double>(s->duration_nanos()) / 1e6;
    }
  }
  std::vector<SpanGroup> out;
  for (auto& [k, g] : groups) {
    if (g.label.empty()) g.label = g.value;
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const SpanGroup& a, const SpanGroup& b) { return a.last_seen_ms > b.last_seen_ms; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

void SpanStore::clear() {
  std::lock_guard lock(mu_);
  spans_.clear();
  bytes_ = 0;
}

SpanStoreStats SpanStore::stats() const {
  std::lock_guard lock(mu_);
  return SpanStoreStats{spans_.size(), bytes_, added_, evicted_};
}

std::vector<SpanTreeNode> build_tree(const std::vector<SpanPtr>& spans) {
  std::unordered_map<std::string_view, std::vector<size_t>> children;  // parent id → indexes
  std::unordered_map<std::string_view, size_t> by_id;
  for (size_t i = 0; i < spans.size(); ++i) by_id.emplace(spans[i]->span_id, i);
  std::vector<size_t> roots;
  for (size_t i = 0; i < spans.size(); ++i) {
    const std::string& parent = spans[i]->parent_span_id;
    if (!parent.empty() && by_id.count(parent) && parent != spans[i]->span_id) children[parent].push_back(i);
    else roots.push_back(i);
  }
  auto by_start = [&](size_t a, size_t b) { return spans[a]->start_time_unix_nano < spans[b]->start_time_unix_nano; };
  // Depth-bounded recursion: a deep chain (or a cycle in bad input) cannot exhaust the stack;
  // deeper spans are still listed by engine::traces::list.
  constexpr size_t kMaxDepth = 256;
  std::function<SpanTreeNode(size_t, size_t)> build = [&](size_t i, size_t depth) {
    SpanTreeNode node{spans[i], {}};
    if (depth >= kMaxDepth) return node;
    auto it = children.find(spans[i]->span_id);
    if (it == children.end()) return node;
    std::vector<size_t> kids = it->second;
    std::sort(kids.begin(), kids.end(), by_start);
    for (size_t k : kids) node.children.push_back(build(k, depth + 1));
    return node;
  };
  std::sort(roots.begin(), roots.end(), by_start);
  std::vector<SpanTreeNode> out;
  for (size_t r : roots) out.push_back(build(r, 0));
  return out;
}

SpanQuery parse_span_query(const json::object& in) {
  const QueryInput input(in);
  SpanQuery q;
  if (std::string id = input.string("trace_id"); !id.empty()) q.trace_ids.push_back(id);
  if (const json::value* ids = input.find("trace_ids")) {
    if (!ids->is_array()) throw std::invalid_argument("`trace_ids` must be a list of strings");
    for (const json::value& id : ids->get_array()) {
      if (!id.is_string()) throw std::invalid_argument("`trace_ids` must be a list of strings");
      q.trace_ids.emplace_back(id.get_string());
    }
  }
  q.service_name = input.string("service_name");
  q.name = input.string("name");
  q.status = input.string("status");
  if (!q.status.empty() && !ascii_iequals(q.status, "ok") && !ascii_iequals(q.status, "error") && !ascii_iequals(q.status, "unset"))
    throw std::invalid_argument("`status` must be ok, error or unset");
  q.min_duration_ms = input.number("min_duration_ms", -1);
  q.max_duration_ms = input.number("max_duration_ms", -1);
  q.start_time_ms = input.count("start_time");
  q.end_time_ms = input.count("end_time");
  if (const json::value* a = input.find("attributes")) q.attributes = attribute_filter(*a, "attributes");
  if (const json::value* a = input.find("exclude_attributes")) q.exclude_attributes = attribute_filter(*a, "exclude_attributes");
  q.include_internal = input.flag("include_internal");
  input.flag("search_all_spans");  // every span is searched: accepted for compatibility
  if (std::string s = input.string("sort_by"); !s.empty()) {
    if (s == "start_time" || s == "timestamp") q.sort_by = "start_time";
    else if (s == "duration" || s == "duration_ms") q.sort_by = "duration";
    else if (s == "name") q.sort_by = "name";
    else throw std::invalid_argument("`sort_by` must be start_time, duration or name");
  }
  if (std::string s = input.string("sort_order"); !s.empty()) {
    if (s != "asc" && s != "desc") throw std::invalid_argument("`sort_order` must be asc or desc");
    q.descending = s == "desc";
  }
  q.offset = input.count("offset");
  q.limit = std::min<uint64_t>(input.count("limit", 100), 10000);
  return q;
}

}  // namespace iii::obs
