// The iii-queue built-in driven through a real Engine: its config block, TriggerAction.Enqueue
// end to end, retries with backoff, the dead-letter queue (redrive, discard), concurrency, FIFO
// groups, lost deliveries (disconnect, engine timeout, expired lease), restart recovery, the
// durable:subscriber trigger type with iii::durable::publish, and the introspection functions.
// Time is driven by hand: a manual wall clock for the queue and engine.tick() for the engine.
// The store commits on its writer thread (group commit) and the deliveries start there: after
// each step the helpers wait until the store has answered everything (idle()), so every test
// sees the state the step led to.
#include "config_error.h"
#include "temp_dir.h"
#include "workers/queue/queue_worker.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "wire/uuid.h"
#include "engine/engine.h"
#include "engine/in_process_worker.h"
#include "recording_endpoint.h"
#include "store/sqlite_queue_store.h"
#include "workers/queue/queue_config.h"

namespace iii {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::RecordingEndpoint;

// A fresh directory per test, named after this suite.
class TempDir : public testing::TempDir {
 public:
  TempDir() : testing::TempDir("iii-queue-test-") {}
};

// --- config ---

QueueWorkerConfig config_of(std::string_view block, const fs::path& dir = "/work") {
  return parse_queue_config(json::parse(block), dir);
}

std::string config_error(std::string_view block) {
  return config_error_of([&] { config_of(block); });
}

TEST(QueueConfig, Defaults) {
  QueueWorkerConfig c = config_of("null");
  EXPECT_EQ(c.storage, QueueWorkerConfig::Storage::kFileBased);
  EXPECT_EQ(c.file_path, fs::path("/work/data/queue_store/queue.sqlite3"));
  EXPECT_EQ(c.max_message_bytes, 1u << 20);
  ASSERT_EQ(c.queues.size(), 1u);
  const QueueSettings& d = c.queues.at("default").settings;
  EXPECT_EQ(d.max_attempts, 3u);
  EXPECT_EQ(d.backoff_ms, 1000u);
  EXPECT_EQ(d.concurrency, 10u);
  EXPECT_FALSE(d.fifo);
  EXPECT_EQ(d.poll_interval_ms, 100u);
}

TEST(QueueConfig, QueuesAndAdapter) {
  QueueWorkerConfig c = config_of(R"({"adapter":{"name":"builtin","config":{"store_method":"file_based",)"
                                  R"("file_path":"./q/jobs.db","save_interval_ms":500}},"max_message_bytes":100,)"
                                  R"("queue_configs":{"jobs":{"max_retries":5,"backoff_ms":20,"concurrency":2,)"
                                  R"("poll_interval_ms":50,"max_priority":9,"priority_field":"p"},)"
                                  R"("orders":{"type":"fifo","message_group_field":"user","max_retries":0}}})");
  EXPECT_EQ(c.file_path, fs::path("/work/q/jobs.db"));
  EXPECT_EQ(c.max_message_bytes, 100u);
  EXPECT_EQ(c.queues.size(), 3u);  // default is always there
  EXPECT_EQ(c.queues.at("jobs").settings.max_attempts, 5u);
  EXPECT_EQ(c.queues.at("jobs").settings.backoff_ms, 20u);
  EXPECT_EQ(c.queues.at("jobs").settings.concurrency, 2u);
  EXPECT_TRUE(c.queues.at("orders").settings.fifo);
  EXPECT_EQ(c.queues.at("orders").settings.message_group_field, "user");
  EXPECT_EQ(c.queues.at("orders").settings.max_attempts, 1u);  // max_retries 0: the first failure dead-letters
  EXPECT_EQ(config_of(R"({"adapter":{"name":"builtin","config":{"file_path":"/abs/dir"}}})").file_path,
            fs::path("/abs/dir/queue.sqlite3"));
  EXPECT_EQ(config_of(R"({"adapter":{"name":"builtin","config":{"store_method":"in_memory"}}})").storage,
            QueueWorkerConfig::Storage::kInMemory);
  EXPECT_EQ(config_of(R"({"queue_configs":{"x":null}})").queues.at("x").settings.concurrency, 10u);
  const QueueWorkerConfig redis = config_of(R"({"adapter":{"name":"redis","config":{"redis_url":"redis://h:7000"}}})");
  EXPECT_EQ(redis.storage, QueueWorkerConfig::Storage::kRedis);
  EXPECT_EQ(redis.redis_url, "redis://h:7000");
  EXPECT_EQ(config_of(R"({"adapter":{"name":"redis"}})").redis_url, "redis://localhost:6379");
}

TEST(QueueConfig, RejectsBadBlocks) {
  auto has = [](std::string_view block, std::string_view text) {
    std::string e = config_error(block);
    EXPECT_NE(e.find(text), std::string::npos) << block << " → " << e;
  };
  has(R"({"queues":{}})", "unknown key `queues`");
  has(R"({"queue_configs":{"a":{"retries":1}}})", "unknown key `retries`");
  has(R"({"queue_configs":{"a":{"type":"lifo"}}})", "must be `standard` or `fifo`, got `lifo`");
  has(R"({"queue_configs":{"a":{"type":"fifo"}}})", "`queue_configs.a.message_group_field` is required");
  has(R"({"queue_configs":{"a":{"concurrency":0}}})", "`queue_configs.a.concurrency` must be between 1");
  has(R"({"queue_configs":{"a":{"backoff_ms":-1}}})", "`queue_configs.a.backoff_ms`");
  has(R"({"queue_configs":{"a":{"max_priority":300}}})", "max_priority");
  has(R"({"queue_configs":{"a":5}})", "`queue_configs.a` must be a mapping");
  has(R"({"queue_configs":[1]})", "`queue_configs` must be a mapping");
  has(R"({"adapter":{"name":"rabbitmq"}})", "`rabbitmq` is not supported yet (supported: builtin, redis, bridge)");
  has(R"({"adapter":{"name":"redis","config":{"redis_url":"http://x"}}})", "`adapter.config.redis_url`");
  has(R"({"adapter":{"name":"redis","config":{"url":"redis://x"}}})", "unknown key `url`");
  has(R"({"adapter":{"name":"kafka"}})", "`kafka` is not a queue adapter");
  has(R"({"adapter":{"name":"builtin","config":{"store_method":"disk"}}})", "in_memory");
  has(R"({"adapter":{"name":"builtin","config":{"path":"x"}}})", "unknown key `path`");
  has(R"({"max_message_bytes":0})", "`max_message_bytes` must be between 1");
}

TEST(QueueConfig, BackoffDoublesAndSaturates) {
  EXPECT_EQ(backoff_delay_ms(1000, 1), 1000u);
  EXPECT_EQ(backoff_delay_ms(1000, 2), 2000u);
  EXPECT_EQ(backoff_delay_ms(1000, 3), 4000u);
  EXPECT_EQ(backoff_delay_ms(0, 9), 0u);
  EXPECT_EQ(backoff_delay_ms(1000, 200), kMaxBackoffMs);
}

TEST(QueueConfig, Descriptor) {
  BuiltinDescriptor d = queue_builtin();
  EXPECT_EQ(d.name, "iii-queue");
  EXPECT_EQ(d.aliases, std::vector<std::string>{"queue"});
}

// --- the worker in an engine ---

constexpr int64_t kStart = 1'700'000'000'000;

class QueueWorkerTest : public ::testing::Test {
 protected:
  ~QueueWorkerTest() override {
    if (worker) worker->stop();
  }

  void start(std::string_view block = "null") {
    QueueWorkerConfig config = parse_queue_config(json::parse(block), dir.path());
    store = std::make_shared<SqliteQueueStore>(config.file_path);
    worker = make_queue_worker(engine, std::move(config), store, [this] { return wall; });
    engine.add_in_process_worker(worker->endpoint());
    worker->start();
    idle();
  }

  // Waits until the store answered everything submitted so far (and what that submitted).
  void idle() {
    if (store) {
      ASSERT_TRUE(store->wait_idle(std::chrono::seconds(30))) << "the queue store never went idle";
    }
  }
  void tick(Clock::time_point at) {
    engine.tick(at);
    idle();
  }

  // Moves both clocks by `ms` in ticks of at most 100 ms, as the engine's timer would.
  void advance(int64_t ms) {
    while (ms > 0) {
      const int64_t step = std::min<int64_t>(ms, 100);
      wall += step, elapsed += step, ms -= step;
      tick(base + std::chrono::milliseconds(elapsed));
    }
  }

  std::shared_ptr<RecordingEndpoint> connect() {
    auto ep = std::make_shared<RecordingEndpoint>();
    engine.attach(ep, "127.0.0.1");
    return ep;
  }
  void frame(const std::shared_ptr<RecordingEndpoint>& from, const std::string& text) {
    engine.on_frame(from, text);
    idle();
  }
  void serve(const std::shared_ptr<RecordingEndpoint>& ep, const std::string& fn) {
    frame(ep, R"({"type":"registerfunction","id":")" + fn + R"("})");
  }

  // Deliveries to `ep` not answered yet.
  std::vector<json::object> pending(const std::shared_ptr<RecordingEndpoint>& ep) {
    std::vector<json::object> out;
    for (auto& f : ep->of_type("invokefunction"))
      if (!answered.count(std::string(f.at("invocation_id").as_string()))) out.push_back(f);
    return out;
  }
  void answer(const std::shared_ptr<RecordingEndpoint>& ep, const json::object& call, bool success = true) {
    const std::string id(call.at("invocation_id").as_string());
    answered.insert(id);
    const std::string outcome = success ? R"("result":{"ok":true})"
                                        : R"("error":{"code":"invocation_failed","message":"handler threw"})";
    frame(ep, R"({"type":"invocationresult","invocation_id":")" + id + R"(","function_id":")" +
                  std::string(call.at("function_id").as_string()) + R"(",)" + outcome + "}");
  }

  // TriggerAction.Enqueue from a remote caller; the invocationresult it gets.
  json::object enqueue(const std::string& queue, const std::string& fn, const std::string& data) {
    if (!caller) caller = connect();
    const std::string id = new_uuid();
    frame(caller, R"({"type":"invokefunction","invocation_id":")" + id + R"(","function_id":")" + fn +
                      R"(","data":)" + data + R"(,"action":{"type":"enqueue","queue":")" + queue + R"("}})");
    for (auto& r : caller->of_type("invocationresult"))
      if (r.at("invocation_id").as_string() == id) return r;
    ADD_FAILURE() << "no answer to the enqueue";
    return {};
  }
  std::string receipt(const std::string& queue, const std::string& fn, const std::string& data) {
    json::object r = enqueue(queue, fn, data);
    EXPECT_TRUE(r.contains("result")) << json::serialize(r);
    return r.contains("result") ? std::string(r.at("result").at("messageReceiptId").as_string()) : "";
  }

