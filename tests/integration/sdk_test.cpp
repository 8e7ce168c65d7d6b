// The C++ SDK against the real engine binary: calls between workers, errors, void and enqueue
// actions, timeouts, custom trigger types, reconnects.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <deque>
#include <set>
#include <thread>
#include <vector>

#include "test_workers.h"

namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using iii::InvocationError;
using iii::test::connected_worker;
using iii::test::EngineProcess;
using iii::test::wait_function_visible;
using iii::test::wait_until;
using Clock = std::chrono::steady_clock;

// Collects values handed over from handler threads.
template <typename T>
class Inbox {
 public:
  void push(T value) {
    std::lock_guard lock(mutex_);
    items_.push_back(std::move(value));
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  T at(std::size_t i) const {
    std::lock_guard lock(mutex_);
    return items_.at(i);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<T> items_;
};

// Runs `call` and returns the InvocationError it throws (fails the test if it does not throw).
template <typename Call>
InvocationError invocation_error_of(Call&& call) {
  try {
    call();
  } catch (const InvocationError& e) {
    return e;
  }
  ADD_FAILURE() << "expected an InvocationError";
  return InvocationError("none", "none");
}

iii::FunctionHandler add_numbers() {
  return [](json::value p) -> json::value { return {{"c", p.at("a").to_number<int64_t>() + p.at("b").to_number<int64_t>()}}; };
}

TEST(Sdk, TwoWorkersCallEachOtherThroughTheEngine) {
  EngineProcess engine;
  auto math = connected_worker(engine, "math-worker");
  auto caller = connected_worker(engine, "caller-worker");
  math->register_function("math::add", add_numbers(), {.description = "Add two numbers"});
  // A handler that itself calls back into the other worker (nested trigger from a handler thread).
  caller->register_function("caller::add_three", [&](json::value p) -> json::value {
    auto ab = caller->trigger("math::add", {{"a", p.at("a")}, {"b", p.at("b")}});
    auto abc = caller->trigger("math::add", {{"a", ab.at("c")}, {"b", p.at("c")}});
    return {{"sum", abc.at("c")}, {"caller", p.at("_caller_worker_id")}};
  });
  ASSERT_TRUE(wait_function_visible(*math, "caller::add_three"));
  ASSERT_TRUE(wait_function_visible(*caller, "math::add"));

  json::value result = math->trigger("caller::add_three", {{"a", 1}, {"b", 2}, {"c", 39}});
  EXPECT_EQ(result.at("sum").to_number<int64_t>(), 42);
  EXPECT_EQ(result.at("caller").as_string(), math->worker_id());  // the engine names the caller
}

TEST(Sdk, ThrownExceptionArrivesAsInvocationFailed) {
  EngineProcess engine;
  auto callee = connected_worker(engine, "callee");
  auto caller = connected_worker(engine, "caller");
  callee->register_function("errors::boom", [](json::value) -> json::value { throw std::runtime_error("boom"); });
  callee->register_function("errors::nothing", [](json::value) { return std::nullopt; });
  ASSERT_TRUE(wait_function_visible(*caller, "errors::boom"));
  ASSERT_TRUE(wait_function_visible(*caller, "errors::nothing"));

  auto error = invocation_error_of([&] { caller->trigger("errors::boom", {{"x", 1}}); });
  EXPECT_EQ(error.code(), "invocation_failed");
  EXPECT_EQ(error.message(), "boom");
  EXPECT_STREQ(error.what(), "invocation_failed: boom");
  EXPECT_TRUE(caller->trigger("errors::nothing", nullptr).is_null());
}

TEST(Sdk, UnknownFunctionIsFunctionNotFound) {
  EngineProcess engine;
  auto caller = connected_worker(engine, "caller");
  auto error = invocation_error_of([&] { caller->trigger("nope::missing", {{"x", 1}}); });
  EXPECT_EQ(error.code(), "function_not_found");
  EXPECT_EQ(error.message(), "Function nope::missing not found");
}

TEST(Sdk, UnregisteredFunctionStopsBeingCallable) {
  EngineProcess engine;
  auto callee = connected_worker(engine, "callee");
  auto caller = connected_worker(engine, "caller");
  callee->register_function("temp::fn", [](json::value) -> json::value { return "here"; });
  ASSERT_TRUE(wait_function_visible(*caller, "temp::fn"));
  EXPECT_EQ(caller->trigger("temp::fn", nullptr).as_string(), "here");
  callee->unregister_function("temp::fn");
  EXPECT_TRUE(wait_until([&] {
    try {
      caller->trigger("temp::fn", nullptr);
      return false;
    } catch (const InvocationError& e) {
      return e.code() == "function_not_found";
    }
  }));
}

TEST(Sdk, VoidCallsAreDeliveredAndReturnAtOnce) {
  EngineProcess engine;
  auto callee = connected_worker(engine, "callee");
  auto caller = connected_worker(engine, "caller");
  std::mutex mutex;
  std::set<int64_t> seen;
  callee->register_function("void::record", [&](json::value p) -> std::optional<json::value> {
    std::lock_guard lock(mutex);
    seen.insert(p.at("i").to_number<int64_t>());
    return std::nullopt;
  });
  ASSERT_TRUE(wait_function_visible(*caller, "void::record"));

  for (int i = 0; i < 20; ++i) {
    auto started = Clock::now();
    json::value result = caller->trigger({.function_id = "void::record", .payload = {{"i", i}}, .action = iii::Void{}});
    EXPECT_TRUE(result.is_null());
    EXPECT_LT(Clock::now() - started, 500ms);
  }
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    return seen.size() == 20;
  }));
}

