// The iii-stream built-in driven through a real Engine on an in-memory store: every stream::*
// function with its request/response shapes and errors, custom backends
// (`stream::<op>(<stream>)` functions), the `stream` trigger type and its change event, and the
// join/leave triggers (StreamTriggers) fired directly. The worker's client listener is opened on
// 127.0.0.1:0; the io_context never runs (function calls do not need it).
#include "temp_dir.h"
#include "workers/stream/stream_worker.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <system_error>

#include "builtin_worker_fixture.h"
#include "core/json_text.h"
#include "engine/engine.h"
#include "recording_endpoint.h"
#include "store/kv_stream_store.h"
#include "workers/stream/stream_config.h"
#include "workers/stream/stream_triggers.h"

namespace iii {
namespace {

namespace json = boost::json;
namespace asio = boost::asio;

json::value parse(std::string_view text) {
  auto v = json_text::parse(text.empty() ? "null" : text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

StreamConfig loopback_config() {
  StreamConfig c;
  c.host = "127.0.0.1";
  c.port = 0;
  return c;
}

class StreamWorkerTest : public BuiltinWorkerFixture {
 protected:
  ~StreamWorkerTest() override {
    if (worker) worker->stop();
  }

  // A worker on `store` (not the one the config describes), registered and started.
  void start(StreamConfig config = loopback_config()) {
    worker = make_stream_worker(io, engine, std::move(config), store);
    engine.add_in_process_worker(worker->endpoint());
    worker->start();
  }

  std::optional<ErrorBody> bind(const std::string& id, const std::string& function_id, const std::string& config,
                                const std::string& type = "stream", const std::string& metadata = "") {
    std::optional<ErrorBody> out;
    bool answered = false;
    engine.register_trigger(TriggerBinding{id, type, function_id, config, metadata, ""},
                            [&](std::optional<ErrorBody> e) {
                              answered = true;
                              out = std::move(e);
                            });
    EXPECT_TRUE(answered) << "register_trigger did not answer synchronously";
    return out;
  }

  asio::io_context io;  // first: outlives the worker's listener
  std::shared_ptr<StreamStore> store = open_memory_stream_store();
  std::unique_ptr<BuiltinWorker> worker;
};

// --- life cycle ---

TEST_F(StreamWorkerTest, StartsOnLoopbackPortZeroAndRegistersEverything) {
  start();
  for (const char* id : {"stream::set", "stream::get", "stream::delete", "stream::list", "stream::list_groups",
                         "stream::list_all", "stream::send", "stream::update"})
    EXPECT_TRUE(engine.registry().find_function(id)) << id;
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":1})");
  EXPECT_EQ(store->get("s", "g", "i"), "1");  // the given store is the one used
}

TEST_F(StreamWorkerTest, StartListensOnTheConfiguredAddress) {
  // A port that was free a moment ago: the worker binds it, and a TCP connect gets through
  // (the kernel completes it into the backlog; the io_context need not run).
  uint16_t port;
  {
    asio::ip::tcp::acceptor probe(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }
  StreamConfig c = loopback_config();
  c.port = port;
  start(c);
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_FALSE(ec) << ec.message();
  socket.close();
  // stop() releases the port at once.
  worker->stop();
  EXPECT_NO_THROW(asio::ip::tcp::acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)));
}

TEST_F(StreamWorkerTest, StartFailsWhenThePortIsTaken) {
  asio::ip::tcp::acceptor busy(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  StreamConfig c = loopback_config();
  c.port = busy.local_endpoint().port();
  worker = make_stream_worker(io, engine, c, store);
  engine.add_in_process_worker(worker->endpoint());
  try {
    worker->start();
    FAIL() << "started on a port in use";
  } catch (const std::runtime_error& e) {  // BuiltinWorker::start's contract
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
}

TEST_F(StreamWorkerTest, CallsBeforeStartOrAfterStopFailClearly) {
  worker = make_stream_worker(io, engine, loopback_config(), store);
  engine.add_in_process_worker(worker->endpoint());
  ErrorBody e = error("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":1})");
  EXPECT_EQ(e.code, "STREAM_SET_ERROR");
  EXPECT_NE(e.message.find("not open"), std::string::npos) << e.message;
  EXPECT_EQ(error("stream::list_all", "{}").code, "STREAM_LIST_ALL_ERROR");
  worker->start();
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":1})");
  worker->stop();
  EXPECT_EQ(error("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"i"})").code, "STREAM_GET_ERROR");
  EXPECT_EQ(error("stream::list", R"({"stream_name":"s","group_id":"g"})").code, "STREAM_GET_GROUP_ERROR");
  EXPECT_EQ(error("stream::list_groups", R"({"stream_name":"s"})").code, "STREAM_LIST_GROUPS_ERROR");
  EXPECT_EQ(error("stream::delete", R"({"stream_name":"s","group_id":"g","item_id":"i"})").code, "STREAM_DELETE_ERROR");
  EXPECT_EQ(error("stream::update", R"({"stream_name":"s","group_id":"g","item_id":"i","ops":[]})").code,
            "STREAM_UPDATE_ERROR");
  worker->start();  // the same given store again
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"i"})"), json::value(1));
}

// --- the descriptor, file storage and hot reload ---

class StreamWorkerReloadTest : public StreamWorkerTest {
 protected:
  std::unique_ptr<BuiltinWorker> create(std::string_view block) {
    BuiltinContext context{engine, dir.path()};
    return stream_builtin(io).factory(context, parse(block));
  }
  void start_from(std::string_view block) {
    worker = create(block);
    engine.add_in_process_worker(worker->endpoint());
    worker->start();
  }
  testing::TempDir dir{"iii-stream-worker-test-"};
};