  Outcome call(const std::string& function_id, const std::string& data) {
    std::optional<Outcome> out;
    engine.invoke(function_id, data, {}, [&](Outcome o) { out = std::move(o); });
    idle();
    EXPECT_TRUE(out) << function_id << " did not answer synchronously";
    return out ? *out : Outcome::failure("no_answer", "");
  }
  json::value ok(const std::string& function_id, const std::string& data = "{}") {
    Outcome o = call(function_id, data);
    EXPECT_TRUE(o.ok()) << function_id << " " << data << " → " << o.error->code << ": " << o.error->message;
    return o.ok() && !o.result.empty() ? json::parse(o.result) : json::value();
  }
  ErrorBody error(const std::string& function_id, const std::string& data) {
    Outcome o = call(function_id, data);
    EXPECT_FALSE(o.ok()) << function_id << " " << data << " succeeded: " << o.result;
    return o.error.value_or(ErrorBody{});
  }
  json::value stats(const std::string& name) { return ok("engine::queue::topic_stats", R"({"topic":")" + name + R"("})"); }

  Engine engine{EngineOptions{std::chrono::milliseconds(2000), std::chrono::milliseconds(500), 100000}};
  TempDir dir;
  int64_t wall = kStart;
  Clock::time_point base = Clock::now();
  int64_t elapsed = 0;
  std::shared_ptr<SqliteQueueStore> store;
  std::unique_ptr<BuiltinWorker> worker;
  std::shared_ptr<RecordingEndpoint> caller;
  std::set<std::string> answered;
};

