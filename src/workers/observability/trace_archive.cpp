#include "workers/observability/trace_archive.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <unordered_set>

#include "core/json_text.h"
#include "wire/json_writer.h"

namespace iii::obs {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kFooterPrefix = "{\"iii_segment_footer\":";
constexpr size_t kPendingFlushBytes = 1 << 20;  // write to the file at least every MiB
constexpr uint64_t kMaxWakeBytes = 4 << 20;     // a queue this full wakes the writer early
constexpr uint64_t kFooterReserve = 96;         // room kept for the footer sealing the active segment
constexpr auto kRetryAfterFailure = std::chrono::seconds(1);

uint64_t now_unix_nano() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

uint64_t span_time(const SpanRecord& s) { return std::max(s.end_time_unix_nano, s.start_time_unix_nano); }

std::string footer_line(uint64_t newest) {
  return std::string(kFooterPrefix) + "true,\"newest_unix_nano\":" + std::to_string(newest) + "}\n";
}

// "spans-<digits>.jsonl" → seq.
std::optional<uint64_t> segment_seq(const std::string& name) {
  constexpr std::string_view prefix = "spans-", suffix = ".jsonl";
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix))
    return std::nullopt;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 18) return std::nullopt;
  return std::stoull(digits);
}

std::optional<std::string> read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return data;
}

