// The bridge adapter of iii-stream, worker side (docs/builtins.md §10.3). Internal to
// src/workers/stream/.
//
// Every stream::* call runs as the same call on the remote engine. Changes reach this engine's
// client sockets from the remote engine's own `stream` trigger: the first time a client here
// joins a stream, a `stream` trigger for that stream name is bound there to a function this
// connection exposes, which hands each change message to this engine's hub. So a socket here
// hears of every change of its stream once — made through this engine, on the remote engine, or
// through another engine bridged to it — in the order the remote made them. The binding is made
// before the join's sync is read, over the same connection, so nothing falls between the two.
#pragma once
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace iii {

class RemoteEngine;
class StreamService;
struct StreamBackend;

class StreamBridgeLink {
 public:
  // Beyond this many distinct stream names watched, a join is logged and not watched (its
  // socket still gets the sync, and changes made through this engine).
  static constexpr size_t kMaxWatchedStreams = 10'000;

  // Connects to `url` (in the background) and exposes the change handler, which holds `service`
  // weakly.
  StreamBridgeLink(const std::string& url, const std::weak_ptr<StreamService>& service);

  const std::shared_ptr<RemoteEngine>& remote() const { return remote_; }
  // Makes sure the changes of `stream` reach this engine's hub (see above). Cheap when it does.
  // False beyond kMaxWatchedStreams.
  bool watch(const std::string& stream);
  // Whether the remote's changes of `stream` come to the hub (else this engine announces its own).
  bool watching(const std::string& stream) const;

 private:
  std::shared_ptr<RemoteEngine> remote_;
  std::string handler_id_;
  mutable std::mutex mu_;
  std::set<std::string> watched_;
};

// The bridge adapter's backend for `service`.
StreamBackend open_bridge_backend(const std::string& url, const std::shared_ptr<StreamService>& service);

}  // namespace iii