TEST_F(QueueWorkerTest, EnqueueDeliversTheJobAndAcksIt) {
  start();
  auto w = connect();
  serve(w, "jobs::work");
  const std::string id = receipt("default", "jobs::work", R"({"n":1.50,"s":"x"})");
  EXPECT_EQ(id.size(), 36u);
  auto calls = pending(w);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(json::serialize(calls[0].at("data")), R"({"n":1.5E0,"s":"x"})");  // the caller's data...
  EXPECT_FALSE(calls[0].at("data").as_object().contains("_caller_worker_id"));  // ...as an engine call
  EXPECT_EQ(stats("default").at("depth").as_int64(), 1);
  answer(w, calls[0]);
  EXPECT_EQ(stats("default"), json::parse(R"({"depth":0,"in_flight":0,"consumer_count":10,"dlq_depth":0,"config":{"max_retries":3,)"
                                          R"("concurrency":10,"type":"standard","backoff_ms":1000,"poll_interval_ms":100}})"));
}

TEST_F(QueueWorkerTest, BadEnqueuesAreClearErrors) {
  start(R"({"max_message_bytes":64,"queue_configs":{"orders":{"type":"fifo","message_group_field":"user"}}})");
  auto error_of = [&](const std::string& queue, const std::string& data) {
    json::object r = enqueue(queue, "f", data);
    EXPECT_TRUE(r.contains("error")) << json::serialize(r);
    EXPECT_EQ(r["error"].at("code").as_string(), "enqueue_error");
    return r.contains("error") ? std::string(r["error"].at("message").as_string()) : std::string();
  };
  std::string e = error_of("nope", "{}");
  EXPECT_NE(e.find("queue_not_found: Queue `nope` is not configured (configured queues: default, orders)"), std::string::npos) << e;
  e = error_of("default", R"({"big":")" + std::string(100, 'x') + R"("})");
  EXPECT_NE(e.find("payload_too_large: The message data is 110 bytes, over the limit of 64 bytes"), std::string::npos) << e;
  e = error_of("orders", R"({"user":null})");
  EXPECT_NE(e.find("message_group_missing: Queue `orders` is FIFO: `data.user` must be present"), std::string::npos) << e;
  EXPECT_EQ(error("engine::queue::enqueue", R"({"function_id":"f"})").code, "deserialization_error");
  EXPECT_EQ(error("engine::queue::enqueue", R"({"queue":1,"function_id":"f"})").code, "deserialization_error");
  EXPECT_EQ(error("engine::queue::enqueue", "[1]").code, "deserialization_error");
  EXPECT_EQ(stats("default").at("depth").as_int64(), 0);  // nothing was stored
}

