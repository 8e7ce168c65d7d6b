// The bytes of the trace archive's segment files (docs/observability.md "Durable traces").
//
// A segment is a sequence of blocks, each written by one write(2):
//
//   header (24 bytes, little-endian): magic "iiiS", payload bytes (u32), CRC-32C of the payload
//   (u32), spans in it (u32), newest span time in it (u64, unix nanoseconds)
//   payload: records, each starting with a one-byte tag
//     'N' names:       u32 id, then function id, callee worker, caller worker, trigger type, span
//                      name, service name (each a u32 length and its bytes), u8 internal
//     'E' engine span: u32 names id, trace id (16), span id (8), parent span id (8, zeros for a
//                      root), invocation id (16), start and end (u64 each), u8 status, u8 kind,
//                      u8 has error, then error code and message (u32 length + bytes) if it has
//     'R' other span:  u32 length, then the span's JSON (to_json, plus "engine_span" when set)
//
// Names records are the segment's dictionary: an engine span names the kind of call it belongs
// to (CallNames, shared by every call of that kind) by an id defined earlier in the same segment,
// so an engine span costs 72 bytes on disk instead of ~600 of JSON. Each segment defines its own
// ids, so that any segment can be read (or deleted) alone.
//
// A block that is cut short or fails its checksum ends the readable part of its segment: a crash
// in the middle of a write loses that block only.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "workers/observability/stored_span.h"

namespace iii::obs::archive {

inline constexpr size_t kBlockHeaderBytes = 24;
inline constexpr uint32_t kMaxBlockPayload = 64u << 20;  // a larger length is corruption

struct BlockInfo {
  uint64_t offset = 0;         // of the header in the file
  uint32_t payload_bytes = 0;  // after the header
  uint32_t spans = 0;
  uint64_t newest_unix_nano = 0;
};

// Reads the header at the start of `data`; false when there is none or it is not one.
bool read_block_header(std::string_view data, BlockInfo& out);

// Encodes spans into the blocks of one segment. Not thread-safe (the archive's writer owns it).
class SegmentEncoder {
 public:
  // Bytes that append_span would add now (including a names record the segment lacks). For a
  // span that is not an engine span, `json` must be the JSON that append_span will be given.
  size_t encoded_size(const StoredSpan& span, std::string_view json) const;
  // Appends the span's records to the open block (see begin_block).
  void append_span(const StoredSpan& span, std::string_view json, std::string& block);

  // A block is built in place: begin_block reserves its header at the end of `out`,
  // finish_block fills it in (spans counted since begin_block, newest time given).
  static void begin_block(std::string& out);
  static void finish_block(std::string& out, size_t block_start, uint32_t spans, uint64_t newest_unix_nano);

  // A new segment starts: names must be defined again.
  void reset();

 private:
  std::unordered_map<const CallNames*, uint32_t> ids_;
  std::vector<std::shared_ptr<const CallNames>> defined_;  // keeps the keys of ids_ alive
  const CallNames* last_ = nullptr;                         // most spans repeat the previous kind
  uint32_t last_id_ = 0;
};

// Decodes one segment's bytes, calling `visit` for every span in order (block by block, names
// resolved from the segment's own dictionary). Engine spans come back as EngineSpans; others as
// the records their JSON holds. Stops at the first block that is cut short or fails its checksum.
// `want_engine(trace_id)` may skip engine spans before they are built (nullptr: keep all);
// `want_json(json)` the same for other spans.
struct DecodeFilter {
  std::function<bool(const std::array<uint8_t, 16>&)> want_engine;
  std::function<bool(std::string_view)> want_json;
};
// Returns the number of bytes that were readable (the offset of the first bad block, or the size).
uint64_t decode_segment(std::string_view data, const DecodeFilter& filter,
                        const std::function<void(StoredSpan)>& visit);

// The blocks of a segment from their headers only (no payload read or checked); stops at the
// first header that is cut short, not a header, or whose payload runs past `file_size`.
// `read_at(offset, bytes)` reads from the file.
std::vector<BlockInfo> scan_blocks(uint64_t file_size, const std::function<std::string(uint64_t, size_t)>& read_at);

}  // namespace iii::obs::archive
