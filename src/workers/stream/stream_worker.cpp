#include "workers/stream/stream_worker.h"

#include <spdlog/spdlog.h>

#include "net/ws_server.h"
#include "store/kv_stream_store.h"
#include "workers/stream/stream_bridge.h"
#include "workers/stream/stream_redis.h"
#include "workers/stream/stream_service.h"
#include "workers/stream/stream_socket.h"

namespace iii {
namespace {

constexpr const char* kChangeConfigFormat =
    R"({"type":"object","required":["stream_name"],"properties":{"stream_name":{"type":"string"},)"
    R"("group_id":{"type":"string"},"item_id":{"type":"string"},"condition_function_id":{"type":"string"}}})";
constexpr const char* kChangeCallFormat =
    R"({"type":"object","properties":{"type":{"const":"stream"},"timestamp":{"type":"integer"},)"
    R"("streamName":{"type":"string"},"groupId":{"type":"string"},"id":{"type":["string","null"]},"event":{}}})";
constexpr const char* kJoinLeaveCallFormat =
    R"({"type":"object","properties":{"subscription_id":{"type":"string"},"stream_name":{"type":"string"},)"
    R"("group_id":{"type":"string"},"id":{"type":"string"},"context":{}}})";

// Serves one kind of the stream trigger types through the shared StreamTriggers.
class TriggerKind {
 public:
  TriggerKind(std::shared_ptr<StreamService> service, StreamTriggers::Kind kind)
      : service_(std::move(service)), kind_(kind) {}
  std::optional<ErrorBody> activate(const TriggerBinding& b) { return service_->triggers().activate(kind_, b); }
  void deactivate(const TriggerBinding& b) { service_->triggers().deactivate(b); }

 private:
  std::shared_ptr<StreamService> service_;
  StreamTriggers::Kind kind_;
};

// Opens the store `config` names (throws KvStoreError, a runtime_error), with its link to Redis
// for the redis adapter (never fails: calls fail until Redis answers).
StreamBackend open_backend(const StreamConfig& config, const std::shared_ptr<StreamService>& service) {
  if (config.storage == StreamConfig::Storage::kInMemory) return StreamBackend{.store = open_memory_stream_store()};
  if (config.storage == StreamConfig::Storage::kFileBased)
    return StreamBackend{.store = open_sqlite_stream_store(stream_database_file(config))};
  if (config.storage == StreamConfig::Storage::kBridge) return open_bridge_backend(config.bridge_url, service);
  return open_redis_backend(config.redis_url, service);
}

std::string describe_store(const StreamConfig& config) {
  switch (config.storage) {
    case StreamConfig::Storage::kInMemory:
      return "in-memory store";
    case StreamConfig::Storage::kFileBased:
      return "file store " + stream_database_file(config).string();
    case StreamConfig::Storage::kBridge:
      return "bridge to " + config.bridge_url + " (stream::* run there, changes pushed from its `stream` triggers)";
    case StreamConfig::Storage::kRedis:
      break;
  }
  return "redis store " + RedisEndpoint::parse(config.redis_url).address() + ", changes through channel " +
         StreamRedisLink::kChannel;
}

class StreamWorker final : public BuiltinWorker {
 public:
  StreamWorker(boost::asio::io_context& io, Engine& engine, StreamConfig config, std::shared_ptr<StreamStore> store)
      : io_(io),
        service_(std::make_shared<StreamService>(engine, std::move(config))),
        endpoint_(std::make_shared<InProcessWorker>(engine, kStreamWorkerName)),
        given_store_(std::move(store)) {
    add_stream_functions(*endpoint_, service_);
    const struct {
      const char* id;
      const char* description;
      const char* config_format;
      const char* call_format;
      StreamTriggers::Kind kind;
    } types[] = {
        {StreamTriggers::kChangeType, "Stream change trigger", kChangeConfigFormat, kChangeCallFormat,
         StreamTriggers::Kind::kChange},
        {StreamTriggers::kJoinType, "Stream join trigger", "", kJoinLeaveCallFormat, StreamTriggers::Kind::kJoin},
        {StreamTriggers::kLeaveType, "Stream leave trigger", "", kJoinLeaveCallFormat, StreamTriggers::Kind::kLeave},
    };
    for (const auto& t : types) {
      kinds_.push_back(std::make_shared<TriggerKind>(service_, t.kind));
      endpoint_->add_trigger_type(TriggerTypeSpec{t.id, t.description, t.config_format, t.call_format},
                                  weakly_served(kinds_.back(), kStreamWorkerName));
    }
  }