TEST_F(QueueWorkerTest, RetriesWithExponentialBackoffThenDeadLetters) {
  start(R"({"queue_configs":{"jobs":{"max_retries":3,"backoff_ms":1000}}})");
  auto w = connect();
  serve(w, "jobs::work");
  const std::string id = receipt("jobs", "jobs::work", R"({"n":7})");
  const int64_t waits[] = {1000, 2000};  // after attempts 1 and 2
  for (int64_t wait : waits) {
    auto calls = pending(w);
    ASSERT_EQ(calls.size(), 1u);
    answer(w, calls[0], false);
    advance(wait - 100);
    EXPECT_TRUE(pending(w).empty()) << "retried before its backoff of " << wait << " ms";
    advance(100);
    ASSERT_EQ(pending(w).size(), 1u) << "not retried after " << wait << " ms";
  }
  answer(w, pending(w)[0], false);  // the third and last attempt
  advance(10'000);
  EXPECT_TRUE(pending(w).empty());
  EXPECT_EQ(stats("jobs").at("dlq_depth").as_int64(), 1);
  EXPECT_EQ(stats("jobs").at("depth").as_int64(), 0);
  json::value dead = ok("engine::queue::dlq_messages", R"({"topic":"jobs"})");
  ASSERT_EQ(dead.as_array().size(), 1u);
  const json::object& m = dead.as_array()[0].as_object();
  EXPECT_EQ(m.at("id").as_string(), id);
  EXPECT_EQ(m.at("payload"), json::parse(R"({"n":7})"));
  EXPECT_EQ(m.at("error").as_string(), "invocation_failed: handler threw");
  EXPECT_EQ(m.at("retries").as_int64(), 3);
  EXPECT_EQ(m.at("size_bytes").as_int64(), 7);
  EXPECT_EQ(m.at("failed_at").as_int64(), (kStart + 3000) / 1000);
  EXPECT_EQ(ok("engine::queue::dlq_topics"), json::parse(R"([{"topic":"jobs","broker_type":"function_queue","message_count":1}])"));

  // Redrive: delivered again with a fresh budget.
  EXPECT_EQ(ok("iii::queue::redrive", R"({"queue":"jobs"})"), json::parse(R"({"queue":"jobs","redriven":1})"));
  ASSERT_EQ(pending(w).size(), 1u);
  answer(w, pending(w)[0], false);
  advance(1000);
  ASSERT_EQ(pending(w).size(), 1u);  // attempt 2 of the new budget
  answer(w, pending(w)[0]);
  EXPECT_EQ(stats("jobs").at("dlq_depth").as_int64(), 0);
  EXPECT_EQ(stats("jobs").at("depth").as_int64(), 0);
  EXPECT_EQ(ok("engine::queue::dlq_topics"), json::array());
}

TEST_F(QueueWorkerTest, RedriveAndDiscardOneMessage) {
  start(R"({"queue_configs":{"once":{"max_retries":0}}})");
  auto w = connect();
  serve(w, "f");
  const std::string a = receipt("once", "f", "1"), b = receipt("once", "f", "2");
  for (auto& c : pending(w)) answer(w, c, false);  // max_retries 0: straight to the DLQ
  EXPECT_EQ(stats("once").at("dlq_depth").as_int64(), 2);
  EXPECT_EQ(ok("iii::queue::discard_message", R"({"queue":"once","message_id":")" + a + R"("})"),
            json::parse(R"({"queue":"once","message_id":")" + a + R"(","redriven":1})"));
  EXPECT_EQ(ok("iii::queue::discard_message", R"({"queue":"once","message_id":")" + a + R"("})").at("redriven"), 0);
  EXPECT_EQ(ok("iii::queue::redrive_message", R"({"queue":"once","message_id":")" + b + R"("})").at("redriven"), 1);
  auto calls = pending(w);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].at("data"), 2);
  EXPECT_EQ(error("iii::queue::redrive", "{}").code, "queue_not_set");
  EXPECT_EQ(error("iii::queue::redrive_message", R"({"queue":"once"})").code, "message_id_not_set");
  EXPECT_EQ(error("iii::queue::discard_message", R"({"message_id":"x"})").code, "queue_not_set");
  EXPECT_EQ(error("engine::queue::topic_stats", "{}").code, "topic_required");
  EXPECT_EQ(error("engine::queue::dlq_messages", "{}").code, "topic_required");
}