TEST_F(StreamWorkerReloadTest, FileBasedStorePersistsAcrossWorkerRestarts) {
  const char* block = R"({"host":"127.0.0.1","port":0,"adapter":{"name":"kv","config":{"store_method":"file_based","file_path":"./data/s.db"}}})";
  start_from(block);
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"a","data":{"x":1}})");
  ok("stream::update", R"({"stream_name":"s","group_id":"g","item_id":"b","ops":[{"type":"increment","path":"n","by":1}]})");
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "data" / "s.db"));
  worker->stop();
  engine.detach(worker->endpoint());
  start_from(block);
  EXPECT_EQ(ok("stream::list", R"({"stream_name":"s","group_id":"g"})"), parse(R"([{"x":1},{"n":1}])"));
}

TEST_F(StreamWorkerReloadTest, HotReloadAppliesNewBoundsAndKeepsTheItems) {
  start_from(R"({"host":"127.0.0.1","port":0})");
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"a","data":"12345678901"})");
  auto fresh = create(R"({"host":"127.0.0.1","port":0,"max_item_bytes":10})");
  ASSERT_TRUE(worker->reconfigure(*fresh));
  EXPECT_EQ(error("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"b","data":"12345678901"})").code,
            "ITEM_TOO_LARGE");
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"a"})"), json::value("12345678901"));
}

TEST_F(StreamWorkerReloadTest, HotReloadToAnotherPortListensThere) {
  start_from(R"({"host":"127.0.0.1","port":0})");
  uint16_t port;
  {
    asio::ip::tcp::acceptor probe(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }
  auto fresh = create(R"({"host":"127.0.0.1","port":)" + std::to_string(port) + "}");
  ASSERT_TRUE(worker->reconfigure(*fresh));
  asio::ip::tcp::socket socket(io);
  boost::system::error_code ec;
  socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST_F(StreamWorkerReloadTest, AFailedHotReloadChangesNothing) {
  start_from(R"({"host":"127.0.0.1","port":0})");
  asio::ip::tcp::acceptor busy(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto fresh = create(R"({"host":"127.0.0.1","port":)" + std::to_string(busy.local_endpoint().port()) +
                      R"(,"max_item_bytes":10})");
  EXPECT_THROW(worker->reconfigure(*fresh), std::runtime_error);
  // The old bound still applies.
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"b","data":"12345678901"})");
}

// file_path means nothing to an in-memory store; a reload that only edits it (say, to prepare a
// later switch to file_based) must keep the items: StreamConfig::same_store ignores file_path for
// an in-memory store, so reconfigure() keeps the store it has.
TEST_F(StreamWorkerReloadTest, EditingFilePathOfAnInMemoryStoreKeepsTheItems) {
  start_from(R"({"host":"127.0.0.1","port":0})");
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"a","data":1})");
  auto fresh = create(R"({"host":"127.0.0.1","port":0,"adapter":{"name":"kv","config":{"file_path":"elsewhere.db"}}})");
  ASSERT_TRUE(worker->reconfigure(*fresh));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"a"})"), json::value(1));
}

// --- functions ---

TEST_F(StreamWorkerTest, SetGetAndTheSetResultShape) {
  start();
  EXPECT_EQ(ok("stream::set", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1","data":{"title":"a","n":1.5}})"),
            parse(R"({"old_value":null,"new_value":{"title":"a","n":1.5}})"));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1"})"),
            parse(R"({"title":"a","n":1.5})"));
  EXPECT_EQ(ok("stream::set", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1","data":[1,"x",null]})"),
            parse(R"({"old_value":{"title":"a","n":1.5},"new_value":[1,"x",null]})"));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1"})"), parse(R"([1,"x",null])"));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"todos","group_id":"inbox","item_id":"missing"})"), json::value(nullptr));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"nope","group_id":"inbox","item_id":"t1"})"), json::value(nullptr));
  // Names are exact: another group is another item.
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"todos","group_id":"Inbox","item_id":"t1"})"), json::value(nullptr));
}

TEST_F(StreamWorkerTest, DeleteReturnsTheOldValue) {
  start();
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":"hello"})");
  EXPECT_EQ(ok("stream::delete", R"({"stream_name":"s","group_id":"g","item_id":"i"})"),
            parse(R"({"old_value":"hello"})"));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"i"})"), json::value(nullptr));
  EXPECT_EQ(ok("stream::delete", R"({"stream_name":"s","group_id":"g","item_id":"i"})"), parse(R"({"old_value":null})"));
}

TEST_F(StreamWorkerTest, ListListGroupsAndListAll) {
  start();
  EXPECT_EQ(ok("stream::list", R"({"stream_name":"s","group_id":"empty"})"), json::array());
  EXPECT_EQ(ok("stream::list_groups", R"({"stream_name":"s"})"), json::array());
  EXPECT_EQ(ok("stream::list_all", "{}"), parse(R"({"stream":[],"count":0})"));
  for (int i : {2, 0, 1})
    ok("stream::set", R"({"stream_name":"todos","group_id":"inbox","item_id":"t)" + std::to_string(i) +
                          R"(","data":{"i":)" + std::to_string(i) + "}}");
  ok("stream::set", R"({"stream_name":"todos","group_id":"done","item_id":"x","data":true})");
  ok("stream::set", R"({"stream_name":"chat","group_id":"room-1","item_id":"m","data":"hi"})");
  EXPECT_EQ(ok("stream::list", R"({"stream_name":"todos","group_id":"inbox"})"), parse(R"([{"i":2},{"i":0},{"i":1}])"));
  EXPECT_EQ(ok("stream::list_groups", R"({"stream_name":"todos"})"), parse(R"(["done","inbox"])"));
  EXPECT_EQ(ok("stream::list_all", "null"),
            parse(R"({"stream":[{"id":"chat","groups":["room-1"]},{"id":"todos","groups":["done","inbox"]}],"count":2})"));
  // An emptied group (and stream) disappears from the listings.
  ok("stream::delete", R"({"stream_name":"chat","group_id":"room-1","item_id":"m"})");
  EXPECT_EQ(ok("stream::list_all", ""), parse(R"({"stream":[{"id":"todos","groups":["done","inbox"]}],"count":1})"));
  EXPECT_EQ(ok("stream::list_groups", R"({"stream_name":"chat"})"), json::array());
}

