// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` value
// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>" that SDK frames, HTTP requests and queued
// messages carry, and the ids the engine mints for its own spans.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iii::obs {

// A traceparent as the engine's own spans keep it: raw bytes.
struct TraceParentBytes {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};
  uint8_t flags = 0;
  bool sampled() const { return flags & 1; }
};

struct TraceParent {
  std::string trace_id;  // 32 lower-case hex, not all zero
  std::string span_id;   // 16 lower-case hex, not all zero
  uint8_t flags = 0;
  bool sampled() const { return flags & 1; }
};

// nullopt for anything that is not a valid version-00 traceparent (upper-case hex is accepted and
// lowered; all-zero ids are invalid). Future versions are read by their first four fields.
std::optional<TraceParent> parse_traceparent(std::string_view value);
// The same rules on the exact value (no surrounding blanks), without allocating: the call path's.
std::optional<TraceParentBytes> parse_traceparent_bytes(std::string_view value);
std::string format_traceparent(std::string_view trace_id, std::string_view span_id, bool sampled);

// Fresh random ids (a per-thread generator seeded from the OS; never all zero).
std::string new_trace_id();
std::string new_span_id();
// The same as raw bytes (the engine's own spans keep their ids so).
void random_id_bytes(uint8_t* out, size_t n);

// Hex of bytes; bytes of hex (false when `hex` is not exactly 2·N hex digits, either case).
template <size_t N>
std::string to_hex(const std::array<uint8_t, N>& bytes);
template <size_t N>
bool from_hex(std::string_view hex, std::array<uint8_t, N>& out);

// A W3C `baggage` value as key/value pairs, percent-decoded; malformed members are skipped.
std::vector<std::pair<std::string, std::string>> parse_baggage(std::string_view value);

// Nanoseconds since the Unix epoch, now.
uint64_t unix_nanos_now();

}  // namespace iii::obs