TEST_F(QueueWorkerTest, ConcurrencyLimitIsRespected) {
  start(R"({"queue_configs":{"two":{"concurrency":2}}})");
  auto w = connect();
  serve(w, "f");
  for (int i = 0; i < 5; ++i) receipt("two", "f", std::to_string(i));
  advance(500);
  auto calls = pending(w);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].at("data"), 0);
  EXPECT_EQ(calls[1].at("data"), 1);
  answer(w, calls[0]);
  calls = pending(w);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].at("data"), 2);
  for (int round = 0; round < 3; ++round)
    for (auto& c : pending(w)) answer(w, c);
  EXPECT_EQ(stats("two").at("depth").as_int64(), 0);
}

TEST_F(QueueWorkerTest, FifoKeepsOrderPerGroupAndBlocksDuringRetries) {
  start(R"({"queue_configs":{"orders":{"type":"fifo","message_group_field":"user","backoff_ms":500}}})");
  auto w = connect();
  serve(w, "f");
  for (const char* d : {R"({"user":"a","n":1})", R"({"user":"a","n":2})", R"({"user":"b","n":1})", R"({"user":"a","n":3})"})
    receipt("orders", "f", d);
  auto calls = pending(w);
  ASSERT_EQ(calls.size(), 2u);  // one per group
  EXPECT_EQ(calls[0].at("data"), json::parse(R"({"user":"a","n":1})"));
  EXPECT_EQ(calls[1].at("data"), json::parse(R"({"user":"b","n":1})"));
  answer(w, calls[0], false);  // a1 fails: a2 must wait for a1's retry
  advance(400);
  calls = pending(w);
  ASSERT_EQ(calls.size(), 1u);  // b1 only
  answer(w, calls[0]);
  advance(100);
  calls = pending(w);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].at("data"), json::parse(R"({"user":"a","n":1})"));  // the retry, still first
  answer(w, calls[0]);
  for (int n : {2, 3}) {
    calls = pending(w);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].at("data").at("n"), n);
    answer(w, calls[0]);
  }
}

