// Conformance tests of the StreamStore contract (store/stream_store.h), run against every
// implementation (memory, SQLite, and a real redis-server on a free loopback port), plus what
// only the SQLite-backed store promises: persistence across reopen and across kill -9. What only
// the Redis store does (its layout, its change feed, two engines) is in redis_stream_store_test.cpp.
#include "redis_server.h"
#include "store_test_support.h"
#include "temp_dir.h"
#include "store/stream_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "store/kv_stream_store.h"
#include "store/memory_kv_store.h"

namespace iii {
namespace {

namespace fs = std::filesystem;
using Values = std::vector<std::string>;
using Opt = std::optional<std::string>;

// A fresh directory per test, named after this suite.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("iii-stream-test-") {}
};

struct MemoryFactory {
  static constexpr const char* kName = "memory";
  std::shared_ptr<StreamStore> make(const TempDir&) { return open_memory_stream_store(); }
};

struct SqliteFactory {
  static constexpr const char* kName = "sqlite";
  std::shared_ptr<StreamStore> make(const TempDir& dir) { return open_sqlite_stream_store(dir.path() / "streams.db"); }
};

// A real redis-server shared by the tests, emptied before each.
struct RedisFactory {
  static constexpr const char* kName = "redis";
  std::shared_ptr<StreamStore> make(const TempDir&) {
    testing::RedisServer::shared().flush();
    return open_redis_stream_store(std::make_shared<RedisClient>(testing::RedisServer::shared().endpoint()));
  }
};

template <class Factory>
class StreamStoreConformance : public ::testing::Test {
 protected:
  StreamStoreConformance() : store(Factory().make(dir)) {}
  TempDir dir;
  std::shared_ptr<StreamStore> store;
};

using Implementations = ::testing::Types<MemoryFactory, SqliteFactory, RedisFactory>;
TYPED_TEST_SUITE(StreamStoreConformance, Implementations, ImplementationNames);

// Not derived from std::runtime_error, so a store that wrapped it (say into KvStoreError) fails.
struct Boom {};

Opt increment(const Opt& current) { return std::to_string((current ? std::stoi(*current) : 0) + 1); }

// --- get / set / remove ---

TYPED_TEST(StreamStoreConformance, GetOfAMissingStreamGroupOrItemIsEmpty) {
  EXPECT_EQ(this->store->get("s", "g", "i"), std::nullopt);
  this->store->set("s", "g", "i", "1");
  EXPECT_EQ(this->store->get("s", "g", "other"), std::nullopt);
  EXPECT_EQ(this->store->get("s", "other", "i"), std::nullopt);
  EXPECT_EQ(this->store->get("other", "g", "i"), std::nullopt);
}

TYPED_TEST(StreamStoreConformance, SetReturnsThePreviousValue) {
  EXPECT_EQ(this->store->set("s", "g", "i", R"({"a":1})"), std::nullopt);
  EXPECT_EQ(this->store->get("s", "g", "i"), R"({"a":1})");
  EXPECT_EQ(this->store->set("s", "g", "i", "2"), R"({"a":1})");
  EXPECT_EQ(this->store->get("s", "g", "i"), "2");
}

TYPED_TEST(StreamStoreConformance, RemoveReturnsTheRemovedValue) {
  this->store->set("s", "g", "i", "\"v\"");
  EXPECT_EQ(this->store->remove("s", "g", "i"), "\"v\"");
  EXPECT_EQ(this->store->get("s", "g", "i"), std::nullopt);
  EXPECT_EQ(this->store->remove("s", "g", "i"), std::nullopt);
  EXPECT_EQ(this->store->remove("unknown", "g", "i"), std::nullopt);
  EXPECT_EQ(this->store->remove("s", "unknown", "i"), std::nullopt);
}

TYPED_TEST(StreamStoreConformance, ValuesComeBackByteForByte) {
  const std::string raw = " { \"b\" : [1, 2.50, \"\\u00e9\"] } ";
  this->store->set("s", "g", "i", raw);
  EXPECT_EQ(this->store->get("s", "g", "i"), raw);
  this->store->set("s", "g", "n", "null");
  EXPECT_EQ(this->store->get("s", "g", "n"), "null");  // a stored null is a present item
  EXPECT_EQ(this->store->list("s", "g"), (Values{raw, "null"}));
}

TYPED_TEST(StreamStoreConformance, ItemIdsAreArbitraryByteStrings) {
  const std::string nul_id("a\0b", 3), nul_only("\0", 1);
  const Values ids = {"", "a", nul_id, nul_only, "a.b:c", "\xc3\xa9t\xc3\xa9", "\x01\xff"};
  for (size_t i = 0; i < ids.size(); ++i) this->store->set("s", "g", ids[i], std::to_string(i));
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(this->store->get("s", "g", ids[i]), std::to_string(i)) << i;
  EXPECT_EQ(this->store->list("s", "g").size(), ids.size());  // no two ids collapsed into one
  EXPECT_EQ(this->store->get("s", "g", std::string("a\0", 2)), std::nullopt);  // not "a", not "a\0b"
  EXPECT_EQ(this->store->remove("s", "g", nul_id), "2");
  EXPECT_EQ(this->store->get("s", "g", "a"), "1");
}

// Names that are prefixes of each other, or that differ only around where an encoding would put a
// separator, are still different places.
TYPED_TEST(StreamStoreConformance, StreamsAndGroupsAreIndependent) {
  this->store->set("a", "g", "i", "1");
  this->store->set("ab", "g", "i", "2");
  this->store->set("a", "gh", "i", "3");
  this->store->set("a", "\x01" "b", "i", "4");
  this->store->set("a\x01", "b", "i", "5");
  this->store->set("", "", "i", "6");
  EXPECT_EQ(this->store->get("a", "g", "i"), "1");
  EXPECT_EQ(this->store->get("ab", "g", "i"), "2");
  EXPECT_EQ(this->store->get("a", "gh", "i"), "3");
  EXPECT_EQ(this->store->get("a", "\x01" "b", "i"), "4");
  EXPECT_EQ(this->store->get("a\x01", "b", "i"), "5");
  EXPECT_EQ(this->store->get("", "", "i"), "6");
  this->store->remove("a", "g", "i");
  EXPECT_EQ(this->store->get("ab", "g", "i"), "2");
  EXPECT_EQ(this->store->get("a", "gh", "i"), "3");
  EXPECT_EQ(this->store->list("a", "g"), Values{});
  EXPECT_EQ(this->store->list("a\x01", "b"), Values{"5"});
}

// --- update ---

TYPED_TEST(StreamStoreConformance, UpdateOfAMissingItemCreatesIt) {
  Opt seen = "sentinel";
  KvUpdate u = this->store->update("s", "g", "i", [&](const Opt& current) {
    seen = current;
    return Opt("1");
  });
  EXPECT_EQ(seen, std::nullopt);
  EXPECT_EQ(u.old_value, std::nullopt);
  EXPECT_EQ(u.new_value, "1");
  EXPECT_EQ(this->store->get("s", "g", "i"), "1");
  EXPECT_EQ(this->store->list_groups("s"), Values{"g"});
}

TYPED_TEST(StreamStoreConformance, UpdateStoresWhatFnReturnsFromTheCurrentValue) {
  this->store->set("s", "g", "i", "41");
  KvUpdate u = this->store->update("s", "g", "i", increment);
  EXPECT_EQ(u.old_value, "41");
  EXPECT_EQ(u.new_value, "42");
  EXPECT_EQ(this->store->get("s", "g", "i"), "42");
}

TYPED_TEST(StreamStoreConformance, UpdateReturningNothingLeavesTheItemAlone) {
  auto nothing = [](const Opt&) { return Opt(); };
  KvUpdate u = this->store->update("s", "g", "i", nothing);
  EXPECT_EQ(u.old_value, std::nullopt);
  EXPECT_EQ(u.new_value, std::nullopt);
  EXPECT_EQ(this->store->get("s", "g", "i"), std::nullopt);
  EXPECT_EQ(this->store->list_streams(), Values{});  // no empty group or stream was created

  this->store->set("s", "g", "i", "1");
  this->store->set("s", "g", "j", "2");
  u = this->store->update("s", "g", "i", nothing);
  EXPECT_EQ(u.old_value, "1");
  EXPECT_EQ(u.new_value, "1");
  EXPECT_EQ(this->store->list("s", "g"), (Values{"1", "2"}));
}

TYPED_TEST(StreamStoreConformance, UpdateThatThrowsChangesNothingAndPropagates) {
  auto boom = [](const Opt&) -> Opt { throw Boom{}; };
  this->store->set("s", "g", "i", "1");
  EXPECT_THROW(this->store->update("s", "g", "i", boom), Boom);
  EXPECT_EQ(this->store->get("s", "g", "i"), "1");
  EXPECT_THROW(this->store->update("s", "g", "new", boom), Boom);
  EXPECT_THROW(this->store->update("s", "new-group", "i", boom), Boom);
  EXPECT_EQ(this->store->get("s", "g", "new"), std::nullopt);
  EXPECT_EQ(this->store->list("s", "g"), Values{"1"});
  EXPECT_EQ(this->store->list_groups("s"), Values{"g"});
  // Still usable afterwards (nothing left half done, no lock left held).
  this->store->set("s", "g", "after", "2");
  EXPECT_EQ(this->store->list("s", "g"), (Values{"1", "2"}));
}

// --- list ---

TYPED_TEST(StreamStoreConformance, ListIsInInsertionOrder) {
  this->store->set("s", "g", "c", "1");
  this->store->set("s", "g", "a", "2");
  this->store->set("s", "other", "z", "9");
  this->store->set("s", "g", "b", "3");
  EXPECT_EQ(this->store->list("s", "g"), (Values{"1", "2", "3"}));
  this->store->set("s", "g", "c", "10");  // an overwrite keeps its place
  this->store->update("s", "g", "a", [](const Opt&) { return Opt("20"); });
  EXPECT_EQ(this->store->list("s", "g"), (Values{"10", "20", "3"}));
  this->store->remove("s", "g", "c");
  this->store->set("s", "g", "c", "100");  // removed then set again: moves to the end
  EXPECT_EQ(this->store->list("s", "g"), (Values{"20", "3", "100"}));
  EXPECT_EQ(this->store->list("s", "other"), Values{"9"});
}

TYPED_TEST(StreamStoreConformance, ListingUnknownNamesIsEmpty) {
  this->store->set("s", "g", "i", "1");
  EXPECT_EQ(this->store->list("s", "unknown"), Values{});
  EXPECT_EQ(this->store->list("unknown", "g"), Values{});
  EXPECT_EQ(this->store->list_groups("unknown"), Values{});
  EXPECT_EQ(this->store->list_groups(""), Values{});
}

TYPED_TEST(StreamStoreConformance, EmptiedGroupsAndStreamsDisappear) {
  EXPECT_EQ(this->store->list_streams(), Values{});
  this->store->set("s", "g1", "a", "1");
  this->store->set("s", "g1", "b", "2");
  this->store->set("s", "g2", "a", "3");
  this->store->set("t", "g", "a", "4");
  this->store->remove("s", "g1", "a");
  EXPECT_EQ(this->store->list_groups("s"), (Values{"g1", "g2"}));  // g1 still holds b
  this->store->remove("s", "g1", "b");
  EXPECT_EQ(this->store->list_groups("s"), Values{"g2"});
  EXPECT_EQ(this->store->list("s", "g1"), Values{});
  EXPECT_EQ(this->store->list_streams(), (Values{"s", "t"}));
  this->store->remove("s", "g2", "a");
  EXPECT_EQ(this->store->list_groups("s"), Values{});
  EXPECT_EQ(this->store->list_streams(), Values{"t"});
  this->store->set("s", "g1", "a", "5");  // and come back when written again
  EXPECT_EQ(this->store->list_streams(), (Values{"s", "t"}));
}

TYPED_TEST(StreamStoreConformance, ListGroupsIsSortedAndOnlyForThatStream) {
  for (const char* g : {"b", "ba", "B", "\xff", "\x01", "a"}) {
    this->store->set("a", g, "i1", "1");
    this->store->set("a", g, "i2", "2");  // two items: the group is still listed once
  }
  this->store->set("a", "", "i", "1");
  this->store->set("ab", "z", "i", "1");       // a stream whose name extends "a"
  this->store->set("a\x01", "y", "i", "1");    // one that sorts right after "a"
  this->store->set("", "x", "i", "1");         // one that is a prefix of all
  // Byte order: '\x01' < 'B' < 'a' < 'b' < "ba" < '\xff' (unsigned).
  EXPECT_EQ(this->store->list_groups("a"), (Values{"", "\x01", "B", "a", "b", "ba", "\xff"}));
  EXPECT_EQ(this->store->list_groups("ab"), Values{"z"});
  EXPECT_EQ(this->store->list_groups("a\x01"), Values{"y"});
  EXPECT_EQ(this->store->list_groups(""), Values{"x"});
  EXPECT_EQ(this->store->list_groups("b"), Values{});
}

TYPED_TEST(StreamStoreConformance, ListStreamsIsSortedWithoutDuplicates) {
  for (const char* s : {"b", "ab", "a", "a\x01", "\xff", "B"}) {
    for (const char* g : {"\x01", "g", "h", "\xff"}) this->store->set(s, g, "i", "1");
  }
  this->store->set("", "g", "i", "1");
  EXPECT_EQ(this->store->list_streams(), (Values{"", "B", "a", "a\x01", "ab", "b", "\xff"}));
}

// list_all() is list_streams() with list_groups() of each, however the store reads it.
TYPED_TEST(StreamStoreConformance, ListAllIsEveryStreamWithItsGroups) {
  EXPECT_EQ(this->store->list_all(), std::vector<StreamStore::StreamGroups>{});
  for (const char* s : {"b", "a", "a\x01", ""}) {
    for (const char* g : {"h", "\x01", "g"}) this->store->set(s, g, "i", "1");
  }
  this->store->remove("b", "h", "i");
  std::vector<StreamStore::StreamGroups> expected;
  for (std::string& s : this->store->list_streams()) expected.push_back({s, this->store->list_groups(s)});
  EXPECT_EQ(expected.size(), 4u);
  EXPECT_EQ(expected[3].groups, (Values{"\x01", "g"}));
  EXPECT_EQ(this->store->list_all(), expected);
}

// --- names ---

TYPED_TEST(StreamStoreConformance, NulInAStreamOrGroupNameThrowsNamingWhich) {
  const std::string bad("a\0b", 3);
  auto expect_names = [](auto call, const std::string& which) {
    try {
      call();
      ADD_FAILURE() << "accepted a NUL in the " << which << " name";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(which + " name"), std::string::npos) << e.what();
    }
  };
  auto& s = *this->store;
  auto inc = [](const Opt& c) { return increment(c); };
  expect_names([&] { s.set(bad, "g", "i", "1"); }, "stream");
  expect_names([&] { s.set("s", bad, "i", "1"); }, "group");
  expect_names([&] { s.get(bad, "g", "i"); }, "stream");
  expect_names([&] { s.get("s", bad, "i"); }, "group");
  expect_names([&] { s.remove(bad, "g", "i"); }, "stream");
  expect_names([&] { s.remove("s", bad, "i"); }, "group");
  expect_names([&] { s.update(bad, "g", "i", inc); }, "stream");
  expect_names([&] { s.update("s", bad, "i", inc); }, "group");
  expect_names([&] { s.list(bad, "g"); }, "stream");
  expect_names([&] { s.list("s", bad); }, "group");
  expect_names([&] { s.list_groups(bad); }, "stream");
  expect_names([&] { s.list_groups(std::string("\0", 1)); }, "stream");
  EXPECT_EQ(s.list_streams(), Values{});  // nothing was written
}

