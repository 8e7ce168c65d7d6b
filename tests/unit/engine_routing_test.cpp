// The engine core driven frame by frame, with recording endpoints in place of sockets.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include "recording_endpoint.h"

namespace iii {
namespace {

using testing::RecordingEndpoint;

class EngineRouting : public ::testing::Test {
 protected:
  std::shared_ptr<RecordingEndpoint> connect() {
    auto ep = std::make_shared<RecordingEndpoint>();
    engine.attach(ep, "127.0.0.1");
    return ep;
  }
  void frame(const std::shared_ptr<RecordingEndpoint>& from, const std::string& text) { engine.on_frame(from, text); }

  Engine engine{EngineOptions{std::chrono::milliseconds(1000), std::chrono::milliseconds(500), 1000}};
};

TEST_F(EngineRouting, FirstFrameIsWorkerRegistered) {
  auto a = connect();
  auto regs = a->of_type("workerregistered");
  ASSERT_EQ(regs.size(), 1u);
  EXPECT_EQ(regs[0].at("worker_id").as_string(), a->worker_id());
  EXPECT_EQ(regs[0].at("reattach_token").as_string().size(), 36u);
}

TEST_F(EngineRouting, RoutesACallAndItsResult) {
  auto a = connect(), b = connect();
  frame(a, R"({"type":"registerfunction","id":"math::add"})");
  frame(b, R"({"type":"invokefunction","invocation_id":"11111111-1111-4111-8111-111111111111","function_id":"math::add","data":{"a":2,"b":3},"metadata":{"m":1}})");
  auto calls = a->of_type("invokefunction");
  ASSERT_EQ(calls.size(), 1u);
  const auto& data = calls[0].at("data").as_object();
  EXPECT_EQ(data.at("a").as_int64(), 2);
  EXPECT_EQ(data.at("_caller_worker_id").as_string(), b->worker_id());
  EXPECT_EQ(calls[0].at("metadata").at("m").as_int64(), 1);
  std::string id(calls[0].at("invocation_id").as_string());
  frame(a, R"({"type":"invocationresult","invocation_id":")" + id + R"(","function_id":"math::add","result":{"c":5}})");
  auto results = b->of_type("invocationresult");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("invocation_id").as_string(), "11111111-1111-4111-8111-111111111111");
  EXPECT_EQ(results[0].at("result").at("c").as_int64(), 5);
  EXPECT_EQ(engine.invocations().size(), 0u);
}

TEST_F(EngineRouting, UnknownFunctionAndVoidCalls) {
  auto a = connect(), b = connect();
  frame(b, R"({"type":"invokefunction","invocation_id":"i1","function_id":"math::nope","data":{}})");
  auto results = b->of_type("invocationresult");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("error").at("code").as_string(), "function_not_found");
  EXPECT_EQ(results[0].at("error").at("message").as_string(), "Function math::nope not found");

  frame(a, R"({"type":"registerfunction","id":"f"})");
  b->clear();
  frame(b, R"({"type":"invokefunction","invocation_id":"i2","function_id":"f","data":[1],"action":{"type":"void"}})");
  auto calls = a->of_type("invokefunction");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_NE(calls[0].at("invocation_id").as_string(), "i2");  // void ignores the caller's id
  EXPECT_EQ(calls[0].at("data").as_array().size(), 1u);       // non-objects pass untouched
  std::string id(calls[0].at("invocation_id").as_string());
  frame(a, R"({"type":"invocationresult","invocation_id":")" + id + R"(","function_id":"f","result":1})");
  EXPECT_TRUE(b->of_type("invocationresult").empty());
}