TEST(Sdk, EnqueueGoesThroughTheQueueProviderAndReturnsItsReceipt) {
  EngineProcess engine;
  auto queue = connected_worker(engine, "queue-provider");
  auto caller = connected_worker(engine, "caller");
  Inbox<json::value> enqueued;
  queue->register_function("engine::queue::enqueue", [&](json::value p) -> json::value {
    enqueued.push(p);
    return {{"accepted", true}};
  });
  ASSERT_TRUE(wait_function_visible(*caller, "engine::queue::enqueue"));

  json::value receipt = caller->trigger(
      {.function_id = "jobs::run", .payload = {{"n", 1}}, .action = iii::Enqueue{.queue = "jobs"}});
  ASSERT_EQ(enqueued.size(), 1u);
  json::value request = enqueued.at(0);
  EXPECT_EQ(request.at("queue").as_string(), "jobs");
  EXPECT_EQ(request.at("function_id").as_string(), "jobs::run");
  EXPECT_EQ(request.at("data"), (json::value{{"n", 1}}));
  EXPECT_EQ(receipt.at("messageReceiptId"), request.at("messageReceiptId"));
}

TEST(Sdk, CallTimesOutLocallyAndTheWorkerStaysUsable) {
  EngineProcess engine;
  auto callee = connected_worker(engine, "slow");
  auto caller = connected_worker(engine, "caller");
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  callee->register_function("slow::wait", [released](json::value) -> json::value {
    released.wait_for(10s);
    return "late";
  });
  callee->register_function("fast::ok", [](json::value) -> json::value { return "ok"; });
  ASSERT_TRUE(wait_function_visible(*caller, "slow::wait"));
  ASSERT_TRUE(wait_function_visible(*caller, "fast::ok"));

  auto started = Clock::now();
  auto error = invocation_error_of([&] { caller->trigger({.function_id = "slow::wait", .timeout = 300ms}); });
  auto elapsed = Clock::now() - started;
  EXPECT_EQ(error.code(), "TIMEOUT");
  EXPECT_EQ(error.message(), "invocation timed out after 300ms");
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2s);

  release.set_value();  // the late answer arrives and must be ignored
  EXPECT_EQ(caller->trigger("fast::ok", nullptr).as_string(), "ok");
}

TEST(Sdk, CalleeShutDownMidCallGivesInvocationStopped) {
  EngineProcess engine;
  auto callee = connected_worker(engine, "callee");
  auto caller = connected_worker(engine, "caller");
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> started_once{false};
  callee->register_function("slow::block", [&, released](json::value) -> json::value {
    if (!started_once.exchange(true)) started.set_value();
    released.wait_for(10s);
    return "too late";
  });
  ASSERT_TRUE(wait_function_visible(*caller, "slow::block"));

  auto call = caller->trigger_async({.function_id = "slow::block", .timeout = 20s});
  ASSERT_EQ(started.get_future().wait_for(5s), std::future_status::ready);
  auto stop_started = Clock::now();
  std::thread stopper([&] { callee->shutdown(); });  // its handler is still blocked

  ASSERT_EQ(call.wait_for(3s), std::future_status::ready);
  EXPECT_LT(Clock::now() - stop_started, 3s);
  auto error = invocation_error_of([&] { call.get(); });
  EXPECT_EQ(error.code(), "invocation_stopped");
  release.set_value();
  stopper.join();
}