TEST_F(StreamWorkerTest, UpdateResultShape) {
  start();
  EXPECT_EQ(ok("stream::update",
               R"({"stream_name":"s","group_id":"g","item_id":"c","ops":[{"type":"increment","path":"n","by":2}]})"),
            parse(R"({"old_value":null,"new_value":{"n":2}})"));
  EXPECT_EQ(ok("stream::update", R"({"stream_name":"s","group_id":"g","item_id":"c","ops":[)"
                                 R"({"type":"set","path":"t","value":"x"},{"type":"increment","path":"n","by":3}]})"),
            parse(R"({"old_value":{"n":2},"new_value":{"n":5,"t":"x"}})"));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"c"})"), parse(R"({"n":5,"t":"x"})"));
  // A failing op is reported beside the result; the ops that applied were written.
  json::value r = ok("stream::update", R"({"stream_name":"s","group_id":"g","item_id":"c","ops":[)"
                                       R"({"type":"increment","path":"t","by":1},{"type":"set","path":"z","value":0}]})");
  EXPECT_EQ(r.at("old_value"), parse(R"({"n":5,"t":"x"})"));
  EXPECT_EQ(r.at("new_value"), parse(R"({"n":5,"t":"x","z":0})"));
  ASSERT_TRUE(r.at("errors").is_array());
  ASSERT_EQ(r.at("errors").as_array().size(), 1u);
  EXPECT_EQ(r.at("errors").as_array()[0].at("op_index"), json::value(0));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"c"})"), parse(R"({"n":5,"t":"x","z":0})"));
}

TEST_F(StreamWorkerTest, InvalidInputIsADeserializationErrorAndChangesNothing) {
  start();
  recorder("test::on_change");
  ASSERT_EQ(bind("t", "test::on_change", R"({"stream_name":"s"})"), std::nullopt);
  struct Case {
    const char* function_id;
    const char* data;
    const char* message;
  } cases[] = {
      {"stream::set", R"({"group_id":"g","item_id":"i","data":1})", "missing field `stream_name`"},
      {"stream::set", R"({"stream_name":"s","item_id":"i","data":1})", "missing field `group_id`"},
      {"stream::set", R"({"stream_name":"s","group_id":"g","data":1})", "missing field `item_id`"},
      {"stream::set", R"({"stream_name":5,"group_id":"g","item_id":"i","data":1})",
       "field `stream_name`: invalid type: number, expected a string"},
      {"stream::set", R"({"stream_name":"s","group_id":null,"item_id":"i","data":1})",
       "field `group_id`: invalid type: null, expected a string"},
      {"stream::set", R"({"stream_name":"s","group_id":"g","item_id":7,"data":1})",
       "field `item_id`: invalid type: number, expected a string"},
      {"stream::set", "[1]", "invalid type: array, expected a JSON object"},
      {"stream::set", "{not json", "invalid JSON"},
      {"stream::get", R"({"stream_name":"s","group_id":"g"})", "missing field `item_id`"},
      {"stream::get", "null", "missing field `stream_name`"},
      {"stream::delete", R"({"stream_name":"s","item_id":"i"})", "missing field `group_id`"},
      {"stream::list", R"({"stream_name":"s"})", "missing field `group_id`"},
      {"stream::list_groups", "{}", "missing field `stream_name`"},
      {"stream::list_groups", R"({"stream_name":true})", "field `stream_name`: invalid type: boolean, expected a string"},
      {"stream::send", R"({"stream_name":"s","group_id":"g","data":1})", "missing field `type`"},
      {"stream::send", R"({"stream_name":"s","group_id":"g","type":"t"})", "missing field `data`"},
      {"stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i"})", "missing field `data`"},
      {"stream::send", R"({"stream_name":"s","group_id":"g","type":1})", "field `type`: invalid type: number, expected a string"},
      {"stream::send", R"({"stream_name":"s","group_id":"g","type":"t","id":5})",
       "field `id`: invalid type: number, expected a string"},
      {"stream::update", R"({"stream_name":"s","group_id":"g","item_id":"i"})", "missing field `ops`"},
      {"stream::update", R"({"stream_name":"s","group_id":"g","item_id":"i","ops":[{"type":"nope"}]})",
       "ops[0].type: unknown variant \"nope\""},
      {"stream::update", R"({"stream_name":"s","group_id":"g","item_id":"i","ops":[{"type":"increment","path":"a","by":"1"}]})",
       "ops[0].by: invalid type: string \"1\", expected i64"},
  };
  for (const Case& c : cases) {
    ErrorBody e = error(c.function_id, c.data);
    EXPECT_EQ(e.code, "deserialization_error") << c.function_id << " " << c.data;
    EXPECT_NE(e.message.find(std::string("Failed to deserialize input for ") + c.function_id + ": " + c.message),
              std::string::npos)
        << e.message;
  }
  EXPECT_EQ(store->list_streams(), std::vector<std::string>{});
  EXPECT_TRUE(calls.empty());  // nothing announced
}