// The complete lines of `data` (a trailing piece without '\n' is torn, or still being written).
std::vector<std::string_view> complete_lines(std::string_view data) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t nl = data.find('\n'); nl != std::string_view::npos; nl = data.find('\n', start)) {
    if (nl > start) lines.push_back(data.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

bool write_fully(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string span_key(const SpanRecord& s) { return s.trace_id + '/' + s.span_id; }

std::string string_field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

uint64_t uint_field(const json::object& o, std::string_view key, uint64_t fallback) {
  const json::value* v = o.if_contains(key);
  if (!v) return fallback;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<uint64_t>(v->get_int64());
  return fallback;
}

Attributes attributes_field(const json::object& o) {
  Attributes out;
  const json::value* v = o.if_contains("attributes");
  if (!v || !v->is_object()) return out;
  for (const auto& kv : v->get_object()) out.push_back(Attribute{std::string(kv.key()), json_text::serialize(kv.value())});
  return out;
}

}  // namespace

// --- opening ---

TraceArchive::TraceArchive(TraceArchiveOptions options) : options_(std::move(options)) {
  if (options_.segment_bytes == 0)
    options_.segment_bytes = std::min<uint64_t>(uint64_t{16} << 20, options_.max_disk_bytes / 8);
  options_.segment_bytes = std::max<uint64_t>(options_.segment_bytes, 1024);
}

std::unique_ptr<TraceArchive> TraceArchive::open(TraceArchiveOptions options) {
  std::unique_ptr<TraceArchive> archive(new TraceArchive(std::move(options)));
  const fs::path& dir = archive->options_.directory;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw std::runtime_error("trace archive: cannot create directory " + dir.string() + ": " +
                             (ec ? ec.message() : "not a directory"));
  archive->load_segments();
  // Opening the first segment now proves that the directory is writable.
  if (!archive->ensure_active())
    throw std::runtime_error("trace archive: cannot write in " + dir.string() + ": " + archive->last_error_);
  archive->writer_ = std::thread([a = archive.get()] { a->run(); });
  return archive;
}

// Learns every segment's size and age. Sealed ones say their age in the footer; one left unsealed
// by a crash is read once and sealed now (after a '\n' that ends a torn last line, if any).
void TraceArchive::load_segments() {
  std::vector<uint64_t> seqs;
  for (const auto& entry : fs::directory_iterator(options_.directory)) {
    if (!entry.is_regular_file()) continue;
    // Only names this archive writes (zero-padded), so that segment_path(seq) finds the file again.
    const std::string name = entry.path().filename().string();
    if (auto seq = segment_seq(name); seq && segment_path(*seq).filename() == name) seqs.push_back(*seq);
  }
  std::sort(seqs.begin(), seqs.end());
  for (uint64_t seq : seqs) {
    const fs::path path = segment_path(seq);
    next_seq_ = std::max(next_seq_, seq + 1);
    std::error_code ec;
    const uint64_t size = fs::file_size(path, ec);
    if (ec) continue;
    if (size == 0) {
      fs::remove(path, ec);
      continue;
    }
    Segment segment{seq, size, 0};
    std::ifstream in(path, std::ios::binary);
    const uint64_t tail_size = std::min<uint64_t>(size, 256);
    std::string tail(tail_size, '\0');
    in.seekg(static_cast<std::streamoff>(size - tail_size));
    in.read(tail.data(), static_cast<std::streamsize>(tail_size));
    const size_t last_start = tail.size() >= 2 ? tail.rfind('\n', tail.size() - 2) : std::string::npos;
    const std::string_view last = std::string_view(tail).substr(last_start == std::string::npos ? 0 : last_start + 1);
    auto footer = last.starts_with(kFooterPrefix) ? json_text::parse(last) : std::nullopt;
    if (footer && footer->is_object() && footer->get_object().contains("newest_unix_nano")) {
      segment.newest_unix_nano = uint_field(footer->get_object(), "newest_unix_nano", 0);
    } else {
      const std::optional<std::string> data = read_all(path);
      if (!data || data->empty()) continue;
      for (std::string_view line : complete_lines(*data))
        if (auto span = span_from_json(line)) segment.newest_unix_nano = std::max(segment.newest_unix_nano, span_time(*span));
      std::string seal = footer_line(segment.newest_unix_nano);
      if (data->back() != '\n') seal.insert(seal.begin(), '\n');
      std::ofstream(path, std::ios::binary | std::ios::app) << seal;
      segment.bytes += seal.size();
    }
    segments_.push_back(segment);
    disk_bytes_ += segment.bytes;
  }
}

fs::path TraceArchive::segment_path(uint64_t seq) const {
  char name[48];
  std::snprintf(name, sizeof name, "spans-%012llu.jsonl", static_cast<unsigned long long>(seq));
  return options_.directory / name;
}

// --- appending, flushing, closing ---

TraceArchive::~TraceArchive() { close(); }

void TraceArchive::append(std::vector<SpanRecord> spans) {
  append_stored(stored_spans_of(std::move(spans)));
}

void TraceArchive::append_stored(const std::vector<StoredSpan>& spans) {
  if (spans.empty()) return;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      dropped_ += spans.size();
      return;
    }
    const uint64_t wake_bytes = std::min(kMaxWakeBytes, options_.max_queue_bytes / 4);
    const bool was_below = queue_bytes_ < wake_bytes;
    for (const StoredSpan& span : spans) {
      const size_t bytes = span.approx_bytes();
      if (queue_bytes_ + bytes > options_.max_queue_bytes) {
        ++dropped_;  // the writer is behind: losing the newest spans keeps memory bounded
        continue;
      }
      queue_bytes_ += bytes;
      queue_.push_back(span);
      ++accepted_;
    }
    wake = was_below && queue_bytes_ >= wake_bytes;
  }
  if (wake) wake_.notify_one();
}

bool TraceArchive::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const uint64_t target = accepted_;
  if (handled_ >= target) return true;
  flush_requested_ = true;
  wake_.notify_one();
  return done_.wait_for(lock, timeout, [&] { return handled_ >= target; });
}

void TraceArchive::close() {
  std::lock_guard close_lock(close_mu_);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
}

TraceArchiveStats TraceArchive::stats() const {
  std::lock_guard lock(mu_);
  return {written_, dropped_, disk_bytes_, segments_.size()};
}

// --- the writer thread ---