TEST_F(QueueWorkerTest, WorkerGoneMidJobIsRetriedOnAnother) {
  start(R"({"queue_configs":{"jobs":{"backoff_ms":100}}})");
  auto w1 = connect();
  serve(w1, "f");
  receipt("jobs", "f", R"({"job":1})");
  ASSERT_EQ(pending(w1).size(), 1u);
  engine.detach(w1);  // invocation_stopped
  idle();
  auto w2 = connect();
  serve(w2, "f");
  advance(100);
  auto calls = pending(w2);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].at("data"), json::parse(R"({"job":1})"));
  answer(w2, calls[0]);
  EXPECT_EQ(stats("jobs").at("depth").as_int64(), 0);
}

TEST_F(QueueWorkerTest, UnansweredDeliveryTimesOutAndIsRetried) {
  start(R"({"queue_configs":{"jobs":{"backoff_ms":100}}})");
  auto w = connect();
  serve(w, "f");
  receipt("jobs", "f", "1");
  auto first = pending(w);
  ASSERT_EQ(first.size(), 1u);
  advance(1900);
  EXPECT_EQ(pending(w).size(), 1u);
  advance(200);  // the engine's 2000 ms deadline answers `timeout`; then 100 ms of backoff
  advance(100);
  auto all = pending(w);
  ASSERT_EQ(all.size(), 2u);
  answered.insert(std::string(first[0].at("invocation_id").as_string()));
  answer(w, pending(w)[0]);
  EXPECT_EQ(stats("jobs").at("depth").as_int64(), 0);
}

TEST_F(QueueWorkerTest, ExpiredLeaseIsRetriedAndALateAnswerIsIgnored) {
  start(R"({"queue_configs":{"jobs":{"backoff_ms":0}}})");
  auto w = connect();
  serve(w, "f");
  receipt("jobs", "f", "1");
  auto first = pending(w);
  ASSERT_EQ(first.size(), 1u);
  // The answer is lost: only the queue's wall clock moves (the engine's deadline does not fire).
  wall += 2000 + QueueDispatcher::kLeaseMarginMs;
  tick(base);
  tick(base);
  auto all = pending(w);
  ASSERT_EQ(all.size(), 2u) << "not retried after the lease expired";
  answer(w, first[0]);  // the late first answer changes nothing...
  EXPECT_EQ(stats("jobs").at("depth").as_int64(), 1);
  answer(w, pending(w)[0]);  // ...the second attempt completes the message
  EXPECT_EQ(stats("jobs").at("depth").as_int64(), 0);
}

TEST_F(QueueWorkerTest, RestartDeliversWhatWasInFlight) {
  auto run = [&](int enqueue) {
    auto engine = std::make_unique<Engine>(EngineOptions{std::chrono::milliseconds(2000), std::chrono::milliseconds(500), 1000});
    QueueWorkerConfig config = parse_queue_config(nullptr, dir.path());
    auto db = std::make_shared<SqliteQueueStore>(config.file_path);
    auto queue = make_queue_worker(*engine, std::move(config), db, [this] { return wall; });
    engine->add_in_process_worker(queue->endpoint());
    queue->start();
    auto w = std::make_shared<RecordingEndpoint>(), c = std::make_shared<RecordingEndpoint>();
    engine->attach(w, "127.0.0.1");
    engine->attach(c, "127.0.0.1");
    for (int i = 0; i < enqueue; ++i)
      engine->on_frame(c, R"({"type":"invokefunction","invocation_id":"i","function_id":"f","data":)" + std::to_string(i) +
                              R"(,"action":{"type":"enqueue","queue":"default"}})");
    EXPECT_TRUE(db->wait_idle(std::chrono::seconds(30)));
    EXPECT_EQ(c->of_type("invocationresult").size(), static_cast<size_t>(enqueue));  // every receipt given
    engine->on_frame(w, R"({"type":"registerfunction","id":"f"})");
    // Workers reconnect after the queue restarted: the first deliveries find no function and do
    // not count as attempts; the next ones reach the worker.
    wall += QueueDispatcher::kNotFoundRetryMs;
    engine->tick(base);
    EXPECT_TRUE(db->wait_idle(std::chrono::seconds(30)));
    std::multiset<int64_t> seen;
    for (auto& call : w->of_type("invokefunction")) seen.insert(call.at("data").as_int64());
    // A crash: the engine and the worker vanish without answering or stopping anything.
    queue.reset(), engine.reset(), db.reset();
    return seen;
  };
  EXPECT_EQ(run(3), (std::multiset<int64_t>{0, 1, 2}));
  EXPECT_EQ(run(0), (std::multiset<int64_t>{0, 1, 2}));  // delivered again after the restart
}

