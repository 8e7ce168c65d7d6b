// Who is subscribed to what on the iii-stream client sockets, and the fan-out of one change to
// them (docs/builtins.md §6.5).
//
// A subscription is (socket, subscription id) → (stream, group, optional item id). A change to
// (stream, group, id) reaches every subscription of that group whose item id is absent or equal
// to `id` — one message per matching subscription, as the official engine sends. The message is
// encoded as a WebSocket frame once and the same bytes are queued on every socket (no JSON or
// framing work per subscriber); sockets then write in batches (net/ws_connection.h).
//
// Thread-safe. Broadcasts take a shared lock, so changes to different groups (and the same one)
// fan out in parallel; joins and leaves take it exclusively, briefly.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/ws_service.h"

namespace iii {

class StreamHub {
 public:
  // Adds (or replaces: same socket and subscription id, same group) a subscription. It starts
  // held: the changes it matches wait until release(), so that they reach the client after the
  // sync message — a change written after the snapshot was read can never arrive before it.
  void subscribe(uint64_t socket_id, const std::shared_ptr<WsPeer>& peer, const std::string& subscription_id,
                 const std::string& stream, const std::string& group, const std::optional<std::string>& item);
  // Sends `sync` (when given), then every change held since subscribe(), and goes live. A no-op
  // when the subscription is gone. Over kMaxHeld held changes, the socket is closed (1008).
  void release(uint64_t socket_id, const std::string& subscription_id, const std::string& stream,
               const std::string& group, const std::optional<std::string>& sync);
  // Removes one subscription of a socket (no-op when absent).
  void unsubscribe(uint64_t socket_id, const std::string& subscription_id, const std::string& stream,
                   const std::string& group);
  // Sends `message` (one JSON text) to every subscription matching (stream, group, id). Returns
  // how many subscriptions it was queued (or held) for.
  size_t broadcast(std::string_view stream, std::string_view group, const std::optional<std::string>& id,
                   std::string_view message);
  // Closes every socket that holds a subscription with (code, reason), so that its client joins
  // again and gets a fresh sync (their subscriptions go as they close). Returns how many sockets.
  size_t close_all(uint16_t code, std::string_view reason);
  // Subscriptions held (all sockets).
  size_t size() const;

  static constexpr size_t kMaxHeld = 4096;

 private:
  // Changes matched while the subscription's sync is being prepared.
  struct Held {
    std::mutex mu;
    std::vector<std::string> messages;
    bool overflowed = false;
  };
  struct Subscriber {
    uint64_t socket_id;
    std::shared_ptr<WsPeer> peer;
    std::string subscription_id;
    std::optional<std::string> item;
    std::shared_ptr<Held> held;  // non-null until release()
  };
  static std::string group_key(std::string_view stream, std::string_view group);

  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::vector<Subscriber>> groups_;  // group_key → subscribers
  size_t size_ = 0;
};

}  // namespace iii