// --- asynchronous forms ---

TYPED_TEST(StreamStoreConformance, AsynchronousFormsAnswerAsTheSynchronousOnes) {
  StreamStore& s = *this->store;
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.set_async("s", "g", "a", "1", done); }), std::nullopt);
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.set_async("s", "g", "b", "2", done); }), std::nullopt);
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.set_async("s", "g", "b", "3", done); }), "2");
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.set_async("s", "h", "c", "4", done); }), std::nullopt);
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.get_async("s", "g", "a", done); }), "1");
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.get_async("s", "g", "missing", done); }), std::nullopt);
  const KvUpdate u = await_answer<KvUpdate>([&](auto done) { s.update_async("s", "g", "a", increment, done); });
  EXPECT_EQ(u.old_value, "1");
  EXPECT_EQ(u.new_value, "2");
  EXPECT_EQ(await_answer<Values>([&](auto done) { s.list_async("s", "g", done); }), (Values{"2", "3"}));
  EXPECT_EQ(await_answer<Values>([&](auto done) { s.list_async("s", "nope", done); }), Values{});
  EXPECT_EQ(await_answer<Values>([&](auto done) { s.list_groups_async("s", done); }), (Values{"g", "h"}));
  EXPECT_EQ(await_answer<Values>([&](auto done) { s.list_groups_async("nope", done); }), Values{});
  EXPECT_EQ(await_answer<std::vector<StreamStore::StreamGroups>>([&](auto done) { s.list_all_async(done); }),
            (std::vector<StreamStore::StreamGroups>{{"s", {"g", "h"}}}));
  // An update whose function throws answers that exception and changes nothing.
  EXPECT_THROW(await_answer<KvUpdate>([&](auto done) {
                 s.update_async("s", "g", "b", [](const Opt&) -> Opt { throw Boom{}; }, done);
               }),
               Boom);
  EXPECT_EQ(s.get("s", "g", "b"), "3");
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.remove_async("s", "g", "a", done); }), "2");
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.remove_async("s", "g", "a", done); }), std::nullopt);
  // A name with a NUL is answered (not thrown) as invalid_argument, and nothing is written.
  const std::string bad("a\0b", 3);
  EXPECT_THROW(await_answer<Opt>([&](auto done) { s.set_async(bad, "g", "i", "1", done); }), std::invalid_argument);
  EXPECT_THROW(await_answer<Values>([&](auto done) { s.list_async("s", bad, done); }), std::invalid_argument);
  EXPECT_THROW(await_answer<Values>([&](auto done) { s.list_groups_async(bad, done); }), std::invalid_argument);
  EXPECT_EQ(s.list_streams(), Values{"s"});
}

