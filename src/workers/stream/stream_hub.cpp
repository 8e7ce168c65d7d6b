#include "workers/stream/stream_hub.h"

#include <algorithm>
#include <mutex>

namespace iii {

std::string StreamHub::group_key(std::string_view stream, std::string_view group) {
  // Stream names hold no NUL (the functions and the socket refuse them), so this is one-to-one.
  std::string key;
  key.reserve(stream.size() + 1 + group.size());
  key.append(stream).push_back('\0');
  key.append(group);
  return key;
}

void StreamHub::subscribe(uint64_t socket_id, const std::shared_ptr<WsPeer>& peer, const std::string& subscription_id,
                          const std::string& stream, const std::string& group, const std::optional<std::string>& item) {
  std::unique_lock lock(mu_);
  std::vector<Subscriber>& subscribers = groups_[group_key(stream, group)];
  for (Subscriber& s : subscribers) {
    if (s.socket_id == socket_id && s.subscription_id == subscription_id) {
      s.item = item;
      s.held = std::make_shared<Held>();  // a new sync is coming
      return;
    }
  }
  subscribers.push_back(Subscriber{socket_id, peer, subscription_id, item, std::make_shared<Held>()});
  ++size_;
}

void StreamHub::release(uint64_t socket_id, const std::string& subscription_id, const std::string& stream,
                        const std::string& group, const std::optional<std::string>& sync) {
  // Exclusive: no broadcast runs while the held changes are flushed behind the sync.
  std::unique_lock lock(mu_);
  auto it = groups_.find(group_key(stream, group));
  if (it == groups_.end()) return;
  for (Subscriber& s : it->second) {
    if (s.socket_id != socket_id || s.subscription_id != subscription_id || !s.held) continue;
    if (sync) s.peer->send_text(*sync);
    for (const std::string& message : s.held->messages) s.peer->send_text(message);
    if (s.held->overflowed) s.peer->close(1008, "too many changes while syncing");
    s.held.reset();
    return;
  }
}

void StreamHub::unsubscribe(uint64_t socket_id, const std::string& subscription_id, const std::string& stream,
                            const std::string& group) {
  std::unique_lock lock(mu_);
  auto it = groups_.find(group_key(stream, group));
  if (it == groups_.end()) return;
  size_ -= std::erase_if(it->second, [&](const Subscriber& s) {
    return s.socket_id == socket_id && s.subscription_id == subscription_id;
  });
  if (it->second.empty()) groups_.erase(it);
}

size_t StreamHub::broadcast(std::string_view stream, std::string_view group, const std::optional<std::string>& id,
                            std::string_view message) {
  const std::string key = group_key(stream, group);
  std::string frame;  // encoded on the first match only: most changes reach nobody
  size_t sent = 0;
  std::shared_lock lock(mu_);
  auto it = groups_.find(key);
  if (it == groups_.end()) return 0;
  for (const Subscriber& s : it->second) {
    if (s.item && (!id || *s.item != *id)) continue;
    ++sent;
    if (s.held) {
      std::lock_guard held_lock(s.held->mu);
      if (s.held->messages.size() < kMaxHeld) {
        s.held->messages.emplace_back(message);
      } else {
        s.held->overflowed = true;
      }
      continue;
    }
    if (frame.empty()) frame = encode_text_frame(message);
    // Queues (or writes at once, non-blocking); a socket over its bound closes itself later,
    // on its own strand, so nothing here waits or re-enters the hub.
    s.peer->send_encoded(frame);
  }
  return sent;
}

size_t StreamHub::close_all(uint16_t code, std::string_view reason) {
  std::unordered_map<uint64_t, std::shared_ptr<WsPeer>> peers;
  {
    std::shared_lock lock(mu_);
    for (const auto& [key, subscribers] : groups_)
      for (const Subscriber& s : subscribers) peers.emplace(s.socket_id, s.peer);
  }
  // Outside the lock: a closing socket leaves its subscriptions through this hub.
  for (const auto& [id, peer] : peers) peer->close(code, reason);
  return peers.size();
}

size_t StreamHub::size() const {
  std::shared_lock lock(mu_);
  return size_;
}

}  // namespace iii