TEST_F(StreamWorkerTest, NulInStreamOrGroupNamesIsRefused) {
  start();
  recorder("test::on_change");
  ASSERT_EQ(bind("t", "test::on_change", R"({"stream_name":"a\u0000b"})"), std::nullopt);
  for (const char* fn : {"stream::set", "stream::get", "stream::delete", "stream::update"}) {
    const std::string extra = std::string(fn) == "stream::update" ? R"(,"ops":[])" : R"(,"data":1)";
    ErrorBody e = error(fn, R"({"stream_name":"a\u0000b","group_id":"g","item_id":"i")" + extra + "}");
    EXPECT_EQ(e.code, "deserialization_error") << fn;
    EXPECT_NE(e.message.find("field `stream_name` must not contain a NUL character"), std::string::npos) << e.message;
    e = error(fn, R"({"stream_name":"a","group_id":"\u0000","item_id":"i")" + extra + "}");
    EXPECT_EQ(e.code, "deserialization_error") << fn;
    EXPECT_NE(e.message.find("field `group_id` must not contain a NUL character"), std::string::npos) << e.message;
  }
  EXPECT_EQ(error("stream::list", R"({"stream_name":"a\u0000b","group_id":"g"})").code, "deserialization_error");
  EXPECT_EQ(error("stream::list_groups", R"({"stream_name":"\u0000"})").code, "deserialization_error");
  EXPECT_EQ(error("stream::send", R"({"stream_name":"a\u0000b","group_id":"g","type":"t"})").code, "deserialization_error");
  EXPECT_EQ(error("stream::send", R"({"stream_name":"a","group_id":"g\u0000","type":"t"})").code, "deserialization_error");
  EXPECT_TRUE(store->list_streams().empty());
  EXPECT_TRUE(calls.empty());
  // Item ids may hold any byte.
  ok("stream::set", R"({"stream_name":"a","group_id":"g","item_id":"x\u0000y","data":1})");
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"a","group_id":"g","item_id":"x\u0000y"})"), json::value(1));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"a","group_id":"g","item_id":"x"})"), json::value(nullptr));
}

TEST_F(StreamWorkerTest, ItemsOverMaxItemBytesAreRefusedAndNothingIsStored) {
  StreamConfig c = loopback_config();
  c.max_item_bytes = 10;
  start(c);
  recorder("test::on_change");
  ASSERT_EQ(bind("t", "test::on_change", R"({"stream_name":"s"})"), std::nullopt);
  // "12345678" is 10 bytes of JSON: at the limit.
  EXPECT_EQ(ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":"12345678"})"),
            parse(R"({"old_value":null,"new_value":"12345678"})"));
  ASSERT_EQ(calls.size(), 1u);
  calls.clear();

  ErrorBody e = error("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":"123456789"})");
  EXPECT_EQ(e.code, "ITEM_TOO_LARGE");
  EXPECT_EQ(e.message, "Item of 11 bytes exceeds max_item_bytes (10)");
  e = error("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"new","data":[1,2,3,4,5,6]})");
  EXPECT_EQ(e.code, "ITEM_TOO_LARGE");
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"i"})"), json::value("12345678"));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"new"})"), json::value(nullptr));

  // update: the result is what is measured; an oversized result changes nothing.
  e = error("stream::update", R"({"stream_name":"s","group_id":"g","item_id":"i","ops":[{"type":"set","path":"","value":"123456789"}]})");
  EXPECT_EQ(e.code, "ITEM_TOO_LARGE");
  EXPECT_EQ(e.message, "Item of 11 bytes exceeds max_item_bytes (10)");
  e = error("stream::update", R"({"stream_name":"s","group_id":"g","item_id":"u","ops":[{"type":"set","path":"longer","value":1}]})");
  EXPECT_EQ(e.code, "ITEM_TOO_LARGE");
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"i"})"), json::value("12345678"));
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"u"})"), json::value(nullptr));
  EXPECT_EQ(ok("stream::update", R"({"stream_name":"s","group_id":"g","item_id":"u","ops":[{"type":"set","path":"a","value":1}]})"),
            parse(R"({"old_value":null,"new_value":{"a":1}})"));  // {"a":1} is 7 bytes
  calls.clear();

  // send: the payload is measured.
  e = error("stream::send", R"({"stream_name":"s","group_id":"g","type":"t","data":"123456789"})");
  EXPECT_EQ(e.code, "ITEM_TOO_LARGE");
  EXPECT_EQ(ok("stream::send", R"({"stream_name":"s","group_id":"g","type":"t","data":"12345678"})"), json::value(nullptr));
  ASSERT_EQ(calls.size(), 1u);  // only the send that passed was announced
  EXPECT_EQ(calls[0].data.at("event").at("event").at("data"), json::value("12345678"));
}

TEST_F(StreamWorkerTest, SendStoresNothingAndReturnsNull) {
  start();
  EXPECT_EQ(ok("stream::send", R"({"stream_name":"s","group_id":"g","type":"ping","data":{"x":1}})"), json::value(nullptr));
  EXPECT_EQ(ok("stream::send", R"({"stream_name":"s","group_id":"g","id":"i","type":"ping","data":null})"), json::value(nullptr));
  EXPECT_TRUE(store->list_streams().empty());
  EXPECT_EQ(ok("stream::list_all", "{}"), parse(R"({"stream":[],"count":0})"));
}

// --- the `stream` trigger type and the change event ---

