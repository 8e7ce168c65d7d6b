// crc32c (core/crc32c.h): the published check value, and the same result as a bit-by-bit
// reference for every length and alignment around the 8-byte steps of the fast path.
#include "core/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace iii {
namespace {

uint32_t reference(const std::string& s) {
  uint32_t crc = ~0u;
  for (unsigned char c : s) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
  }
  return ~crc;
}

TEST(Crc32cTest, CheckValue) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Crc32cTest, EveryLengthAndOffsetMatchesTheReference) {
  std::string data;
  for (int i = 0; i < 64; ++i) data += static_cast<char>(i * 37 + 11);
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t n = 0; offset + n <= data.size(); ++n) {
      const std::string piece = data.substr(offset, n);
      EXPECT_EQ(crc32c(data.data() + offset, n), reference(piece)) << offset << " " << n;
    }
}

}  // namespace
}  // namespace iii
