#include "workers/cluster/cluster_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <map>

#include "net/ws_server.h"
#include "wire/json_writer.h"
#include "wire/uuid.h"
#include "workers/cluster/cluster_directory.h"
#include "workers/cluster/cluster_server.h"
#include "workers/cluster/peer_link.h"

namespace iii {
namespace {

// What this engine announces: its own functions (not those it forwards to other engines) and
// trigger types, with a fingerprint that changes when they do.
AnnouncementPtr local_announcement(const Engine& engine, const EngineAnnouncement& self) {
  EngineAnnouncement a{self.id, self.name, self.address, {}, {}};
  uint64_t fingerprint = 0;
  auto mix = [&fingerprint](std::string_view s) {
    fingerprint = (fingerprint ^ std::hash<std::string_view>{}(s)) * 0x100000001b3ull + s.size();
  };
  for (const auto& f : engine.registry().functions()) {
    if (f->owner->forwards_to_engine()) continue;
    a.functions.push_back(AnnouncedFunction{f->id, f->description, f->request_format, f->response_format, f->metadata});
  }
  // The registry's map has no order: sort, so that the same functions give the same fingerprint.
  std::sort(a.functions.begin(), a.functions.end(), [](const auto& x, const auto& y) { return x.id < y.id; });
  for (const AnnouncedFunction& f : a.functions) {
    mix(f.id), mix(f.description), mix(f.request_format), mix(f.response_format), mix(f.metadata);
  }
  for (const auto& t : engine.registry().trigger_types()) {
    if (t->provider->forwards_to_engine()) continue;
    a.trigger_types.push_back(t->id);
  }
  std::sort(a.trigger_types.begin(), a.trigger_types.end());
  for (const std::string& t : a.trigger_types) mix(t);
  return std::make_shared<const VersionedAnnouncement>(VersionedAnnouncement{std::move(a), fingerprint});
}

std::string reachable_address(const ClusterConfig& config, uint16_t bound_port) {
  if (!config.advertise_address.empty()) return config.advertise_address;
  std::string host = config.host;
  if (host == "0.0.0.0" || host == "::" || host == "[::]") host = "127.0.0.1";
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  return host + ":" + std::to_string(bound_port);
}

class ClusterWorker final : public BuiltinWorker {
 public:
  ClusterWorker(boost::asio::io_context& io, Engine& engine, ClusterConfig config)
      : io_(io), engine_(engine), config_(std::move(config)),
        endpoint_(std::make_shared<InProcessWorker>(engine, kClusterWorkerName)),
        state_(std::make_shared<State>()) {
    state_->self.id = new_uuid();
    state_->self.name = config_.name.empty() ? state_->self.id : config_.name;
    std::weak_ptr<State> weak = state_;
    endpoint_->add_function(
        FunctionSpec{"engine::cluster::list", "The engines of this cluster and the calls they take",
                     R"({"type":"object"})", {}, {}},
        SyncFunctionHandler([weak](const InProcessCall&) -> Outcome {
          auto s = weak.lock();
          if (!s) return Outcome::failure("cluster_unavailable", "iii-cluster is shutting down");
          return Outcome::success(s->describe());
        }));
  }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

  void start() override {
    server_ = std::make_unique<WsServer>(io_, std::make_shared<ClusterCallService>(engine_, config_.secret));
    server_->listen(config_.host, config_.port);  // throws when the address cannot be bound
    {
      std::lock_guard lock(state_->mu);
      state_->self.address = reachable_address(config_, server_->port());
    }
    std::weak_ptr<State> weak = state_;
    Engine& engine = engine_;
    boost::asio::io_context& io = io_;
    const std::string secret = config_.secret;
    directory_ = std::make_unique<ClusterDirectory>(
        RedisEndpoint::parse(config_.redis_url), state_->self.id, config_.lease, config_.heartbeat,
        [weak, &engine] {
          auto s = weak.lock();
          if (!s) return local_announcement(engine, EngineAnnouncement{});
          // Polled every 100 ms: list the registry only when it changed since the last time.
          const uint64_t changes = engine.registry().catalog_changes();
          std::lock_guard lock(s->mu);
          if (!s->announced || s->announced_at_changes != changes) {
            s->announced = local_announcement(engine, s->self);
            s->announced_at_changes = changes;
          }
          return s->announced;
        },
        [weak, &engine, &io, secret](const std::vector<AnnouncementPtr>& peers) {
          if (auto s = weak.lock()) s->connect(engine, io, secret, peers);
        });
    directory_->start();
    spdlog::info("iii-cluster: engine {} takes calls from other engines at {} (redis {})", state_->self.name,
                 state_->self.address, RedisEndpoint::parse(config_.redis_url).address());
  }

