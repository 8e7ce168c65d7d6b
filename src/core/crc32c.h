// CRC-32C (Castagnoli), the checksum of the trace archive's blocks: the x86 crc32 instruction
// when the CPU has SSE4.2 (checked once at run time), a table otherwise. Same value either way.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace iii {

uint32_t crc32c(const void* data, size_t size);
inline uint32_t crc32c(std::string_view s) { return crc32c(s.data(), s.size()); }

}  // namespace iii
