#include "wire/uuid.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

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

// Secret ids are read ahead in blocks of 16 ids per thread: across several blocks, on two threads,
// each is a well-formed v4 id and none repeats (a block handed out twice, or not refilled, would).
TEST(Uuid, SecretIdsStayFreshAcrossBlocksAndThreads) {
  auto make = [] {
    std::vector<std::string> ids;
    for (int i = 0; i < 100; ++i) ids.push_back(new_secret_uuid());
    return ids;
  };
  std::vector<std::string> other;
  std::thread t([&] { other = make(); });
  std::vector<std::string> mine = make();
  t.join();
  std::set<std::string> seen;
  for (const auto* ids : {&mine, &other}) {
    for (const std::string& id : *ids) {
      ASSERT_TRUE(is_uuid(id)) << id;
      EXPECT_EQ(id[14], '4') << id;
      EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
      seen.insert(id);
    }
  }
  EXPECT_EQ(seen.size(), 200u);
}

}  // namespace
}  // namespace iii