// --- concurrency ---

TYPED_TEST(StreamStoreConformance, ConcurrentUpdatesOfOneItemAreNotLost) {
  constexpr int kThreads = 4, kEach = 250;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        this->store->update("s", "g", "counter", increment);
        this->store->set("s", "g", "t" + std::to_string(t), std::to_string(i));  // interleave other writes
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(this->store->get("s", "g", "counter"), std::to_string(kThreads * kEach));
  EXPECT_EQ(this->store->list("s", "g").size(), static_cast<size_t>(kThreads + 1));
}

// Every set() of one item sees exactly the value the previous set() left: each written value is
// returned as "previous" once (except the last, which stays), and only the first set sees nothing.
TYPED_TEST(StreamStoreConformance, ConcurrentSetsOfOneItemAreAtomic) {
  constexpr int kThreads = 4, kEach = 100;
  std::mutex mu;
  Values written, previous;
  int saw_new = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string value = "\"" + std::to_string(t) + "-" + std::to_string(i) + "\"";
        Opt prev = this->store->set("s", "g", "item", value);
        std::lock_guard lock(mu);
        written.push_back(value);
        if (prev) previous.push_back(*prev);
        else ++saw_new;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(saw_new, 1);
  Opt last = this->store->get("s", "g", "item");
  ASSERT_TRUE(last);
  previous.push_back(*last);
  std::sort(written.begin(), written.end());
  std::sort(previous.begin(), previous.end());
  EXPECT_EQ(previous, written);
  EXPECT_EQ(this->store->list("s", "g"), Values{*last});  // one item, not one per writer
}