void TraceArchive::run() {
  std::unique_lock lock(mu_);
  const uint64_t wake_bytes = std::min(kMaxWakeBytes, options_.max_queue_bytes / 4);
  for (;;) {
    wake_.wait_for(lock, options_.write_interval,
                   [&] { return stopping_ || flush_requested_ || queue_bytes_ >= wake_bytes; });
    // The batch stays visible to readers (inflight_) until it is on disk.
    auto batch = std::make_shared<std::vector<StoredSpan>>(std::move(queue_));
    queue_.clear();
    queue_bytes_ = 0;
    flush_requested_ = false;
    inflight_ = batch;
    const bool stop = stopping_;
    lock.unlock();

    write_batch(*batch);
    enforce_disk_bound(0);  // also when nothing is written: the bound may have shrunk since the last run
    enforce_retention();

    lock.lock();
    handled_ += batch->size();
    inflight_.reset();
    done_.notify_all();
    if (stop) break;  // append() refuses spans once stopping_ is set: this batch was the last
  }
  lock.unlock();
  seal_active();
}

void TraceArchive::write_batch(const std::vector<StoredSpan>& batch) {
  std::string line;
  for (const StoredSpan& stored : batch) {
    // The line stored for a span: to_json plus what the archive must keep that to_json leaves out
    // (engine spans are written without making a record of them).
    line.clear();
    stored.append_json(line);
    if (stored.is_engine_span()) {
      line.pop_back();  // the closing brace
      line += ",\"engine_span\":true}";
    }
    line += '\n';
    write_line(line, std::max(stored.end_time_unix_nano(), stored.start_time_unix_nano()));
  }
  flush_pending();
}

void TraceArchive::write_line(const std::string& line, uint64_t time) {
  // A line that could never fit within the bound would only evict everything else.
  if (line.size() > options_.max_disk_bytes * 8 / 10) {
    std::lock_guard lock(mu_);
    ++dropped_;
    return;
  }
  enforce_disk_bound(line.size());
  const uint64_t active_bytes = active_fd_ >= 0 ? segments_.back().bytes + pending_.size() : 0;
  if (active_bytes > 0 && active_bytes + line.size() > options_.segment_bytes) seal_active();
  if (!ensure_active()) {
    std::lock_guard lock(mu_);
    ++dropped_;
    return;
  }
  pending_ += line;
  ++pending_spans_;
  pending_newest_ = std::max(pending_newest_, time);
  if (pending_.size() >= kPendingFlushBytes) flush_pending();
}

void TraceArchive::flush_pending() {
  if (pending_spans_ == 0) return;
  const bool ok = active_fd_ >= 0 && write_fully(active_fd_, pending_);
  if (!ok) report_failure(std::string("write: ") + std::strerror(errno));
  else failing_ = false;
  std::lock_guard lock(mu_);
  if (ok) {
    Segment& active = segments_.back();
    active.bytes += pending_.size();
    active.newest_unix_nano = std::max(active.newest_unix_nano, pending_newest_);
    disk_bytes_ += pending_.size();
    written_ += pending_spans_;
  } else {
    dropped_ += pending_spans_;  // a partial line may remain: readers skip it as torn
  }
  pending_.clear();
  pending_spans_ = 0;
  pending_newest_ = 0;
}

bool TraceArchive::ensure_active() {
  if (active_fd_ >= 0) return true;
  // While the disk refuses, retry now and then rather than once per span.
  if (failing_ && std::chrono::steady_clock::now() < retry_after_) return false;
  const uint64_t seq = next_seq_++;
  const int fd = ::open(segment_path(seq).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    report_failure("open " + segment_path(seq).string() + ": " + std::strerror(errno));
    return false;
  }
  active_fd_ = fd;
  std::lock_guard lock(mu_);
  segments_.push_back(Segment{seq, 0, 0});
  return true;
}

// Ends the active segment with its footer; an empty one is removed instead.
void TraceArchive::seal_active() {
  if (active_fd_ < 0) return;
  flush_pending();
  uint64_t seq, bytes, newest;
  {
    std::lock_guard lock(mu_);
    seq = segments_.back().seq;
    bytes = segments_.back().bytes;
    newest = segments_.back().newest_unix_nano;
  }
  const std::string footer = footer_line(newest);
  const bool footed = bytes > 0 && write_fully(active_fd_, footer);
  ::close(active_fd_);
  active_fd_ = -1;
  if (bytes == 0) return drop_segment(seq);
  if (!footed) return;  // the next open reads the whole segment instead of its footer
  std::lock_guard lock(mu_);
  segments_.back().bytes += footer.size();
  disk_bytes_ += footer.size();
}

