// Conformance tests of the KvStore contract (store/kv_store.h), run against every implementation,
// plus what only the SQLite store promises: persistence across reopen and across kill -9.
#include "store_test_support.h"
#include "temp_dir.h"
#include "store/kv_store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "wire/uuid.h"
#include "redis_server.h"
#include "store/memory_kv_store.h"
#include "store/redis_kv_store.h"
#include "store/sqlite_kv_store.h"

namespace iii {
namespace {

namespace fs = std::filesystem;
using Values = std::vector<std::string>;

// A fresh directory per test, named after this suite.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("iii-kv-test-") {}
};

struct MemoryFactory {
  static constexpr const char* kName = "memory";
  std::unique_ptr<KvStore> make(const TempDir&) { return std::make_unique<MemoryKvStore>(); }
};

struct SqliteFactory {
  static constexpr const char* kName = "sqlite";
  std::unique_ptr<KvStore> make(const TempDir& dir) { return std::make_unique<SqliteKvStore>(dir.path() / "kv.db"); }
};

// A real redis-server shared by the tests, emptied before each.
struct RedisFactory {
  static constexpr const char* kName = "redis";
  std::unique_ptr<KvStore> make(const TempDir&) {
    testing::RedisServer::shared().flush();
    return make_redis_kv_store(std::make_shared<RedisClient>(testing::RedisServer::shared().endpoint()), "state");
  }
};

template <class Factory>
class KvStoreConformance : public ::testing::Test {
 protected:
  KvStoreConformance() : store(Factory().make(dir)) {}
  TempDir dir;
  std::unique_ptr<KvStore> store;
};

using Implementations = ::testing::Types<MemoryFactory, SqliteFactory, RedisFactory>;
TYPED_TEST_SUITE(KvStoreConformance, Implementations, ImplementationNames);

TYPED_TEST(KvStoreConformance, GetOfMissingKeyOrScopeIsEmpty) {
  EXPECT_EQ(this->store->get("nope", "k"), std::nullopt);
  this->store->set("s", "k", "1");
  EXPECT_EQ(this->store->get("s", "other"), std::nullopt);
}

TYPED_TEST(KvStoreConformance, SetReturnsThePreviousValue) {
  EXPECT_EQ(this->store->set("s", "k", R"({"a":1})"), std::nullopt);
  EXPECT_EQ(this->store->get("s", "k"), R"({"a":1})");
  EXPECT_EQ(this->store->set("s", "k", "2"), R"({"a":1})");
  EXPECT_EQ(this->store->get("s", "k"), "2");
}

TYPED_TEST(KvStoreConformance, ValuesComeBackByteForByte) {
  const std::string raw = " { \"b\" : [1, 2.50, \"\\u00e9\"] } ";
  this->store->set("s", "k", raw);
  EXPECT_EQ(this->store->get("s", "k"), raw);
  this->store->set("s", "n", "null");
  EXPECT_EQ(this->store->get("s", "n"), "null");  // a stored null is a present key
}

TYPED_TEST(KvStoreConformance, ScopesAndKeysAreArbitraryByteStrings) {
  const std::string nul_key("a\0b", 3);
  this->store->set("", "", "1");
  this->store->set("s", "a", "2");
  this->store->set("s", nul_key, "3");
  this->store->set("s", "a.b", "4");
  this->store->set("\xc3\xa9t\xc3\xa9", "cl\xc3\xa9", "5");
  EXPECT_EQ(this->store->get("", ""), "1");
  EXPECT_EQ(this->store->get("s", "a"), "2");
  EXPECT_EQ(this->store->get("s", nul_key), "3");
  EXPECT_EQ(this->store->get("s", "a.b"), "4");
  EXPECT_EQ(this->store->get("\xc3\xa9t\xc3\xa9", "cl\xc3\xa9"), "5");
  auto entries = this->store->entries("s");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].key, nul_key);
}

TYPED_TEST(KvStoreConformance, ScopesAreIndependent) {
  this->store->set("a", "k", "1");
  this->store->set("b", "k", "2");
  EXPECT_EQ(this->store->get("a", "k"), "1");
  EXPECT_EQ(this->store->get("b", "k"), "2");
  this->store->remove("a", "k");
  EXPECT_EQ(this->store->get("b", "k"), "2");
}

TYPED_TEST(KvStoreConformance, RemoveReturnsTheRemovedValue) {
  this->store->set("s", "k", "\"v\"");
  EXPECT_EQ(this->store->remove("s", "k"), "\"v\"");
  EXPECT_EQ(this->store->get("s", "k"), std::nullopt);
  EXPECT_EQ(this->store->remove("s", "k"), std::nullopt);
  EXPECT_EQ(this->store->remove("unknown", "k"), std::nullopt);
}

