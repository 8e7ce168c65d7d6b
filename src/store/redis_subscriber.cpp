#include "store/redis_subscriber.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

namespace iii {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(50);  // how soon a (un)subscribe is sent
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::seconds(2);
constexpr auto kConnectTimeout = std::chrono::seconds(5);

}  // namespace

RedisSubscriber::RedisSubscriber(RedisEndpoint endpoint, Handler handler, GapHandler on_gap)
    : endpoint_(std::move(endpoint)), handler_(std::move(handler)), on_gap_(std::move(on_gap)), thread_([this] { run(); }) {}

RedisSubscriber::~RedisSubscriber() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

void RedisSubscriber::subscribe(const std::string& channel) {
  std::lock_guard lock(mu_);
  changed_ |= wanted_.insert(channel).second;
}

void RedisSubscriber::unsubscribe(const std::string& channel) {
  std::lock_guard lock(mu_);
  changed_ |= wanted_.erase(channel) > 0;
}

bool RedisSubscriber::wait_subscribed(const std::string& channel, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return confirmed_cv_.wait_for(lock, timeout, [&] { return confirmed_.contains(channel); });
}

// Sends the difference between what is wanted and what this connection was asked for.
void RedisSubscriber::sync_subscriptions(RedisConnection& connection) {
  std::vector<std::string> add, remove;
  {
    std::lock_guard lock(mu_);
    if (!changed_) return;
    changed_ = false;
    std::set_difference(wanted_.begin(), wanted_.end(), sent_.begin(), sent_.end(), std::back_inserter(add));
    std::set_difference(sent_.begin(), sent_.end(), wanted_.begin(), wanted_.end(), std::back_inserter(remove));
    for (const std::string& c : remove) confirmed_.erase(c), sent_.erase(c);
    sent_.insert(add.begin(), add.end());
  }
  std::vector<std::vector<std::string_view>> commands;
  if (!add.empty()) {
    commands.push_back({"SUBSCRIBE"});
    for (const std::string& c : add) commands.back().push_back(c);
  }
  if (!remove.empty()) {
    commands.push_back({"UNSUBSCRIBE"});
    for (const std::string& c : remove) commands.back().push_back(c);
  }
  if (!commands.empty()) connection.send(commands);
}

void RedisSubscriber::handle(const RedisReply& reply) {
  if (reply.type != RedisReply::Type::kArray || reply.elements.size() < 3) return;
  const std::string& kind = reply.elements[0].str;
  if (kind == "message") return handler_(reply.elements[1].str, reply.elements[2].str);
  if (kind == "subscribe") {
    {
      std::lock_guard lock(mu_);
      confirmed_.insert(reply.elements[1].str);
      confirmed_cv_.notify_all();
    }
    if (gap_) {
      gap_ = false;
      if (on_gap_) on_gap_();
    }
  }
}

void RedisSubscriber::run() {
  std::unique_ptr<RedisConnection> connection;
  auto backoff = kFirstBackoff;
  bool down = false;  // warned about an outage
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    try {
      if (!connection) connection = RedisConnection::open(endpoint_, kConnectTimeout);
      sync_subscriptions(*connection);
      if (std::optional<RedisReply> reply = connection->next_reply(kPollInterval)) handle(*reply);
      if (down) spdlog::info("redis {}: subscriber connected again", endpoint_.address());
      down = false;
      backoff = kFirstBackoff;
    } catch (const RedisError& e) {
      connection.reset();
      gap_ = true;
      if (!down) spdlog::warn("{} (subscriber: messages published meanwhile are lost; reconnecting)", e.what());
      down = true;
      std::unique_lock lock(mu_);
      // Nothing is subscribed while disconnected; the next connection asks for everything wanted.
      sent_.clear();
      confirmed_.clear();
      changed_ = true;
      if (stop_cv_.wait_for(lock, backoff, [&] { return stopping_; })) return;
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
    }
  }
}

}  // namespace iii
