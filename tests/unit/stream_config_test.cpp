// The iii-stream config block (src/workers/stream/stream_config.h) and its descriptor: defaults,
// every key, strictness (unknown keys, wrong types, ranges, unsupported adapters) and the
// file_path directory rule.
#include "config_error.h"
#include "temp_dir.h"
#include "workers/stream/stream_config.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/json_text.h"
#include "engine/engine.h"
#include "workers/builtin.h"
#include "workers/stream/stream_worker.h"

namespace iii {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("iii-stream-config-test-") {}
};

json::value parse(std::string_view text) {
  auto v = json_text::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

StreamConfig config_of(std::string_view block, const fs::path& dir = "/work") {
  return parse_stream_config(parse(block), dir);
}

std::string config_error(std::string_view block) {
  return config_error_of([&] { config_of(block); });
}

TEST(StreamConfig, Defaults) {
  for (const char* block : {"null", "{}", R"({"adapter":{"name":"kv"}})", R"({"adapter":{"name":"kv","config":{}}})",
                            R"({"adapter":{"name":"kv","config":null}})", R"({"host":null,"port":null})"}) {
    StreamConfig c = config_of(block);
    EXPECT_EQ(c.host, "0.0.0.0") << block;
    EXPECT_EQ(c.port, 3112) << block;
    EXPECT_FALSE(c.auth_function) << block;
    EXPECT_EQ(c.storage, StreamConfig::Storage::kInMemory) << block;
    EXPECT_EQ(c.file_path, fs::path("/work/data/stream_store.db")) << block;
    EXPECT_EQ(c.max_item_bytes, 4u << 20) << block;
    EXPECT_EQ(c.max_subscriptions_per_socket, 1024u) << block;
    EXPECT_EQ(c.max_send_queue_bytes, 16u << 20) << block;
    EXPECT_EQ(c.max_message_bytes, 64u << 10) << block;
    EXPECT_EQ(c.auth_timeout, 5000ms) << block;
    StreamConfig expected;
    expected.file_path = "/work/data/stream_store.db";
    EXPECT_EQ(c, expected) << block;
  }
}

TEST(StreamConfig, EveryKey) {
  StreamConfig c = config_of(R"({"host":"127.0.0.1","port":4000,"auth_function":"app::auth",)"
                             R"("adapter":{"name":"kv","config":{"store_method":"file_based","file_path":"./x/../s.db",)"
                             R"("save_interval_ms":1000,"channel_size":16}},)"
                             R"("max_item_bytes":100,"max_subscriptions_per_socket":3,"max_send_queue_bytes":2048,)"
                             R"("max_message_bytes":512,"auth_timeout_ms":250})");
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 4000);
  EXPECT_EQ(c.auth_function, "app::auth");
  EXPECT_EQ(c.storage, StreamConfig::Storage::kFileBased);
  EXPECT_EQ(c.file_path, fs::path("/work/s.db"));  // relative to the working dir, normalised
  EXPECT_EQ(c.max_item_bytes, 100u);
  EXPECT_EQ(c.max_subscriptions_per_socket, 3u);
  EXPECT_EQ(c.max_send_queue_bytes, 2048u);
  EXPECT_EQ(c.max_message_bytes, 512u);
  EXPECT_EQ(c.auth_timeout, 250ms);

  EXPECT_EQ(config_of(R"({"adapter":{"name":"kv","config":{"store_method":"in_memory"}}})").storage,
            StreamConfig::Storage::kInMemory);
  EXPECT_EQ(config_of(R"({"adapter":{"name":"kv","config":{"file_path":"/abs/s.db"}}})").file_path, fs::path("/abs/s.db"));
  EXPECT_EQ(config_of("{}", "/other/dir").file_path, fs::path("/other/dir/data/stream_store.db"));
  EXPECT_EQ(config_of(R"({"port":0})").port, 0);  // any free port
  EXPECT_EQ(config_of(R"({"port":65535})").port, 65535);
  // An empty auth_function means none.
  EXPECT_FALSE(config_of(R"({"auth_function":""})").auth_function);
  EXPECT_FALSE(config_of(R"({"auth_function":null})").auth_function);
}