TEST_F(EngineRouting, ResultFromAnotherWorkerIsIgnored) {
  auto a = connect(), b = connect(), c = connect();
  frame(a, R"({"type":"registerfunction","id":"f"})");
  frame(b, R"({"type":"invokefunction","invocation_id":"i1","function_id":"f"})");
  std::string id(a->of_type("invokefunction")[0].at("invocation_id").as_string());
  EXPECT_EQ(a->of_type("invokefunction")[0].at("data"), nullptr);  // missing data is sent as null
  frame(c, R"({"type":"invocationresult","invocation_id":")" + id + R"(","function_id":"f","result":666})");
  EXPECT_TRUE(b->of_type("invocationresult").empty());
  frame(a, R"({"type":"invocationresult","invocation_id":")" + id + R"(","function_id":"f","result":1})");
  EXPECT_EQ(b->of_type("invocationresult").at(0).at("result").as_int64(), 1);
}

TEST_F(EngineRouting, CalleeDisconnectStopsInvocations) {
  auto a = connect(), b = connect();
  frame(a, R"({"type":"registerfunction","id":"f"})");
  frame(b, R"({"type":"invokefunction","invocation_id":"i1","function_id":"f","data":{}})");
  engine.detach(a);
  auto results = b->of_type("invocationresult");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("error").at("code").as_string(), "invocation_stopped");
  frame(b, R"({"type":"invokefunction","invocation_id":"i2","function_id":"f","data":{}})");
  EXPECT_EQ(b->of_type("invocationresult").at(1).at("error").at("code").as_string(), "function_not_found");
}

TEST_F(EngineRouting, DeadlineAnswersTimeout) {
  auto a = connect(), b = connect();
  frame(a, R"({"type":"registerfunction","id":"slow"})");
  frame(b, R"({"type":"invokefunction","invocation_id":"i1","function_id":"slow","data":{}})");
  engine.tick(Clock::now() + std::chrono::milliseconds(500));
  EXPECT_TRUE(b->of_type("invocationresult").empty());
  engine.tick(Clock::now() + std::chrono::milliseconds(1100));
  auto results = b->of_type("invocationresult");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("error").at("code").as_string(), "timeout");
}

TEST_F(EngineRouting, LastWriterWinsAndStaleCleanupKeepsNewOwner) {
  auto a = connect(), b = connect(), c = connect();
  frame(a, R"({"type":"registerfunction","id":"f"})");
  frame(b, R"({"type":"registerfunction","id":"f"})");
  engine.detach(a);  // a no longer owns f: it must stay
  frame(c, R"({"type":"invokefunction","invocation_id":"i","function_id":"f"})");
  EXPECT_EQ(b->of_type("invokefunction").size(), 1u);
  EXPECT_TRUE(a->of_type("invokefunction").empty());
}

TEST_F(EngineRouting, CustomTriggerTypeInBothOrders) {
  auto provider = connect(), binder = connect();
  // Bind first: parked, nothing sent.
  frame(binder, R"({"type":"registertrigger","id":"t1","trigger_type":"webhook","function_id":"h","config":{"path":"/x"},"message_type":"registertrigger"})");
  EXPECT_EQ(engine.registry().pending_trigger_count(), 1u);
  frame(provider, R"({"type":"registertriggertype","id":"webhook","description":"Webhook"})");
  auto regs = provider->of_type("registertrigger");
  ASSERT_EQ(regs.size(), 1u);
  EXPECT_EQ(regs[0].at("config").at("path").as_string(), "/x");
  // Bind after the type exists: forwarded at once.
  frame(binder, R"({"type":"registertrigger","id":"t2","trigger_type":"webhook","function_id":"h"})");
  regs = provider->of_type("registertrigger");
  ASSERT_EQ(regs.size(), 2u);
  EXPECT_TRUE(regs[1].at("config").is_null());
  // Unbind: the provider is told.
  frame(binder, R"({"type":"unregistertrigger","id":"t2"})");
  ASSERT_EQ(provider->of_type("unregistertrigger").size(), 1u);
  EXPECT_EQ(provider->of_type("unregistertrigger")[0].at("trigger_type").as_string(), "webhook");
  // Provider leaves: t1 is parked and re-sent to the next provider.
  engine.detach(provider);
  EXPECT_EQ(engine.registry().pending_trigger_count(), 1u);
  auto next = connect();
  frame(next, R"({"type":"registertriggertype","id":"webhook","description":"Webhook"})");
  EXPECT_EQ(next->of_type("registertrigger").size(), 1u);
  // The binder leaves: the provider is told to unregister its binding.
  engine.detach(binder);
  EXPECT_EQ(next->of_type("unregistertrigger").size(), 1u);
}