TEST_F(StreamWorkerTest, ChangeEventsDeliveredToAStreamTrigger) {
  start();
  recorder("test::on_change");
  ASSERT_EQ(bind("t1", "test::on_change", R"({"stream_name":"todos"})", "stream", R"({"tag":1})"), std::nullopt);
  const int64_t before = now_ms();
  ok("stream::set", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1","data":{"title":"a"}})");
  ok("stream::set", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1","data":{"title":"b"}})");
  ok("stream::update", R"({"stream_name":"todos","group_id":"inbox","item_id":"t2","ops":[{"type":"set","path":"n","value":1}]})");
  ok("stream::update", R"({"stream_name":"todos","group_id":"inbox","item_id":"t2","ops":[{"type":"increment","path":"n","by":1}]})");
  error("stream::update", R"({"stream_name":"todos","group_id":"inbox","item_id":"t2","ops":[{"type":"bad"}]})");
  ok("stream::delete", R"({"stream_name":"todos","group_id":"inbox","item_id":"t1"})");
  ok("stream::delete", R"({"stream_name":"todos","group_id":"inbox","item_id":"never"})");  // announced only if it existed
  ok("stream::send", R"({"stream_name":"todos","group_id":"inbox","type":"typing","data":{"who":"al"}})");
  ok("stream::send", R"({"stream_name":"todos","group_id":"inbox","id":"t2","type":"ping","data":null})");
  ok("stream::get", R"({"stream_name":"todos","group_id":"inbox","item_id":"t2"})");
  ok("stream::list", R"({"stream_name":"todos","group_id":"inbox"})");
  ok("stream::set", R"({"stream_name":"other","group_id":"inbox","item_id":"t1","data":1})");  // another stream
  const int64_t after = now_ms();

  const std::vector<std::pair<std::string, std::string>> expected = {
      {R"("t1")", R"({"type":"create","data":{"title":"a"}})"},
      {R"("t1")", R"({"type":"update","data":{"title":"b"}})"},
      {R"("t2")", R"({"type":"create","data":{"n":1}})"},
      {R"("t2")", R"({"type":"update","data":{"n":2}})"},
      {R"("t1")", R"({"type":"delete","data":{"title":"b"}})"},
      {"null", R"({"type":"event","event":{"type":"typing","data":{"who":"al"}}})"},
      {R"("t2")", R"({"type":"event","event":{"type":"ping","data":null}})"},
  };
  ASSERT_EQ(calls.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const json::object& m = calls[i].data.as_object();
    EXPECT_EQ(m.size(), 6u) << i;
    EXPECT_EQ(m.at("type"), "stream") << i;
    ASSERT_TRUE(m.at("timestamp").is_int64()) << i;
    EXPECT_GE(m.at("timestamp").as_int64(), before) << i;
    EXPECT_LE(m.at("timestamp").as_int64(), after) << i;
    EXPECT_EQ(m.at("streamName"), "todos") << i;
    EXPECT_EQ(m.at("groupId"), "inbox") << i;
    EXPECT_EQ(m.at("id"), parse(expected[i].first)) << i;
    EXPECT_EQ(m.at("event"), parse(expected[i].second)) << i;
    EXPECT_EQ(parse(calls[i].metadata), parse(R"({"tag":1})")) << i;  // metadata travels beside the payload
  }
}

TEST_F(StreamWorkerTest, TriggerWithoutStreamNameIsRefused) {
  start();
  auto rejected = [&](const std::string& id, const std::string& config) {
    std::optional<ErrorBody> e = bind(id, "test::x", config);
    EXPECT_TRUE(e) << config;
    if (!e) return std::string();
    EXPECT_EQ(e->code, "trigger_registration_failed") << config;
    EXPECT_FALSE(engine.registry().find_trigger(id)) << config;
    return e->message;
  };
  EXPECT_EQ(rejected("a", "{}"), "Invalid stream trigger config: `stream_name` is required");
  EXPECT_EQ(rejected("b", R"({"stream_name":null,"group_id":"g"})"), "Invalid stream trigger config: `stream_name` is required");
  EXPECT_EQ(rejected("c", "null"), "Invalid stream trigger config: `stream_name` is required");
  EXPECT_EQ(rejected("d", "[1]"), "Invalid stream trigger config: expected an object, got array");
  EXPECT_NE(rejected("i", "{nope").find("Invalid stream trigger config: not valid JSON"), std::string::npos);
  EXPECT_EQ(rejected("e", R"({"stream_name":5})"), "Invalid stream trigger config: `stream_name` must be a string, got number");
  EXPECT_EQ(rejected("f", R"({"stream_name":"s","group_id":1})"),
            "Invalid stream trigger config: `group_id` must be a string, got number");
  EXPECT_EQ(rejected("g", R"({"stream_name":"s","item_id":[]})"),
            "Invalid stream trigger config: `item_id` must be a string, got array");
  EXPECT_EQ(rejected("h", R"({"stream_name":"s","condition_function_id":true})"),
            "Invalid stream trigger config: `condition_function_id` must be a string, got boolean");
  // Join and leave bindings take any config.
  EXPECT_EQ(bind("j", "test::x", "null", "stream:join"), std::nullopt);
  EXPECT_EQ(bind("l", "test::x", "[1]", "stream:leave"), std::nullopt);
}

TEST_F(StreamWorkerTest, GroupAndItemFilters) {
  start();
  for (const char* id : {"test::all", "test::group", "test::item", "test::both", "test::other"}) recorder(id);
  ASSERT_EQ(bind("all", "test::all", R"({"stream_name":"s"})"), std::nullopt);
  ASSERT_EQ(bind("group", "test::group", R"({"stream_name":"s","group_id":"g1"})"), std::nullopt);
  ASSERT_EQ(bind("item", "test::item", R"({"stream_name":"s","item_id":"i1","group_id":null})"), std::nullopt);
  ASSERT_EQ(bind("both", "test::both", R"({"stream_name":"s","group_id":"g1","item_id":"i1","unknown":1})"), std::nullopt);
  ASSERT_EQ(bind("other", "test::other", R"({"stream_name":"t"})"), std::nullopt);
  auto set = [&](const std::string& group, const std::string& item) {
    calls.clear();
    ok("stream::set", R"({"stream_name":"s","group_id":")" + group + R"(","item_id":")" + item + R"(","data":1})");
    return fired();
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(set("g1", "i1"), (Ids{"test::all", "test::group", "test::item", "test::both"}));
  EXPECT_EQ(set("g1", "i2"), (Ids{"test::all", "test::group"}));
  EXPECT_EQ(set("g2", "i1"), (Ids{"test::all", "test::item"}));
  EXPECT_EQ(set("g2", "i2"), (Ids{"test::all"}));
  // A custom event without an id does not reach item-filtered bindings.
  calls.clear();
  ok("stream::send", R"({"stream_name":"s","group_id":"g1","type":"x","data":null})");
  EXPECT_EQ(fired(), (Ids{"test::all", "test::group"}));
  calls.clear();
  ok("stream::send", R"({"stream_name":"s","group_id":"g1","id":"i1","type":"x","data":null})");
  EXPECT_EQ(fired(), (Ids{"test::all", "test::group", "test::item", "test::both"}));
}

TEST_F(StreamWorkerTest, ConditionFunctionGatesTheHandler) {
  start();
  recorder("test::on_change");
  std::vector<json::value> condition_inputs;
  auto condition = std::make_shared<InProcessWorker>(engine, "condition");
  condition->add_function(FunctionSpec{"test::only_vip", "", {}, {}, {}}, SyncFunctionHandler([&](const InProcessCall& c) {
                            json::value d = parse(c.data);
                            condition_inputs.push_back(d);
                            return Outcome::success(d.at("id") == "vip" ? "true" : "false");
                          }));
  engine.add_in_process_worker(condition);
  ASSERT_EQ(bind("t", "test::on_change", R"({"stream_name":"s","condition_function_id":"test::only_vip"})"), std::nullopt);
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"regular","data":1})");
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"vip","data":2})");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].data.at("id"), "vip");
  ASSERT_EQ(condition_inputs.size(), 2u);
  EXPECT_EQ(condition_inputs[1], calls[0].data);  // the condition sees exactly the handler's payload
}

