// The cluster listener: where the other engines of the cluster send the calls to this engine's
// functions (docs/architecture.md "Several engines"). Each peer engine holds one WebSocket to it.
//
// A peer sends invokefunction frames (as an engine sends to a worker); each is run as a call of
// this engine's own workers (CallContext::local_only: never forwarded to a third engine, so calls
// cannot loop) and answered with an invocationresult frame. The caller's worker id is already in
// `data` (the calling engine put it there). A peer that closes its socket leaves its calls to
// finish; their results are dropped.
#pragma once
#include <memory>
#include <string>

#include "net/ws_service.h"

namespace iii {

class Engine;

class ClusterCallService final : public WsService {
 public:
  // `secret`: when not empty, an upgrade must carry `secret=<it>` in its query (else 401).
  ClusterCallService(Engine& engine, std::string secret) : engine_(engine), secret_(std::move(secret)) {}
  void upgrade(WsUpgradeRequest request, std::function<void(WsDecision)> decide) override;

 private:
  Engine& engine_;
  const std::string secret_;
};

}  // namespace iii