// Makes room for `incoming` bytes: past max_disk_bytes, the oldest segments go until the
// directory holds about 80% of it, so that deletions come in bursts rather than one per line.
void TraceArchive::enforce_disk_bound(uint64_t incoming) {
  uint64_t used;
  {
    std::lock_guard lock(mu_);
    used = disk_bytes_;
  }
  if (used + pending_.size() + incoming + kFooterReserve <= options_.max_disk_bytes) return;
  flush_pending();
  const uint64_t target = options_.max_disk_bytes * 8 / 10;
  for (;;) {
    uint64_t oldest;
    {
      std::lock_guard lock(mu_);
      if (segments_.empty() || disk_bytes_ + incoming + kFooterReserve <= target) return;
      oldest = segments_.front().seq;
    }
    drop_segment(oldest);
  }
}

void TraceArchive::enforce_retention() {
  if (options_.retention_seconds == 0) return;
  flush_pending();
  const uint64_t horizon = options_.retention_seconds * 1'000'000'000ull;
  const uint64_t now = now_unix_nano();
  const uint64_t cutoff = now > horizon ? now - horizon : 0;
  std::vector<uint64_t> expired;
  {
    std::lock_guard lock(mu_);
    for (const Segment& s : segments_)
      if (s.bytes > 0 && s.newest_unix_nano < cutoff) expired.push_back(s.seq);
  }
  for (uint64_t seq : expired) drop_segment(seq);
}

// Forgets a segment and deletes its file (outside the lock: append() must not wait for the disk).
// A reader that listed it before may find it gone, and skips it.
void TraceArchive::drop_segment(uint64_t seq) {
  const bool active = active_fd_ >= 0 && segments_.back().seq == seq;  // segments_ changes on this thread only
  if (active) {
    ::close(active_fd_);
    active_fd_ = -1;
  }
  {
    std::lock_guard lock(mu_);
    if (active) dropped_ += pending_spans_;
    auto it = std::find_if(segments_.begin(), segments_.end(), [&](const Segment& s) { return s.seq == seq; });
    if (it == segments_.end()) return;
    disk_bytes_ -= it->bytes;
    segments_.erase(it);
  }
  if (active) {
    pending_.clear();
    pending_spans_ = 0;
    pending_newest_ = 0;
  }
  std::error_code ec;
  fs::remove(segment_path(seq), ec);
}

void TraceArchive::report_failure(const std::string& what) {
  last_error_ = what;
  retry_after_ = std::chrono::steady_clock::now() + kRetryAfterFailure;
  if (!failing_) spdlog::warn("trace archive {}: {} (spans are dropped until it recovers)", options_.directory.string(), what);
  failing_ = true;
}

// --- reading ---

std::vector<SpanRecord> TraceArchive::recent(size_t max_spans) {
  if (max_spans == 0) return {};
  std::vector<SpanRecord> newest_first;
  std::shared_ptr<const std::vector<StoredSpan>> inflight;
  std::vector<uint64_t> seqs;
  {
    std::lock_guard lock(mu_);
    for (auto it = queue_.rbegin(); it != queue_.rend() && newest_first.size() < max_spans; ++it)
      newest_first.push_back(*it->record());
    inflight = inflight_;
    for (const Segment& s : segments_) seqs.push_back(s.seq);
  }
  // The writer may store a span between that snapshot and the reads below: seen drops the copy.
  std::unordered_set<std::string> seen;
  for (const SpanRecord& s : newest_first) seen.insert(span_key(s));
  auto take = [&](SpanRecord span) {
    if (seen.insert(span_key(span)).second) newest_first.push_back(std::move(span));
  };
  if (inflight)
    for (auto it = inflight->rbegin(); it != inflight->rend() && newest_first.size() < max_spans; ++it)
      take(*it->record());
  for (auto seq = seqs.rbegin(); seq != seqs.rend() && newest_first.size() < max_spans; ++seq) {
    const std::optional<std::string> data = read_all(segment_path(*seq));
    if (!data) continue;  // deleted meanwhile
    const std::vector<std::string_view> lines = complete_lines(*data);
    for (auto line = lines.rbegin(); line != lines.rend() && newest_first.size() < max_spans; ++line) {
      if (line->starts_with(kFooterPrefix)) continue;
      if (auto span = span_from_json(*line)) take(std::move(*span));
    }
  }
  std::reverse(newest_first.begin(), newest_first.end());
  return newest_first;
}