TEST_F(QueueWorkerTest, UnknownFunctionWaitsDuringStartupGraceThenFails) {
  start(R"({"queue_configs":{"jobs":{"max_retries":1}}})");
  receipt("jobs", "missing::fn", "1");
  advance(5000);  // not found, again and again, but within the grace: no attempt is used up
  EXPECT_EQ(stats("jobs").at("dlq_depth").as_int64(), 0);
  EXPECT_EQ(stats("jobs").at("depth").as_int64(), 1);
  advance(QueueDispatcher::kStartupGraceMs);
  EXPECT_EQ(stats("jobs").at("dlq_depth").as_int64(), 1);
  json::value dead = ok("engine::queue::dlq_messages", R"({"queue":"jobs"})");
  EXPECT_EQ(dead.at(0).at("error").as_string(), "function_not_found: Function missing::fn not found");
  EXPECT_EQ(dead.at(0).at("retries").as_int64(), 1);
}

TEST_F(QueueWorkerTest, AnswersThatComeBackAtOnceAreWorkedOffInBoundedRounds) {
  start();
  for (int i = 0; i < 500; ++i) receipt("default", "sink", std::to_string(i));  // no `sink` yet: all wait
  int delivered = 0;
  auto sink = std::make_shared<InProcessWorker>(engine, "sink");
  sink->add_function(FunctionSpec{"sink", "", {}, {}, {}}, SyncFunctionHandler([&](const InProcessCall&) {
                       ++delivered;
                       return Outcome::success("null");
                     }));
  engine.add_in_process_worker(sink);
  advance(QueueDispatcher::kNotFoundRetryMs + 100);
  EXPECT_GT(delivered, 0);
  EXPECT_LE(delivered, 2 * QueueDispatcher::kMaxRoundsPerPump * 10) << "one tick worked off the whole queue";
  advance(2000);
  EXPECT_EQ(delivered, 500);
  EXPECT_EQ(stats("default").at("depth").as_int64(), 0);
}

TEST_F(QueueWorkerTest, UnwritableDirectoryFailsToStart) {
  std::ofstream(dir.path() / "file") << "x";
  worker = make_queue_worker(
      engine, parse_queue_config(json::parse(R"({"adapter":{"name":"builtin","config":{"file_path":"file/q"}}})"), dir.path()));
  try {
    worker->start();
    FAIL() << "started on an unwritable directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create directory"), std::string::npos) << e.what();
  }
  worker.reset();
}

// --- durable topics ---

class DurableTopicTest : public QueueWorkerTest {
 protected:
  void subscribe(const std::shared_ptr<RecordingEndpoint>& ep, const std::string& id, const std::string& fn,
                 const std::string& config) {
    frame(ep, R"({"type":"registertrigger","id":")" + id + R"(","trigger_type":"durable:subscriber","function_id":")" +
                  fn + R"(","config":)" + config + "}");
  }
  void publish(const std::string& topic, const std::string& data) {
    EXPECT_EQ(call("iii::durable::publish", R"({"topic":")" + topic + R"(","data":)" + data + "}").result, "null");
  }
};