// --- the KvStore encoding ---

// A KvStreamStore may share its KvStore with other users: their scopes (no NUL) are not streams.
TEST(StreamStoreOverKv, SharesAKvStoreWithoutSeeingOtherScopes) {
  auto kv = std::make_shared<MemoryKvStore>();
  KvStreamStore streams(kv);
  kv->set("plain", "k", "1");
  streams.set("s", "g", "i", "2");
  EXPECT_EQ(streams.list_streams(), Values{"s"});
  EXPECT_EQ(streams.list_groups("plain"), Values{});
  EXPECT_EQ(kv->get(std::string("s\0g", 3), "i"), "2");  // the documented scope encoding
  EXPECT_THROW(KvStreamStore(nullptr), std::invalid_argument);
}

// --- SQLite only ---

TEST(StreamStoreSqlite, PersistsAcrossReopenWithOrder) {
  TempDir dir;
  const fs::path file = dir.path() / "streams.db";
  {
    auto store = open_sqlite_stream_store(file);
    store->set("s", "g", "b", "1");
    store->set("s", "g", "a", "2");
    store->set("s", "h", "k", R"({"x":[1,2]})");
    store->update("s", "g", "b", [](const Opt&) { return Opt("3"); });
    store->remove("s", "h", "k");
    store->set("t", "g", "k", "true");
  }
  auto store = open_sqlite_stream_store(file);
  EXPECT_EQ(store->list("s", "g"), (Values{"3", "2"}));
  EXPECT_EQ(store->get("s", "h", "k"), std::nullopt);
  EXPECT_EQ(store->list_groups("s"), Values{"g"});
  EXPECT_EQ(store->list_streams(), (Values{"s", "t"}));
  store->set("s", "g", "c", "4");  // new items go after the reopened ones
  EXPECT_EQ(store->list("s", "g"), (Values{"3", "2", "4"}));
}

// A write that returned survives the process being killed with SIGKILL right after (no
// destructor, no close, no checkpoint).
TEST(StreamStoreSqlite, WriteThatReturnedSurvivesKill9) {
  TempDir dir;
  const fs::path file = dir.path() / "streams.db";
  open_sqlite_stream_store(file);  // create the schema in the parent first
  ASSERT_NO_FATAL_FAILURE(run_then_kill9([&] {
    auto* store = new std::shared_ptr<StreamStore>(open_sqlite_stream_store(file));  // leaked on purpose
    (*store)->set("s", "g", "i1", R"({"n":1})");
    (*store)->update("s", "g", "i2", [](const Opt&) { return Opt("2"); });
    (*store)->remove("s", "g", "i1");
    (*store)->set("s", "h", "i3", "3");
  }));
  auto store = open_sqlite_stream_store(file);
  EXPECT_EQ(store->get("s", "g", "i1"), std::nullopt);
  EXPECT_EQ(store->get("s", "g", "i2"), "2");
  EXPECT_EQ(store->get("s", "h", "i3"), "3");
  EXPECT_EQ(store->list_groups("s"), (Values{"g", "h"}));
}

}  // namespace
}  // namespace iii
