#include "workers/observability/archive_format.h"

#include <array>
#include <bit>
#include <cstring>

#include "core/crc32c.h"
#include "workers/observability/trace_archive.h"

namespace iii::obs::archive {
namespace {

constexpr uint32_t kMagic = 0x53696969;  // "iiiS" read as a little-endian u32
constexpr char kNames = 'N', kEngineSpan = 'E', kOtherSpan = 'R';
// Tag, names id, trace/span/parent/invocation ids, start, end, status, kind, has-error.
constexpr size_t kEngineSpanBytes = 1 + 4 + 16 + 8 + 8 + 16 + 8 + 8 + 3;

// Fixed-size integers are stored little-endian; the engine runs on little-endian machines only
// (x86-64, AArch64), so they are copied as they are.
static_assert(std::endian::native == std::endian::little, "the archive format is little-endian");

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}
void put_string(std::string& out, std::string_view s) {
  put(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}
size_t string_bytes(std::string_view s) { return 4 + s.size(); }

size_t names_bytes(const CallNames& n) {
  return 1 + 4 + string_bytes(n.function_id) + string_bytes(n.callee_worker_id) + string_bytes(n.caller_worker_id) +
         string_bytes(n.trigger_type) + string_bytes(n.span_name) + string_bytes(n.service_name) + 1;
}

// Reads what a block's payload holds; every read is bounds-checked and a short one fails.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ == data_.size(); }
  template <typename T>
  bool get(T& value) {
    if (data_.size() - pos_ < sizeof value) return false;
    std::memcpy(&value, data_.data() + pos_, sizeof value);
    pos_ += sizeof value;
    return true;
  }
  template <size_t N>
  bool get(std::array<uint8_t, N>& bytes) {
    if (data_.size() - pos_ < N) return false;
    std::memcpy(bytes.data(), data_.data() + pos_, N);
    pos_ += N;
    return true;
  }
  bool get_view(std::string_view& s) {
    uint32_t n;
    if (!get(n) || data_.size() - pos_ < n) return false;
    s = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool get_string(std::string& s) {
    std::string_view v;
    if (!get_view(v)) return false;
    s.assign(v);
    return true;
  }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

using Dictionary = std::unordered_map<uint32_t, std::shared_ptr<const CallNames>>;

bool read_names(Reader& r, Dictionary& dictionary) {
  uint32_t id;
  auto names = std::make_shared<CallNames>();
  uint8_t internal;
  if (!r.get(id) || !r.get_string(names->function_id) || !r.get_string(names->callee_worker_id) ||
      !r.get_string(names->caller_worker_id) || !r.get_string(names->trigger_type) ||
      !r.get_string(names->span_name) || !r.get_string(names->service_name) || !r.get(internal))
    return false;
  names->internal = internal != 0;
  dictionary[id] = std::move(names);
  return true;
}

// False when the record is malformed (the block is then treated as corrupt).
bool read_engine_span(Reader& r, const Dictionary& dictionary, const DecodeFilter& filter,
                      const std::function<void(StoredSpan)>& visit) {
  uint32_t id;
  EngineSpan s;
  uint8_t status, has_error;
  if (!r.get(id) || !r.get(s.trace_id) || !r.get(s.span_id) || !r.get(s.parent_span_id) || !r.get(s.invocation_id) ||
      !r.get(s.start_time_unix_nano) || !r.get(s.end_time_unix_nano) || !r.get(status) || !r.get(s.kind) ||
      !r.get(has_error) || status > static_cast<uint8_t>(SpanStatus::kError))
    return false;
  std::shared_ptr<CallError> error;
  if (has_error) {
    error = std::make_shared<CallError>();
    if (!r.get_string(error->code) || !r.get_string(error->message)) return false;
  }
  const auto names = dictionary.find(id);
  if (names == dictionary.end()) return false;
  if (filter.want_engine && !filter.want_engine(s.trace_id)) return true;
  s.status = static_cast<SpanStatus>(status);
  s.names = names->second;
  s.error = std::move(error);
  visit(StoredSpan(std::move(s)));
  return true;
}

bool read_other_span(Reader& r, const DecodeFilter& filter, const std::function<void(StoredSpan)>& visit) {
  std::string_view json;
  if (!r.get_view(json)) return false;
  if (filter.want_json && !filter.want_json(json)) return true;
  // A record that does not parse is skipped (the checksum held: it was written like that).
  if (std::optional<SpanRecord> record = span_from_json(json))
    visit(StoredSpan(std::make_shared<const SpanRecord>(std::move(*record))));
  return true;
}

bool decode_payload(std::string_view payload, Dictionary& dictionary, const DecodeFilter& filter,
                    const std::function<void(StoredSpan)>& visit) {
  Reader r(payload);
  while (!r.done()) {
    char tag;
    if (!r.get(tag)) return false;
    bool ok = false;
    if (tag == kNames) ok = read_names(r, dictionary);
    else if (tag == kEngineSpan) ok = read_engine_span(r, dictionary, filter, visit);
    else if (tag == kOtherSpan) ok = read_other_span(r, filter, visit);
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool read_block_header(std::string_view data, BlockInfo& out) {
  if (data.size() < kBlockHeaderBytes) return false;
  uint32_t magic;
  std::memcpy(&magic, data.data(), 4);
  std::memcpy(&out.payload_bytes, data.data() + 4, 4);
  std::memcpy(&out.spans, data.data() + 12, 4);
  std::memcpy(&out.newest_unix_nano, data.data() + 16, 8);
  return magic == kMagic && out.payload_bytes <= kMaxBlockPayload;
}

void SegmentEncoder::reset() {
  ids_.clear();
  defined_.clear();
  last_ = nullptr;
}

size_t SegmentEncoder::encoded_size(const StoredSpan& span, std::string_view json) const {
  const EngineSpan* e = span.engine();
  if (!e) return 1 + 4 + json.size();
  size_t bytes = kEngineSpanBytes;
  if (e->error) bytes += string_bytes(e->error->code) + string_bytes(e->error->message);
  if (e->names.get() != last_ && !ids_.contains(e->names.get())) bytes += names_bytes(*e->names);
  return bytes;
}

void SegmentEncoder::append_span(const StoredSpan& span, std::string_view json, std::string& out) {
  const EngineSpan* e = span.engine();
  if (!e) {
    out += kOtherSpan;
    put_string(out, json);
    return;
  }
  const CallNames* names = e->names.get();
  if (names != last_) {
    auto [it, added] = ids_.try_emplace(names, static_cast<uint32_t>(ids_.size()));
    if (added) {
      defined_.push_back(e->names);
      out += kNames;
      put(out, it->second);
      for (const std::string* s : {&names->function_id, &names->callee_worker_id, &names->caller_worker_id,
                                   &names->trigger_type, &names->span_name, &names->service_name})
        put_string(out, *s);
      out += static_cast<char>(names->internal ? 1 : 0);
    }
    last_ = names, last_id_ = it->second;
  }
  char fixed[kEngineSpanBytes];
  char* p = fixed;
  auto copy = [&](const void* src, size_t n) { std::memcpy(p, src, n), p += n; };
  *p++ = kEngineSpan;
  copy(&last_id_, 4);
  copy(e->trace_id.data(), 16);
  copy(e->span_id.data(), 8);
  copy(e->parent_span_id.data(), 8);
  copy(e->invocation_id.data(), 16);
  copy(&e->start_time_unix_nano, 8);
  copy(&e->end_time_unix_nano, 8);
  *p++ = static_cast<char>(e->status);
  *p++ = static_cast<char>(e->kind);
  *p++ = e->error ? 1 : 0;
  out.append(fixed, p);
  if (e->error) {
    put_string(out, e->error->code);
    put_string(out, e->error->message);
  }
}

void SegmentEncoder::begin_block(std::string& out) { out.append(kBlockHeaderBytes, '\0'); }

void SegmentEncoder::finish_block(std::string& out, size_t block_start, uint32_t spans, uint64_t newest) {
  const size_t payload_start = block_start + kBlockHeaderBytes;
  const auto payload_bytes = static_cast<uint32_t>(out.size() - payload_start);
  const uint32_t crc = crc32c(out.data() + payload_start, payload_bytes);
  char* h = out.data() + block_start;
  std::memcpy(h, &kMagic, 4);
  std::memcpy(h + 4, &payload_bytes, 4);
  std::memcpy(h + 8, &crc, 4);
  std::memcpy(h + 12, &spans, 4);
  std::memcpy(h + 16, &newest, 8);
}

uint64_t decode_segment(std::string_view data, const DecodeFilter& filter, const std::function<void(StoredSpan)>& visit) {
  Dictionary dictionary;
  uint64_t offset = 0;
  while (offset < data.size()) {
    BlockInfo block;
    if (!read_block_header(data.substr(offset), block)) break;
    if (data.size() - offset - kBlockHeaderBytes < block.payload_bytes) break;  // cut short
    const std::string_view payload = data.substr(offset + kBlockHeaderBytes, block.payload_bytes);
    uint32_t crc;
    std::memcpy(&crc, data.data() + offset + 8, 4);
    if (crc32c(payload) != crc) break;
    // A malformed payload behind a good checksum was written so (a bug): its spans read so far
    // are kept, the rest of the segment is not trusted.
    if (!decode_payload(payload, dictionary, filter, visit)) break;
    offset += kBlockHeaderBytes + block.payload_bytes;
  }
  return offset;
}

std::vector<BlockInfo> scan_blocks(uint64_t file_size, const std::function<std::string(uint64_t, size_t)>& read_at) {
  std::vector<BlockInfo> blocks;
  uint64_t offset = 0;
  while (file_size - offset >= kBlockHeaderBytes) {
    BlockInfo block;
    if (!read_block_header(read_at(offset, kBlockHeaderBytes), block)) break;
    if (file_size - offset - kBlockHeaderBytes < block.payload_bytes) break;
    block.offset = offset;
    blocks.push_back(block);
    offset += kBlockHeaderBytes + block.payload_bytes;
  }
  return blocks;
}

}  // namespace iii::obs::archive
