// The console's live socket (docs/builtins.md §15.4): a WsService (net/ws_service.h) through
// which a page watches function results instead of asking for them again and again.
//
// A page sends {"type":"watch","id","function_id","payload"?} (a page function only, at most
// kMaxWatches per socket; the same id again replaces the watch) and {"type":"unwatch","id"}. The
// engine calls the function at once, then on every refresh() (the worker calls it once a second),
// and pushes {"type":"result","id","result"} or {"type":"error","id","error":{code,message}} only
// when the answer differs from the last one pushed. At most one call per watch is in flight.
// Upgrades pass the token and same_site() checks of the HTTP side.
#pragma once
#include <memory>
#include <mutex>
#include <vector>

#include "net/ws_service.h"
#include "workers/console/console_config.h"

namespace iii {

class Engine;
class LiveConnection;

class ConsoleLiveService final : public WsService, public std::enable_shared_from_this<ConsoleLiveService> {
 public:
  static constexpr size_t kMaxWatches = 32;

  ConsoleLiveService(Engine& engine, ConsoleConfig config);

  void upgrade(WsUpgradeRequest request, std::function<void(WsDecision)> decide) override;
  // Calls every watched function again (the open sockets' watches).
  void refresh();

 private:
  Engine& engine_;
  const ConsoleConfig config_;
  std::mutex mu_;
  std::vector<std::weak_ptr<LiveConnection>> connections_;
};

}  // namespace iii
