// PeerLink: this engine's connection to another engine of the cluster, through which the calls
// to that engine's functions go (docs/architecture.md "Several engines").
//
// On this engine the other engine is one worker (a PeerEndpoint, attached like a worker socket,
// listed by engine::workers::list as "engine <name>") that owns the functions the other engine
// announced, unless this engine has a function of that id itself (its own workers win). A call
// routed to such a function is delivered as an invokefunction frame over a WebSocket to the other
// engine's cluster listener; its invocationresult comes back on the same socket and completes the
// call like any worker's result. When the socket closes (the other engine died or left) the
// endpoint is detached: its functions go and every call in flight to it ends with
// invocation_stopped at once.
//
// A trigger type that the other engine announces and this one lacks is provided here by the same
// endpoint: a binding made here (an SDK worker's registerTrigger) is sent there as a
// registertrigger frame, and that engine's provider fires it by calling the bound function,
// which comes back here through that engine's link to this one. When the link ends, the type
// goes and its bindings wait here (parked) until the link is back, then are sent again.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "core/endpoint.h"
#include "wire/asio_fwd.h"
#include "workers/cluster/cluster_directory.h"

namespace iii {

class Engine;
namespace net {
class WsClient;
}

// The other engine as a worker of this one: it owns that engine's functions, and provides the
// trigger types that only that engine has. Calls and bindings go to it as the frames a worker
// gets (invokefunction, registertrigger, unregistertrigger): that engine's cluster listener runs
// them there (cluster_server.h).
class PeerEndpoint final : public RemoteEndpoint {
 public:
  PeerEndpoint(Engine& engine, std::string worker_id, std::shared_ptr<net::WsClient> client);
  void deliver(const CallView& call) override;
  std::optional<ErrorBody> activate_trigger(const TriggerBinding& binding) override;
  void send(std::string frame) override;
  bool forwards_to_engine() const override { return true; }
  void close() override;

 private:
  Engine& engine_;
  std::shared_ptr<net::WsClient> client_;
};

class PeerLink : public std::enable_shared_from_this<PeerLink> {
 public:
  // `secret` is the cluster's (config `secret`), sent in the connection URL. `retrying`: the
  // previous link to this engine never connected (its failure was logged; this one's is a debug
  // line, so that an unreachable peer does not log a warning every heartbeat).
  static std::shared_ptr<PeerLink> open(Engine& engine, boost::asio::io_context& io, AnnouncementPtr peer,
                                        const std::string& secret, bool retrying = false);
  // Whether this link ever connected.
  bool ever_connected() const;
  // The peer's latest announcement (every heartbeat): its functions are registered again (added,
  // removed) when it is a new one, or when this engine's own functions changed since the last
  // sync (one of ours that hid the peer's may have gone).
  void update(AnnouncementPtr peer);
  // Closes the connection and detaches the endpoint now (its functions go, its calls in flight
  // end with invocation_stopped), without waiting for the socket's close.
  void close();
  bool closed() const;
  const std::string& address() const { return address_; }
  // For engine::cluster::peers: {"id","name","address","connected","functions"}.
  std::string describe() const;

 private:
  PeerLink(Engine& engine, AnnouncementPtr peer);
  void opened();
  // The link is over: by close() (`reason` nullopt) or because the socket closed or never opened.
  // Detaches the endpoint once, whichever comes first.
  void ended(const std::optional<std::string>& reason);
  void sync_functions(const AnnouncementPtr& peer);  // REQUIRES: sync_mu_ held
  // The trigger types only the peer provides, registered with endpoint_ as their provider (so
  // that bindings made here go there); those it no longer announces are removed.
  void sync_trigger_types(const AnnouncementPtr& peer);  // REQUIRES: sync_mu_ held

  // Two locks. mu_ guards the small state below and is never held across a call into the engine
  // (engine::cluster::list reads it from inside engine callbacks). sync_mu_ orders opened(),
  // syncs and ended(), which call into the engine (attach, registrations, detach), and guards
  // registered_; describe() never takes it.
  Engine& engine_;
  const std::string id_, address_;
  mutable std::mutex mu_;
  AnnouncementPtr peer_;
  bool attached_ = false, closed_ = false, ever_attached_ = false, retrying_ = false;
  std::shared_ptr<PeerEndpoint> endpoint_;
  std::mutex sync_mu_;
  std::set<std::string> registered_;  // functions this link registered (owned by endpoint_)
  std::set<std::string> provided_;    // trigger types this link registered (provided by endpoint_)
  std::atomic<size_t> registered_count_{0};
  std::atomic<uint64_t> synced_at_changes_{0};  // the registry's catalog_changes() after the last sync
};

}  // namespace iii
