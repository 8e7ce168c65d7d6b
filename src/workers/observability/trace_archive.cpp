#include "workers/observability/trace_archive.h"

#include <fcntl.h>
#include <sys/stat.h>
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

constexpr size_t kPendingFlushBytes = 1 << 20;  // write a block at least every MiB
constexpr uint64_t kMaxWakeBytes = 4 << 20;     // a queue this full wakes the writer early
constexpr auto kRetryAfterFailure = std::chrono::seconds(1);
constexpr std::string_view kSegmentPrefix = "spans-", kSegmentSuffix = ".seg";

uint64_t now_unix_nano() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// "spans-<digits>.seg" → seq.
std::optional<uint64_t> segment_seq(const std::string& name) {
  const std::string_view prefix = kSegmentPrefix, suffix = kSegmentSuffix;
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

bool write_fully(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string span_key(const StoredSpan& s) { return s.trace_id_hex() + '/' + s.span_id_hex(); }

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

// Learns every segment's size and age from its block headers. A segment without one readable
// block (empty, or torn in its first block) is removed.
void TraceArchive::load_segments() {
  std::vector<uint64_t> seqs;
  size_t older_format = 0;
  for (const auto& entry : fs::directory_iterator(options_.directory)) {
    if (!entry.is_regular_file()) continue;
    // Only names this archive writes (zero-padded), so that segment_path(seq) finds the file again.
    const std::string name = entry.path().filename().string();
    if (auto seq = segment_seq(name); seq && segment_path(*seq).filename() == name) seqs.push_back(*seq);
    else if (name.starts_with(kSegmentPrefix) && name.ends_with(".jsonl")) ++older_format;
  }
  if (older_format)
    spdlog::warn("trace archive {}: {} segment file(s) of the older JSON-lines format are not read; delete them "
                 "to reclaim the space", options_.directory.string(), older_format);
  std::sort(seqs.begin(), seqs.end());
  for (uint64_t seq : seqs) {
    const fs::path path = segment_path(seq);
    next_seq_ = std::max(next_seq_, seq + 1);
    std::error_code ec;
    const uint64_t size = fs::file_size(path, ec);
    if (ec) continue;
    std::ifstream in(path, std::ios::binary);
    const std::vector<archive::BlockInfo> blocks = archive::scan_blocks(size, [&](uint64_t offset, size_t bytes) {
      std::string header(bytes, '\0');
      in.seekg(static_cast<std::streamoff>(offset));
      in.read(header.data(), static_cast<std::streamsize>(bytes));
      header.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
      return header;
    });
    if (blocks.empty()) {
      fs::remove(path, ec);
      continue;
    }
    Segment segment{seq, size, 0};
    for (const archive::BlockInfo& b : blocks) segment.newest_unix_nano = std::max(segment.newest_unix_nano, b.newest_unix_nano);
    segments_.push_back(segment);
    disk_bytes_ += segment.bytes;
  }
}

fs::path TraceArchive::segment_path(uint64_t seq) const {
  char name[48];
  std::snprintf(name, sizeof name, "spans-%012llu.seg", static_cast<unsigned long long>(seq));
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
  for (const StoredSpan& span : batch) write_span(span);
  flush_pending();
}

void TraceArchive::write_span(const StoredSpan& span) {
  json_.clear();
  if (!span.engine()) {
    json_ = to_json(*span.record());
    // What the archive must keep that to_json leaves out.
    if (span.is_engine_span()) {
      json_.pop_back();  // the closing brace
      json_ += ",\"engine_span\":true}";
    }
  }
  const uint64_t size = encoder_.encoded_size(span, json_);
  // A span that could never fit within the bound would only evict everything else.
  if (size + archive::kBlockHeaderBytes > options_.max_disk_bytes * 8 / 10) {
    std::lock_guard lock(mu_);
    ++dropped_;
    return;
  }
  enforce_disk_bound(size + (pending_.empty() ? archive::kBlockHeaderBytes : 0));
  const uint64_t active_bytes = active_fd_ >= 0 ? segments_.back().bytes + pending_.size() : 0;
  if (active_bytes > 0 && active_bytes + size > options_.segment_bytes) seal_active();
  if (!ensure_active()) {
    std::lock_guard lock(mu_);
    ++dropped_;
    return;
  }
  if (pending_.empty()) archive::SegmentEncoder::begin_block(pending_);
  encoder_.append_span(span, json_, pending_);  // may define names: after any rotation above
  ++pending_spans_;
  pending_newest_ = std::max({pending_newest_, span.end_time_unix_nano(), span.start_time_unix_nano()});
  if (pending_.size() >= kPendingFlushBytes) flush_pending();
}

// Writes the block being built.
void TraceArchive::flush_pending() {
  if (pending_spans_ == 0) return;
  archive::SegmentEncoder::finish_block(pending_, 0, static_cast<uint32_t>(pending_spans_), pending_newest_);
  const bool ok = active_fd_ >= 0 && write_fully(active_fd_, pending_);
  if (!ok) report_failure(std::string("write: ") + std::strerror(errno));
  else failing_ = false;
  {
    std::lock_guard lock(mu_);
    if (ok) {
      Segment& active = segments_.back();
      active.bytes += pending_.size();
      active.newest_unix_nano = std::max(active.newest_unix_nano, pending_newest_);
      disk_bytes_ += pending_.size();
      written_ += pending_spans_;
    } else {
      dropped_ += pending_spans_;
    }
  }
  pending_.clear();
  pending_spans_ = 0;
  pending_newest_ = 0;
  // Readers stop at a block that a failed write left torn: later blocks go to a new segment.
  if (!ok) close_active();
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

// Ends the active segment; an empty one is removed instead.
void TraceArchive::seal_active() {
  if (active_fd_ < 0) return;
  flush_pending();
  close_active();
}

// Closes the active segment's file (its size on disk re-read: a failed write may have left part
// of a block) and starts the next segment's names over. Pending spans are not written.
void TraceArchive::close_active() {
  if (active_fd_ < 0) return;
  struct stat st {};
  const bool sized = ::fstat(active_fd_, &st) == 0;
  ::close(active_fd_);
  active_fd_ = -1;
  encoder_.reset();
  uint64_t seq, bytes;
  {
    std::lock_guard lock(mu_);
    Segment& active = segments_.back();
    if (sized && static_cast<uint64_t>(st.st_size) != active.bytes) {
      disk_bytes_ = disk_bytes_ - active.bytes + static_cast<uint64_t>(st.st_size);
      active.bytes = static_cast<uint64_t>(st.st_size);
    }
    seq = active.seq, bytes = active.bytes;
  }
  if (bytes == 0) drop_segment(seq);
}

// Makes room for `incoming` bytes: past max_disk_bytes, the oldest segments go until the
// directory holds about 80% of it, so that deletions come in bursts rather than one per span.
void TraceArchive::enforce_disk_bound(uint64_t incoming) {
  uint64_t used;
  {
    std::lock_guard lock(mu_);
    used = disk_bytes_;
  }
  if (used + pending_.size() + incoming <= options_.max_disk_bytes) return;
  flush_pending();
  const uint64_t target = options_.max_disk_bytes * 8 / 10;
  for (;;) {
    uint64_t oldest;
    {
      std::lock_guard lock(mu_);
      if (segments_.empty() || disk_bytes_ + incoming <= target) return;
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
    encoder_.reset();
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

std::vector<StoredSpan> TraceArchive::read_segment(uint64_t seq, const archive::DecodeFilter& filter) const {
  std::vector<StoredSpan> spans;
  const std::optional<std::string> data = read_all(segment_path(seq));
  if (!data) return spans;  // deleted meanwhile
  archive::decode_segment(*data, filter, [&](StoredSpan s) { spans.push_back(std::move(s)); });
  return spans;
}

std::vector<StoredSpan> TraceArchive::recent(size_t max_spans) {
  if (max_spans == 0) return {};
  std::vector<StoredSpan> newest_first;
  std::shared_ptr<const std::vector<StoredSpan>> inflight;
  std::vector<uint64_t> seqs;
  {
    std::lock_guard lock(mu_);
    for (auto it = queue_.rbegin(); it != queue_.rend() && newest_first.size() < max_spans; ++it)
      newest_first.push_back(*it);
    inflight = inflight_;
    for (const Segment& s : segments_) seqs.push_back(s.seq);
  }
  // The writer may store a span between that snapshot and the reads below: seen drops the copy.
  std::unordered_set<std::string> seen;
  for (const StoredSpan& s : newest_first) seen.insert(span_key(s));
  auto take = [&](const StoredSpan& span) {
    if (seen.insert(span_key(span)).second) newest_first.push_back(span);
  };
  if (inflight)
    for (auto it = inflight->rbegin(); it != inflight->rend() && newest_first.size() < max_spans; ++it) take(*it);
  for (auto seq = seqs.rbegin(); seq != seqs.rend() && newest_first.size() < max_spans; ++seq) {
    const std::vector<StoredSpan> spans = read_segment(*seq, {});
    for (auto it = spans.rbegin(); it != spans.rend() && newest_first.size() < max_spans; ++it) take(*it);
  }
  std::reverse(newest_first.begin(), newest_first.end());
  return newest_first;
}

std::vector<StoredSpan> TraceArchive::trace(std::string_view trace_id) {
  std::array<uint8_t, 16> bytes{};
  const bool hex_id = from_hex(trace_id, bytes);  // engine spans have binary ids: others never match
  std::vector<StoredSpan> memory;
  std::vector<uint64_t> seqs;
  {
    std::lock_guard lock(mu_);
    if (inflight_)
      for (const StoredSpan& s : *inflight_)
        if (s.in_trace(bytes, trace_id) && (hex_id || !s.engine())) memory.push_back(s);
    for (const StoredSpan& s : queue_)
      if (s.in_trace(bytes, trace_id) && (hex_id || !s.engine())) memory.push_back(s);
    for (const Segment& s : segments_) seqs.push_back(s.seq);
  }
  // to_json writes trace_id first, so the JSON of a span of this trace starts with this.
  std::string prefix = "{\"trace_id\":";
  append_json_string(prefix, trace_id);
  archive::DecodeFilter filter;
  filter.want_engine = [&](const std::array<uint8_t, 16>& id) { return hex_id && id == bytes; };
  filter.want_json = [&](std::string_view json) { return json.starts_with(prefix); };
  std::vector<StoredSpan> out;
  std::unordered_set<std::string> seen;
  auto take = [&](const StoredSpan& span) {
    if (seen.insert(span_key(span)).second) out.push_back(span);
  };
  for (uint64_t seq : seqs)
    for (const StoredSpan& s : read_segment(seq, filter))
      if (s.trace_id_hex() == trace_id) take(s);
  for (const StoredSpan& s : memory) take(s);
  return out;
}

// --- the JSON of spans that are not engine spans ---

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
