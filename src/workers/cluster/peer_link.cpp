#include "workers/cluster/peer_link.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "engine/engine.h"
#include "net/io_pool.h"
#include "wire/json_writer.h"
#include "wire/ws_client.h"
#include "wire/ws_codec.h"

namespace iii {
namespace {

// A peer that stops answering pings is given up on quickly: its calls end with
// invocation_stopped instead of waiting for their timeout.
net::WsClientOptions link_options() {
  net::WsClientOptions o;
  o.connect_timeout = std::chrono::seconds(2);
  o.ping_interval = std::chrono::seconds(1);
  o.idle_timeout = std::chrono::seconds(3);
  o.max_queued_frames = 65536;
  o.batch_sends = true;  // the engine never waits for a peer's answer while handling a read
  return o;
}

std::string percent_encoded(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%', out += kHex[c >> 4], out += kHex[c & 15];
    }
  }
  return out;
}

// Removes from `mine` (calling `remove` for each) what the peer no longer announces.
template <class Remove>
void drop_unannounced(std::set<std::string>& mine, const std::set<std::string>& announced, Remove remove) {
  for (auto it = mine.begin(); it != mine.end();) {
    if (announced.count(*it)) {
      ++it;
      continue;
    }
    remove(*it);
    it = mine.erase(it);
  }
}

}  // namespace

PeerEndpoint::PeerEndpoint(Engine& engine, std::string worker_id, std::shared_ptr<net::WsClient> client)
    : RemoteEndpoint(std::move(worker_id)), engine_(engine), client_(std::move(client)) {}

void PeerEndpoint::deliver(const CallView& call) {
  if (client_->send(build_invoke_frame(call))) return;
  // The link has ended or is flooded: the call cannot be forwarded, say so now.
  engine_.complete(call.invocation_id, *this,
                   Outcome::failure(codes::kInvocationStopped, "Invocation stopped: the connection to the engine "
                                                               "that provides it is gone or full"));
}

std::optional<ErrorBody> PeerEndpoint::activate_trigger(const TriggerBinding& binding) {
  RemoteEndpoint::activate_trigger(binding);  // the other engine answers only a rejection
  return std::nullopt;
}

void PeerEndpoint::send(std::string frame) {
  // A binding sent on a link that is gone is sent again when the link is back (the type comes
  // back with it); a flooded link is closed by the client, which ends the same way.
  client_->send(std::move(frame));
}

void PeerEndpoint::close() { client_->close(); }

PeerLink::PeerLink(Engine& engine, AnnouncementPtr peer)
    : engine_(engine), id_(peer->announcement.id), address_(peer->announcement.address), peer_(std::move(peer)) {}

std::shared_ptr<PeerLink> PeerLink::open(Engine& engine, boost::asio::io_context& io, AnnouncementPtr peer,
                                         const std::string& secret, bool retrying) {
  std::shared_ptr<PeerLink> link(new PeerLink(engine, std::move(peer)));
  link->retrying_ = retrying;
  std::weak_ptr<PeerLink> weak = link;
  net::WsClientCallbacks callbacks;
  callbacks.on_open = [weak] {
    if (auto l = weak.lock()) l->opened();
  };
  callbacks.on_message = [weak](std::string_view message) {
    auto l = weak.lock();
    if (!l) return;
    std::shared_ptr<PeerEndpoint> endpoint;
    {
      std::lock_guard lock(l->mu_);
      endpoint = l->endpoint_;
    }
    l->engine_.on_frame(endpoint, message, net::ws::kMessagePadding);  // invocationresult frames
  };
  callbacks.on_close = [weak](std::string reason) {
    if (auto l = weak.lock()) l->ended(std::move(reason));
  };
  auto client = net::WsClient::create(net::connection_context(io), link_options(), std::move(callbacks));
  // A worker id of its own per link ("<engine id>#<n>"): the detach of an old link to the same
  // engine can then never remove a newer link's entries.
  static std::atomic<uint64_t> links_opened{0};
  link->endpoint_ = std::make_shared<PeerEndpoint>(engine, link->id_ + "#" + std::to_string(++links_opened), client);
  std::string url = "ws://" + link->address_ + "/?engine=" + percent_encoded(link->id_);
  if (!secret.empty()) url += "&secret=" + percent_encoded(secret);
  client->connect(std::move(url));
  return link;
}

void PeerLink::opened() {
  std::lock_guard sync(sync_mu_);
  AnnouncementPtr peer;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    peer = peer_;
  }
  const std::string& name = peer->announcement.name.empty() ? id_ : peer->announcement.name;
  engine_.attach(endpoint_, address_);
  WorkerMetadata meta;
  meta.name = "engine " + name;
  meta.description = "another engine of the cluster (iii-cluster), at " + address_;
  meta.runtime = "iii-engine";
  engine_.update_worker_metadata(endpoint_->worker_id(), std::move(meta));
  {
    std::lock_guard lock(mu_);
    attached_ = ever_attached_ = true;
  }
  sync_functions(peer);
  sync_trigger_types(peer);
  spdlog::info("iii-cluster: connected to engine {} at {} ({} functions)", name, address_, registered_count_.load());
}

