#include "workers/console/console_live.h"

#include <boost/json.hpp>

#include <map>
#include <string>

#include "engine/engine.h"
#include "wire/json_writer.h"
#include "workers/console/console_access.h"

namespace iii {

// One open socket and its watches. Messages arrive on the connection's strand; refreshes and
// call completions on any thread: the mutex guards the watches.
class LiveConnection final : public WsConnectionHandler, public std::enable_shared_from_this<LiveConnection> {
 public:
  explicit LiveConnection(Engine& engine) : engine_(engine) {}

  void on_open(const std::shared_ptr<WsPeer>& peer) override {
    std::lock_guard lock(mu_);
    peer_ = peer;
  }

  void on_message(std::string_view payload, bool binary) override {
    boost::system::error_code ec;
    const boost::json::value message = boost::json::parse(payload, ec);
    if (ec || !message.is_object()) return;  // not ours: ignored
    const auto& o = message.get_object();
    const auto* type = o.if_contains("type");
    const auto* id = o.if_contains("id");
    if (!type || !type->is_string() || !id || !id->is_string()) return;
    const std::string watch_id(id->get_string());
    if (type->get_string() == "unwatch") {
      std::lock_guard lock(mu_);
      watches_.erase(watch_id);
      return;
    }
    if (type->get_string() != "watch") return;
    const auto* function = o.if_contains("function_id");
    if (!function || !function->is_string() || !is_page_function(function->get_string())) {
      send_error(watch_id, "FORBIDDEN", "the console may not watch this function");
      return;
    }
    const auto* payload_value = o.if_contains("payload");
    {
      std::lock_guard lock(mu_);
      if (!watches_.contains(watch_id) && watches_.size() >= ConsoleLiveService::kMaxWatches) {
        send_error_locked(watch_id, "TOO_MANY_WATCHES", "at most 32 watches per socket");
        return;
      }
      Watch& w = watches_[watch_id];
      w = Watch{std::string(function->get_string()), payload_value ? boost::json::serialize(*payload_value) : "{}",
                {}, false, ++generation_};
    }
    poll(watch_id);
  }

  void on_closed() override {
    std::lock_guard lock(mu_);
    watches_.clear();
    peer_.reset();
  }

  void refresh() {
    std::vector<std::string> ids;
    {
      std::lock_guard lock(mu_);
      for (const auto& [id, w] : watches_) ids.push_back(id);
    }
    for (const std::string& id : ids) poll(id);
  }

 private:
  struct Watch {
    std::string function_id;
    std::string payload;
    std::string last;  // the last message pushed
    bool in_flight = false;
    uint64_t generation = 0;  // a replaced watch ignores the answers of its predecessor
  };

  void poll(const std::string& id) {
    std::string function_id, payload;
    uint64_t generation = 0;
    {
      std::lock_guard lock(mu_);
      auto it = watches_.find(id);
      if (it == watches_.end() || it->second.in_flight) return;
      it->second.in_flight = true;
      function_id = it->second.function_id;
      payload = it->second.payload;
      generation = it->second.generation;
    }
    CallContext context;
    context.unobserved = true;  // the console's refreshes are not the engine's traffic
    engine_.invoke(
        function_id, payload, {},
        [weak = weak_from_this(), id, generation](Outcome outcome) {
          if (auto self = weak.lock()) self->answered(id, generation, std::move(outcome));
        },
        context);
  }

  void answered(const std::string& id, uint64_t generation, Outcome outcome) {
    std::string message = outcome.ok() ? "{\"type\":\"result\",\"id\":" : "{\"type\":\"error\",\"id\":";
    append_json_string(message, id);
    if (outcome.ok()) {
      message += ",\"result\":" + (outcome.result.empty() ? std::string("null") : outcome.result) + "}";
    } else {
      message += ",\"error\":{\"code\":";
      append_json_string(message, outcome.error->code);
      message += ",\"message\":";
      append_json_string(message, outcome.error->message);
      message += "}}";
    }
    std::lock_guard lock(mu_);
    auto it = watches_.find(id);
    if (it == watches_.end() || it->second.generation != generation) return;
    it->second.in_flight = false;
    if (it->second.last == message) return;
    it->second.last = message;
    if (peer_) peer_->send_text(message);
  }

  void send_error(const std::string& id, std::string_view code, std::string_view why) {
    std::lock_guard lock(mu_);
    send_error_locked(id, code, why);
  }
  void send_error_locked(const std::string& id, std::string_view code, std::string_view why) {
    std::string message = "{\"type\":\"error\",\"id\":";
    append_json_string(message, id);
    message += ",\"error\":{\"code\":";
    append_json_string(message, code);
    message += ",\"message\":";
    append_json_string(message, why);
    message += "}}";
    if (peer_) peer_->send_text(message);
  }

  Engine& engine_;
  std::mutex mu_;
  std::shared_ptr<WsPeer> peer_;
  std::map<std::string, Watch> watches_;
  uint64_t generation_ = 0;
};

ConsoleLiveService::ConsoleLiveService(Engine& engine, ConsoleConfig config)
    : engine_(engine), config_(std::move(config)) {}

void ConsoleLiveService::upgrade(WsUpgradeRequest request, std::function<void(WsDecision)> decide) {
  std::string host, origin, authorization, cookie;
  for (const auto& [name, value] : request.headers) {
    if (name == "host") host = value;
    else if (name == "origin") origin = value;
    else if (name == "authorization") authorization = value;
    else if (name == "cookie") cookie = value;
  }
  WsDecision decision;
  const bool token_required = !config_.token.empty();
  if (!same_site(host, origin, !token_required && is_loopback_host(config_.host))) {
    decision.status = 403;
    decision.body = "requests from another site are refused\n";
    return decide(std::move(decision));
  }
  if (!token_matches(config_.token, request_token(authorization, cookie, request.query))) {
    decision.body = "this console requires its token\n";
    return decide(std::move(decision));
  }
  auto connection = std::make_shared<LiveConnection>(engine_);
  {
    std::lock_guard lock(mu_);
    std::erase_if(connections_, [](const std::weak_ptr<LiveConnection>& c) { return c.expired(); });
    connections_.push_back(connection);
  }
  decision.handler = connection;
  decision.options.max_message_bytes = 64 * 1024;
  decision.options.max_send_queue_bytes = 16u << 20;
  decision.options.log_name = "console live socket " + request.remote_address;
  decide(std::move(decision));
}

void ConsoleLiveService::refresh() {
  std::vector<std::shared_ptr<LiveConnection>> open;
  {
    std::lock_guard lock(mu_);
    for (const auto& weak : connections_)
      if (auto c = weak.lock()) open.push_back(std::move(c));
  }
  for (const auto& c : open) c->refresh();
}

}  // namespace iii
