// A WsPeer that records what it is sent, for the tests of the iii-stream hub and of what reaches
// its sockets (a fake is fine inside a unit test).
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "net/ws_service.h"

namespace iii {

// The payload of one unmasked server text frame (encode_text_frame), or "" when it is not one.
inline std::string frame_payload(std::string_view frame) {
  if (frame.size() < 2) return {};
  size_t length = static_cast<uint8_t>(frame[1]) & 0x7f, at = 2;
  if (length == 126 || length == 127) {
    const size_t bytes = length == 126 ? 2 : 8;
    if (frame.size() < 2 + bytes) return {};
    length = 0;
    for (size_t i = 0; i < bytes; ++i) length = (length << 8) | static_cast<uint8_t>(frame[2 + i]);
    at += bytes;
  }
  if (frame.size() != at + length) return {};
  return std::string(frame.substr(at));
}

// A WsPeer that records every send.
class FakePeer : public WsPeer {
 public:
  explicit FakePeer(bool accepting = true) : accepting_(accepting) {}
  bool send_text(std::string_view payload) override {
    std::lock_guard lock(mu);
    texts.emplace_back(payload);
    return accepting_;
  }
  bool send_encoded(std::string_view frames) override {
    std::lock_guard lock(mu);
    encoded.emplace_back(frames);
    encoded_data.push_back(frames.data());
    return accepting_;
  }
  void close(uint16_t code, std::string_view) override {
    std::lock_guard lock(mu);
    closed_with = code;
  }
  const std::string& remote_address() const override { return address_; }

  size_t count() {
    std::lock_guard lock(mu);
    return encoded.size();
  }
  // The messages sent as encoded frames, in order.
  std::vector<std::string> messages() {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const std::string& frame : encoded) out.push_back(frame_payload(frame));
    return out;
  }
  int closed() {
    std::lock_guard lock(mu);
    return closed_with;
  }

  std::mutex mu;
  std::vector<std::string> texts;
  std::vector<std::string> encoded;
  std::vector<const char*> encoded_data;  // where each frame's bytes were (encode once: one buffer)
  int closed_with = 0;

 private:
  const bool accepting_;
  const std::string address_ = "127.0.0.1:1";
};


}  // namespace iii