TEST_F(DurableTopicTest, PublishFansOutPerFunctionAndReplicasCompete) {
  start();
  auto a1 = connect(), a2 = connect(), b = connect();
  serve(a1, "billing::on_order");
  serve(b, "mail::on_order");
  subscribe(a1, "t1", "billing::on_order", R"({"topic":"orders"})");
  subscribe(a2, "t2", "billing::on_order", R"({"topic":"orders"})");  // a replica binding
  subscribe(b, "t3", "mail::on_order", R"({"topic":"orders","queue_config":{"maxRetries":0}})");
  publish("orders", R"({"id":1})");
  publish("nobody", R"({"id":2})");  // no subscriber: dropped
  ASSERT_EQ(pending(a1).size(), 1u);  // one copy per function, not per binding
  ASSERT_EQ(pending(b).size(), 1u);
  EXPECT_EQ(pending(a1)[0].at("data"), json::parse(R"({"id":1})"));
  EXPECT_FALSE(pending(a1)[0].contains("metadata"));
  answer(a1, pending(a1)[0]);
  answer(b, pending(b)[0], false);  // maxRetries 0: one attempt, then the DLQ
  EXPECT_EQ(stats("orders").at("dlq_depth").as_int64(), 1);
  EXPECT_EQ(stats("orders").at("consumer_count").as_int64(), 3);
  EXPECT_EQ(stats("orders").at("config"), nullptr);
  EXPECT_EQ(ok("engine::queue::dlq_topics"), json::parse(R"([{"topic":"orders","broker_type":"builtin","message_count":1}])"));
  json::value topics = ok("engine::queue::list_topics");
  EXPECT_EQ(topics, json::parse(R"([{"name":"default","broker_type":"function_queue","subscriber_count":10},)"
                                R"({"name":"orders","broker_type":"builtin","subscriber_count":3}])"));
  EXPECT_EQ(ok("iii::queue::redrive", R"({"topic":"orders"})").at("redriven"), 1);
  ASSERT_EQ(pending(b).size(), 1u);
  answer(b, pending(b)[0]);
  EXPECT_EQ(stats("orders").at("depth").as_int64(), 0);
  EXPECT_EQ(error("iii::durable::publish", R"({"data":1})").code, "topic_not_set");
}

TEST_F(DurableTopicTest, ConditionFalseSkipsAndStoredJobsWaitForTheSubscriber) {
  start();
  auto w = connect();
  serve(w, "f");
  serve(w, "cond");
  subscribe(w, "t1", "f", R"({"topic":"t","condition_function_id":"cond"})");
  publish("t", "1");
  auto calls = pending(w);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].at("function_id").as_string(), "cond");
  const std::string id(calls[0].at("invocation_id").as_string());
  answered.insert(id);
  frame(w, R"({"type":"invocationresult","invocation_id":")" + id + R"(","function_id":"cond","result":false})");
  EXPECT_TRUE(pending(w).empty());
  EXPECT_EQ(stats("t").at("depth").as_int64(), 0);  // skipped = acknowledged

  frame(w, R"({"type":"unregistertrigger","id":"t1","trigger_type":"durable:subscriber"})");
  subscribe(w, "t2", "f", R"({"topic":"t"})");
  frame(w, R"({"type":"registerfunction","id":"g"})");
  subscribe(w, "t3", "g", R"({"topic":"t"})");
  frame(w, R"({"type":"unregistertrigger","id":"t2","trigger_type":"durable:subscriber"})");
  publish("t", "2");  // f is no longer subscribed: only g's copy
  ASSERT_EQ(pending(w).size(), 1u);
  EXPECT_EQ(pending(w)[0].at("function_id").as_string(), "g");
}

TEST_F(DurableTopicTest, InvalidConfigIsRejected) {
  start();
  auto w = connect();
  subscribe(w, "bad1", "f", R"({"queue_config":{}})");
  subscribe(w, "bad2", "f", R"({"topic":"t","queue_config":{"concurrency":0}})");
  auto results = w->of_type("triggerregistrationresult");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_NE(std::string(results[0].at("error").at("message").as_string()).find("`topic` is required"), std::string::npos);
  EXPECT_NE(std::string(results[1].at("error").at("message").as_string()).find("concurrency"), std::string::npos);
}

TEST_F(DurableTopicTest, FifoSubscriberIsStrictlySerial) {
  start();
  auto w = connect();
  serve(w, "f");
  subscribe(w, "t1", "f", R"({"topic":"t","queue_config":{"type":"fifo","backoffDelayMs":100}})");
  for (int i = 0; i < 3; ++i) publish("t", std::to_string(i));
  for (int i = 0; i < 3; ++i) {
    auto calls = pending(w);
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].at("data"), i);
    answer(w, calls[0]);
  }
}

}  // namespace
}  // namespace iii