TEST_F(StreamWorkerTest, DuplicateIdReplacesAndUnregisterStops) {
  start();
  recorder("test::a");
  recorder("test::b");
  ASSERT_EQ(bind("t", "test::a", R"({"stream_name":"x"})"), std::nullopt);
  ASSERT_EQ(bind("t", "test::b", R"({"stream_name":"s"})"), std::nullopt);
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":1})");
  ok("stream::set", R"({"stream_name":"x","group_id":"g","item_id":"i","data":1})");
  EXPECT_EQ(fired(), std::vector<std::string>{"test::b"});
  EXPECT_TRUE(engine.unregister_trigger("t"));
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":2})");
  EXPECT_EQ(calls.size(), 1u);
}

TEST_F(StreamWorkerTest, FanOutHappensAfterTheCallerHasItsAnswer) {
  start();
  std::vector<std::string> order;
  auto w = std::make_shared<InProcessWorker>(engine, "order");
  w->add_function(FunctionSpec{"test::on_change", "", {}, {}, {}}, SyncFunctionHandler([&](const InProcessCall&) {
                    order.push_back("trigger");
                    return Outcome::success("null");
                  }));
  engine.add_in_process_worker(w);
  ASSERT_EQ(bind("t", "test::on_change", R"({"stream_name":"s"})"), std::nullopt);
  engine.invoke("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":1})", {}, [&](Outcome o) {
    EXPECT_TRUE(o.ok());
    order.push_back("answer");
  });
  engine.invoke("stream::send", R"({"stream_name":"s","group_id":"g","type":"t","data":null})", {}, [&](Outcome o) {
    EXPECT_TRUE(o.ok());
    order.push_back("answer");
  });
  EXPECT_EQ(order, (std::vector<std::string>{"answer", "trigger", "answer", "trigger"}));
}

TEST_F(StreamWorkerTest, MatchingTriggersRunOneAfterAnotherOnRemoteWorkers) {
  start();
  auto remote = std::make_shared<testing::RecordingEndpoint>();
  engine.attach(remote, "127.0.0.1");
  engine.on_frame(remote, R"({"type":"registerfunction","id":"remote::first"})");
  engine.on_frame(remote, R"({"type":"registerfunction","id":"remote::second"})");
  engine.on_frame(remote, R"({"type":"registertrigger","id":"a","trigger_type":"stream","function_id":"remote::first","config":{"stream_name":"s"}})");
  engine.on_frame(remote, R"({"type":"registertrigger","id":"b","trigger_type":"stream","function_id":"remote::second","config":{"stream_name":"s","group_id":"g"}})");
  ok("stream::set", R"({"stream_name":"s","group_id":"g","item_id":"i","data":1})");
  auto invocations = remote->of_type("invokefunction");
  ASSERT_EQ(invocations.size(), 1u);  // the second waits for the first handler's answer
  EXPECT_EQ(invocations[0].at("function_id"), "remote::first");
  EXPECT_EQ(invocations[0].at("data").at("event").at("type"), "create");
  engine.on_frame(remote, R"({"type":"invocationresult","invocation_id":")" +
                              std::string(invocations[0].at("invocation_id").as_string()) +
                              R"(","error":{"code":"boom","message":"handler failed"}})");
  invocations = remote->of_type("invokefunction");
  ASSERT_EQ(invocations.size(), 2u);
  EXPECT_EQ(invocations[1].at("function_id"), "remote::second");
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"s","group_id":"g","item_id":"i"})"), json::value(1));
}

// --- custom backends: stream::<op>(<stream>) functions ---

TEST_F(StreamWorkerTest, CustomBackendReplacesTheStoreForItsStream) {
  start();
  recorder("stream::get(todos)", R"({"from":"custom"})");
  recorder("stream::set(todos)", R"({"old_value":null,"new_value":{"title":"custom"}})");
  recorder("stream::list(todos)", R"([{"from":"custom list"}])");
  recorder("test::on_change");
  ASSERT_EQ(bind("t", "test::on_change", R"({"stream_name":"todos"})"), std::nullopt);

  EXPECT_EQ(ok("stream::get", R"({"stream_name":"todos","group_id":"g","item_id":"i"})"), parse(R"({"from":"custom"})"));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].function_id, "stream::get(todos)");
  EXPECT_EQ(calls[0].data, parse(R"({"stream_name":"todos","group_id":"g","item_id":"i"})"));  // the request as given

  calls.clear();
  EXPECT_EQ(ok("stream::set", R"({"stream_name":"todos","group_id":"g","item_id":"i","data":{"title":"x"}})"),
            parse(R"({"old_value":null,"new_value":{"title":"custom"}})"));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].function_id, "stream::set(todos)");
  EXPECT_EQ(calls[0].data, parse(R"({"stream_name":"todos","group_id":"g","item_id":"i","data":{"title":"x"}})"));
  EXPECT_EQ(calls[1].function_id, "test::on_change");  // announced from the backend's answer
  EXPECT_EQ(calls[1].data.at("event"), parse(R"({"type":"create","data":{"title":"custom"}})"));
  EXPECT_EQ(calls[1].data.at("id"), "i");
  EXPECT_FALSE(store->get("todos", "g", "i"));  // the store was not touched

  EXPECT_EQ(ok("stream::list", R"({"stream_name":"todos","group_id":"g"})"), parse(R"([{"from":"custom list"}])"));
  recorder("stream::list_groups(todos)", R"(["custom group"])");
  EXPECT_EQ(ok("stream::list_groups", R"({"stream_name":"todos"})"), parse(R"(["custom group"])"));

  // send and list_all never go to a custom backend.
  recorder("stream::send(todos)", R"("custom send")");
  calls.clear();
  EXPECT_EQ(ok("stream::send", R"({"stream_name":"todos","group_id":"g","type":"t","data":1})"), json::value(nullptr));
  EXPECT_EQ(fired(), std::vector<std::string>{"test::on_change"});
  EXPECT_EQ(ok("stream::list_all", "{}"), parse(R"({"stream":[],"count":0})"));

  // Other streams still use the store.
  calls.clear();
  ok("stream::set", R"({"stream_name":"notes","group_id":"g","item_id":"i","data":1})");
  EXPECT_EQ(store->get("notes", "g", "i"), "1");
  EXPECT_TRUE(calls.empty());  // no trigger on `notes`, no custom function called
  EXPECT_EQ(ok("stream::get", R"({"stream_name":"notes","group_id":"g","item_id":"i"})"), json::value(1));
}

