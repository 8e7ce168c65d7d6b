#include "wire/uuid.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace iii {
namespace {

// The bytes handed out with a fresh id are the ones its text spells, version and variant included.
TEST(Uuid, FreshIdsWithBytesSpellTheirBytes) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const UuidWithBytes id = new_uuid_with_bytes();
    const std::string text(id.text.data(), id.text.size());
    ASSERT_TRUE(is_uuid(text)) << text;
    EXPECT_EQ(text[14], '4') << text;                                // version 4
    EXPECT_NE(std::string("89ab").find(text[19]), std::string::npos) << text;  // RFC 4122 variant
    std::string hex;
    for (char c : text)
      if (c != '-') hex += c;
    for (size_t b = 0; b < 16; ++b)
      EXPECT_EQ(static_cast<unsigned>(id.bytes[b]), std::stoul(hex.substr(2 * b, 2), nullptr, 16)) << text << " byte " << b;
    seen.insert(text);
  }
  EXPECT_EQ(seen.size(), 200u);  // fresh every time
}

}  // namespace
}  // namespace iii
