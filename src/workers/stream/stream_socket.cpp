#include "workers/stream/stream_socket.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>

#include "core/json_text.h"
#include "wire/json_writer.h"
#include "workers/stream/stream_service.h"

namespace iii {
namespace {

namespace json = boost::json;

// Client messages waiting while a join's triggers run; beyond it the client is closed.
constexpr size_t kMaxQueuedMessages = 1024;

struct Subscription {
  std::string subscription_id, stream, group;
  std::optional<std::string> item;
};

// Reads a join/leave message. nullopt (with `error`) when it is not one.
std::optional<std::pair<bool, Subscription>> parse_client_message(std::string_view text, std::string& error) {
  std::optional<json::value> v = json_text::parse(text, &error);
  if (!v) return std::nullopt;
  const json::object* o = v->if_object();
  const json::value* type = o ? o->if_contains("type") : nullptr;
  const json::value* data = o ? o->if_contains("data") : nullptr;
  if (!type || !type->is_string() || (type->get_string() != "join" && type->get_string() != "leave")) {
    error = "expected {\"type\": \"join\" | \"leave\", \"data\": {…}}";
    return std::nullopt;
  }
  const json::object* d = data ? data->if_object() : nullptr;
  auto field = [&](const char* key) -> const json::string* {
    const json::value* f = d ? d->if_contains(key) : nullptr;
    return f ? f->if_string() : nullptr;
  };
  const json::string *sub = field("subscriptionId"), *stream = field("streamName"), *group = field("groupId");
  if (!sub || !stream || !group) {
    error = "`data` needs the strings subscriptionId, streamName and groupId";
    return std::nullopt;
  }
  Subscription s{std::string(*sub), std::string(*stream), std::string(*group), std::nullopt};
  if (s.stream.find('\0') != std::string::npos || s.group.find('\0') != std::string::npos) {
    error = "streamName and groupId must not contain NUL";
    return std::nullopt;
  }
  if (const json::value* id = d->if_contains("id"); id && !id->is_null()) {
    if (!id->is_string()) {
      error = "`data.id` must be a string";
      return std::nullopt;
    }
    s.item = std::string(id->get_string());
  }
  return std::pair{type->get_string() == "join", std::move(s)};
}

// One client socket: its subscriptions, its auth context, and the queue of its messages.
class StreamSocket final : public WsConnectionHandler, public std::enable_shared_from_this<StreamSocket> {
 public:
  StreamSocket(std::shared_ptr<StreamService> service, uint64_t id, std::optional<std::string> context)
      : service_(std::move(service)), id_(id), context_(std::move(context)) {}

  void on_open(const std::shared_ptr<WsPeer>& peer) override {
    std::lock_guard lock(mu_);
    peer_ = peer;
  }

  void on_message(std::string_view payload, bool) override {
    std::unique_lock lock(mu_);
    if (closed_) return;
    if (queue_.size() >= kMaxQueuedMessages) {
      spdlog::warn("stream socket {}: more than {} messages waiting: closing it", address_locked(), kMaxQueuedMessages);
      if (peer_) peer_->close(1008, "too many messages waiting");
      closed_ = true;
      queue_.clear();
      return;
    }
    queue_.emplace_back(payload);
    if (busy_) return;
    busy_ = true;
    lock.unlock();
    process_next();
  }

  void on_closed() override {
    std::map<std::string, Subscription> remaining;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      queue_.clear();
      remaining.swap(subscriptions_);
    }
    for (auto& [sub_id, s] : remaining) {
      service_->hub().unsubscribe(id_, s.subscription_id, s.stream, s.group);
      service_->triggers().fire_leave(join_leave_payload(s));
    }
    std::lock_guard lock(mu_);
    peer_.reset();  // breaks the peer ↔ handler cycle
  }

