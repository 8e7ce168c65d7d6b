// The `fs` adapter of the configuration worker (workers/configuration/fs_configuration_store.h):
// the file layout both engines read, atomic writes, loading, hand edits seen through the watched
// directory (its own writes never come back), and broken files that keep the previous value.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/json_text.h"
#include "temp_dir.h"
#include "workers/configuration/fs_configuration_store.h"

namespace iii {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

json::value parse(std::string_view text) {
  auto v = json_text::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

std::string read(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::trunc);
  out << text;
}

ConfigurationEntry entry(const std::string& id, std::string_view value) {
  return ConfigurationEntry{id, id + " name", "what " + id + " is", parse(R"({"type":"object"})"), parse(value),
                            std::nullopt};
}

class FsConfigurationStoreTest : public ::testing::Test {
 protected:
  FsConfigurationStoreTest() : directory(dir.path() / "config") {}

  // Runs the io_context until `changes` saw a watch callback, or 5 s.
  bool wait_for_change() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (changes == 0 && std::chrono::steady_clock::now() < deadline) io.run_for(std::chrono::milliseconds(20));
    const bool seen = changes > 0;
    changes = 0;
    return seen;
  }

  testing::TempDir dir{"iii-fs-config-test-"};
  fs::path directory;
  boost::asio::io_context io;
  std::atomic<int> changes{0};
};

TEST_F(FsConfigurationStoreTest, NothingIsCreatedBeforeTheFirstWrite) {
  FsConfigurationStore store(io, directory, std::chrono::milliseconds(50));
  EXPECT_TRUE(store.load().empty());
  store.watch([this] { ++changes; });
  EXPECT_FALSE(fs::exists(directory));
  store.put(entry("app", R"({"port":1})"));
  EXPECT_TRUE(fs::exists(directory / "app.yaml"));
}

TEST_F(FsConfigurationStoreTest, TheFileLayoutOfTheOfficialEngine) {
  FsConfigurationStore store(io, directory);
  ConfigurationEntry e = entry("iii-stream", R"({"port":"${PORT:3112}","host":"127.0.0.1","n":"8080","tags":[]})");
  e.metadata = parse(R"({"team":"core"})");
  store.put(e);
  const std::string text = read(directory / "iii-stream.yaml");
  EXPECT_EQ(text.find("schema"), std::string::npos) << text;  // owners register it again
  EXPECT_EQ(text.rfind("id: iii-stream\nname: iii-stream name\ndescription: what iii-stream is\nvalue:\n", 0), 0u) << text;
  EXPECT_NE(text.find("\"8080\""), std::string::npos) << text;  // a numeric-looking string stays a string
  EXPECT_FALSE(fs::exists(directory / "iii-stream.yaml.tmp"));

  // A file written by the official engine (serde_yaml's style).
  write(directory / "official.yaml",
        "id: official\nname: Official\ndescription: written upstream\nvalue:\n  port: 3111\n  origin: '8080'\n"
        "  hosts:\n  - a\n  - b\nmetadata:\n  owner: x\n");
  write(directory / "notes.bak.yaml", "not an entry");
  FsConfigurationStore again(io, directory);
  std::map<std::string, ConfigurationEntry> loaded;
  for (auto& l : again.load()) loaded[l.id] = l;
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded["iii-stream"].value, e.value);
  EXPECT_EQ(loaded["iii-stream"].metadata, e.metadata);
  EXPECT_TRUE(loaded["iii-stream"].schema.is_null());
  EXPECT_EQ(loaded["official"].value, parse(R"({"port":3111,"origin":"8080","hosts":["a","b"]})"));
  EXPECT_EQ(loaded["official"].name, "Official");
  EXPECT_EQ(loaded["official"].metadata, parse(R"({"owner":"x"})"));
}

