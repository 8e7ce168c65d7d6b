// libFuzzer target: any byte stream, cut into reads of any sizes, fed to the engine's WebSocket
// frame reader (net/ws_codec.h) must neither crash nor leak, and every payload it hands out must
// lie within what it was given, with its kMessagePadding bytes after it readable (ASan checks the
// reads below). The first byte picks the read size, so chunking is fuzzed too.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>

#include "wire/ws_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  ++data;
  --size;
  iii::net::ws::FrameReader reader(/*expect_masked=*/(size & 1) == 0, /*max_message_bytes=*/4096);
  size_t pos = 0, delivered = 0;
  while (true) {
    for (auto e = reader.next(); e.kind != iii::net::ws::FrameReader::Kind::kNone; e = reader.next()) {
      if (e.kind == iii::net::ws::FrameReader::Kind::kError) return 0;
      if (e.payload.size() > 4096) __builtin_trap();  // the limit holds
      delivered += e.payload.size();
      if (!e.payload.empty() && e.payload.front() == '\x7f') delivered += 1;  // touch the bytes
      if (e.kind == iii::net::ws::FrameReader::Kind::kMessage) {  // and the padding a parser may read
        volatile char sink = 0;
        for (size_t i = 0; i < iii::net::ws::kMessagePadding; ++i) sink = sink ^ e.payload.data()[e.payload.size() + i];
      }
    }
    if (pos == size) break;
    size_t room = 0;
    char* dst = reader.prepare(chunk, room);
    const size_t n = std::min<size_t>({room, chunk, size - pos});
    std::memcpy(dst, data + pos, n);
    reader.commit(n);
    pos += n;
    if (reader.buffered() == 0) reader.release_if_idle();
  }
  if (delivered > size * 2 + 2) __builtin_trap();  // payloads come from the input, at most once each
  return 0;
}
