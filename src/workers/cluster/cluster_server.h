// The cluster listener: where the other engines of the cluster send the calls to this engine's
// functions (docs/architecture.md "Several engines"). Each peer engine holds one WebSocket to it.
//
// A peer sends invokefunction frames (as an engine sends to a worker); each is run as a call of
// this engine's own workers (CallContext::local_only: never forwarded to a third engine, so calls
// cannot loop) and answered with an invocationresult frame. The caller's worker id is already in
// `data` (the calling engine put it there). A peer that closes its socket leaves its calls to
// finish; their results are dropped.
//
// A peer also sends registertrigger / unregistertrigger frames for bindings made on it of a
// trigger type this engine provides (peer_link.h): each becomes a binding here (without owner;
// its provider here activates it and fires the bound function, which routes back to the peer),
// a rejection is answered with a triggerregistrationresult frame, and the bindings of a link go
// when it closes (unless a newer link of the same peer has made them again).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "net/ws_service.h"

namespace iii {

class Engine;

class ClusterCallService final : public WsService {
 public:
  // `secret`: when not empty, an upgrade must carry `secret=<it>` in its query (else 401).
  ClusterCallService(Engine& engine, std::string secret)
      : engine_(engine), secret_(std::move(secret)), bindings_(std::make_shared<PeerBindings>()) {}
  void upgrade(WsUpgradeRequest request, std::function<void(WsDecision)> decide) override;

  // Which link made each binding a peer sent (by binding id): the latest one owns it.
  struct PeerBindings {
    std::mutex mu;
    std::map<std::string, const void*> owner;
  };

 private:
  Engine& engine_;
  const std::string secret_;
  const std::shared_ptr<PeerBindings> bindings_;
};

}  // namespace iii