TEST_F(FsConfigurationStoreTest, AWriteReplacesTheWholeFileAtomically) {
  FsConfigurationStore store(io, directory);
  store.put(entry("app", R"({"big":")" + std::string(100000, 'x') + R"("})"));
  store.put(entry("app", R"({"small":1})"));
  EXPECT_EQ(parse_configuration_file(read(directory / "app.yaml"), "app").value, parse(R"({"small":1})"));
  size_t files = 0;
  for (const auto& f : fs::directory_iterator(directory)) files += f.path().filename() == "app.yaml" ? 1 : 100;
  EXPECT_EQ(files, 1u);  // no temporary left behind
  store.remove("app");
  EXPECT_FALSE(fs::exists(directory / "app.yaml"));
  store.remove("app");  // absent: nothing to do
}

TEST_F(FsConfigurationStoreTest, HandEditsBecomeChangesButOwnWritesDoNot) {
  FsConfigurationStore store(io, directory, std::chrono::milliseconds(50));
  store.put(entry("app", R"({"port":1})"));
  store.load();
  store.watch([this] { ++changes; });
  store.put(entry("app", R"({"port":2})"));
  if (wait_for_change()) {
    EXPECT_TRUE(store.poll_changes().empty());  // its own write
  }

  write(directory / "app.yaml", "id: app\nname: app name\ndescription: what app is\nvalue:\n  port: 3\n");
  ASSERT_TRUE(wait_for_change());
  auto changed = store.poll_changes();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].kind, ExternalChange::Kind::kUpdated);
  EXPECT_EQ(changed[0].entry.value, parse(R"({"port":3})"));
  EXPECT_TRUE(store.poll_changes().empty());  // reported once

  write(directory / "other.yaml", "name: Other\ndescription: new\nvalue: 7\n");  // no id: the file name
  ASSERT_TRUE(wait_for_change());
  changed = store.poll_changes();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].kind, ExternalChange::Kind::kRegistered);
  EXPECT_EQ(changed[0].entry.id, "other");
  EXPECT_EQ(changed[0].entry.value, json::value(7));

  fs::remove(directory / "other.yaml");
  ASSERT_TRUE(wait_for_change());
  changed = store.poll_changes();
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].kind, ExternalChange::Kind::kDeleted);
  EXPECT_EQ(changed[0].entry.id, "other");
}

TEST_F(FsConfigurationStoreTest, ABrokenFileKeepsThePreviousValue) {
  FsConfigurationStore store(io, directory, std::chrono::milliseconds(50));
  store.put(entry("app", R"({"port":1})"));
  store.load();
  for (const char* broken : {"value: [unclosed\n", "- just\n- a list\n", "id: other\nvalue: 1\n", "id: [x]\n"}) {
    write(directory / "app.yaml", broken);
    EXPECT_TRUE(store.poll_changes().empty()) << broken;  // not a deletion either
  }
  write(directory / "app.yaml", "id: app\nname: app name\ndescription: what app is\nvalue:\n  port: 1\n");
  EXPECT_TRUE(store.poll_changes().empty());  // back to what it was: no change
  EXPECT_THROW(parse_configuration_file("value: [", "x"), ConfigurationStoreError);
  EXPECT_THROW(parse_configuration_file("id: UPPER\n", "UPPER"), ConfigurationStoreError);
}

TEST_F(FsConfigurationStoreTest, TheDirectoryIsWatchedOnceItAppears) {
  FsConfigurationStore store(io, directory, std::chrono::milliseconds(50));
  store.load();
  store.watch([this] { ++changes; });
  fs::create_directories(directory);  // created by hand after the start
  write(directory / "late.yaml", "id: late\nvalue: 1\n");
  ASSERT_TRUE(wait_for_change());
  auto changed = store.poll_changes();
  if (changed.empty()) {  // the directory event came before the file's
    ASSERT_TRUE(wait_for_change());
    changed = store.poll_changes();
  }
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].entry.id, "late");
}

TEST_F(FsConfigurationStoreTest, AnUnwritableDirectoryIsAStoreError) {
  write(dir.path() / "file", "x");
  FsConfigurationStore store(io, dir.path() / "file" / "config");
  EXPECT_THROW(store.put(entry("app", "1")), ConfigurationStoreError);
}

}  // namespace
}  // namespace iii