TYPED_TEST(KvStoreConformance, ListIsInInsertionOrder) {
  EXPECT_EQ(this->store->list("s"), Values{});
  this->store->set("s", "c", "1");
  this->store->set("s", "a", "2");
  this->store->set("s", "b", "3");
  this->store->set("other", "z", "9");
  EXPECT_EQ(this->store->list("s"), (Values{"1", "2", "3"}));
  this->store->set("s", "c", "10");  // an overwrite keeps its place
  this->store->update("s", "a", [](const auto&) { return std::optional<std::string>("20"); });
  EXPECT_EQ(this->store->list("s"), (Values{"10", "20", "3"}));
  this->store->remove("s", "c");
  this->store->set("s", "c", "100");  // removed then set again: moves to the end
  EXPECT_EQ(this->store->list("s"), (Values{"20", "3", "100"}));
}

TYPED_TEST(KvStoreConformance, EntriesCarryKeysInInsertionOrder) {
  this->store->set("s", "y", "1");
  this->store->set("s", "x", "2");
  auto entries = this->store->entries("s");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].key, "y");
  EXPECT_EQ(entries[0].value, "1");
  EXPECT_EQ(entries[1].key, "x");
  EXPECT_EQ(entries[1].value, "2");
  EXPECT_TRUE(this->store->entries("unknown").empty());
}

TYPED_TEST(KvStoreConformance, ListGroupsIsSortedAndDropsEmptiedScopes) {
  EXPECT_EQ(this->store->list_groups(), Values{});
  this->store->set("gamma", "k", "1");
  this->store->set("alpha", "k", "1");
  this->store->set("beta", "k1", "1");
  this->store->set("beta", "k2", "1");
  this->store->set("Zeta", "k", "1");  // byte order: upper case first
  EXPECT_EQ(this->store->list_groups(), (Values{"Zeta", "alpha", "beta", "gamma"}));
  this->store->remove("gamma", "k");
  this->store->remove("beta", "k1");
  EXPECT_EQ(this->store->list_groups(), (Values{"Zeta", "alpha", "beta"}));
}

TYPED_TEST(KvStoreConformance, UpdateOfAMissingKeyCreatesIt) {
  std::optional<std::string> seen = "sentinel";
  KvUpdate u = this->store->update("s", "k", [&](const std::optional<std::string>& current) {
    seen = current;
    return std::optional<std::string>("1");
  });
  EXPECT_EQ(seen, std::nullopt);
  EXPECT_EQ(u.old_value, std::nullopt);
  EXPECT_EQ(u.new_value, "1");
  EXPECT_EQ(this->store->get("s", "k"), "1");
}

TYPED_TEST(KvStoreConformance, UpdateSeesTheCurrentValue) {
  this->store->set("s", "k", "41");
  KvUpdate u = this->store->update("s", "k", [](const std::optional<std::string>& current) {
    return std::optional<std::string>(std::to_string(std::stoi(*current) + 1));
  });
  EXPECT_EQ(u.old_value, "41");
  EXPECT_EQ(u.new_value, "42");
  EXPECT_EQ(this->store->get("s", "k"), "42");
}

TYPED_TEST(KvStoreConformance, UpdateReturningNothingLeavesTheKeyAlone) {
  KvUpdate u = this->store->update("s", "k", [](const auto&) { return std::optional<std::string>(); });
  EXPECT_EQ(u.old_value, std::nullopt);
  EXPECT_EQ(u.new_value, std::nullopt);
  EXPECT_EQ(this->store->get("s", "k"), std::nullopt);
  EXPECT_TRUE(this->store->list_groups().empty());
  this->store->set("s", "k", "1");
  u = this->store->update("s", "k", [](const auto&) { return std::optional<std::string>(); });
  EXPECT_EQ(u.old_value, "1");
  EXPECT_EQ(u.new_value, "1");
}

TYPED_TEST(KvStoreConformance, UpdateThatThrowsChangesNothing) {
  this->store->set("s", "k", "1");
  EXPECT_THROW(this->store->update("s", "k", [](const auto&) -> std::optional<std::string> {
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_EQ(this->store->get("s", "k"), "1");
  EXPECT_THROW(this->store->update("s", "new", [](const auto&) -> std::optional<std::string> {
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_EQ(this->store->get("s", "new"), std::nullopt);
  // The store is still usable afterwards (no transaction left open).
  this->store->set("s", "after", "2");
  EXPECT_EQ(this->store->get("s", "after"), "2");
}

TYPED_TEST(KvStoreConformance, AsynchronousFormsAnswerAsTheSynchronousOnes) {
  KvStore& s = *this->store;
  using Opt = std::optional<std::string>;
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.set_async("s", "a", "1", done); }), std::nullopt);
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.set_async("s", "b", "2", done); }), std::nullopt);
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.set_async("s", "b", "3", done); }), "2");
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.get_async("s", "a", done); }), "1");
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.get_async("s", "missing", done); }), std::nullopt);
  const KvUpdate u = await_answer<KvUpdate>([&](auto done) {
    s.update_async("s", "a", [](const Opt& cur) -> Opt { return std::to_string(std::stoi(*cur) + 1); }, done);
  });
  EXPECT_EQ(u.old_value, "1");
  EXPECT_EQ(u.new_value, "2");
  const std::vector<KvEntry> entries = await_answer<std::vector<KvEntry>>([&](auto done) { s.entries_async("s", done); });
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].key, "a");
  EXPECT_EQ(entries[0].value, "2");
  EXPECT_EQ(entries[1].key, "b");
  EXPECT_EQ(entries[1].value, "3");
  EXPECT_EQ(await_answer<std::vector<std::string>>([&](auto done) { s.list_groups_async(done); }), Values{"s"});
  // An update whose function throws answers that exception and changes nothing.
  EXPECT_THROW(await_answer<KvUpdate>([&](auto done) {
                 s.update_async("s", "b", [](const Opt&) -> Opt { throw std::invalid_argument("no"); }, done);
               }),
               std::invalid_argument);
  EXPECT_EQ(s.get("s", "b"), "3");
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.remove_async("s", "a", done); }), "2");
  EXPECT_EQ(await_answer<Opt>([&](auto done) { s.remove_async("s", "a", done); }), std::nullopt);
}

