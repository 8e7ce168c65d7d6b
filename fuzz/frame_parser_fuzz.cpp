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
  if (iii::parse_message(frame, m).empty()) (void)iii::validate_required(m);
  engine.on_frame(worker, frame);
  return 0;
}