  ~StreamWorker() override { stop(); }

  std::shared_ptr<InProcessWorker> endpoint() override { return endpoint_; }

  void start() override {
    const auto config = service_->config();
    service_->open(given_store_ ? StreamBackend{.store = given_store_} : open_backend(*config, service_));
    listen(*config);
    spdlog::info("iii-stream: {}", given_store_ ? std::string("given store") : describe_store(*config));
  }

  void stop() override {
    if (server_) server_->stop();
    server_.reset();
    service_->close();
  }

  bool reconfigure(BuiltinWorker& fresh_worker) override {
    auto* fresh = dynamic_cast<StreamWorker*>(&fresh_worker);
    if (!fresh) return false;
    const StreamConfig next = *fresh->service_->config();
    const auto current = service_->config();
    // Open what can fail first, so a failure leaves everything as it was.
    std::optional<StreamBackend> backend;
    if (!given_store_ && !current->same_store(next)) backend = open_backend(next, service_);
    std::unique_ptr<WsServer> server;
    const bool rebind = next.host != current->host || next.port != current->port;
    if (rebind && next.port != current->port) {
      server = std::make_unique<WsServer>(io_, std::make_shared<StreamSocketService>(service_));
      server->listen(next.host, next.port);  // throws when it cannot bind: nothing changed yet
    }
    if (rebind && !server) {
      // Same port, another host: the old listener holds the port, so it must go first. If the new
      // address cannot be bound, the old one is bound again and the reload fails.
      if (server_) server_->stop();
      server_.reset();
      try {
        server = std::make_unique<WsServer>(io_, std::make_shared<StreamSocketService>(service_));
        server->listen(next.host, next.port);
      } catch (const std::exception&) {
        listen(*current);
        throw;
      }
    }
    service_->set_config(next);
    if (backend) {
      service_->open(std::move(*backend));
      spdlog::info("iii-stream: now on the {}", describe_store(next));
    }
    if (server) {
      if (server_) server_->stop();  // drops the open sockets, as a rebind must
      server_ = std::move(server);
      spdlog::info("iii-stream listening on ws://{}:{}", next.host, server_->port());
    }
    return true;
  }

 private:
  void listen(const StreamConfig& config) {
    auto server = std::make_unique<WsServer>(io_, std::make_shared<StreamSocketService>(service_));
    server->listen(config.host, config.port);
    server_ = std::move(server);
    spdlog::info("iii-stream listening on ws://{}:{}", config.host, server_->port());
  }

  boost::asio::io_context& io_;
  std::shared_ptr<StreamService> service_;
  std::shared_ptr<InProcessWorker> endpoint_;
  std::vector<std::shared_ptr<TriggerKind>> kinds_;
  std::shared_ptr<StreamStore> given_store_;
  std::unique_ptr<WsServer> server_;
};

}  // namespace

BuiltinDescriptor stream_builtin(boost::asio::io_context& io) {
  return {kStreamWorkerName, {}, [&io](BuiltinContext& context, const boost::json::value& config) {
            return make_stream_worker(io, context.engine, parse_stream_config(config, context.working_dir), nullptr);
          }};
}

std::unique_ptr<BuiltinWorker> make_stream_worker(boost::asio::io_context& io, Engine& engine, StreamConfig config,
                                                  std::shared_ptr<StreamStore> store) {
  return std::make_unique<StreamWorker>(io, engine, std::move(config), std::move(store));
}

}  // namespace iii
