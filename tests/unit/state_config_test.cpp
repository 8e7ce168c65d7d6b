// The iii-state config block (docs/builtins.md §2.1) and its descriptor.
#include "config_error.h"
#include "temp_dir.h"
#include "workers/state/state_config.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>

#include "wire/uuid.h"
#include "workers/builtin.h"
#include "core/json_text.h"
#include "workers/state/state_worker.h"

namespace iii {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// A fresh directory per test, named after this suite.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("iii-state-config-test-") {}
};

json::value parse(std::string_view text) {
  auto v = json_text::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

StateConfig config_of(std::string_view block, const fs::path& dir = "/work") {
  return parse_state_config(parse(block), dir);
}

std::string config_error(std::string_view block) {
  return config_error_of([&] { config_of(block); });
}

TEST(StateConfig, Defaults) {
  StateConfig c = config_of("null");
  EXPECT_EQ(c.storage, StateConfig::Storage::kInMemory);
  EXPECT_TRUE(c.triggers_enabled);
  EXPECT_FALSE(c.max_value_bytes);
  EXPECT_EQ(c.file_path, fs::path("/work/data/state_store.db"));
  EXPECT_EQ(config_of(R"({"adapter":{"name":"kv"}})").storage, StateConfig::Storage::kInMemory);
}

TEST(StateConfig, FileBasedAndKnobs) {
  StateConfig c = config_of(R"({"adapter":{"name":"kv","config":{"store_method":"file_based","file_path":"./x/s.db",)"
                            R"("save_interval_ms":1000}},"triggers_enabled":false,"max_value_bytes":10,"save_interval_ms":100})");
  EXPECT_EQ(c.storage, StateConfig::Storage::kFileBased);
  EXPECT_EQ(c.file_path, fs::path("/work/x/s.db"));
  EXPECT_FALSE(c.triggers_enabled);
  EXPECT_EQ(c.max_value_bytes, 10u);
  EXPECT_EQ(config_of(R"({"adapter":{"name":"kv","config":{"file_path":"/abs/s.db"}}})").file_path, fs::path("/abs/s.db"));
  EXPECT_EQ(config_of(R"({"max_value_bytes":2048.0})").max_value_bytes, 2048u);  // YAML may hand over a float
  const StateConfig r = config_of(R"({"adapter":{"name":"redis","config":{"redis_url":"redis://:pw@10.0.0.2:7000/3"}}})");
  EXPECT_EQ(r.storage, StateConfig::Storage::kRedis);
  EXPECT_EQ(r.redis_url, "redis://:pw@10.0.0.2:7000/3");
  EXPECT_EQ(config_of(R"({"adapter":{"name":"redis"}})").redis_url, "redis://localhost:6379");  // the official default
}

TEST(StateConfig, RejectsBadBlocks) {
  EXPECT_NE(config_error(R"({"triggers_enabledd":true})").find("unknown key `triggers_enabledd`"), std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":{"name":"kv","bogus":1}})").find("unknown key `bogus`"), std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":{"name":"kv","config":{"url":"x"}}})").find("unknown key `url`"), std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":{"name":"redis","config":{"redis_url":"http://x"}}})").find("the scheme must be redis"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":{"name":"redis","config":{"redis_url":"redis://h/x"}}})").find("database number"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":{"name":"redis","config":{"url":"redis://h"}}})").find("unknown key `url`"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":{"name":"bridge","config":{"bridge_url":"ws:x"}}})").find("ws:// or wss:// URL"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":{"name":"postgres"}})").find("`postgres` is not a state adapter"), std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":{}})").find("adapter.name"), std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":"kv"})").find("`adapter` must be a mapping"), std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":{"name":"kv","config":{"store_method":"weird"}}})").find("in_memory"), std::string::npos);
  EXPECT_NE(config_error(R"({"triggers_enabled":"yes"})").find("`triggers_enabled`"), std::string::npos);
  EXPECT_NE(config_error(R"({"max_value_bytes":0})").find("`max_value_bytes` must be between 1"), std::string::npos);
  EXPECT_NE(config_error(R"({"max_value_bytes":-5})").find("`max_value_bytes`"), std::string::npos);
  EXPECT_NE(config_error(R"({"save_interval_ms":5})").find("`save_interval_ms` must be between 100 and 3600000"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"adapter":{"name":"kv","config":{"save_interval_ms":"5s"}}})").find("save_interval_ms"),
            std::string::npos);
  EXPECT_NE(config_error("[1]").find("mapping"), std::string::npos);
}

TEST(StateConfig, ExistingDirectoryHoldsTheDatabase) {
  TempDir dir;
  StateConfig c = config_of(R"({"adapter":{"name":"kv","config":{"store_method":"file_based","file_path":"store"}}})", dir.path());
  EXPECT_EQ(state_database_file(c), dir.path() / "store");
  fs::create_directories(dir.path() / "store");
  EXPECT_EQ(state_database_file(c), dir.path() / "store" / "state.sqlite3");
}

TEST(StateConfig, Descriptor) {
  BuiltinDescriptor d = state_builtin();
  EXPECT_EQ(d.name, "iii-state");
  EXPECT_EQ(d.aliases, std::vector<std::string>{"state"});
}

}  // namespace
}  // namespace iii
