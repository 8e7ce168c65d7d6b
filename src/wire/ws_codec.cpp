#include "wire/ws_codec.h"

#include <openssl/evp.h>
#include <sys/socket.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace iii::net::ws {
namespace {

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kRsvBits = 0x70;
constexpr uint8_t kMaskBit = 0x80;
constexpr size_t kMaxControlPayload = 125;

bool is_control(uint8_t opcode) { return opcode & 0x08; }

bool is_known(uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kContinuation:
    case Opcode::kText:
    case Opcode::kBinary:
    case Opcode::kClose:
    case Opcode::kPing:
    case Opcode::kPong:
      return true;
  }
  return false;
}

}  // namespace

void apply_mask(char* data, size_t size, const uint8_t key[4], size_t offset) {
  uint8_t rotated[8];
  for (size_t i = 0; i < 8; ++i) rotated[i] = key[(offset + i) & 3];
  uint64_t wide;
  std::memcpy(&wide, rotated, 8);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {  // 8 bytes at a time; the key pattern repeats every 4
    uint64_t chunk;
    std::memcpy(&chunk, data + i, 8);
    chunk ^= wide;
    std::memcpy(data + i, &chunk, 8);
  }
  for (; i < size; ++i) data[i] = static_cast<char>(data[i] ^ rotated[i & 7]);
}

void append_frame(std::string& out, Opcode opcode, std::string_view payload, const uint8_t* mask_key) {
  uint8_t header[14];
  size_t n = 0;
  header[n++] = kFin | static_cast<uint8_t>(opcode);
  const uint8_t mask_bit = mask_key ? kMaskBit : 0;
  const uint64_t size = payload.size();
  if (size < 126) {
    header[n++] = mask_bit | static_cast<uint8_t>(size);
  } else if (size <= 0xFFFF) {
    header[n++] = mask_bit | 126;
    header[n++] = static_cast<uint8_t>(size >> 8);
    header[n++] = static_cast<uint8_t>(size);
  } else {
    header[n++] = mask_bit | 127;
    for (int shift = 56; shift >= 0; shift -= 8) header[n++] = static_cast<uint8_t>(size >> shift);
  }
  if (mask_key) {
    std::memcpy(header + n, mask_key, 4);
    n += 4;
  }
  // Appended, not resized then copied: a resize writes zeros over what the copy then overwrites.
  out.reserve(out.size() + n + payload.size());
  out.append(reinterpret_cast<const char*>(header), n);
  const size_t start = out.size();
  out.append(payload);
  if (mask_key) apply_mask(out.data() + start, payload.size(), mask_key);
}

std::string close_payload(uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason.substr(0, kMaxControlPayload - 2));
  return out;
}

std::string accept_key(std::string_view client_key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input;
  input.reserve(client_key.size() + kGuid.size());
  input.append(client_key).append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char encoded[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int length = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(encoded), static_cast<size_t>(length));
}

size_t send_now(int fd, std::string_view data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  return sent;
}

namespace {

// The read buffer of the last reader on this thread that went idle, for the next one that needs a
// buffer. A connection that has just drained its socket usually reads again soon: it takes its
// buffer back from here instead of allocating ~16 KB again (and glibc consolidating its free
// lists on every such free and malloc). Bounded: one buffer of at most kMaxSpareBytes per thread.
struct SpareReadBuffer {
  std::unique_ptr<char[]> buf;  // capacity + kMessagePadding bytes
  size_t capacity = 0;
};
thread_local SpareReadBuffer spare_read_buffer;
constexpr size_t kMaxSpareBytes = 64 * 1024;

}  // namespace

FrameReader::FrameReader(bool expect_masked, size_t max_message_bytes)
    : expect_masked_(expect_masked), max_message_bytes_(max_message_bytes) {}

char* FrameReader::prepare(size_t min_bytes, size_t& available) {
  if (begin_ == end_) begin_ = end_ = 0;
  const size_t pending = end_ - begin_;
  // A frame whose size is known must end up contiguous: make room for all of it at once.
  const size_t want = std::max(min_bytes, need_ > pending ? need_ - pending : size_t{0});
  if (capacity_ - end_ < want) {
    if (pending + want <= capacity_) {  // enough room once the partial frame slides to the front
      std::memmove(buf_.get(), buf_.get() + begin_, pending);
    } else if (capacity_ == 0 && spare_read_buffer.capacity >= want) {  // pending is 0 here
      buf_ = std::move(spare_read_buffer.buf);
      capacity_ = std::exchange(spare_read_buffer.capacity, 0);
    } else {
      size_t capacity = std::max(pending + want, capacity_ * 2);
      std::unique_ptr<char[]> grown(new char[capacity + kMessagePadding]);
      if (pending) std::memcpy(grown.get(), buf_.get() + begin_, pending);
      buf_ = std::move(grown);
      capacity_ = capacity;
    }
    begin_ = 0;
    end_ = pending;
  }
  available = capacity_ - end_;
  return buf_.get() + end_;
}

