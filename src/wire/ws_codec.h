// RFC 6455 WebSocket framing by hand, for the hot paths (the engine's worker sockets and the C++
// SDK's client). Beast's stream writes one message per async_write; with our own framing every
// frame queued while a write is in flight goes out in the next single write, and inbound frames
// are decoded in place from one read buffer (no copy for unfragmented messages).
//
// No extensions are negotiated (no permessage-deflate), so RSV bits must be zero. Text frames are
// not checked for UTF-8 here: every frame is JSON, and the JSON parser validates UTF-8.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <memory>

namespace iii::net::ws {

enum class Opcode : uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// Close codes (RFC 6455 §7.4.1) the codec produces.
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseTooBig = 1009;
inline constexpr uint16_t kCloseInternalError = 1011;

// Appends one complete frame (FIN set). `mask_key` null: unmasked (server → client); otherwise
// the payload is masked with it while copied (client → server).
void append_frame(std::string& out, Opcode opcode, std::string_view payload, const uint8_t* mask_key = nullptr);

// A close frame's payload: the code, then a reason (cut to fit the 125-byte control limit).
std::string close_payload(uint16_t code, std::string_view reason);

// XORs `data` with the 4-byte key starting at key position `offset` (0-3).
void apply_mask(char* data, size_t size, const uint8_t key[4], size_t offset = 0);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC GUID)).
std::string accept_key(std::string_view client_key);

// Writes as much of `data` as the kernel takes right now on socket `fd` (never blocks, never
// raises SIGPIPE) and returns how many bytes went. Stops at EAGAIN or an error, which the caller's
// asynchronous write of the rest then meets and reports. Used to send without waking an I/O thread.
size_t send_now(int fd, std::string_view data);

// Bytes past the end of every message payload a FrameReader hands out that may be read (their
// content is unspecified): enough for simdjson (SIMDJSON_PADDING), so that a frame can be parsed
// where it lies instead of being copied into a padded buffer first.
inline constexpr size_t kMessagePadding = 64;

// Decodes frames from a growable buffer filled by the socket, reassembles fragmented messages
// and surfaces control frames. Single-threaded.
class FrameReader {
 public:
  enum class Kind { kNone, kMessage, kPing, kPong, kClose, kError };
  struct Event {
    Kind kind = Kind::kNone;
    bool binary = false;        // kMessage: opcode was binary
    std::string_view payload;   // message / ping / pong data; close reason
    uint16_t close_code = 0;    // kClose: the peer's code (1005 when absent); kError: the code to send
    std::string_view error;     // kError: what was wrong
  };

  // `expect_masked`: a server reads masked client frames; a client reads unmasked ones.
  FrameReader(bool expect_masked, size_t max_message_bytes);

  // Writable space for the next socket read: at least `min_bytes` (more when a frame being
  // received needs it). Invalidates payload views of earlier events.
  char* prepare(size_t min_bytes, size_t& available);
  void commit(size_t bytes);

  // The next complete event from the buffered bytes; kNone when more bytes are needed. A payload
  // view stays valid until the next prepare() or next() call, and kMessagePadding bytes after a
  // message's payload are readable. After kError, stop reading.
  Event next();

  // Bytes buffered but not yet decoded.
  size_t buffered() const { return end_ - begin_; }
  // Frees the buffers when nothing is pending and they hold more than `keep_bytes`: 0 means an
  // idle connection holds no read memory; a larger value avoids reallocating on every read. The
  // read buffer (up to 64 KB) is kept as this thread's one spare, which the next reader on the
  // thread that needs a buffer takes instead of allocating.
  void release_if_idle(size_t keep_bytes = 0);

 private:
  Event fail(uint16_t code, std::string_view why);

  const bool expect_masked_;
  const size_t max_message_bytes_;
  std::unique_ptr<char[]> buf_;  // capacity_ + kMessagePadding bytes, not zero-filled
  size_t capacity_ = 0;
  size_t begin_ = 0, end_ = 0;
  size_t need_ = 0;               // bytes the current partial frame needs in total (0: unknown)
  bool in_fragmented_ = false;    // a text/binary message started without FIN
  bool fragmented_binary_ = false;
  std::string fragments_;         // the message being reassembled
  std::string delivered_;         // a reassembled message handed out (kept alive for its view)
  bool failed_ = false;
};

}  // namespace iii::net::ws
