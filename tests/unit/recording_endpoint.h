// A remote endpoint for unit tests: records every frame the engine sends instead of writing it
// to a socket. (A fake is fine inside a unit test of one class.)
#pragma once
#include <boost/json.hpp>

#include <mutex>
#include <string>
#include <vector>

#include "core/endpoint.h"
#include "wire/uuid.h"

namespace iii::testing {

class RecordingEndpoint : public RemoteEndpoint {
 public:
  RecordingEndpoint() : RemoteEndpoint(new_uuid()) {}
  void send(std::string frame) override {
    std::lock_guard lock(mu);
    frames.push_back(std::move(frame));
  }
  void close() override { closed = true; }

  // Frames of one `type`, parsed.
  std::vector<boost::json::object> of_type(std::string_view type) {
    std::lock_guard lock(mu);
    std::vector<boost::json::object> out;
    for (const auto& f : frames) {
      auto v = boost::json::parse(f);
      if (v.as_object().at("type").as_string() == type) out.push_back(v.as_object());
    }
    return out;
  }
  void clear() {
    std::lock_guard lock(mu);
    frames.clear();
  }

  std::mutex mu;
  std::vector<std::string> frames;
  bool closed = false;
};

}  // namespace iii::testing
