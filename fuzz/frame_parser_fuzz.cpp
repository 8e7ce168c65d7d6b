// libFuzzer target: any byte string fed to the frame parser and through the engine must neither
// crash nor leak. `make fuzz` builds it with clang and runs it (not part of `make test`).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/endpoint.h"
#include "core/message.h"
#include "engine/engine.h"

namespace {

// Collects nothing: the engine's replies are not what is being fuzzed, its robustness is.
class SilentEndpoint : public iii::RemoteEndpoint {
 public:
  using RemoteEndpoint::RemoteEndpoint;
  void send(std::string frame) override { bytes_ += frame.size(); }
  size_t bytes_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static iii::Engine engine;
  static auto worker = [] {
    auto w = std::make_shared<SilentEndpoint>("aaaaaaaa-0000-4000-8000-00000000000a");
    engine.attach(w, "127.0.0.1");
    return w;
  }();
  std::string_view frame(reinterpret_cast<const char*>(data), size);
  iii::Message m;
  const std::string error = iii::parse_message(frame, m);
  if (error.empty()) (void)iii::validate_required(m);
  // Read in place, with padding after it as a WebSocket message has: the same verdict (the reason
  // given for an unbalanced frame may differ: simdjson's root check looks at the padding).
  std::string padded(frame);
  padded.append(64, '}');
  iii::Message in_place;
  if (iii::parse_message(std::string_view(padded).substr(0, size), in_place, 64).empty() != error.empty())
    __builtin_trap();
  engine.on_frame(worker, frame);
  return 0;
}