TEST_F(EngineRouting, ProviderRejectionParksAndTellsTheBinder) {
  auto provider = connect(), binder = connect(), other = connect();
  frame(provider, R"({"type":"registertriggertype","id":"webhook","description":"Webhook"})");
  frame(binder, R"({"type":"registertrigger","id":"t1","trigger_type":"webhook","function_id":"h","config":{}})");
  // Someone who is not the provider cannot reject it.
  frame(other, R"({"type":"triggerregistrationresult","id":"t1","trigger_type":"webhook","function_id":"h","error":{"code":"x","message":"spoof"}})");
  EXPECT_TRUE(binder->of_type("triggerregistrationresult").empty());
  frame(provider, R"({"type":"triggerregistrationresult","id":"t1","trigger_type":"webhook","function_id":"h","error":{"code":"trigger_registration_failed","message":"bad config"}})");
  auto errs = binder->of_type("triggerregistrationresult");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].at("error").at("message").as_string(), "bad config");
  EXPECT_FALSE(engine.registry().find_trigger("t1"));
  EXPECT_EQ(engine.registry().pending_trigger_count(), 1u);
}

TEST_F(EngineRouting, ReattachRetiresTheOldConnection) {
  auto old = connect();
  frame(old, R"({"type":"registerfunction","id":"f"})");
  std::string token(old->of_type("workerregistered")[0].at("reattach_token").as_string());
  auto fresh = connect();
  frame(fresh, R"({"type":"reattach","previous_worker_id":")" + old->worker_id() + R"(","reattach_token":"wrong"})");
  EXPECT_TRUE(old->alive());
  frame(fresh, R"({"type":"reattach","previous_worker_id":")" + old->worker_id() + R"(","reattach_token":")" + token + R"("})");
  EXPECT_FALSE(old->alive());
  EXPECT_TRUE(old->closed);
  EXPECT_FALSE(engine.registry().find_function("f"));
  frame(fresh, R"({"type":"registerfunction","id":"f"})");
  EXPECT_EQ(engine.registry().find_function("f")->owner, fresh);
}

TEST_F(EngineRouting, BadFramesChangeNothingAndInvalidCallsAreAnswered) {
  auto a = connect();
  for (const char* bad : {"nope", "[1,2]", "\"s\"", "{}", R"({"type":"teleport"})", R"({"type":"registerfunction","id":5})",
                          R"({"type":"invocationresult","invocation_id":"unknown","result":1})", "   "})
    frame(a, bad);
  EXPECT_TRUE(engine.registry().functions().empty());
  frame(a, R"({"type":"invokefunction","invocation_id":"i1"})");
  auto results = a->of_type("invocationresult");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("error").at("code").as_string(), "invalid_message");
  frame(a, R"({"type":"ping"})");
  EXPECT_EQ(a->of_type("pong").size(), 1u);
}

TEST_F(EngineRouting, EnqueueWithoutProviderIsAnEnqueueError) {
  auto a = connect();
  frame(a, R"({"type":"invokefunction","invocation_id":"i1","function_id":"f","data":{},"action":{"type":"enqueue","queue":"jobs"}})");
  auto results = a->of_type("invocationresult");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("error").at("code").as_string(), "enqueue_error");
}

TEST(Baggage, RewritesFunctionIdAndKeepsOtherEntries) {
  EXPECT_EQ(rewrite_baggage("", "math::add"), "");
  EXPECT_EQ(rewrite_baggage("a=1,iii.function.id=old", "math::add"), "a=1,iii.function.id=math%3A%3Aadd");
}

}  // namespace
}  // namespace iii