 private:
  // Handles queued messages one at a time; a join goes on (calls process_next again) when its
  // triggers and its sync are done, often before join() returns: that call then only tells the
  // running loop to go on, so a burst of joins runs in a loop rather than a deep recursion.
  void process_next() {
    {
      std::lock_guard lock(mu_);
      if (in_loop_) {
        resume_ = true;
        return;
      }
      in_loop_ = true;
    }
    while (true) {
      std::string message;
      {
        std::lock_guard lock(mu_);
        if (queue_.empty() || closed_) {
          busy_ = in_loop_ = resume_ = false;
          return;
        }
        message = std::move(queue_.front());
        queue_.pop_front();
      }
      if (message.find_first_not_of(" \t\r\n") == std::string::npos) continue;  // blank: ignored
      std::string error;
      auto parsed = parse_client_message(message, error);
      if (!parsed) {
        spdlog::debug("stream socket {}: ignoring a malformed message: {}", address(), error);
        continue;
      }
      if (!parsed->first) {
        leave(parsed->second);
        continue;
      }
      join(std::move(parsed->second));
      std::lock_guard lock(mu_);
      if (!resume_) {  // the join is still running: it calls process_next() when done
        in_loop_ = false;
        return;
      }
      resume_ = false;
    }
  }

  void join(Subscription s) {
    const auto config = service_->config();
    {
      std::lock_guard lock(mu_);
      if (!subscriptions_.count(s.subscription_id) && subscriptions_.size() >= config->max_subscriptions_per_socket) {
        spdlog::warn("stream socket {}: over {} subscriptions: closing it", address_locked(),
                     config->max_subscriptions_per_socket);
        if (peer_) peer_->close(1008, "too many subscriptions (limit " + std::to_string(config->max_subscriptions_per_socket) + ")");
        closed_ = true;  // nothing more is handled
        queue_.clear();
        return;
      }
    }
    service_->triggers().fire_join(join_leave_payload(s), [self = shared_from_this(), s](bool unauthorized) mutable {
      self->after_join_triggers(std::move(s), unauthorized);
    });
  }

  void after_join_triggers(Subscription s, bool unauthorized) {
    std::shared_ptr<WsPeer> peer;
    {
      std::lock_guard lock(mu_);
      if (closed_ || !peer_) return;
      peer = peer_;
      if (!unauthorized) {
        // Under mu_, so that on_closed() (which empties subscriptions_ under it) cannot run in
        // between and leave a hub entry behind. Lock order: this socket's mu_, then the hub's.
        auto old = subscriptions_.find(s.subscription_id);
        if (old != subscriptions_.end() && (old->second.stream != s.stream || old->second.group != s.group))
          service_->hub().unsubscribe(id_, s.subscription_id, old->second.stream, old->second.group);
        subscriptions_[s.subscription_id] = s;
        service_->hub().subscribe(id_, peer, s.subscription_id, s.stream, s.group, s.item);
      }
    }
    if (unauthorized) {
      peer->send_text(stream_message(s.stream, s.group, s.item, R"({"type":"unauthorized"})"));
      return process_next();
    }
    send_sync(s);
  }

  // The `sync` message: the item (null when absent) or the group's items, through the backend.
  // Changes the subscription matched meanwhile were held by the hub and follow it.
  void send_sync(const Subscription& s) {
    service_->watch_remote(s.stream);  // bridge adapter: before the sync is read (stream_bridge.h)
    FrameWriter request;
    request.string("stream_name", s.stream).string("group_id", s.group);
    if (s.item) request.string("item_id", *s.item);
    auto after = [self = shared_from_this(), s](Outcome outcome) {
      std::optional<std::string> sync;
      if (outcome.ok()) {
        sync = stream_message(s.stream, s.group, s.item, stream_event("sync", outcome.result.empty() ? "null" : outcome.result));
      } else {
        spdlog::warn("stream socket {}: sync of {}/{} failed: {}: {}", self->address(), s.stream, s.group,
                     outcome.error->code, outcome.error->message);
      }
      self->service_->hub().release(self->id_, s.subscription_id, s.stream, s.group, sync);
      self->process_next();
    };
    try {
      if (s.item) {
        service_->read_item(s.stream, s.group, *s.item, request.finish(), after);
      } else {
        service_->read_group(s.stream, s.group, request.finish(), after);
      }
    } catch (const std::exception& e) {
      after(Outcome::failure("STREAM_GET_ERROR", e.what()));
    }
  }

