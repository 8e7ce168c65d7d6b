// `iii trigger` end to end: the real binary as a subprocess, against the real engine, with a C++
// SDK worker serving the functions it calls.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "test_workers.h"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using iii::test::CommandResult;
using iii::test::connected_worker;
using iii::test::EngineProcess;
using iii::test::run_command;
using iii::test::wait_function_visible;

class TriggerCli : public ::testing::Test {
 protected:
  void SetUp() override {
    worker_ = connected_worker(engine_, "cli-target");
    worker_->register_function("math::add", [](json::value p) -> json::value {
      return {{"c", p.at("a").to_number<int64_t>() + p.at("b").to_number<int64_t>()}};
    });
    // Echoes its payload without the key the engine adds for worker callers.
    worker_->register_function("debug::echo", [](json::value p) -> json::value {
      if (p.is_object()) p.as_object().erase("_caller_worker_id");
      return p;
    });
    worker_->register_function("debug::nothing", [](json::value) { return std::nullopt; });
    worker_->register_function("debug::boom", [](json::value) -> json::value { throw std::runtime_error("kaboom"); });
    worker_->register_function("debug::slow", [](json::value) -> json::value {
      std::this_thread::sleep_for(3s);
      return "late";
    });
    ASSERT_TRUE(wait_function_visible(*worker_, "debug::slow"));
  }

  CommandResult trigger(std::vector<std::string> args, std::chrono::milliseconds deadline = 15s) {
    std::vector<std::string> argv{iii::test::engine_binary(), "trigger"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--address", "127.0.0.1", "--port", std::to_string(engine_.port())});
    return run_command(argv, deadline);
  }

  EngineProcess engine_;
  std::unique_ptr<iii::Worker> worker_;
};

TEST_F(TriggerCli, PrintsThePrettyResultAndExitsZero) {
  auto run = trigger({"math::add", "a=2", "b=3"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "{\n  \"c\": 5\n}\n");
}

TEST_F(TriggerCli, AliasTWorksToo) {
  auto run = run_command({iii::test::engine_binary(), "t", "math::add", "a=20", "b=22", "--address",
                          "ws://127.0.0.1:" + std::to_string(engine_.port())},
                         15s);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "{\n  \"c\": 42\n}\n");
}

TEST_F(TriggerCli, BuildsThePayloadFromKeyValuesAndJson) {
  auto run = trigger({"debug::echo", "--json", R"({"a":1,"keep":"x"})", "a=2", "v=007", R"(s="10")", "n=null",
                      "list=[1,2]", "u=a=b", "e="});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(json::parse(run.out),
            json::parse(R"({"a":2,"keep":"x","v":"007","s":"10","n":null,"list":[1,2],"u":"a=b","e":""})"));
}

TEST_F(TriggerCli, NullResultPrintsNothing) {
  auto run = trigger({"debug::nothing"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "");
}

TEST_F(TriggerCli, UnknownFunctionPrintsTheErrorBodyAndExitsOne) {
  auto run = trigger({"math::nope", "a=1"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            "Error: {\n  \"code\": \"function_not_found\",\n  \"message\": \"Function math::nope not found\",\n"
            "  \"stacktrace\": null\n}\n");
}

TEST_F(TriggerCli, HandlerExceptionPrintsInvocationFailed) {
  auto run = trigger({"debug::boom"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("\"code\": \"invocation_failed\""), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("\"message\": \"kaboom\""), std::string::npos) << run.err;
}

TEST_F(TriggerCli, BadArgumentsExitOneWithoutCalling) {
  auto run = trigger({"math::add", "just-a-word"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("expected key=value, got `just-a-word`"), std::string::npos) << run.err;
  run = trigger({"math::add", "a=1", "--json", "[1]"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("--json must be an object when combined with kv pairs"), std::string::npos) << run.err;
  run = trigger({"math::add", "--json", "{nope"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("--json: invalid JSON `{nope`"), std::string::npos) << run.err;
}

TEST_F(TriggerCli, SlowFunctionTimesOutWithinTheTimeout) {
  auto run = trigger({"debug::slow", "--timeout-ms", "500"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_LT(run.elapsed, 2500ms);
  EXPECT_NE(run.err.find("timed out"), std::string::npos) << run.err;
}

TEST(TriggerCliWithoutEngine, UnreachableEngineFailsWithinTheTimeout) {
  auto port = iii::test::free_loopback_port();
  auto run = run_command({iii::test::engine_binary(), "trigger", "math::add", "a=1", "--address", "127.0.0.1", "--port",
                          std::to_string(port), "--timeout-ms", "1000"},
                         10s);
  EXPECT_FALSE(run.timed_out);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_LT(run.elapsed, 5s);
  EXPECT_NE(run.err.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("timed out"), std::string::npos) << run.err;
}

}  // namespace