void PeerLink::ended(const std::optional<std::string>& reason) {
  std::lock_guard sync(sync_mu_);
  bool was_attached = false;
  {
    std::lock_guard lock(mu_);
    if (closed_ && !attached_) return;  // ended already
    closed_ = true;
    was_attached = attached_;
    attached_ = false;
  }
  registered_.clear();
  provided_.clear();  // the detach below removes them with the endpoint
  registered_count_ = 0;
  if (was_attached) {
    engine_.detach(endpoint_);  // its functions go; calls in flight end with invocation_stopped
    spdlog::info("iii-cluster: engine {} at {} left{}", id_, address_, reason && !reason->empty() ? " (" + *reason + ")" : "");
  } else if (reason && !retrying_) {
    spdlog::warn("iii-cluster: cannot connect to engine {} at {}: {} (trying again every heartbeat)", id_, address_,
                 *reason);
  } else if (reason) {
    spdlog::debug("iii-cluster: cannot connect to engine {} at {}: {}", id_, address_, *reason);
  }
}

void PeerLink::update(AnnouncementPtr peer) {
  {
    std::lock_guard lock(mu_);
    const bool same = peer == peer_ && engine_.registry().catalog_changes() == synced_at_changes_.load();
    peer_ = std::move(peer);
    if (!attached_ || same) return;
  }
  std::lock_guard sync(sync_mu_);
  AnnouncementPtr current;
  {
    std::lock_guard lock(mu_);
    if (!attached_) return;  // ended meanwhile
    current = peer_;
  }
  sync_functions(current);
  sync_trigger_types(current);
}

void PeerLink::sync_functions(const AnnouncementPtr& peer) {
  std::set<std::string> announced;
  for (const AnnouncedFunction& f : peer->announcement.functions) {
    announced.insert(f.id);
    // Still ours? (A worker of this engine may have registered the id over it meanwhile.)
    if (std::shared_ptr<const FunctionEntry> now = engine_.registry().find_function(f.id)) {
      if (now->owner != endpoint_) {
        registered_.erase(f.id);  // this engine's own (or a third's) wins
      } else if (now->description != f.description || now->request_format != f.request_format ||
                 now->response_format != f.response_format || now->metadata != f.metadata) {
        engine_.update_own_function(function_entry(f, endpoint_));  // the peer re-registered it
      }
      continue;
    }
    // Refused if a worker of this engine registered the id just now (tried again on the next update).
    if (engine_.register_function_if_absent(function_entry(f, endpoint_))) registered_.insert(f.id);
  }
  drop_unannounced(registered_, announced,
                   [&](const std::string& id) { engine_.unregister_function(id, endpoint_->worker_id()); });
  registered_count_ = registered_.size();
  // Read after our own registrations, which count too: the next update skips the sync unless
  // something else changed the catalog since.
  synced_at_changes_ = engine_.registry().catalog_changes();
}

void PeerLink::sync_trigger_types(const AnnouncementPtr& peer) {
  const std::string& name = peer->announcement.name.empty() ? id_ : peer->announcement.name;
  const std::set<std::string> announced(peer->announcement.trigger_types.begin(), peer->announcement.trigger_types.end());
  for (const std::string& type : announced) {
    const auto current = engine_.registry().find_trigger_type(type);
    if (current && current->provider == endpoint_) continue;  // still ours
    provided_.erase(type);  // this engine's own provider took it over, maybe left since
    // Refused while this engine (or a third engine's link) provides it: tried again at the next sync.
    if (!current && engine_.register_trigger_type_if_absent(
                        TriggerTypeEntry{type, "provided by engine " + name + " (iii-cluster)", {}, {}, endpoint_}))
      provided_.insert(type);
  }
  drop_unannounced(provided_, announced,
                   [&](const std::string& type) { engine_.unregister_trigger_type(type, endpoint_); });
  synced_at_changes_ = engine_.registry().catalog_changes();  // our own registrations count too
}

void PeerLink::close() {
  endpoint_->close();
  ended(std::nullopt);  // now: the socket's own close may come after the last owner let go
}

bool PeerLink::ever_connected() const {
  std::lock_guard lock(mu_);
  return ever_attached_;
}

bool PeerLink::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

std::string PeerLink::describe() const {
  std::lock_guard lock(mu_);
  return FrameWriter(160)
      .string("id", id_)
      .string("name", peer_->announcement.name)
      .string("address", address_)
      .boolean("connected", attached_)
      .number("functions", static_cast<long long>(registered_count_.load()))
      .finish();
}

}  // namespace iii