TEST(StreamConfig, RangeEdgesAreInclusive) {
  EXPECT_EQ(config_of(R"({"max_item_bytes":2})").max_item_bytes, 2u);
  EXPECT_EQ(config_of(R"({"max_item_bytes":1073741824})").max_item_bytes, 1u << 30);
  EXPECT_EQ(config_of(R"({"max_subscriptions_per_socket":1})").max_subscriptions_per_socket, 1u);
  EXPECT_EQ(config_of(R"({"max_subscriptions_per_socket":1000000})").max_subscriptions_per_socket, 1'000'000u);
  EXPECT_EQ(config_of(R"({"max_send_queue_bytes":1024})").max_send_queue_bytes, 1024u);
  EXPECT_EQ(config_of(R"({"max_send_queue_bytes":17179869184})").max_send_queue_bytes, 1ull << 34);
  EXPECT_EQ(config_of(R"({"max_message_bytes":256})").max_message_bytes, 256u);
  EXPECT_EQ(config_of(R"({"max_message_bytes":67108864})").max_message_bytes, 64u << 20);
  EXPECT_EQ(config_of(R"({"auth_timeout_ms":1})").auth_timeout, 1ms);
  EXPECT_EQ(config_of(R"({"auth_timeout_ms":600000})").auth_timeout, 600000ms);
  EXPECT_EQ(config_of(R"({"adapter":{"name":"kv","config":{"save_interval_ms":100,"channel_size":1}}})"),
            config_of("{}"));  // accepted and ignored
  EXPECT_EQ(config_of(R"({"adapter":{"name":"kv","config":{"save_interval_ms":3600000,"channel_size":1048576}}})"),
            config_of("{}"));
}

TEST(StreamConfig, UnknownKeysAreRejected) {
  EXPECT_EQ(config_error(R"({"prot":3112})"),
            "iii-stream: unknown key `prot` (known keys: host, port, auth_function, adapter, max_item_bytes, "
            "max_subscriptions_per_socket, max_send_queue_bytes, max_message_bytes, auth_timeout_ms)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","bogus":1}})"),
            "iii-stream adapter: unknown key `bogus` (known keys: name, config)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"redis_url":"redis://x"}}})"),
            "iii-stream adapter `kv`: unknown key `redis_url` (known keys: store_method, file_path, save_interval_ms, "
            "channel_size)");
}

TEST(StreamConfig, WrongTypesAreRejected) {
  EXPECT_EQ(config_error("[1]"), "iii-stream: `config` must be a mapping");
  EXPECT_EQ(config_error("5"), "iii-stream: `config` must be a mapping");
  EXPECT_EQ(config_error(R"({"host":5})"), "iii-stream: `host` must be a string, got number");
  EXPECT_EQ(config_error(R"({"host":""})"), "iii-stream: `host` must not be empty");
  EXPECT_EQ(config_error(R"({"port":true})"), "iii-stream: `port` must be a number, got boolean");
  EXPECT_EQ(config_error(R"({"port":3112.5})"), "iii-stream: `port` must be a whole number between 0 and 65535");
  EXPECT_EQ(config_error(R"({"port":-1})"), "iii-stream: `port` must be a whole number between 0 and 65535");
  EXPECT_EQ(config_error(R"({"auth_function":["a"]})"), "iii-stream: `auth_function` must be a string, got array");
  EXPECT_EQ(config_error(R"({"adapter":"kv"})"), "iii-stream: `adapter` must be a mapping {name, config}, got string");
  EXPECT_EQ(config_error(R"({"adapter":{}})"), "iii-stream: `adapter.name` is required (supported: kv, redis, bridge)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":7}})"), "iii-stream: `adapter.name` must be a string, got number");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":5}})"), "iii-stream adapter `kv`: `config` must be a mapping");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"store_method":"disk"}}})"),
            "iii-stream: `adapter.config.store_method` must be `in_memory` or `file_based`, got `disk`");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"store_method":1}}})"),
            "iii-stream: `adapter.config.store_method` must be a string, got number");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"file_path":""}}})"),
            "iii-stream: `adapter.config.file_path` must not be empty");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"file_path":{}}}})"),
            "iii-stream: `adapter.config.file_path` must be a string, got object");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"save_interval_ms":"5s"}}})"),
            "iii-stream: `adapter.config.save_interval_ms` must be a number, got string");
  EXPECT_EQ(config_error(R"({"max_message_bytes":[]})"), "iii-stream: `max_message_bytes` must be a number, got array");
}

