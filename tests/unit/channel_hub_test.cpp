// Channels (docs/protocol.md §3.13): the hub, the bounded queue and its wakes, the sweep, and
// engine::channels::create.
#include "core/channel_hub.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "wire/uuid.h"
#include "engine/engine.h"
#include "recording_endpoint.h"
#include "workers/channels/channel_functions.h"
#include "workers/engine/engine_functions.h"

namespace iii {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

ChannelItem text(std::string s) { return ChannelItem{false, std::move(s)}; }
ChannelItem binary(std::string s) { return ChannelItem{true, std::move(s)}; }

TEST(ChannelHub, CreateGivesUuidIdAndSecretKeyAndFindsByBoth) {
  ChannelHub hub;
  auto ch = hub.create(16);
  EXPECT_TRUE(is_uuid(ch->id()));
  EXPECT_TRUE(is_uuid(ch->access_key()));
  EXPECT_NE(ch->id(), ch->access_key());
  EXPECT_EQ(ch->capacity(), 16u);
  EXPECT_EQ(hub.find(ch->id(), ch->access_key()), ch);
  EXPECT_EQ(hub.find(ch->id(), "wrong"), nullptr);
  EXPECT_EQ(hub.find(ch->id(), ""), nullptr);
  EXPECT_EQ(hub.find(new_uuid(), ch->access_key()), nullptr);
  hub.remove(ch->id());
  EXPECT_EQ(hub.find(ch->id(), ch->access_key()), nullptr);
  EXPECT_EQ(hub.size(), 0u);
}

TEST(ChannelHub, BufferSizeIsClampedToOneThrough1024) {
  ChannelHub hub;
  EXPECT_EQ(hub.create(0)->capacity(), 1u);
  EXPECT_EQ(hub.create(1)->capacity(), 1u);
  EXPECT_EQ(hub.create(5000)->capacity(), 1024u);
  EXPECT_EQ(hub.create()->capacity(), 64u);
}

TEST(ChannelHub, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Channel, EachSideIsTakenOnce) {
  Channel ch("id", "key", 4, Channel::Clock::now());
  EXPECT_TRUE(ch.take(ChannelDirection::kRead));
  EXPECT_FALSE(ch.take(ChannelDirection::kRead));
  EXPECT_FALSE(ch.both_taken());
  EXPECT_TRUE(ch.take(ChannelDirection::kWrite));
  EXPECT_FALSE(ch.take(ChannelDirection::kWrite));
  EXPECT_TRUE(ch.both_taken());
}

TEST(Channel, ItemsComeOutInOrderWithTheirFrameType) {
  Channel ch("id", "key", 8, Channel::Clock::now());
  ASSERT_EQ(ch.writable({}), Channel::WriteState::kReady);
  ch.push(binary("hello"));
  ch.push(text(R"({"type":"set_status","status_code":201})"));
  ch.push(binary(std::string("\0\1\2", 3)));
  ch.finish();
  ChannelItem item;
  ASSERT_EQ(ch.pop(item, {}), Channel::ReadState::kItem);
  EXPECT_TRUE(item.binary);
  EXPECT_EQ(item.data, "hello");
  ASSERT_EQ(ch.pop(item, {}), Channel::ReadState::kItem);
  EXPECT_FALSE(item.binary);
  EXPECT_EQ(item.data, R"({"type":"set_status","status_code":201})");
  ASSERT_EQ(ch.pop(item, {}), Channel::ReadState::kItem);
  EXPECT_EQ(item.data, std::string("\0\1\2", 3));
  EXPECT_EQ(ch.pop(item, {}), Channel::ReadState::kEnd);
  EXPECT_EQ(ch.pop(item, {}), Channel::ReadState::kEnd);
}

TEST(Channel, AFullQueueHoldsTheWriterUntilTheReaderMakesRoom) {
  Channel ch("id", "key", 2, Channel::Clock::now());
  ch.push(binary("a"));
  ASSERT_EQ(ch.writable({}), Channel::WriteState::kReady);
  ch.push(binary("b"));
  int wakes = 0;
  ASSERT_EQ(ch.writable([&] { ++wakes; }), Channel::WriteState::kWait);
  EXPECT_EQ(ch.queued_items(), 2u);
  ChannelItem item;
  ASSERT_EQ(ch.pop(item, {}), Channel::ReadState::kItem);
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(ch.writable({}), Channel::WriteState::kReady);
  ASSERT_EQ(ch.pop(item, {}), Channel::ReadState::kItem);
  EXPECT_EQ(wakes, 1);  // one-shot
}

TEST(Channel, AQueueHoldingManyBytesCountsAsFull) {
  Channel ch("id", "key", 1024, Channel::Clock::now());
  ch.push(binary(std::string(Channel::kMaxQueuedBytes, 'x')));
  EXPECT_EQ(ch.writable([] {}), Channel::WriteState::kWait);
  ChannelItem item;
  ch.pop(item, {});
  EXPECT_EQ(ch.queued_bytes(), 0u);
  EXPECT_EQ(ch.writable({}), Channel::WriteState::kReady);
}

TEST(Channel, AWaitingReaderIsWokenByAnItemAndByTheEnd) {
  Channel ch("id", "key", 4, Channel::Clock::now());
  int wakes = 0;
  ChannelItem item;
  ASSERT_EQ(ch.pop(item, [&] { ++wakes; }), Channel::ReadState::kWait);
  ch.push(text("x"));
  EXPECT_EQ(wakes, 1);
  ASSERT_EQ(ch.pop(item, {}), Channel::ReadState::kItem);
  ASSERT_EQ(ch.pop(item, [&] { ++wakes; }), Channel::ReadState::kWait);
  ch.finish();
  EXPECT_EQ(wakes, 2);
  EXPECT_EQ(ch.pop(item, {}), Channel::ReadState::kEnd);
}

TEST(Channel, ADepartingReaderClearsTheQueueAndStopsTheWriter) {
  Channel ch("id", "key", 1, Channel::Clock::now());
  ch.push(binary("a"));
  bool woken = false;
  ASSERT_EQ(ch.writable([&] { woken = true; }), Channel::WriteState::kWait);
  ch.abandon();
  EXPECT_TRUE(woken);
  EXPECT_TRUE(ch.reader_gone());
  EXPECT_EQ(ch.queued_items(), 0u);
  EXPECT_EQ(ch.writable({}), Channel::WriteState::kGone);
  EXPECT_FALSE(ch.push(binary("b")));
}

TEST(Channel, TheWriterLearnsThatTheReaderLeftEvenWhenNotWaiting) {
  Channel ch("id", "key", 4, Channel::Clock::now());
  int gone = 0;
  ch.on_reader_gone([&] { ++gone; });
  ch.push(binary("a"));
  EXPECT_EQ(gone, 0);
  ch.abandon();
  EXPECT_EQ(gone, 1);
  ch.close();
  EXPECT_EQ(gone, 1);  // one-shot
  ch.on_reader_gone([&] { ++gone; });  // already gone: runs at once
  EXPECT_EQ(gone, 2);
  Channel swept("id2", "key", 4, Channel::Clock::now());
  swept.on_reader_gone([&] { ++gone; });
  swept.close();
  EXPECT_EQ(gone, 3);
}

TEST(Channel, CloseEndsBothSides) {
  Channel ch("id", "key", 4, Channel::Clock::now());
  bool reader_woken = false;
  ChannelItem item;
  ASSERT_EQ(ch.pop(item, [&] { reader_woken = true; }), Channel::ReadState::kWait);
  ch.close();
  EXPECT_TRUE(reader_woken);
  EXPECT_TRUE(ch.closed());
  EXPECT_EQ(ch.pop(item, {}), Channel::ReadState::kEnd);
  EXPECT_EQ(ch.writable({}), Channel::WriteState::kGone);
}

TEST(Channel, NothingIsPushedAfterTheEnd) {
  Channel ch("id", "key", 4, Channel::Clock::now());
  ch.finish();
  EXPECT_FALSE(ch.push(text("late")));
  ChannelItem item;
  EXPECT_EQ(ch.pop(item, {}), Channel::ReadState::kEnd);
}

TEST(ChannelHub, SweepRemovesOldChannelsWhoseSidesDidNotBothConnect) {
  ChannelHub hub(ChannelHub::Options{5min, 60s});
  auto none = hub.create();
  auto writer_only = hub.create();
  writer_only->take(ChannelDirection::kWrite);
  auto both = hub.create();
  both->take(ChannelDirection::kWrite);
  both->take(ChannelDirection::kRead);
  const auto now = Channel::Clock::now();
  EXPECT_EQ(hub.sweep(now + 4min), 0u);
  EXPECT_EQ(hub.sweep(now + 6min), 2u);
  EXPECT_EQ(hub.size(), 1u);
  EXPECT_TRUE(none->closed());
  EXPECT_TRUE(writer_only->closed());
  EXPECT_EQ(writer_only->writable({}), Channel::WriteState::kGone);
  EXPECT_FALSE(both->closed());
  EXPECT_EQ(hub.find(both->id(), both->access_key()), both);
}

TEST(ChannelHub, TickSweepsOncePerInterval) {
  ChannelHub hub(ChannelHub::Options{0ms, 60s});
  auto ch = hub.create();
  const auto start = Channel::Clock::now();
  hub.tick(start + 30s);  // too early since construction
  EXPECT_EQ(hub.size(), 1u);
  hub.tick(start + 61s);
  EXPECT_EQ(hub.size(), 0u);
  EXPECT_TRUE(ch->closed());
}

// --- engine::channels::create ---

TEST(ChannelsCreate, ReturnsWriterAndReaderRefsOfOneChannel) {
  ChannelHub hub;
  json::value v = json::parse(create_channel_refs(hub, R"({"buffer_size":16})"));
  const json::object& writer = v.at("writer").as_object();
  const json::object& reader = v.at("reader").as_object();
  EXPECT_EQ(writer.at("direction").as_string(), "write");
  EXPECT_EQ(reader.at("direction").as_string(), "read");
  EXPECT_EQ(writer.at("channel_id"), reader.at("channel_id"));
  EXPECT_EQ(writer.at("access_key"), reader.at("access_key"));
  auto ch = hub.find(std::string(writer.at("channel_id").as_string()), std::string(writer.at("access_key").as_string()));
  ASSERT_NE(ch, nullptr);
  EXPECT_EQ(ch->capacity(), 16u);
}

TEST(ChannelsCreate, BufferSizeDefaultsAndClamps) {
  ChannelHub hub;
  auto capacity_for = [&](std::string_view data) {
    json::value v = json::parse(create_channel_refs(hub, data));
    const json::object& w = v.at("writer").as_object();
    return hub.find(std::string(w.at("channel_id").as_string()), std::string(w.at("access_key").as_string()))->capacity();
  };
  EXPECT_EQ(capacity_for("null"), 64u);
  EXPECT_EQ(capacity_for(""), 64u);
  EXPECT_EQ(capacity_for("{}"), 64u);
  EXPECT_EQ(capacity_for(R"({"buffer_size":null})"), 64u);  // Python's default
  EXPECT_EQ(capacity_for(R"({"buffer_size":0})"), 1u);
  EXPECT_EQ(capacity_for(R"({"buffer_size":100000})"), 1024u);
  EXPECT_EQ(capacity_for(R"({"buffer_size":8,"_caller_worker_id":"x"})"), 8u);
}

TEST(ChannelsCreate, RejectsWronglyTypedInput) {
  ChannelHub hub;
  EXPECT_THROW(create_channel_refs(hub, R"({"buffer_size":-1})"), std::invalid_argument);
  EXPECT_THROW(create_channel_refs(hub, R"({"buffer_size":"16"})"), std::invalid_argument);
  EXPECT_THROW(create_channel_refs(hub, R"({"buffer_size":1.5})"), std::invalid_argument);
  EXPECT_THROW(create_channel_refs(hub, R"([1])"), std::invalid_argument);
  EXPECT_EQ(hub.size(), 0u);
}

TEST(ChannelsCreate, IsAnEngineFunctionOfTheEngineFunctionsWorker) {
  ChannelHub hub;
  Engine engine;
  engine.add_in_process_worker(make_engine_functions_worker(engine));
  add_channel_functions(engine, hub);
  auto entry = engine.registry().find_function(kChannelsCreateFunction);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->owner, engine.in_process_worker("iii-engine-functions"));

  auto caller = std::make_shared<testing::RecordingEndpoint>();
  engine.attach(caller, "127.0.0.1");
  engine.on_frame(caller, R"({"type":"invokefunction","invocation_id":"11111111-1111-4111-8111-111111111111","function_id":"engine::channels::create","data":{"buffer_size":null}})");
  engine.on_frame(caller, R"({"type":"invokefunction","invocation_id":"22222222-2222-4222-8222-222222222222","function_id":"engine::channels::create","data":{"buffer_size":"x"}})");
  auto results = caller->of_type("invocationresult");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].contains("result"));
  EXPECT_EQ(results[0].at("result").at("reader").at("direction").as_string(), "read");
  ASSERT_TRUE(results[1].contains("error"));
  EXPECT_EQ(results[1].at("error").at("code").as_string(), "deserialization_error");
  EXPECT_EQ(results[1].at("error").at("message").as_string(),
            "Failed to deserialize input for engine::channels::create: invalid type: string \"x\", expected usize");
  EXPECT_EQ(hub.size(), 1u);
}

}  // namespace
}  // namespace iii