std::vector<SpanRecord> TraceArchive::trace(std::string_view trace_id) {
  std::vector<SpanRecord> memory;
  std::vector<uint64_t> seqs;
  {
    std::lock_guard lock(mu_);
    std::array<uint8_t, 16> bytes{};
    from_hex(trace_id, bytes);
    if (inflight_)
      for (const StoredSpan& s : *inflight_)
        if (s.in_trace(bytes, trace_id)) memory.push_back(*s.record());
    for (const StoredSpan& s : queue_)
      if (s.in_trace(bytes, trace_id)) memory.push_back(*s.record());
    for (const Segment& s : segments_) seqs.push_back(s.seq);
  }
  // to_json writes trace_id first, so a line of this trace starts with this: parse only those.
  std::string prefix = "{\"trace_id\":";
  append_json_string(prefix, trace_id);
  std::vector<SpanRecord> out;
  std::unordered_set<std::string> seen;
  auto take = [&](SpanRecord span) {
    if (span.trace_id == trace_id && seen.insert(span_key(span)).second) out.push_back(std::move(span));
  };
  for (uint64_t seq : seqs) {
    const std::optional<std::string> data = read_all(segment_path(seq));
    if (!data) continue;
    for (std::string_view line : complete_lines(*data))
      if (line.starts_with(prefix))
        if (auto span = span_from_json(line)) take(std::move(*span));
  }
  for (SpanRecord& s : memory) take(std::move(s));
  return out;
}

// --- the line format ---

std::optional<SpanRecord> span_from_json(std::string_view line) {
  std::optional<json::value> parsed = json_text::parse(line);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  const json::object& o = parsed->get_object();
  SpanRecord s;
  s.trace_id = string_field(o, "trace_id");
  s.span_id = string_field(o, "span_id");
  if (s.trace_id.empty() || s.span_id.empty()) return std::nullopt;
  s.parent_span_id = string_field(o, "parent_span_id");  // null for a root: stays empty
  s.name = string_field(o, "name");
  s.kind = static_cast<uint8_t>(uint_field(o, "kind", 1));
  s.start_time_unix_nano = uint_field(o, "start_time_unix_nano", 0);
  s.end_time_unix_nano = uint_field(o, "end_time_unix_nano", 0);
  const std::string status = string_field(o, "status");
  s.status = status == "ok" ? SpanStatus::kOk : status == "error" ? SpanStatus::kError : SpanStatus::kUnset;
  s.status_message = string_field(o, "status_description");
  s.attributes = attributes_field(o);
  s.service_name = string_field(o, "service_name");
  s.scope_name = string_field(o, "instrumentation_scope_name");
  s.scope_version = string_field(o, "instrumentation_scope_version");
  s.flags = static_cast<uint32_t>(uint_field(o, "flags", 1));
  if (const json::value* events = o.if_contains("events"); events && events->is_array()) {
    for (const json::value& e : events->get_array()) {
      if (!e.is_object()) continue;
      const json::object& eo = e.get_object();
      s.events.push_back(SpanEvent{string_field(eo, "name"), uint_field(eo, "timestamp_unix_nano", 0), attributes_field(eo)});
    }
  }
  const json::value* engine = o.if_contains("engine_span");
  s.engine_span = engine && engine->is_bool() && engine->get_bool();
  return s;
}

}  // namespace iii::obs