TEST(StreamConfig, OutOfRangeNumbersAreRejected) {
  struct Case {
    const char* block;
    const char* message;
  } cases[] = {
      {R"({"port":65536})", "iii-stream: `port` must be between 0 and 65535, got 65536"},
      {R"({"max_item_bytes":1})", "iii-stream: `max_item_bytes` must be between 2 and 1073741824, got 1"},
      {R"({"max_item_bytes":1073741825})", "iii-stream: `max_item_bytes` must be between 2 and 1073741824, got 1073741825"},
      {R"({"max_subscriptions_per_socket":0})",
       "iii-stream: `max_subscriptions_per_socket` must be between 1 and 1000000, got 0"},
      {R"({"max_send_queue_bytes":1023})",
       "iii-stream: `max_send_queue_bytes` must be between 1024 and 17179869184, got 1023"},
      {R"({"max_message_bytes":255})", "iii-stream: `max_message_bytes` must be between 256 and 67108864, got 255"},
      {R"({"auth_timeout_ms":0})", "iii-stream: `auth_timeout_ms` must be between 1 and 600000, got 0"},
      {R"({"auth_timeout_ms":600001})", "iii-stream: `auth_timeout_ms` must be between 1 and 600000, got 600001"},
      {R"({"adapter":{"name":"kv","config":{"save_interval_ms":99}}})",
       "iii-stream: `adapter.config.save_interval_ms` must be between 100 and 3600000, got 99"},
      {R"({"adapter":{"name":"kv","config":{"channel_size":0}}})",
       "iii-stream: `adapter.config.channel_size` must be between 1 and 1048576, got 0"},
      {R"({"adapter":{"name":"kv","config":{"channel_size":1048577}}})",
       "iii-stream: `adapter.config.channel_size` must be between 1 and 1048576, got 1048577"},
  };
  for (const Case& c : cases) EXPECT_EQ(config_error(c.block), c.message) << c.block;
}

// Quoted YAML scalars reach a built-in as strings (docs/config.md §2): like every ConfigReader
// key, the numeric keys refuse them (clearly) rather than guess; unquoted floats that are whole
// numbers are accepted, as some YAML loaders produce them.
TEST(StreamConfig, QuotedNumbersAreRefusedLikeEveryConfigReaderKey) {
  EXPECT_EQ(config_error(R"({"port":"3112"})"), "iii-stream: `port` must be a number, got string");
  EXPECT_EQ(config_error(R"({"max_item_bytes":"1024"})"), "iii-stream: `max_item_bytes` must be a number, got string");
  EXPECT_EQ(config_error(R"({"auth_timeout_ms":"100"})"), "iii-stream: `auth_timeout_ms` must be a number, got string");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"kv","config":{"channel_size":"8"}}})"),
            "iii-stream: `adapter.config.channel_size` must be a number, got string");
  // The same wording ConfigReader gives any built-in.
  constexpr ConfigReader other{"iii-stream"};
  try {
    other.integer(json::value("3112"), "port", 0, 65535);
    FAIL() << "ConfigReader accepted a quoted number";
  } catch (const BuiltinConfigError& e) {
    EXPECT_EQ(config_error(R"({"port":"3112"})"), e.what());
  }
  EXPECT_EQ(config_of(R"({"port":3113.0,"max_item_bytes":2048.0})").port, 3113);
  EXPECT_EQ(config_of(R"({"max_item_bytes":2048.0})").max_item_bytes, 2048u);
  // A quoted host is just a string; a numeric-looking one too.
  EXPECT_EQ(config_of(R"({"host":"127.0.0.1"})").host, "127.0.0.1");
}

TEST(StreamConfig, RedisAdapterTakesAUrl) {
  StreamConfig c = config_of(R"({"adapter":{"name":"redis","config":{"redis_url":"redis://:pw@10.0.0.5:6380/2"}}})");
  EXPECT_EQ(c.storage, StreamConfig::Storage::kRedis);
  EXPECT_EQ(c.redis_url, "redis://:pw@10.0.0.5:6380/2");
  EXPECT_EQ(config_of(R"({"adapter":{"name":"redis"}})").redis_url, "redis://localhost:6379");  // the default
  const std::string bad = config_error(R"({"adapter":{"name":"redis","config":{"redis_url":"http://x"}}})");
  EXPECT_EQ(bad.rfind("iii-stream: `adapter.config.redis_url` ", 0), 0u) << bad;
  EXPECT_NE(bad.find("the scheme must be redis"), std::string::npos) << bad;
  EXPECT_EQ(config_error(R"({"adapter":{"name":"redis","config":{"redis_url":5}}})"),
            "iii-stream: `adapter.config.redis_url` must be a string, got number");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"redis","config":{"store_method":"file_based"}}})"),
            "iii-stream adapter `redis`: unknown key `store_method` (known keys: redis_url)");
}