TEST_F(StreamWorkerTest, CustomBackendChangeTypesComeFromItsAnswer) {
  start();
  auto w = std::make_shared<InProcessWorker>(engine, "backend");
  std::string set_answer, delete_answer, update_answer;
  w->add_function(FunctionSpec{"stream::set(todos)", "", {}, {}, {}},
                  SyncFunctionHandler([&](const InProcessCall&) { return Outcome::success(set_answer); }));
  w->add_function(FunctionSpec{"stream::update(todos)", "", {}, {}, {}},
                  SyncFunctionHandler([&](const InProcessCall&) { return Outcome::success(update_answer); }));
  w->add_function(FunctionSpec{"stream::delete(todos)", "", {}, {}, {}},
                  SyncFunctionHandler([&](const InProcessCall&) { return Outcome::success(delete_answer); }));
  engine.add_in_process_worker(w);
  recorder("test::on_change");
  ASSERT_EQ(bind("t", "test::on_change", R"({"stream_name":"todos"})"), std::nullopt);

  set_answer = R"({"old_value":{"v":1},"new_value":{"v":2}})";
  ok("stream::set", R"({"stream_name":"todos","group_id":"g","item_id":"i","data":{"v":2}})");
  update_answer = R"({"old_value":null,"new_value":{"n":1}})";
  ok("stream::update", R"({"stream_name":"todos","group_id":"g","item_id":"u","ops":[]})");
  update_answer = R"({"old_value":{"n":1},"new_value":{"n":2}})";
  ok("stream::update", R"({"stream_name":"todos","group_id":"g","item_id":"u","ops":[]})");
  delete_answer = R"({"old_value":{"v":2}})";
  ok("stream::delete", R"({"stream_name":"todos","group_id":"g","item_id":"i"})");
  delete_answer = R"({"old_value":null})";
  ok("stream::delete", R"({"stream_name":"todos","group_id":"g","item_id":"gone"})");  // nothing existed: no event

  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].data.at("event"), parse(R"({"type":"update","data":{"v":2}})"));
  EXPECT_EQ(calls[1].data.at("event"), parse(R"({"type":"create","data":{"n":1}})"));
  EXPECT_EQ(calls[2].data.at("event"), parse(R"({"type":"update","data":{"n":2}})"));
  EXPECT_EQ(calls[3].data.at("event"), parse(R"({"type":"delete","data":{"v":2}})"));
  EXPECT_EQ(calls[3].data.at("id"), "i");
  EXPECT_TRUE(store->list_streams().empty());
}

TEST_F(StreamWorkerTest, CustomBackendErrorsReachTheCallerAndAnnounceNothing) {
  start();
  auto w = std::make_shared<InProcessWorker>(engine, "backend");
  w->add_function(FunctionSpec{"stream::set(todos)", "", {}, {}, {}}, SyncFunctionHandler([](const InProcessCall&) {
                    return Outcome::failure("BACKEND_DOWN", "no database");
                  }));
  engine.add_in_process_worker(w);
  recorder("test::on_change");
  ASSERT_EQ(bind("t", "test::on_change", R"({"stream_name":"todos"})"), std::nullopt);
  ErrorBody e = error("stream::set", R"({"stream_name":"todos","group_id":"g","item_id":"i","data":1})");
  EXPECT_EQ(e.code, "BACKEND_DOWN");
  EXPECT_EQ(e.message, "no database");
  EXPECT_TRUE(calls.empty());
  EXPECT_FALSE(store->get("todos", "g", "i"));
}

TEST_F(StreamWorkerTest, OversizedSetNeverReachesACustomBackend) {
  StreamConfig c = loopback_config();
  c.max_item_bytes = 4;
  start(c);
  recorder("stream::set(todos)", R"({"old_value":null,"new_value":1})");
  EXPECT_EQ(error("stream::set", R"({"stream_name":"todos","group_id":"g","item_id":"i","data":"long"})").code,
            "ITEM_TOO_LARGE");
  EXPECT_TRUE(calls.empty());
}

// --- stream:join / stream:leave (StreamTriggers, fired directly) ---

