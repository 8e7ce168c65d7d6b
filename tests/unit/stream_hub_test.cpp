// StreamHub (src/workers/stream/stream_hub.h): the subscription table of the iii-stream client
// sockets, the fan-out of one change, and the changes held behind a subscription's sync, driven
// with fake peers that record what they are sent.
#include "workers/stream/stream_hub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fake_peer.h"
#include "net/ws_service.h"

namespace iii {
namespace {

const std::optional<std::string> kNoItem;
std::optional<std::string> item(std::string id) { return std::optional<std::string>(std::move(id)); }

// A subscription past its sync: changes go straight out.
void live(StreamHub& hub, uint64_t socket_id, const std::shared_ptr<WsPeer>& peer, const std::string& subscription_id,
          const std::string& stream, const std::string& group, const std::optional<std::string>& only = kNoItem) {
  hub.subscribe(socket_id, peer, subscription_id, stream, group, only);
  hub.release(socket_id, subscription_id, stream, group, std::nullopt);
}

TEST(StreamHub, EmptyHubReachesNobody) {
  StreamHub hub;
  EXPECT_EQ(hub.size(), 0u);
  EXPECT_EQ(hub.broadcast("s", "g", item("1"), "{}"), 0u);
  EXPECT_EQ(hub.broadcast("s", "g", kNoItem, "{}"), 0u);
}

TEST(StreamHub, GroupSubscriptionSeesEveryChangeOfItsGroupOnly) {
  StreamHub hub;
  auto peer = std::make_shared<FakePeer>();
  live(hub, 1, peer, "sub", "todos", "inbox");
  EXPECT_EQ(hub.size(), 1u);
  EXPECT_EQ(hub.broadcast("todos", "inbox", item("a"), R"({"n":1})"), 1u);
  EXPECT_EQ(hub.broadcast("todos", "inbox", kNoItem, R"({"n":2})"), 1u);  // a custom event without id
  EXPECT_EQ(hub.broadcast("todos", "done", item("a"), R"({"n":3})"), 0u);
  EXPECT_EQ(hub.broadcast("other", "inbox", item("a"), R"({"n":4})"), 0u);
  ASSERT_EQ(peer->encoded.size(), 2u);
  EXPECT_EQ(peer->encoded[0], encode_text_frame(R"({"n":1})"));
  EXPECT_EQ(peer->encoded[1], encode_text_frame(R"({"n":2})"));
  EXPECT_TRUE(peer->texts.empty());  // the hub only sends pre-encoded frames
}

TEST(StreamHub, ItemSubscriptionSeesOnlyItsItem) {
  StreamHub hub;
  auto peer = std::make_shared<FakePeer>();
  live(hub, 1, peer, "sub", "todos", "inbox", item("a"));
  EXPECT_EQ(hub.broadcast("todos", "inbox", item("a"), "1"), 1u);
  EXPECT_EQ(hub.broadcast("todos", "inbox", item("b"), "2"), 0u);
  EXPECT_EQ(hub.broadcast("todos", "inbox", kNoItem, "3"), 0u);  // no id: item subscriptions are not matched
  EXPECT_EQ(hub.broadcast("todos", "inbox", item(""), "4"), 0u);
  ASSERT_EQ(peer->encoded.size(), 1u);
  EXPECT_EQ(peer->encoded[0], encode_text_frame("1"));
}

TEST(StreamHub, OneMessagePerMatchingSubscription) {
  StreamHub hub;
  auto a = std::make_shared<FakePeer>();
  auto b = std::make_shared<FakePeer>();
  live(hub, 1, a, "whole-group", "s", "g");
  live(hub, 1, a, "just-x", "s", "g", item("x"));  // the same socket twice: two messages
  live(hub, 1, a, "just-y", "s", "g", item("y"));
  live(hub, 2, b, "whole-group", "s", "g");  // same subscription id, other socket: distinct
  EXPECT_EQ(hub.size(), 4u);
  EXPECT_EQ(hub.broadcast("s", "g", item("x"), "m"), 3u);
  EXPECT_EQ(a->encoded.size(), 2u);
  EXPECT_EQ(b->encoded.size(), 1u);
  EXPECT_EQ(hub.broadcast("s", "g", kNoItem, "n"), 2u);
  EXPECT_EQ(a->encoded.size(), 3u);
  EXPECT_EQ(b->encoded.size(), 2u);
}

TEST(StreamHub, EncodesTheMessageOnceForAllSubscribers) {
  StreamHub hub;
  std::vector<std::shared_ptr<FakePeer>> peers;
  for (uint64_t i = 0; i < 5; ++i) {
    peers.push_back(std::make_shared<FakePeer>());
    live(hub, i, peers.back(), "sub", "s", "g");
  }
  live(hub, 0, peers[0], "sub-item", "s", "g", item("k"));
  const std::string message = R"({"type":"stream","event":{"type":"create","data":"é"}})";
  EXPECT_EQ(hub.broadcast("s", "g", item("k"), message), 6u);
  const std::string frame = encode_text_frame(message);
  ASSERT_EQ(static_cast<unsigned char>(frame[0]), 0x81u);  // FIN + text
  const char* buffer = peers[0]->encoded_data.at(0);
  for (const auto& p : peers) {
    for (size_t i = 0; i < p->encoded.size(); ++i) {
      EXPECT_EQ(p->encoded[i], frame);
      EXPECT_EQ(p->encoded_data[i], buffer) << "the frame was encoded again for another subscriber";
    }
  }
  EXPECT_EQ(peers[0]->encoded.size(), 2u);
}

TEST(StreamHub, ResubscribingTheSameIdOnTheSameGroupReplacesIt) {
  StreamHub hub;
  auto peer = std::make_shared<FakePeer>();
  live(hub, 1, peer, "sub", "s", "g", item("a"));
  live(hub, 1, peer, "sub", "s", "g", item("b"));
  EXPECT_EQ(hub.size(), 1u);
  EXPECT_EQ(hub.broadcast("s", "g", item("a"), "old"), 0u);
  EXPECT_EQ(hub.broadcast("s", "g", item("b"), "new"), 1u);
  live(hub, 1, peer, "sub", "s", "g");  // widened to the whole group
  EXPECT_EQ(hub.size(), 1u);
  EXPECT_EQ(hub.broadcast("s", "g", item("z"), "any"), 1u);
  EXPECT_EQ(peer->encoded.size(), 2u);
}

TEST(StreamHub, UnsubscribeRemovesExactlyOneSubscription) {
  StreamHub hub;
  auto a = std::make_shared<FakePeer>();
  auto b = std::make_shared<FakePeer>();
  live(hub, 1, a, "sub", "s", "g");
  live(hub, 1, a, "other", "s", "g");
  live(hub, 2, b, "sub", "s", "g");
  EXPECT_EQ(hub.size(), 3u);
  hub.unsubscribe(1, "sub", "s", "g");
  EXPECT_EQ(hub.size(), 2u);
  EXPECT_EQ(hub.broadcast("s", "g", kNoItem, "m"), 2u);
  EXPECT_EQ(a->encoded.size(), 1u);  // "other" only
  EXPECT_EQ(b->encoded.size(), 1u);
  // No-ops: unknown id, another group, another stream, another socket, twice.
  hub.unsubscribe(1, "nope", "s", "g");
  hub.unsubscribe(1, "other", "s", "g2");
  hub.unsubscribe(1, "other", "s2", "g");
  hub.unsubscribe(3, "other", "s", "g");
  hub.unsubscribe(1, "sub", "s", "g");
  EXPECT_EQ(hub.size(), 2u);
  hub.unsubscribe(1, "other", "s", "g");
  hub.unsubscribe(2, "sub", "s", "g");
  EXPECT_EQ(hub.size(), 0u);
  EXPECT_EQ(hub.broadcast("s", "g", kNoItem, "m"), 0u);
  // The hub no longer holds the peers.
  EXPECT_EQ(a.use_count(), 1);
  EXPECT_EQ(b.use_count(), 1);
}

TEST(StreamHub, StreamAndGroupNamesDoNotRunTogether) {
  StreamHub hub;
  auto p1 = std::make_shared<FakePeer>();
  auto p2 = std::make_shared<FakePeer>();
  auto p3 = std::make_shared<FakePeer>();
  live(hub, 1, p1, "sub", "a", "bc");
  live(hub, 2, p2, "sub", "ab", "c");
  live(hub, 3, p3, "sub", "", "abc");
  EXPECT_EQ(hub.broadcast("a", "bc", kNoItem, "1"), 1u);
  EXPECT_EQ(hub.broadcast("ab", "c", kNoItem, "2"), 1u);
  EXPECT_EQ(hub.broadcast("abc", "", kNoItem, "3"), 0u);
  EXPECT_EQ(hub.broadcast("", "abc", kNoItem, "4"), 1u);
  EXPECT_EQ(p1->encoded, std::vector<std::string>{encode_text_frame("1")});
  EXPECT_EQ(p2->encoded, std::vector<std::string>{encode_text_frame("2")});
  EXPECT_EQ(p3->encoded, std::vector<std::string>{encode_text_frame("4")});
}

// A join subscribes before its snapshot is read; what changes meanwhile is held and follows the
// sync message, in order, so no change can reach the client before the snapshot it postdates.
TEST(StreamHub, ChangesWaitBehindTheSync) {
  StreamHub hub;
  auto peer = std::make_shared<FakePeer>();
  hub.subscribe(1, peer, "sub", "s", "g", kNoItem);
  EXPECT_EQ(hub.size(), 1u);
  EXPECT_EQ(hub.broadcast("s", "g", item("a"), "change 1"), 1u);  // held counts
  EXPECT_EQ(hub.broadcast("s", "g", kNoItem, "change 2"), 1u);
  EXPECT_TRUE(peer->encoded.empty());
  EXPECT_TRUE(peer->texts.empty());
  hub.release(1, "sub", "s", "g", std::string("sync"));
  EXPECT_EQ(peer->texts, (std::vector<std::string>{"sync", "change 1", "change 2"}));
  EXPECT_TRUE(peer->encoded.empty());
  // Live now: straight out, pre-encoded.
  EXPECT_EQ(hub.broadcast("s", "g", item("a"), "change 3"), 1u);
  EXPECT_EQ(peer->encoded, std::vector<std::string>{encode_text_frame("change 3")});
  // A second release is a no-op (nothing sent twice).
  hub.release(1, "sub", "s", "g", std::string("sync again"));
  EXPECT_EQ(peer->texts.size(), 3u);
  EXPECT_EQ(peer->closed_with, 0);
}

TEST(StreamHub, HoldingIsPerSubscription) {
  StreamHub hub;
  auto a = std::make_shared<FakePeer>();
  auto b = std::make_shared<FakePeer>();
  live(hub, 1, a, "sub", "s", "g");
  hub.subscribe(2, b, "sub", "s", "g", kNoItem);  // still syncing
  EXPECT_EQ(hub.broadcast("s", "g", kNoItem, "m"), 2u);
  EXPECT_EQ(a->encoded.size(), 1u);
  EXPECT_TRUE(b->encoded.empty());
  // A failed sync (nullopt) still releases what was held.
  hub.release(2, "sub", "s", "g", std::nullopt);
  EXPECT_EQ(b->texts, std::vector<std::string>{"m"});
  // Held changes honour the item filter like live ones.
  hub.subscribe(3, b, "item", "s", "g", item("x"));
  hub.broadcast("s", "g", item("y"), "not x");
  hub.broadcast("s", "g", item("x"), "x");
  hub.release(3, "item", "s", "g", std::string("sync"));
  EXPECT_EQ(b->texts, (std::vector<std::string>{"m", "sync", "x"}));
}

TEST(StreamHub, ReleaseOfAnUnknownOrRemovedSubscriptionDoesNothing) {
  StreamHub hub;
  auto peer = std::make_shared<FakePeer>();
  hub.release(1, "sub", "s", "g", std::string("sync"));  // never subscribed
  hub.subscribe(1, peer, "sub", "s", "g", kNoItem);
  hub.broadcast("s", "g", kNoItem, "held");
  hub.release(1, "sub", "s", "other", std::string("sync"));  // another group
  hub.release(2, "sub", "s", "g", std::string("sync"));      // another socket
  hub.release(1, "other", "s", "g", std::string("sync"));    // another id
  EXPECT_TRUE(peer->texts.empty());
  hub.unsubscribe(1, "sub", "s", "g");  // left while syncing
  hub.release(1, "sub", "s", "g", std::string("sync"));
  EXPECT_TRUE(peer->texts.empty());
  EXPECT_EQ(hub.size(), 0u);
}

TEST(StreamHub, ResubscribingHoldsAgainUntilTheNewSync) {
  StreamHub hub;
  auto peer = std::make_shared<FakePeer>();
  live(hub, 1, peer, "sub", "s", "g");
  hub.subscribe(1, peer, "sub", "s", "g", item("a"));  // joined again: a new sync is coming
  EXPECT_EQ(hub.size(), 1u);
  EXPECT_EQ(hub.broadcast("s", "g", item("a"), "after rejoin"), 1u);
  EXPECT_TRUE(peer->encoded.empty());
  hub.release(1, "sub", "s", "g", std::string("new sync"));
  EXPECT_EQ(peer->texts, (std::vector<std::string>{"new sync", "after rejoin"}));
}

TEST(StreamHub, TooManyHeldChangesCloseTheSocketAfterTheSync) {
  StreamHub hub;
  auto peer = std::make_shared<FakePeer>();
  hub.subscribe(1, peer, "sub", "s", "g", kNoItem);
  for (size_t i = 0; i < StreamHub::kMaxHeld + 5; ++i) hub.broadcast("s", "g", kNoItem, std::to_string(i));
  EXPECT_EQ(peer->closed_with, 0);  // not before the release
  hub.release(1, "sub", "s", "g", std::string("sync"));
  ASSERT_EQ(peer->texts.size(), StreamHub::kMaxHeld + 1);
  EXPECT_EQ(peer->texts.front(), "sync");
  EXPECT_EQ(peer->texts.back(), std::to_string(StreamHub::kMaxHeld - 1));
  EXPECT_EQ(peer->closed_with, 1008);
}

TEST(StreamHub, ConcurrentBroadcastsAndSubscriptionChanges) {
  StreamHub hub;
  auto steady = std::make_shared<FakePeer>();
  live(hub, 0, steady, "steady", "s", "g");
  constexpr int kBroadcasts = 2000;
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    auto p = std::make_shared<FakePeer>();
    for (uint64_t i = 1; !stop; ++i) {
      hub.subscribe(i, p, "churn", "s", "g", (i % 2) ? kNoItem : item("x"));
      if (i % 3) hub.release(i, "churn", "s", "g", std::string("sync"));
      hub.unsubscribe(i, "churn", "s", "g");
    }
  });
  std::vector<std::thread> senders;
  for (int t = 0; t < 2; ++t)
    senders.emplace_back([&] {
      for (int i = 0; i < kBroadcasts / 2; ++i) hub.broadcast("s", "g", item("x"), "m");
    });
  for (auto& t : senders) t.join();
  stop = true;
  churn.join();
  EXPECT_EQ(steady->count(), static_cast<size_t>(kBroadcasts));
  EXPECT_EQ(hub.size(), 1u);
}

// What the redis adapter does when changes may have been lost: every subscribed socket is closed
// (once, however many subscriptions it holds) so that its client joins again.
TEST(StreamHub, CloseAllClosesEverySubscribedSocketOnce) {
  StreamHub hub;
  auto a = std::make_shared<FakePeer>(), b = std::make_shared<FakePeer>(), idle = std::make_shared<FakePeer>();
  live(hub, 1, a, "s1", "todos", "inbox");
  live(hub, 1, a, "s2", "todos", "done", item("t1"));
  hub.subscribe(2, b, "s1", "other", "g", kNoItem);  // still waiting for its sync
  EXPECT_EQ(hub.close_all(1012, "join again"), 2u);
  EXPECT_EQ(a->closed(), 1012);
  EXPECT_EQ(b->closed(), 1012);
  EXPECT_EQ(idle->closed(), 0);
  EXPECT_EQ(hub.size(), 3u);  // the sockets leave their subscriptions as they close
}

}  // namespace
}  // namespace iii