void FrameReader::commit(size_t bytes) { end_ += bytes; }

void FrameReader::release_if_idle(size_t keep_bytes) {
  if (begin_ == end_ && capacity_ > keep_bytes) {
    if (capacity_ <= kMaxSpareBytes && capacity_ >= spare_read_buffer.capacity) {
      spare_read_buffer.buf = std::move(buf_);  // frees the smaller spare it replaces
      spare_read_buffer.capacity = capacity_;
    }
    buf_.reset();
    capacity_ = begin_ = end_ = 0;
  }
  if (fragments_.empty() && fragments_.capacity() > keep_bytes) std::string().swap(fragments_);
  if (delivered_.capacity() > keep_bytes) std::string().swap(delivered_);
}

FrameReader::Event FrameReader::fail(uint16_t code, std::string_view why) {
  failed_ = true;
  Event e;
  e.kind = Kind::kError;
  e.close_code = code;
  e.error = why;
  return e;
}

FrameReader::Event FrameReader::next() {
  while (!failed_) {
    const size_t avail = end_ - begin_;
    if (avail < 2) return {};
    auto* p = reinterpret_cast<const uint8_t*>(buf_.get() + begin_);
    const bool fin = p[0] & kFin;
    const uint8_t opcode = p[0] & 0x0F;
    const bool masked = p[1] & kMaskBit;
    if (p[0] & kRsvBits) return fail(kCloseProtocolError, "reserved bits set (no extension was negotiated)");
    if (!is_known(opcode)) return fail(kCloseProtocolError, "unknown opcode");
    if (masked != expect_masked_)
      return fail(kCloseProtocolError, expect_masked_ ? "client frame not masked" : "server frame masked");
    uint64_t length = p[1] & 0x7F;
    size_t header = 2;
    if (length == 126) {
      header = 4;
      if (avail < header) return {};
      length = (uint64_t{p[2]} << 8) | p[3];
    } else if (length == 127) {
      header = 10;
      if (avail < header) return {};
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
      if (length >> 63) return fail(kCloseProtocolError, "frame length has the high bit set");
    }
    if (is_control(opcode) && (!fin || length > kMaxControlPayload))
      return fail(kCloseProtocolError, "control frame fragmented or over 125 bytes");
    const size_t message_so_far = opcode == 0 ? fragments_.size() : 0;
    if (length > max_message_bytes_ || message_so_far + length > max_message_bytes_)
      return fail(kCloseTooBig, "message too big");
    if (masked) header += 4;
    const size_t total = header + static_cast<size_t>(length);
    if (avail < total) {
      need_ = total;
      return {};
    }
    need_ = 0;
    char* payload = buf_.get() + begin_ + header;
    if (masked) apply_mask(payload, static_cast<size_t>(length), p + header - 4);
    std::string_view data(payload, static_cast<size_t>(length));
    begin_ += total;

    Event e;
    switch (static_cast<Opcode>(opcode)) {
      case Opcode::kPing:
      case Opcode::kPong:
        e.kind = opcode == 9 ? Kind::kPing : Kind::kPong;
        e.payload = data;
        return e;
      case Opcode::kClose:
        if (data.size() == 1) return fail(kCloseProtocolError, "close frame with a 1-byte payload");
        e.kind = Kind::kClose;
        e.close_code = data.size() >= 2 ? static_cast<uint16_t>((uint8_t(data[0]) << 8) | uint8_t(data[1])) : 1005;
        e.payload = data.size() >= 2 ? data.substr(2) : std::string_view();
        return e;
      case Opcode::kText:
      case Opcode::kBinary:
        if (in_fragmented_) return fail(kCloseProtocolError, "new message before the fragmented one ended");
        if (fin) {
          e.kind = Kind::kMessage;
          e.binary = opcode == 2;
          e.payload = data;
          return e;
        }
        in_fragmented_ = true;
        fragmented_binary_ = opcode == 2;
        fragments_.assign(data);
        continue;
      case Opcode::kContinuation:
        if (!in_fragmented_) return fail(kCloseProtocolError, "continuation frame without a message");
        fragments_.append(data);
        if (!fin) continue;
        in_fragmented_ = false;
        delivered_.swap(fragments_);
        fragments_.clear();
        if (delivered_.capacity() < delivered_.size() + kMessagePadding)
          delivered_.reserve(delivered_.size() + kMessagePadding);  // readable padding, as for the others
        e.kind = Kind::kMessage;
        e.binary = fragmented_binary_;
        e.payload = delivered_;
        return e;
    }
  }
  return {};
}

}  // namespace iii::net::ws
