#include "workers/observability/trace_context.h"

#include <array>
#include <bit>
#include <chrono>
#include <random>

namespace iii::obs {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Value of a hex digit, -1 for anything else: a table, as ids are decoded on every call.
constexpr std::array<int8_t, 256> kHexValue = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(i);
  for (int i = 0; i < 6; ++i) t['a' + i] = t['A' + i] = static_cast<int8_t>(10 + i);
  return t;
}();
int hex_value(char c) { return kHexValue[static_cast<unsigned char>(c)]; }

// xoshiro256** per thread: ids must be unique, not secret, and cheap on every call (two per
// routed call). Seeded from the OS through splitmix64, as its authors advise.
class IdGenerator {
 public:
  IdGenerator() {
    std::random_device rd;
    uint64_t seed = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                    static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (uint64_t& word : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      word = z ^ (z >> 31);
    }
  }
  uint64_t operator()() {
    const uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0], s_[3] ^= s_[1], s_[1] ^= s_[2], s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
  }

 private:
  uint64_t s_[4];
};

IdGenerator& generator() {
  thread_local IdGenerator g;
  return g;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

template <size_t N>
std::string to_hex(const std::array<uint8_t, N>& bytes) {
  std::string out(N * 2, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

template <size_t N>
bool from_hex(std::string_view hex, std::array<uint8_t, N>& out) {
  if (hex.size() != N * 2) return false;
  int bad = 0;
  for (size_t i = 0; i < N; ++i) {
    const int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    bad |= hi | lo;  // negative when either is not a digit
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return bad >= 0;
}

template std::string to_hex(const std::array<uint8_t, 16>&);
template std::string to_hex(const std::array<uint8_t, 8>&);
template bool from_hex(std::string_view, std::array<uint8_t, 16>&);
template bool from_hex(std::string_view, std::array<uint8_t, 8>&);
template bool from_hex(std::string_view, std::array<uint8_t, 1>&);

std::optional<TraceParentBytes> parse_traceparent_bytes(std::string_view v) {
  // version(2) - trace(32) - span(16) - flags(2): 55 characters for version 00; later versions may
  // add fields after another '-'. Version ff is invalid.
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  std::array<uint8_t, 1> version{};
  if (!from_hex(v.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0 && v.size() != 55) return std::nullopt;
  if (v.size() > 55 && v[55] != '-') return std::nullopt;
  TraceParentBytes tp;
  std::array<uint8_t, 1> flags{};
  if (!from_hex(v.substr(3, 32), tp.trace_id) || !from_hex(v.substr(36, 16), tp.span_id) ||
      !from_hex(v.substr(53, 2), flags))
    return std::nullopt;
  auto zero = [](const auto& a) {
    for (uint8_t b : a)
      if (b) return false;
    return true;
  };
  if (zero(tp.trace_id) || zero(tp.span_id)) return std::nullopt;
  tp.flags = flags[0];
  return tp;
}

std::optional<TraceParent> parse_traceparent(std::string_view v) {
  std::optional<TraceParentBytes> b = parse_traceparent_bytes(trim(v));
  if (!b) return std::nullopt;
  return TraceParent{to_hex(b->trace_id), to_hex(b->span_id), b->flags};
}

std::string format_traceparent(std::string_view trace_id, std::string_view span_id, bool sampled) {
  std::string out;
  out.reserve(55);
  out += "00-";
  out += trace_id;
  out += '-';
  out += span_id;
  out += sampled ? "-01" : "-00";
  return out;
}

void random_id_bytes(uint8_t* out, size_t n) {
  auto& g = generator();
  bool nonzero = false;
  while (!nonzero) {
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t v = g();
      for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<uint8_t>(v >> (8 * j));
    }
    for (size_t i = 0; i < n && !nonzero; ++i) nonzero = out[i] != 0;
  }
}

std::string new_trace_id() {
  std::array<uint8_t, 16> id;
  random_id_bytes(id.data(), id.size());
  return to_hex(id);
}

std::string new_span_id() {
  std::array<uint8_t, 8> id;
  random_id_bytes(id.data(), id.size());
  return to_hex(id);
}

std::vector<std::pair<std::string, std::string>> parse_baggage(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string_view::npos) end = value.size();
    std::string_view member = value.substr(start, end - start);
    member = member.substr(0, member.find(';'));  // properties are not kept
    const size_t eq = member.find('=');
    if (eq != std::string_view::npos) {
      std::string_view k = trim(member.substr(0, eq)), val = trim(member.substr(eq + 1));
      if (!k.empty()) out.emplace_back(percent_decode(k), percent_decode(val));
    }
    start = end + 1;
  }
  return out;
}

uint64_t unix_nanos_now() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

}  // namespace iii::obs