  void stop() override {
    if (directory_) directory_->stop();
    directory_.reset();
    state_->close_all();
    if (server_) server_->stop();
    server_.reset();
  }

 private:
  // What the directory's thread and engine::cluster::list share.
  struct State {
    std::mutex mu;
    EngineAnnouncement self;
    // The last announcement made of this engine, and the registry's catalog_changes() then.
    AnnouncementPtr announced;
    uint64_t announced_at_changes = 0;
    std::map<std::string, std::shared_ptr<PeerLink>> links;  // by engine id

    // Links to every engine announced, none to the others (from the directory's thread only).
    // The links are called outside `mu`: they call into the engine, whose callbacks may run
    // engine::cluster::list (describe(), which takes `mu`).
    void connect(Engine& engine, boost::asio::io_context& io, const std::string& secret,
                 const std::vector<AnnouncementPtr>& peers) {
      std::vector<std::pair<std::shared_ptr<PeerLink>, AnnouncementPtr>> kept;
      std::vector<std::pair<AnnouncementPtr, bool>> added;  // with: the previous link never connected
      std::vector<std::shared_ptr<PeerLink>> gone;
      {
        std::lock_guard lock(mu);
        std::map<std::string, std::shared_ptr<PeerLink>> next;
        for (const AnnouncementPtr& p : peers) {
          const EngineAnnouncement& a = p->announcement;
          auto it = links.find(a.id);
          if (it != links.end() && !it->second->closed() && it->second->address() == a.address) {
            kept.emplace_back(it->second, p);
            next.emplace(a.id, it->second);
            links.erase(it);
          } else {  // new, moved, or reconnecting (the old link, if any, stays in `links`: closed below)
            added.emplace_back(p, it != links.end() && !it->second->ever_connected());
          }
        }
        for (auto& [id, link] : links) gone.push_back(link);
        links = std::move(next);
      }
      for (const auto& link : gone) link->close();
      for (const auto& [link, p] : kept) link->update(p);
      for (const auto& [p, retrying] : added) {
        std::shared_ptr<PeerLink> link = PeerLink::open(engine, io, p, secret, retrying);
        std::lock_guard lock(mu);
        links[p->announcement.id] = std::move(link);
      }
    }

    void close_all() {
      std::map<std::string, std::shared_ptr<PeerLink>> all;
      {
        std::lock_guard lock(mu);
        all.swap(links);
      }
      for (auto& [id, link] : all) link->close();
    }

    std::string describe() {
      std::lock_guard lock(mu);
      std::string engines = "[";
      for (const auto& [id, link] : links) {
        if (engines.size() > 1) engines += ',';
        engines += link->describe();
      }
      engines += ']';
      const std::string me = FrameWriter().string("id", self.id).string("name", self.name).string("address", self.address).finish();
      return FrameWriter(64 + me.size() + engines.size()).raw("self", me).raw("engines", engines).finish();
    }
  };

  boost::asio::io_context& io_;
  Engine& engine_;
  const ClusterConfig config_;
  std::shared_ptr<InProcessWorker> endpoint_;
  std::shared_ptr<State> state_;
  std::unique_ptr<WsServer> server_;
  std::unique_ptr<ClusterDirectory> directory_;
};

}  // namespace

BuiltinDescriptor cluster_builtin(boost::asio::io_context& io) {
  return {kClusterWorkerName, {"cluster"}, [&io](BuiltinContext& context, const boost::json::value& config) {
            return make_cluster_worker(io, context.engine, parse_cluster_config(config));
          }};
}

std::unique_ptr<BuiltinWorker> make_cluster_worker(boost::asio::io_context& io, Engine& engine, ClusterConfig config) {
  return std::make_unique<ClusterWorker>(io, engine, std::move(config));
}

}  // namespace iii
