#include "workers/cluster/cluster_server.h"

#include <boost/url/decode_view.hpp>
#include <boost/url/parse_query.hpp>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "core/message.h"
#include "engine/engine.h"
#include "wire/ws_codec.h"

namespace iii {
namespace {

// The value of `key` in a raw query string, decoded; "" when absent.
std::string query_value(std::string_view query, std::string_view key) {
  auto params = boost::urls::parse_query(query);
  if (!params) return {};
  for (const auto& p : *params) {
    if (p.key != key) continue;
    const auto decoded = *p.value;  // percent-decoded
    return std::string(decoded.begin(), decoded.end());
  }
  return {};
}

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

class PeerCallHandler final : public WsConnectionHandler {
 public:
  PeerCallHandler(Engine& engine, std::string peer_id, std::shared_ptr<ClusterCallService::PeerBindings> bindings)
      : engine_(engine), peer_id_(std::move(peer_id)), bindings_(std::move(bindings)) {}

  void on_open(const std::shared_ptr<WsPeer>& peer) override {
    peer_ = peer;
    spdlog::debug("iii-cluster: engine {} connected from {}", peer_id_, peer->remote_address());
  }

  void on_message(std::string_view payload, bool binary) override {
    if (binary) return;
    Message m;
    if (const std::string error = parse_message(payload, m, net::ws::kMessagePadding); !error.empty()) {
      spdlog::debug("iii-cluster: engine {} sent a frame that is not a message, dropped", peer_id_);
      return;
    }
    if (m.type == MessageType::kInvokeFunction && m.function_id && m.invocation_id) return call(m);
    if (m.type == MessageType::kRegisterTrigger && m.id && m.trigger_type && m.function_id) return bind(m);
    if (m.type == MessageType::kUnregisterTrigger && m.id) return unbind(std::string(*m.id));
    spdlog::debug("iii-cluster: engine {} sent a frame that is not a call or a binding, dropped", peer_id_);
  }

  void on_closed() override {
    peer_.reset();
    for (const std::string& id : forget_bindings()) engine_.unregister_trigger(id);
  }

  // Without calls into the engine: a connection may be destroyed after it, at exit.
  ~PeerCallHandler() override { forget_bindings(); }

 private:
  // Takes the bindings this link owns out of the shared map; returns their ids.
  std::vector<std::string> forget_bindings() {
    std::vector<std::string> gone;
    {
      std::lock_guard lock(bindings_->mu);
      for (auto it = bindings_->owner.begin(); it != bindings_->owner.end();) {
        if (it->second != this) {
          ++it;
          continue;
        }
        gone.push_back(it->first);
        it = bindings_->owner.erase(it);
      }
    }
    return gone;
  }

  void call(const Message& m) {
    const std::string invocation_id(*m.invocation_id), function_id(*m.function_id);
    const std::string data(m.data.value_or("null")), metadata(m.metadata.value_or(""));
    const std::string traceparent(m.traceparent.value_or("")), baggage(m.baggage.value_or(""));
    CallContext context{{}, traceparent, baggage, /*local_only=*/true};
    engine_.invoke(
        function_id, data, metadata,
        [weak = std::weak_ptr<WsPeer>(peer_), invocation_id, function_id](Outcome o) {
          if (auto p = weak.lock()) p->send_text(build_result_frame(invocation_id, function_id, o));
        },
        context);
  }

  // A binding made on the peer, of a trigger type provided here.
  void bind(const Message& m) {
    TriggerBinding b;
    b.id = std::string(*m.id);
    b.trigger_type = std::string(*m.trigger_type);
    b.function_id = std::string(*m.function_id);
    b.config = m.config ? std::string(*m.config) : "null";
    b.metadata = m.metadata ? std::string(*m.metadata) : std::string();
    {
      std::lock_guard lock(bindings_->mu);
      bindings_->owner[b.id] = this;
    }
    engine_.register_trigger(b, [weak = std::weak_ptr<WsPeer>(peer_), b, peer = peer_id_](std::optional<ErrorBody> error) {
      if (!error) return;
      spdlog::info("iii-cluster: a binding of {} from engine {} was rejected: {}", b.trigger_type, peer, error->message);
      if (auto p = weak.lock()) p->send_text(build_registration_error_frame(b, *error));
    });
  }

  void unbind(const std::string& id) {
    {
      std::lock_guard lock(bindings_->mu);
      auto it = bindings_->owner.find(id);
      if (it == bindings_->owner.end() || it->second != this) return;
      bindings_->owner.erase(it);
    }
    engine_.unregister_trigger(id);
  }

  Engine& engine_;
  const std::string peer_id_;
  const std::shared_ptr<ClusterCallService::PeerBindings> bindings_;
  std::shared_ptr<WsPeer> peer_;
};

}  // namespace

void ClusterCallService::upgrade(WsUpgradeRequest request, std::function<void(WsDecision)> decide) {
  WsDecision d;
  if (!secret_.empty() && !same_secret(query_value(request.query, "secret"), secret_)) {
    spdlog::warn("iii-cluster: refused a peer connection from {}: wrong or missing secret", request.remote_address);
    d.status = 401;
    d.body = "not a member of this cluster";
    return decide(std::move(d));
  }
  const std::string peer = query_value(request.query, "engine");
  d.handler = std::make_shared<PeerCallHandler>(engine_, peer.empty() ? request.remote_address : peer, bindings_);
  d.options.log_name = "cluster peer " + peer;
  decide(std::move(d));
}

}  // namespace iii
