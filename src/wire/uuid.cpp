#include "wire/uuid.h"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>

namespace iii {
namespace {

// Sets the version (4) and the RFC 4122 variant bits of a random 128-bit value.
void mark_v4(uint64_t& hi, uint64_t& lo) {
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
}

UuidText format_uuid_text(uint64_t hi, uint64_t lo) {
  mark_v4(hi, lo);
  static constexpr char kHex[] = "0123456789abcdef";
  UuidText out;
  out.fill('-');
  int pos = 0;
  auto put = [&](uint64_t word) {
    for (int shift = 60; shift >= 0; shift -= 4) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      out[pos++] = kHex[(word >> shift) & 0xf];
    }
  };
  put(hi);
  put(lo);
  return out;
}

std::string format_uuid(uint64_t hi, uint64_t lo) {
  const UuidText text = format_uuid_text(hi, lo);
  return std::string(text.data(), text.size());
}

// xoshiro256** seeded from the OS: a few ns per id, no lock, no syscall.
struct FastRandom {
  std::array<uint64_t, 4> s;
  FastRandom() {
    std::random_device rd;
    for (auto& word : s) word = (uint64_t(rd()) << 32) ^ rd();
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// One generator per thread for every fast id.
FastRandom& thread_random() {
  thread_local FastRandom rng;
  return rng;
}

}  // namespace

UuidText new_uuid_text() {
  FastRandom& rng = thread_random();
  const uint64_t hi = rng.next();
  return format_uuid_text(hi, rng.next());
}

UuidWithBytes new_uuid_with_bytes() {
  FastRandom& rng = thread_random();
  uint64_t hi = rng.next(), lo = rng.next();
  mark_v4(hi, lo);
  UuidWithBytes out{format_uuid_text(hi, lo), {}};
  for (int i = 0; i < 8; ++i) {
    out.bytes[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
    out.bytes[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
  }
  return out;
}

std::string new_uuid() {
  const UuidText text = new_uuid_text();
  return std::string(text.data(), text.size());
}

std::string new_secret_uuid() {
  // The kernel's CSPRNG in blocks of 256 bytes per thread: std::random_device executes one RDSEED
  // per 4 bytes here (~0.5 us each on a VM) and getrandom(2) is a system call, while a channel key
  // is made on every HTTP request. Each byte is handed out once and then zeroed. No process of
  // ours forks and then makes secrets (the exec worker's children exec at once), so no two
  // processes share a block.
  thread_local std::array<unsigned char, 256> block;
  thread_local size_t used = block.size();
  if (used == block.size()) {
    size_t filled = 0;
    while (filled < block.size()) {
      const ssize_t n = getrandom(block.data() + filled, block.size() - filled, 0);
      if (n > 0) filled += static_cast<size_t>(n);
      else if (errno != EINTR) break;
    }
    if (filled < block.size()) {  // no getrandom(2): the library's device fills the rest
      std::random_device rd;
      for (; filled < block.size(); ++filled) block[filled] = static_cast<unsigned char>(rd());
    }
    used = 0;
  }
  uint64_t hi = 0, lo = 0;
  std::memcpy(&hi, block.data() + used, 8);
  std::memcpy(&lo, block.data() + used + 8, 8);
  std::memset(block.data() + used, 0, 16);  // a used secret does not linger in the block
  used += 16;
  return format_uuid(hi, lo);
}

bool is_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    const bool dash = (i == 8 || i == 13 || i == 18 || i == 23);
    if (dash ? text[i] != '-' : !is_hex(text[i])) return false;
  }
  return true;
}

}  // namespace iii