class StreamTriggersTest : public BuiltinWorkerFixture {
 protected:
  StreamTriggersTest() {
    auto w = std::make_shared<InProcessWorker>(engine, "handlers");
    auto add = [&](const std::string& id, std::function<Outcome()> answer) {
      w->add_function(FunctionSpec{id, "", {}, {}, {}}, SyncFunctionHandler([this, id, answer](const InProcessCall& c) {
                        calls.push_back({id, parse(c.data), c.metadata});
                        return answer();
                      }));
    };
    add("test::allow", [] { return Outcome::success("null"); });
    add("test::deny", [] { return Outcome::success(R"({"unauthorized":true})"); });
    add("test::deny_false", [] { return Outcome::success(R"({"unauthorized":false})"); });
    add("test::deny_string", [] { return Outcome::success(R"({"unauthorized":"true"})"); });
    add("test::unauthorized_text", [] { return Outcome::success(R"("unauthorized")"); });
    add("test::fails", [] { return Outcome::failure("boom", R"({"unauthorized":true})"); });
    add("test::change", [] { return Outcome::success("null"); });
    add("test::leave", [] { return Outcome::success("null"); });
    engine.add_in_process_worker(w);
  }

  void activate(StreamTriggers::Kind kind, const std::string& id, const std::string& function_id,
                const std::string& config = "null") {
    ASSERT_EQ(triggers.activate(kind, TriggerBinding{id, "x", function_id, config, "", ""}), std::nullopt) << id;
  }
  // fire_join's verdict, checking that `done` runs exactly once and synchronously here.
  bool join(const std::string& payload = R"({"subscription_id":"s"})") {
    int runs = 0;
    bool verdict = false;
    triggers.fire_join(payload, [&](bool unauthorized) {
      ++runs;
      verdict = unauthorized;
    });
    EXPECT_EQ(runs, 1);
    return verdict;
  }

  StreamTriggers triggers{engine};
};

TEST_F(StreamTriggersTest, JoinWithoutBindingsIsAllowedAtOnce) {
  EXPECT_FALSE(join());
  EXPECT_TRUE(calls.empty());
  EXPECT_EQ(triggers.size(), 0u);
}

TEST_F(StreamTriggersTest, AJoinHandlerAnsweringUnauthorizedRefusesTheJoin) {
  activate(StreamTriggers::Kind::kJoin, "a", "test::allow");
  activate(StreamTriggers::Kind::kJoin, "d", "test::deny");
  activate(StreamTriggers::Kind::kJoin, "b", "test::allow");
  const std::string payload = R"({"subscription_id":"sub","stream_name":"s","group_id":"g","id":"i","context":{"u":1}})";
  EXPECT_TRUE(join(payload));
  // Every join handler hears of the join, in activation order, with the payload as given.
  EXPECT_EQ(fired(), (std::vector<std::string>{"test::allow", "test::deny", "test::allow"}));
  for (const Call& c : calls) EXPECT_EQ(c.data, parse(payload));
}

TEST_F(StreamTriggersTest, OnlyATrueUnauthorizedFieldRefuses) {
  for (const char* fn : {"test::allow", "test::deny_false", "test::deny_string", "test::unauthorized_text", "test::fails",
                         "test::missing"}) {
    StreamTriggers fresh(engine);
    ASSERT_EQ(fresh.activate(StreamTriggers::Kind::kJoin, TriggerBinding{"j", "stream:join", fn, "null", "", ""}),
              std::nullopt);
    int runs = 0;
    bool verdict = true;
    fresh.fire_join(R"({"subscription_id":"s"})", [&](bool unauthorized) {
      ++runs;
      verdict = unauthorized;
    });
    EXPECT_EQ(runs, 1) << fn;
    EXPECT_FALSE(verdict) << fn;
  }
}

TEST_F(StreamTriggersTest, LeaveFiresEveryLeaveBindingOnly) {
  activate(StreamTriggers::Kind::kJoin, "j", "test::allow");
  activate(StreamTriggers::Kind::kChange, "c", "test::change", R"({"stream_name":"s"})");
  activate(StreamTriggers::Kind::kLeave, "l1", "test::leave");
  activate(StreamTriggers::Kind::kLeave, "l2", "test::allow", R"({"ignored":true})");
  EXPECT_EQ(triggers.size(), 4u);
  const std::string payload = R"({"subscription_id":"sub","stream_name":"s","group_id":"g"})";
  triggers.fire_leave(payload);
  EXPECT_EQ(fired(), (std::vector<std::string>{"test::leave", "test::allow"}));
  EXPECT_EQ(calls[0].data, parse(payload));
  calls.clear();
  EXPECT_FALSE(join());
  EXPECT_EQ(fired(), std::vector<std::string>{"test::allow"});  // join bindings only
  calls.clear();
  triggers.deactivate(TriggerBinding{"l1", "", "", "null", "", ""});
  EXPECT_EQ(triggers.size(), 3u);
  triggers.fire_leave(payload);
  EXPECT_EQ(fired(), std::vector<std::string>{"test::allow"});
}

TEST_F(StreamTriggersTest, ChangeFiltersAndReplacementKeepOrder) {
  activate(StreamTriggers::Kind::kChange, "1", "test::change", R"({"stream_name":"s"})");
  activate(StreamTriggers::Kind::kChange, "2", "test::allow", R"({"stream_name":"s","group_id":"g","item_id":"i"})");
  activate(StreamTriggers::Kind::kJoin, "3", "test::leave");
  triggers.fire_change("s", "g", std::string("i"), R"({"m":1})");
  EXPECT_EQ(fired(), (std::vector<std::string>{"test::change", "test::allow"}));
  EXPECT_EQ(calls[0].data, parse(R"({"m":1})"));
  calls.clear();
  triggers.fire_change("s", "g", std::nullopt, "{}");
  triggers.fire_change("s2", "g", std::string("i"), "{}");
  EXPECT_EQ(fired(), std::vector<std::string>{"test::change"});
  // Activating "1" again replaces it in place (still first).
  calls.clear();
  activate(StreamTriggers::Kind::kChange, "1", "test::leave", R"({"stream_name":"s"})");
  EXPECT_EQ(triggers.size(), 3u);
  triggers.fire_change("s", "g", std::string("i"), "{}");
  EXPECT_EQ(fired(), (std::vector<std::string>{"test::leave", "test::allow"}));
}

}  // namespace
}  // namespace iii