TYPED_TEST(KvStoreConformance, ConcurrentUpdatesOfOneKeyAreNotLost) {
  constexpr int kThreads = 8, kEach = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        this->store->update("s", "counter", [](const std::optional<std::string>& current) {
          return std::optional<std::string>(std::to_string((current ? std::stoi(*current) : 0) + 1));
        });
        this->store->set("t" + std::to_string(t), std::to_string(i), "0");  // interleave other writes
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(this->store->get("s", "counter"), std::to_string(kThreads * kEach));
  EXPECT_EQ(this->store->list_groups().size(), static_cast<size_t>(kThreads + 1));
}

// --- SQLite only ---

TEST(SqliteKvStore, PersistsAcrossReopenWithOrder) {
  TempDir dir;
  const fs::path file = dir.path() / "state.db";
  {
    SqliteKvStore store(file);
    store.set("s", "b", "1");
    store.set("s", "a", "2");
    store.set("t", "k", R"({"x":[1,2]})");
    store.update("s", "b", [](const auto&) { return std::optional<std::string>("3"); });
    store.remove("t", "k");
    store.set("u", "k", "true");
  }
  SqliteKvStore store(file);
  EXPECT_EQ(store.list("s"), (Values{"3", "2"}));
  EXPECT_EQ(store.get("t", "k"), std::nullopt);
  EXPECT_EQ(store.list_groups(), (Values{"s", "u"}));
  // New keys keep going after the reopened ones.
  store.set("s", "c", "4");
  EXPECT_EQ(store.list("s"), (Values{"3", "2", "4"}));
}

TEST(SqliteKvStore, CreatesMissingParentDirectoriesAndUsesWal) {
  TempDir dir;
  const fs::path file = dir.path() / "a" / "b" / "state.db";
  SqliteKvStore store(file);
  store.set("s", "k", "1");
  EXPECT_TRUE(fs::exists(file));
  EXPECT_TRUE(fs::exists(file.string() + "-wal"));  // WAL mode is on
}

TEST(SqliteKvStore, UnopenablePathIsAClearError) {
  TempDir dir;
  const fs::path blocker = dir.path() / "not-a-dir";
  std::ofstream(blocker) << "x";
  try {
    SqliteKvStore store(blocker / "state.db");
    FAIL() << "opened a store under a regular file";
  } catch (const KvStoreError& e) {
    EXPECT_NE(std::string(e.what()).find((blocker / "state.db").string()), std::string::npos) << e.what();
  }
  try {
    SqliteKvStore store(dir.path());  // a directory is not a database file
    FAIL() << "opened a directory as a store";
  } catch (const KvStoreError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open"), std::string::npos) << e.what();
  }
}

TEST(SqliteKvStore, NotADatabaseIsAClearError) {
  TempDir dir;
  const fs::path file = dir.path() / "garbage.db";
  std::ofstream(file) << std::string(4096, 'x');
  EXPECT_THROW(SqliteKvStore store(file), KvStoreError);
}

// A write that returned survives the process being killed with SIGKILL right after (no
// destructor, no close, no checkpoint).
TEST(SqliteKvStore, WriteThatReturnedSurvivesKill9) {
  TempDir dir;
  const fs::path file = dir.path() / "state.db";
  {
    SqliteKvStore store(file);  // create the schema in the parent first
  }
  ASSERT_NO_FATAL_FAILURE(run_then_kill9([&] {
    auto* store = new SqliteKvStore(file);  // leaked on purpose: killed before any cleanup
    store->set("s", "k1", R"({"n":1})");
    store->update("s", "k2", [](const auto&) { return std::optional<std::string>("2"); });
    store->remove("s", "k1");
    store->set("s", "k3", "3");
  }));
  SqliteKvStore store(file);
  EXPECT_EQ(store.get("s", "k1"), std::nullopt);
  EXPECT_EQ(store.get("s", "k2"), "2");
  EXPECT_EQ(store.get("s", "k3"), "3");
}

}  // namespace
}  // namespace iii