  // Unsubscribes what was joined under that id (the names in the leave message do not matter),
  // then runs the leave triggers — also for an id never joined, as the official engine does.
  void leave(const Subscription& requested) {
    Subscription s = requested;
    {
      std::lock_guard lock(mu_);
      if (auto it = subscriptions_.find(requested.subscription_id); it != subscriptions_.end()) {
        s = it->second;
        service_->hub().unsubscribe(id_, s.subscription_id, s.stream, s.group);
        subscriptions_.erase(it);
      }
    }
    service_->triggers().fire_leave(join_leave_payload(s));
  }

  std::string join_leave_payload(const Subscription& s) const {
    FrameWriter w;
    w.string("subscription_id", s.subscription_id).string("stream_name", s.stream).string("group_id", s.group);
    if (s.item) w.string("id", *s.item);
    if (context_) w.raw("context", *context_);
    return w.finish();
  }

  std::string address() {
    std::lock_guard lock(mu_);
    return address_locked();
  }
  std::string address_locked() const { return peer_ ? peer_->remote_address() : "(closed)"; }

  const std::shared_ptr<StreamService> service_;
  const uint64_t id_;
  const std::optional<std::string> context_;  // raw JSON from the auth function

  std::mutex mu_;
  std::shared_ptr<WsPeer> peer_;
  std::map<std::string, Subscription> subscriptions_;  // by subscription id
  std::deque<std::string> queue_;
  bool busy_ = false;     // a message is being handled (later ones wait in queue_)
  bool in_loop_ = false;  // process_next's loop is running
  bool resume_ = false;   // a join finished while the loop was running
  bool closed_ = false;
};

std::string auth_request(const WsUpgradeRequest& request) {
  return FrameWriter()
      .raw("headers", upgrade_headers_json(request))
      .string("path", request.path)
      .raw("query_params", query_params_json(request.query))
      .string("addr", request.remote_address)
      .finish();
}

void accept_stream_socket(const std::shared_ptr<StreamService>& service, std::function<void(WsDecision)>& decide,
                          std::optional<std::string> context);

}  // namespace

std::chrono::milliseconds StreamSocketService::decision_timeout() const { return service_->config()->auth_timeout; }

void StreamSocketService::upgrade(WsUpgradeRequest request, std::function<void(WsDecision)> decide) {
  const auto config = service_->config();
  if (!config->auth_function) return accept_stream_socket(service_, decide, std::nullopt);
  const std::string function = *config->auth_function;
  const std::string address = request.remote_address;
  service_->engine().invoke(
      function, auth_request(request), "",
      [service = service_, decide = std::move(decide), function, address](Outcome outcome) mutable {
        if (!outcome.ok()) {
          spdlog::warn("stream socket {}: auth function {} failed ({}: {}): connection refused", address, function,
                       outcome.error->code, outcome.error->message);
          return decide(WsDecision{nullptr, {}, 401, "Unauthorized\n"});
        }
        std::optional<json::value> v = json_text::parse(outcome.result);
        if (!v || !v->is_object()) {
          spdlog::warn("stream socket {}: auth function {} answered {} instead of {{\"context\": …}}: connection refused",
                       address, function, outcome.result.empty() ? "nothing" : outcome.result.substr(0, 100));
          return decide(WsDecision{nullptr, {}, 401, "Unauthorized\n"});
        }
        const json::value* context = v->get_object().if_contains("context");
        std::optional<std::string> raw;
        if (context && !context->is_null()) raw = json_text::serialize(*context);
        accept_stream_socket(service, decide, std::move(raw));
      });
}

namespace {

void accept_stream_socket(const std::shared_ptr<StreamService>& service, std::function<void(WsDecision)>& decide,
                          std::optional<std::string> context) {
  static std::atomic<uint64_t> next_socket_id{1};
  const auto config = service->config();
  const uint64_t id = next_socket_id.fetch_add(1);
  WsDecision decision;
  decision.handler = std::make_shared<StreamSocket>(service, id, std::move(context));
  decision.options.max_message_bytes = config->max_message_bytes;
  decision.options.max_send_queue_bytes = config->max_send_queue_bytes;
  decision.options.overflow_close_code = 1008;
  // The kernel's buffer takes the same budget, up to 1 MiB (fan-out needs no more per socket).
  decision.options.socket_send_buffer_bytes = std::min<size_t>(config->max_send_queue_bytes, 1u << 20);
  decision.options.log_name = "stream socket " + std::to_string(id);
  decide(std::move(decision));
}

}  // namespace
}  // namespace iii
