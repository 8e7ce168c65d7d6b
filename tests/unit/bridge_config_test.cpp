// The iii-bridge config block and the `bridge` adapters of state and streams
// (src/workers/bridge/bridge_worker.h, ConfigReader::bridge_url): the official keys, defaults,
// and errors that name the key.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>

#include "config_error.h"
#include "workers/bridge/bridge_worker.h"
#include "workers/state/state_config.h"
#include "workers/stream/stream_config.h"

namespace iii {
namespace {

BridgeConfig config_of(std::string_view block) { return parse_bridge_config(boost::json::parse(block)); }

std::string config_error(std::string_view block) {
  return config_error_of([&] { config_of(block); });
}

TEST(BridgeConfig, DefaultsToIiiUrlThenLocalhost) {
  ::unsetenv("III_URL");
  EXPECT_EQ(config_of("null").url, "ws://localhost:49134");
  ::setenv("III_URL", "ws://10.1.2.3:5000", 1);
  EXPECT_EQ(config_of("{}").url, "ws://10.1.2.3:5000");
  EXPECT_EQ(config_of(R"({"url":"wss://other:1"})").url, "wss://other:1");
  ::setenv("III_URL", "http://10.1.2.3:5000", 1);
  EXPECT_NE(config_error("{}").find("III_URL `http://10.1.2.3:5000` is not a ws:// or wss:// URL"), std::string::npos);
  EXPECT_EQ(config_of(R"({"url":"ws://given:1"})").url, "ws://given:1");  // the block's url wins
  ::unsetenv("III_URL");
}

TEST(BridgeConfig, ReadsExposeAndForward) {
  const BridgeConfig c = config_of(
      R"({"url":"ws://b:49198","expose":[{"local_function":"a::x"},{"local_function":"a::y","remote_function":"b::y"}],)"
      R"("forward":[{"local_function":"bar::remote_add","remote_function":"bar::add","timeout_ms":5000},)"
      R"({"local_function":"bar::two","remote_function":"bar::2"}]})");
  ASSERT_EQ(c.expose.size(), 2u);
  EXPECT_EQ(c.expose[0].remote_function, "a::x");  // defaults to the local id
  EXPECT_EQ(c.expose[1].remote_function, "b::y");
  ASSERT_EQ(c.forward.size(), 2u);
  EXPECT_EQ(c.forward[0].timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(c.forward[1].timeout, std::chrono::milliseconds(30000));
}

TEST(BridgeConfig, ErrorsNameTheKey) {
  EXPECT_NE(config_error(R"({"service_id":"x"})").find("unknown key `service_id`"), std::string::npos);
  EXPECT_NE(config_error(R"({"url":"http://b:1"})").find("`url` must be a ws:// or wss:// URL"), std::string::npos);
  EXPECT_NE(config_error(R"({"url":"ws://"})").find("`url`"), std::string::npos);
  EXPECT_NE(config_error(R"({"expose":{}})").find("`expose`"), std::string::npos);
  EXPECT_NE(config_error(R"({"expose":[{"remote_function":"x"}]})").find("`expose[0].local_function` is required"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"forward":[{"local_function":"x::y"}]})").find("`forward[0].remote_function` is required"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"forward":[{"local_function":"x","remote_function":"y","timeout_ms":0}]})")
                .find("forward[0].timeout_ms"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"forward":[{"local_function":"x","remote_function":"y"},{"local_function":"x","remote_function":"z"}]})")
                .find("forwarded twice"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"forward":[{"local_function":"","remote_function":"y"}]})").find("must not be empty"),
            std::string::npos);
}

TEST(BridgeAdapter, StateAndStreamTakeABridgeUrl) {
  const StateConfig state = parse_state_config(
      boost::json::parse(R"({"adapter":{"name":"bridge","config":{"bridge_url":"ws://localhost:49198"}}})"), "/tmp");
  EXPECT_EQ(state.storage, StateConfig::Storage::kBridge);
  EXPECT_EQ(state.bridge_url, "ws://localhost:49198");
  const StreamConfig stream = parse_stream_config(boost::json::parse(R"({"adapter":{"name":"bridge"}})"), "/tmp");
  EXPECT_EQ(stream.storage, StreamConfig::Storage::kBridge);
  EXPECT_EQ(stream.bridge_url, "ws://localhost:49134");
  const std::string bad = config_error_of([] {
    parse_state_config(boost::json::parse(R"({"adapter":{"name":"bridge","config":{"bridge_url":"redis://x"}}})"), "/tmp");
  });
  EXPECT_NE(bad.find("`adapter.config.bridge_url` must be a ws:// or wss:// URL"), std::string::npos) << bad;
  const std::string unknown = config_error_of([] {
    parse_stream_config(boost::json::parse(R"({"adapter":{"name":"bridge","config":{"url":"ws://x:1"}}})"), "/tmp");
  });
  EXPECT_NE(unknown.find("unknown key `url`"), std::string::npos) << unknown;
}

}  // namespace
}  // namespace iii
