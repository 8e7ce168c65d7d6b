#include "wire/ws_codec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

namespace iii::net::ws {
namespace {

const uint8_t kKey[4] = {0x12, 0x34, 0x56, 0x78};

// Feeds `bytes` into the reader in chunks of `chunk` bytes, collecting every event.
struct Collected {
  std::vector<FrameReader::Kind> kinds;
  std::vector<std::string> payloads;
  std::vector<uint16_t> codes;
};
Collected feed(FrameReader& reader, const std::string& bytes, size_t chunk) {
  Collected out;
  size_t pos = 0;
  while (true) {
    for (auto e = reader.next(); e.kind != FrameReader::Kind::kNone; e = reader.next()) {
      out.kinds.push_back(e.kind);
      out.payloads.emplace_back(e.kind == FrameReader::Kind::kError ? e.error : e.payload);
      out.codes.push_back(e.close_code);
      if (e.kind == FrameReader::Kind::kError) return out;
    }
    if (pos == bytes.size()) return out;
    size_t room = 0;
    char* dst = reader.prepare(16, room);
    size_t n = std::min({room, chunk, bytes.size() - pos});
    std::memcpy(dst, bytes.data() + pos, n);
    reader.commit(n);
    pos += n;
  }
}

TEST(WsCodec, AcceptKeyMatchesRfcExample) {
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WsCodec, HeaderLengthForms) {
  for (size_t size : {0u, 125u, 126u, 65535u, 65536u}) {
    std::string out;
    append_frame(out, Opcode::kText, std::string(size, 'x'));
    size_t header = size < 126 ? 2 : size <= 0xFFFF ? 4 : 10;
    ASSERT_EQ(out.size(), header + size) << size;
    EXPECT_EQ(uint8_t(out[0]), 0x81);
    EXPECT_EQ(uint8_t(out[1]) & 0x80, 0);
  }
}

TEST(WsCodec, MaskedFramesRoundTripAtEveryChunkSize) {
  std::string wire;
  std::string big(70000, 'b');
  for (size_t i = 0; i < big.size(); ++i) big[i] = char('a' + i % 26);
  append_frame(wire, Opcode::kText, R"({"type":"ping"})", kKey);
  append_frame(wire, Opcode::kBinary, big, kKey);
  append_frame(wire, Opcode::kPing, "hi", kKey);
  append_frame(wire, Opcode::kText, "", kKey);
  for (size_t chunk : {1u, 3u, 7u, 100u, 65536u, 1u << 20}) {
    FrameReader reader(true, 1 << 20);
    auto got = feed(reader, wire, chunk);
    ASSERT_EQ(got.kinds.size(), 4u) << chunk;
    EXPECT_EQ(got.kinds[0], FrameReader::Kind::kMessage);
    EXPECT_EQ(got.payloads[0], R"({"type":"ping"})");
    EXPECT_EQ(got.payloads[1], big);
    EXPECT_EQ(got.kinds[2], FrameReader::Kind::kPing);
    EXPECT_EQ(got.payloads[2], "hi");
    EXPECT_EQ(got.payloads[3], "");
  }
}

TEST(WsCodec, UnmaskedServerFramesForAClient) {
  std::string wire;
  append_frame(wire, Opcode::kText, "hello");
  FrameReader client(false, 1024);
  auto got = feed(client, wire, 2);
  ASSERT_EQ(got.payloads, std::vector<std::string>{"hello"});
  FrameReader server(true, 1024);  // a server refuses unmasked client frames
  got = feed(server, wire, 64);
  ASSERT_EQ(got.kinds.back(), FrameReader::Kind::kError);
  EXPECT_EQ(got.codes.back(), kCloseProtocolError);
}

std::string raw_frame(uint8_t first, std::string_view payload) {
  std::string out;
  out.push_back(char(first));
  out.push_back(char(0x80 | payload.size()));
  out.append(reinterpret_cast<const char*>(kKey), 4);
  std::string masked(payload);
  apply_mask(masked.data(), masked.size(), kKey);
  return out + masked;
}

TEST(WsCodec, FragmentedMessageWithInterleavedPing) {
  std::string wire = raw_frame(0x01, "{\"a\":") + raw_frame(0x89, "p") + raw_frame(0x00, "1") + raw_frame(0x80, "}");
  FrameReader reader(true, 1024);
  auto got = feed(reader, wire, 5);
  ASSERT_EQ(got.kinds.size(), 2u);
  EXPECT_EQ(got.kinds[0], FrameReader::Kind::kPing);
  EXPECT_EQ(got.kinds[1], FrameReader::Kind::kMessage);
  EXPECT_EQ(got.payloads[1], "{\"a\":1}");
}

// Whole and reassembled messages alike leave kMessagePadding bytes after the payload inside
// the reader's own memory (ASan builds check the reads; the fuzz target does the same).
TEST(WsCodec, MessagesHaveReadablePaddingAfterThem) {
  std::string wire;
  append_frame(wire, Opcode::kText, std::string(300, 'a'), kKey);
  wire += raw_frame(0x01, "{\"a\":") + raw_frame(0x80, "2}");
  FrameReader reader(true, 1 << 20);
  size_t room = 0;
  char* dst = reader.prepare(wire.size(), room);
  ASSERT_GE(room, wire.size());
  std::memcpy(dst, wire.data(), wire.size());
  reader.commit(wire.size());
  int messages = 0;
  for (auto e = reader.next(); e.kind != FrameReader::Kind::kNone; e = reader.next()) {
    ASSERT_EQ(e.kind, FrameReader::Kind::kMessage);
    volatile char sink = 0;
    for (size_t i = 0; i < kMessagePadding; ++i) sink = sink ^ e.payload.data()[e.payload.size() + i];
    ++messages;
  }
  EXPECT_EQ(messages, 2);
}

// A reader that goes idle leaves its read buffer as the thread's spare: the next reader on the
// thread that needs one takes it (no allocation) and decodes as before; a reader on another
// thread does not take it. A reader holding a partial frame keeps its buffer.
TEST(WsCodec, AnIdleReadersBufferIsTheNextReadersOnTheSameThread) {
  std::string wire;
  append_frame(wire, Opcode::kText, "first", kKey);
  FrameReader a(true, 1 << 20), b(true, 1 << 20);
  size_t room = 0;
  char* a_buf = a.prepare(16 * 1024, room);
  std::memcpy(a_buf, wire.data(), wire.size());
  a.commit(wire.size());
  ASSERT_EQ(a.next().payload, "first");
  a.release_if_idle();

  std::thread([] {  // another thread's reader allocates its own buffer
    FrameReader c(true, 1 << 20);
    size_t r = 0;
    EXPECT_NE(c.prepare(16 * 1024, r), nullptr);
  }).join();

  char* b_buf = b.prepare(16 * 1024, room);
  EXPECT_EQ(b_buf, a_buf);  // a's buffer, handed on to the next reader of this thread
  EXPECT_GE(room, 16u * 1024);
  std::string second;
  append_frame(second, Opcode::kText, "second", kKey);
  std::memcpy(b_buf, second.data(), second.size());
  b.commit(second.size());
  EXPECT_EQ(b.next().payload, "second");

  std::memcpy(b.prepare(16, room), wire.data(), 3);  // a partial frame: b keeps its buffer
  b.commit(3);
  b.release_if_idle();
  EXPECT_EQ(b.buffered(), 3u);
  FrameReader d(true, 1 << 20);
  EXPECT_NE(d.prepare(16, room), b_buf);
}

TEST(WsCodec, ProtocolErrors) {
  struct Case {
    std::string wire;
    uint16_t code;
  };
  std::vector<Case> cases = {
      {raw_frame(0x80, "x"), kCloseProtocolError},                      // continuation without a message
      {raw_frame(0x01, "a") + raw_frame(0x81, "b"), kCloseProtocolError},  // new message mid-fragment
      {raw_frame(0x09, "p"), kCloseProtocolError},                      // fragmented control frame
      {raw_frame(0xC1, "x"), kCloseProtocolError},                      // RSV1 without an extension
      {raw_frame(0x83, "x"), kCloseProtocolError},                      // reserved opcode
      {raw_frame(0x88, "x"), kCloseProtocolError},                      // 1-byte close payload
      {raw_frame(0x81, std::string(100, 'x')), kCloseTooBig},           // over the 64-byte limit
  };
  for (const auto& c : cases) {
    FrameReader reader(true, 64);
    auto got = feed(reader, c.wire, 1000);
    ASSERT_FALSE(got.kinds.empty());
    EXPECT_EQ(got.kinds.back(), FrameReader::Kind::kError) << got.payloads.back();
    EXPECT_EQ(got.codes.back(), c.code) << got.payloads.back();
  }
}

TEST(WsCodec, FragmentsCountTowardsTheLimit) {
  std::string wire = raw_frame(0x01, std::string(40, 'a')) + raw_frame(0x80, std::string(40, 'b'));
  FrameReader reader(true, 64);
  auto got = feed(reader, wire, 1000);
  ASSERT_EQ(got.kinds.back(), FrameReader::Kind::kError);
  EXPECT_EQ(got.codes.back(), kCloseTooBig);
}

TEST(WsCodec, CloseFrameCodeAndReason) {
  std::string wire;
  append_frame(wire, Opcode::kClose, close_payload(1001, "going away"), kKey);
  append_frame(wire, Opcode::kClose, "", kKey);
  FrameReader reader(true, 1024);
  auto got = feed(reader, wire, 3);
  ASSERT_EQ(got.kinds.size(), 2u);
  EXPECT_EQ(got.codes[0], 1001);
  EXPECT_EQ(got.payloads[0], "going away");
  EXPECT_EQ(got.codes[1], 1005);
}

TEST(WsCodec, MaskAtAnOffsetMatchesBytewiseMasking) {
  std::string data(37, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = char(i * 7);
  for (size_t offset = 0; offset < 4; ++offset) {
    std::string fast = data, slow = data;
    apply_mask(fast.data(), fast.size(), kKey, offset);
    for (size_t i = 0; i < slow.size(); ++i) slow[i] = char(slow[i] ^ kKey[(i + offset) & 3]);
    EXPECT_EQ(fast, slow) << offset;
  }
}

}  // namespace
}  // namespace iii::net::ws
