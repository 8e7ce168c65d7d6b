// RedisSubscriber: one Redis connection in subscribe mode, on a thread of its own, that hands
// every message of the channels it is asked for to a handler (docs/redis.md "Pub/sub").
//
// The wanted channels are kept here, so that after a lost connection the thread connects again
// (backing off from 100 ms to 2 s) and subscribes to all of them. Messages published while it
// was disconnected are lost — Redis pub/sub keeps nothing — and a warning says when that starts
// and when it is over; an owner that must make up for them passes an `on_gap` handler.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "store/redis_connection.h"

namespace iii {

class RedisSubscriber {
 public:
  // Runs on the subscriber's thread; must not block for long (it holds up every channel).
  using Handler = std::function<void(std::string_view channel, std::string_view message)>;

  // Runs on the subscriber's thread when a channel is subscribed again on a connection that
  // replaced a lost one (or once connecting works after failing at first): whatever was published
  // in between was lost.
  using GapHandler = std::function<void()>;

  RedisSubscriber(RedisEndpoint endpoint, Handler handler, GapHandler on_gap = nullptr);
  ~RedisSubscriber();  // unsubscribes by closing; waits for the thread
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  void subscribe(const std::string& channel);
  void unsubscribe(const std::string& channel);

  // True once Redis confirmed the subscription of `channel` on the current connection; waits at
  // most `timeout` for it.
  bool wait_subscribed(const std::string& channel, std::chrono::milliseconds timeout);

 private:
  void run();
  void sync_subscriptions(RedisConnection& connection);
  void handle(const RedisReply& reply);

  const RedisEndpoint endpoint_;
  const Handler handler_;
  const GapHandler on_gap_;
  std::mutex mu_;
  std::condition_variable confirmed_cv_;
  std::condition_variable stop_cv_;  // wakes the thread out of its backoff
  std::set<std::string> wanted_;     // what the callers asked for
  std::set<std::string> sent_;       // what the current connection was asked for
  std::set<std::string> confirmed_;  // what Redis confirmed on the current connection
  bool changed_ = false;             // wanted_ differs from sent_
  bool stopping_ = false;
  bool gap_ = false;                 // a connection failed since the last confirmation (thread only)
  std::thread thread_;
};

}  // namespace iii