TEST(StreamConfig, UnsupportedAdaptersSaySo) {
  EXPECT_EQ(config_error(R"({"adapter":{"name":"postgres"}})"),
            "iii-stream: `adapter.name` `postgres` is not a stream adapter (supported: kv, redis, bridge)");
  EXPECT_EQ(config_error(R"({"adapter":{"name":"KV"}})"),
            "iii-stream: `adapter.name` `KV` is not a stream adapter (supported: kv, redis, bridge)");
}

TEST(StreamConfig, ExistingDirectoryHoldsTheDatabase) {
  TempDir dir;
  StreamConfig c =
      config_of(R"({"adapter":{"name":"kv","config":{"store_method":"file_based","file_path":"store"}}})", dir.path());
  EXPECT_EQ(c.file_path, dir.path() / "store");
  EXPECT_EQ(stream_database_file(c), dir.path() / "store");  // not there yet: the file itself
  fs::create_directories(dir.path() / "store");
  EXPECT_EQ(stream_database_file(c), dir.path() / "store" / "stream.sqlite3");
  std::ofstream(dir.path() / "plain.db") << "x";  // an existing file is the database file
  c = config_of(R"({"adapter":{"name":"kv","config":{"store_method":"file_based","file_path":"plain.db"}}})", dir.path());
  EXPECT_EQ(stream_database_file(c), dir.path() / "plain.db");
}

TEST(StreamConfig, SameStoreComparesOnlyTheStoragePart) {
  StreamConfig a = config_of("{}");
  StreamConfig b = config_of(R"({"host":"127.0.0.1","port":1,"max_item_bytes":10,"auth_function":"x::y"})");
  EXPECT_TRUE(a.same_store(b));
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a.same_store(config_of(R"({"adapter":{"name":"kv","config":{"store_method":"file_based"}}})")));
  EXPECT_FALSE(a.same_store(config_of(R"({"adapter":{"name":"kv","config":{"store_method":"file_based","file_path":"o.db"}}})",
                                      "/elsewhere")));
  StreamConfig f = config_of(R"({"adapter":{"name":"kv","config":{"store_method":"file_based"}}})");
  EXPECT_FALSE(f.same_store(config_of(R"({"adapter":{"name":"kv","config":{"store_method":"file_based","file_path":"o.db"}}})")));
  // Redis: the server is the store (a reload between two URLs swaps it, one with the same URL not).
  StreamConfig r = config_of(R"({"adapter":{"name":"redis","config":{"redis_url":"redis://127.0.0.1:6379"}}})");
  EXPECT_TRUE(r.same_store(config_of(R"({"port":1,"adapter":{"name":"redis","config":{"redis_url":"redis://127.0.0.1:6379"}}})")));
  EXPECT_FALSE(r.same_store(config_of(R"({"adapter":{"name":"redis","config":{"redis_url":"redis://127.0.0.1:6380"}}})")));
  EXPECT_FALSE(r.same_store(a));
  EXPECT_FALSE(a.same_store(r));
}

// file_path means nothing to an in-memory store: a hot reload that only edits it must not swap
// the store (StreamWorker::reconfigure opens a fresh, empty one whenever same_store is false,
// dropping every item).
TEST(StreamConfig, InMemoryStoreIgnoresFilePath) {
  StreamConfig a = config_of("{}");
  StreamConfig b = config_of(R"({"adapter":{"name":"kv","config":{"store_method":"in_memory","file_path":"other.db"}}})");
  EXPECT_TRUE(a.same_store(b));
}

TEST(StreamConfig, Descriptor) {
  boost::asio::io_context io;
  BuiltinDescriptor d = stream_builtin(io);
  EXPECT_EQ(d.name, "iii-stream");
  EXPECT_TRUE(d.aliases.empty());
  Engine engine;
  BuiltinContext context{engine, "/tmp"};
  try {
    d.factory(context, parse(R"({"adapter":{"name":"bridge","config":{"bridge_url":"http://x"}}})"));
    FAIL() << "the factory accepted a bridge_url that is not ws://";
  } catch (const BuiltinConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              "iii-stream: `adapter.config.bridge_url` must be a ws:// or wss:// URL with a host, got `http://x`");
  }
  // A redis adapter is only read here: nothing connects before start().
  EXPECT_NE(d.factory(context, parse(R"({"adapter":{"name":"redis","config":{"redis_url":"redis://127.0.0.1:1"}}})")),
            nullptr);
  EXPECT_THROW(d.factory(context, parse(R"({"port":"3112"})")), BuiltinConfigError);
  EXPECT_NE(d.factory(context, parse("null")), nullptr);
}

}  // namespace
}  // namespace iii
