// The options of one worker listener (an `iii-worker-manager` entry of the config file, see
// docs/config.md): plain data, so the config layer can hold them without the socket code.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/access.h"

namespace iii {

struct ListenerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 49134;
  // A socket that does not finish the HTTP upgrade in time is closed.
  std::chrono::milliseconds handshake_timeout{10000};
  // Largest inbound WebSocket message; a bigger one closes that connection with code 1009.
  size_t max_message_bytes = 64u << 20;
  // Bytes queued to one worker that is not reading; beyond it the worker is disconnected
  // (a slow consumer must not hold the engine's memory hostage).
  size_t max_send_queue_bytes = 256u << 20;

  // Set when the entry has an `rbac` block or a `middleware_function_id` (docs/security.md):
  // every connection gets an access session from these rules.
  std::shared_ptr<const AccessRules> access;

  bool operator==(const ListenerOptions& o) const {
    return host == o.host && port == o.port && handshake_timeout == o.handshake_timeout &&
           max_message_bytes == o.max_message_bytes && max_send_queue_bytes == o.max_send_queue_bytes &&
           (access == o.access || (access && o.access && *access == *o.access));
  }
};

}  // namespace iii