TEST(Sdk, ConcurrentCallsFromManyThreads) {
  EngineProcess engine;
  auto math = connected_worker(engine, "math");
  auto caller = connected_worker(engine, "caller");
  math->register_function("math::add", add_numbers());
  ASSERT_TRUE(wait_function_visible(*caller, "math::add"));

  std::atomic<int> correct{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto r = caller->trigger("math::add", {{"a", t}, {"b", i}});
        if (r.at("c").to_number<int64_t>() == t + i) ++correct;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(correct.load(), 400);
}

// Many calls in flight on one connection, from every call form at once: the frames of a burst are
// written together (write combining, sdk/cpp/include/iii/iii.h) and each answer reaches its caller.
TEST(Sdk, ManyCallsInFlightFromEveryCallFormEachGetTheirOwnAnswer) {
  EngineProcess engine;
  auto math = connected_worker(engine, "math");
  auto caller = connected_worker(engine, "caller");
  math->register_function("math::add", add_numbers());
  ASSERT_TRUE(wait_function_visible(*caller, "math::add"));
  auto sum_of = [](const json::value& r) { return r.at("c").to_number<int64_t>(); };

  constexpr int kPerForm = 600, kWindow = 64;
  std::atomic<int> correct{0}, wrong{0};
  auto check = [&](const json::value& r, int64_t expected) { ++(sum_of(r) == expected ? correct : wrong); };
  std::thread blocking([&] {
    for (int i = 0; i < kPerForm; ++i) check(caller->trigger("math::add", {{"a", 1}, {"b", i}}), 1 + i);
  });
  std::thread futures([&] {
    std::deque<std::pair<std::future<json::value>, int>> window;
    for (int i = 0; i < kPerForm; ++i) {
      window.emplace_back(caller->trigger_async({.function_id = "math::add", .payload = {{"a", 2}, {"b", i}}}), i);
      if (window.size() == kWindow || i + 1 == kPerForm) {
        for (auto& [future, n] : window) check(future.get(), 2 + n);
        window.clear();
      }
    }
  });
  std::promise<void> callbacks_done;
  std::atomic<int> callbacks_left{kPerForm};
  for (int i = 0; i < kPerForm; ++i) {
    caller->trigger_then({.function_id = "math::add", .payload = {{"a", 3}, {"b", i}}},
                         [&, i](json::value r, std::optional<iii::InvocationError> error) {
                           if (error) ++wrong; else check(r, 3 + i);
                           if (--callbacks_left == 0) callbacks_done.set_value();
                         });
  }
  blocking.join();
  futures.join();
  ASSERT_EQ(callbacks_done.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(correct.load(), 3 * kPerForm);
}

// A run_inline handler runs on the worker's I/O thread: it answers like any other; a blocking
// trigger() there could never read its answer, so it fails at once; trigger_then() works.
TEST(Sdk, RunInlineHandlersAnswerAndCannotBlockOnACall) {
  EngineProcess engine;
  auto math = connected_worker(engine, "math");
  auto caller = connected_worker(engine, "caller");
  math->register_function("math::add", add_numbers(), {.run_inline = true});
  math->register_function("inline::blocking_call", [&](json::value) -> json::value {
    try {
      math->trigger("math::add", {{"a", 1}, {"b", 2}});
      return "no error";
    } catch (const iii::InvocationError& e) {
      return json::value(e.code());
    }
  }, {.run_inline = true});
  auto chained = std::make_shared<std::promise<json::value>>();
  math->register_function("inline::chained", [&, chained](json::value) -> json::value {
    math->trigger_then({.function_id = "math::add", .payload = {{"a", 20}, {"b", 22}}},
                       [chained](json::value r, std::optional<iii::InvocationError> error) {
                         chained->set_value(error ? json::value(error->code()) : r.at("c"));
                       });
    return "started";
  }, {.run_inline = true});
  ASSERT_TRUE(wait_function_visible(*caller, "inline::chained"));

  for (int i = 0; i < 20; ++i) EXPECT_EQ(caller->trigger("math::add", {{"a", i}, {"b", 1}}).at("c"), i + 1);
  EXPECT_EQ(caller->trigger("inline::blocking_call", nullptr), "WOULD_DEADLOCK");
  EXPECT_EQ(caller->trigger("inline::chained", nullptr), "started");
  auto result = chained->get_future();
  ASSERT_EQ(result.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(result.get(), 42);
}

// ---- custom trigger types ----------------------------------------------------------------------

struct RecordingProvider {
  Inbox<iii::TriggerConfig> registered, unregistered;
  iii::TriggerHandler handler() {
    return {.register_trigger = [this](const iii::TriggerConfig& c) { registered.push(c); },
            .unregister_trigger = [this](const iii::TriggerConfig& c) { unregistered.push(c); }};
  }
};

void expect_binding(const iii::TriggerConfig& got, const std::string& id) {
  EXPECT_EQ(got.id, id);
  EXPECT_EQ(got.trigger_type, "test::webhook");
  EXPECT_EQ(got.function_id, "hooks::on_event");
  EXPECT_EQ(got.config, (json::value{{"path", "/x"}}));
  EXPECT_EQ(got.metadata, (json::value{{"tag", 1}}));
}

iii::TriggerRegistration webhook_binding() {
  return {.trigger_type = "test::webhook", .function_id = "hooks::on_event", .config = {{"path", "/x"}},
          .metadata = {{"tag", 1}}};
}

TEST(Sdk, TriggerTypeProviderFirstReceivesBindingFiresAndUnbinds) {
  EngineProcess engine;
  RecordingProvider provider;
  auto provider_worker = connected_worker(engine, "provider");
  provider_worker->register_trigger_type("test::webhook", "Webhook trigger", provider.handler());
  auto binder = connected_worker(engine, "binder");
  Inbox<json::value> events;
  binder->register_function("hooks::on_event", [&](json::value p) -> std::optional<json::value> {
    events.push(p);
    return std::nullopt;
  });
  ASSERT_TRUE(wait_function_visible(*provider_worker, "hooks::on_event"));
  std::string id = binder->register_trigger(webhook_binding());

  ASSERT_TRUE(wait_until([&] { return provider.registered.size() == 1; }));
  expect_binding(provider.registered.at(0), id);

  // The provider fires the binding with an ordinary call.
  provider_worker->trigger({.function_id = "hooks::on_event", .payload = {{"event", "ping"}}, .action = iii::Void{}});
  ASSERT_TRUE(wait_until([&] { return events.size() == 1; }));
  EXPECT_EQ(events.at(0).at("event").as_string(), "ping");

  binder->unregister_trigger(id);
  ASSERT_TRUE(wait_until([&] { return provider.unregistered.size() == 1; }));
  expect_binding(provider.unregistered.at(0), id);  // the SDK remembers the config it activated
}

TEST(Sdk, TriggerTypeBindingMadeBeforeTheProviderArrivesIsDeliveredLater) {
  EngineProcess engine;
  auto binder = connected_worker(engine, "binder");
  binder->register_function("hooks::on_event", [](json::value) { return std::nullopt; });
  std::string id = binder->register_trigger(webhook_binding());
  ASSERT_TRUE(wait_function_visible(*binder, "hooks::on_event"));  // the binding went out first

  RecordingProvider provider;
  auto provider_worker = connected_worker(engine, "provider");
  provider_worker->register_trigger_type("test::webhook", "Webhook trigger", provider.handler());
  ASSERT_TRUE(wait_until([&] { return provider.registered.size() == 1; }));
  expect_binding(provider.registered.at(0), id);
}

TEST(Sdk, ProviderRejectionKeepsTheBindingOutOfTheLiveSet) {
  EngineProcess engine;
  std::atomic<int> attempts{0};
  auto provider_worker = connected_worker(engine, "provider");
  provider_worker->register_trigger_type(
      "test::webhook", "Webhook trigger",
      {.register_trigger = [&](const iii::TriggerConfig& binding) {
         ++attempts;
         if (binding.config.at("path") != "/ok") throw std::runtime_error("bad config");
       }});
  auto binder = connected_worker(engine, "binder");
  binder->register_function("hooks::on_event", [](json::value) { return std::nullopt; });
  auto rejected = webhook_binding();
  auto accepted = webhook_binding();
  accepted.config = {{"path", "/ok"}};
  std::string rejected_id = binder->register_trigger(rejected);
  std::string accepted_id = binder->register_trigger(accepted);
  ASSERT_TRUE(wait_until([&] { return attempts.load() == 2; }));

  // The engine parks a rejected binding: only the accepted one stays live.
  auto live_ids = [&] {
    std::set<std::string> ids;
    auto list = binder->trigger({.function_id = "engine::registered-triggers::list",
                                 .payload = {{"trigger_type", "test::webhook"}}});
    for (const auto& row : list.at("registered_triggers").as_array()) ids.insert(std::string(row.at("id").as_string()));
    return ids;
  };
  EXPECT_TRUE(wait_until([&] { return live_ids() == std::set<std::string>{accepted_id}; }))
      << "rejected " << rejected_id << ", accepted " << accepted_id;
}

// ---- reconnects --------------------------------------------------------------------------------

TEST(Sdk, ReconnectsAfterEngineRestartAndReplaysRegistrations) {
  EngineProcess engine;
  auto worker = connected_worker(engine, "survivor");
  worker->register_function("survivor::echo", [](json::value p) -> json::value { return p; });
  std::string trigger_id = worker->register_trigger(
      {.trigger_type = "test::later", .function_id = "survivor::echo", .config = {{"k", 1}}});
  ASSERT_TRUE(wait_function_visible(*worker, "survivor::echo"));
  std::string first_worker_id = worker->worker_id();

  engine.kill_hard();
  ASSERT_TRUE(wait_until([&] { return !worker->connected(); }));
  // Sent while disconnected: queued, then flushed after the replay on the new connection.
  auto queued = worker->trigger_async({.function_id = "survivor::echo", .payload = {{"queued", true}}, .timeout = 15s});
  engine.start();

  ASSERT_TRUE(wait_until([&] { return worker->connected() && worker->worker_id() != first_worker_id; }, 10s));
  ASSERT_EQ(queued.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(queued.get().at("queued"), true);

  // The trigger was replayed with the same id: a provider that appears now receives it.
  RecordingProvider provider;
  auto provider_worker = connected_worker(engine, "provider");
  provider_worker->register_trigger_type("test::later", "Later", provider.handler());
  ASSERT_TRUE(wait_until([&] { return provider.registered.size() == 1; }));
  EXPECT_EQ(provider.registered.at(0).id, trigger_id);
  EXPECT_EQ(provider.registered.at(0).config, (json::value{{"k", 1}}));

  // And other workers can call the replayed function again.
  auto other = connected_worker(engine, "other");
  EXPECT_EQ(other->trigger("survivor::echo", {{"x", 1}}).at("x"), 1);
}

// trigger_then callbacks are user code on the I/O thread: one that throws (here also by making a
// blocking call there, WOULD_DEADLOCK) is reported and skipped; the other calls still end and the
// worker still reconnects.
TEST(Sdk, ACallbackThatThrowsStopsNeitherTheOtherCallsNorTheReconnect) {
  EngineProcess engine;
  auto callee = connected_worker(engine, "callee");
  auto caller = connected_worker(engine, "caller");
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> running{0};
  callee->register_function("slow::block", [&running, released](json::value) -> json::value {
    ++running;
    released.wait_for(10s);
    return "late";
  });
  callee->register_function("fast::ok", [](json::value) -> json::value { return "ok"; });
  ASSERT_TRUE(wait_function_visible(*caller, "slow::block"));
  ASSERT_TRUE(wait_function_visible(*caller, "fast::ok"));

  std::promise<void> threw;
  caller->trigger_then({.function_id = "fast::ok"}, [&](json::value, std::optional<iii::InvocationError>) {
    threw.set_value();
    throw std::runtime_error("a bug in the caller's callback");
  });
  ASSERT_EQ(threw.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(caller->trigger("fast::ok", nullptr), "ok");

  std::atomic<int> lost{0};
  for (int i = 0; i < 2; ++i) {
    caller->trigger_then({.function_id = "slow::block", .timeout = 60s},
                         [&](json::value, std::optional<iii::InvocationError> error) {
                           if (error && error->code() == "CONNECTION_LOST") ++lost;
                           caller->trigger("fast::ok", nullptr);  // on the I/O thread: throws
                         });
  }
  ASSERT_TRUE(wait_until([&] { return running.load() == 2; }));
  const std::string first_id = caller->worker_id();
  engine.kill_hard();
  EXPECT_TRUE(wait_until([&] { return lost.load() == 2; }, 10s)) << lost.load() << " of 2 calls ended";
  release.set_value();
  engine.start();
  EXPECT_TRUE(wait_until([&] { return caller->connected() && caller->worker_id() != first_id; }, 15s))
      << "the caller did not reconnect";
}

// The engine ends a closed connection's calls and answers nothing on the next connection, so a
// call in flight when the connection drops fails at once instead of waiting for its timeout.
TEST(Sdk, CallInFlightWhenTheEngineDiesFailsAtOnce) {
  EngineProcess engine;
  auto callee = connected_worker(engine, "callee");
  auto caller = connected_worker(engine, "caller");
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> started_once{false};
  std::atomic<int> running{0};
  callee->register_function("slow::block", [&, released](json::value) -> json::value {
    ++running;
    if (!started_once.exchange(true)) started.set_value();
    released.wait_for(10s);
    return "late";
  });
  ASSERT_TRUE(wait_function_visible(*caller, "slow::block"));

  auto call = caller->trigger_async({.function_id = "slow::block", .timeout = 60s});
  ASSERT_EQ(started.get_future().wait_for(5s), std::future_status::ready);
  // A blocking call too (it waits in another way than the future).
  std::promise<std::string> blocking_code;
  std::thread blocking([&] {
    blocking_code.set_value(
        invocation_error_of([&] { caller->trigger({.function_id = "slow::block", .timeout = 60s}); }).code());
  });
  auto blocking_result = blocking_code.get_future();
  ASSERT_TRUE(wait_until([&] { return running.load() == 2; })) << "the blocking call never reached the callee";
  engine.kill_hard();
  ASSERT_EQ(call.wait_for(10s), std::future_status::ready) << "the call waited for its 60 s timeout";
  auto error = invocation_error_of([&] { call.get(); });
  EXPECT_EQ(error.code(), "CONNECTION_LOST");
  ASSERT_EQ(blocking_result.wait_for(10s), std::future_status::ready) << "the blocking call hung";
  blocking.join();
  EXPECT_EQ(blocking_result.get(), "CONNECTION_LOST");
  release.set_value();
}

TEST(Sdk, DefaultUrlComesFromIIIUrl) {
  EngineProcess engine;
  ::setenv("III_URL", engine.url().c_str(), 1);
  iii::Worker worker({.name = "from-env"});
  ::unsetenv("III_URL");
  EXPECT_EQ(worker.url(), engine.url());
  EXPECT_TRUE(worker.wait_connected(5s)) << worker.last_error();
  EXPECT_FALSE(worker.worker_id().empty());
}

TEST(Sdk, ShutdownIsPromptEvenWithoutAnEngine) {
  iii::WorkerOptions options;
  options.url = "ws://127.0.0.1:" + std::to_string(iii::test::free_loopback_port());
  options.reconnect_initial_delay = 50ms;
  auto worker = std::make_unique<iii::Worker>(options);
  EXPECT_FALSE(worker->wait_connected(300ms));
  EXPECT_NE(worker->last_error().find("cannot connect"), std::string::npos) << worker->last_error();
  auto call = worker->trigger_async({.function_id = "never::answered", .timeout = 60s});

  auto started = Clock::now();
  worker->shutdown();
  EXPECT_LT(Clock::now() - started, 3s);
  ASSERT_EQ(call.wait_for(1s), std::future_status::ready);
  EXPECT_EQ(invocation_error_of([&] { call.get(); }).code(), "SHUTDOWN");
  EXPECT_EQ(invocation_error_of([&] { worker->trigger("x::y", nullptr); }).code(), "SHUTDOWN");
}

}  // namespace

namespace {

TEST(Sdk, CallsBeyondTheHandlerQueueBoundAreRefusedAtOnce) {
  EngineProcess engine;
  auto options = iii::test::test_options(engine, "busy-worker");
  options.handler_threads = 1;
  options.max_queued_invocations = 1;
  iii::Worker busy(options);
  ASSERT_TRUE(busy.wait_connected(5s));
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> started{0};
  busy.register_function("busy::wait", [&, released](json::value) -> json::value {
    ++started;
    released.wait_for(10s);
    return {{"ok", true}};
  });
  auto caller = connected_worker(engine, "caller");
  ASSERT_TRUE(wait_function_visible(*caller, "busy::wait"));

  auto first = caller->trigger_async({.function_id = "busy::wait", .payload = json::object{}});
  ASSERT_TRUE(wait_until([&] { return started.load() == 1; }));  // runs on the only thread
  auto second = caller->trigger_async({.function_id = "busy::wait", .payload = json::object{}});  // queued
  std::this_thread::sleep_for(200ms);  // let the second one reach the worker's queue
  try {
    caller->trigger({.function_id = "busy::wait", .payload = json::object{}, .timeout = 5s});
    FAIL() << "a third call should not fit";
  } catch (const InvocationError& e) {
    EXPECT_EQ(e.code(), "worker_overloaded");
  }
  release.set_value();
  EXPECT_EQ(first.get().at("ok"), true);
  EXPECT_EQ(second.get().at("ok"), true);
}

}  // namespace
