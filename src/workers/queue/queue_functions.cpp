// The iii-queue functions (docs/builtins.md §3.3). Each reads its request (bad input answers
// deserialization_error and changes nothing), works on the store, answers, and only then wakes
// the consumers that have new work, so a caller holds its receipt before the job starts.
//
// No handler waits for the disk on the engine's thread: enqueue and publish read their request
// there and submit the write (QueueStore::enqueue_async, group-committed by the SQLite store),
// answering once it is committed; the admin functions run whole where the store does its
// blocking work (QueueStore::run_async).
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "wire/json_writer.h"
#include "wire/uuid.h"
#include "engine/engine.h"
#include "engine/in_process_worker.h"
#include "workers/queue/queue_request.h"
#include "workers/queue/queue_service.h"
#include "core/json_text.h"

namespace iii {
namespace {

namespace json = boost::json;

struct Reply;
// Answers a call (from any thread), then runs the reply's `after`.
using Answer = std::function<void(Reply)>;

struct Reply {
  Outcome outcome;
  std::function<void()> after;  // runs once the caller has its answer
  // Set instead of `outcome` by a body that answers later (once its write is committed): called
  // with what answers the call.
  std::function<void(Answer)> later;
};

using Body = std::function<Reply(const QueueRequest&, QueueService&)>;

Reply fail(std::string code, std::string message) { return Reply{Outcome::failure(std::move(code), std::move(message)), {}, {}}; }
Reply ok(std::string json) { return Reply{Outcome::success(std::move(json)), {}, {}}; }

std::shared_ptr<QueueStore> running_store(QueueService& service) {
  auto store = service.store();
  if (!store) throw QueueStoreError("iii-queue is not running");
  return store;
}

std::string required_string(const QueueRequest& r, std::string_view key, std::string_view alias = {}) {
  std::optional<std::string> v = r.string(key);
  if (!v && !alias.empty()) v = r.string(alias);
  if (!v) throw RequestError("missing field `" + std::string(key) + "`");
  return *v;
}

// The name an admin call is about (`queue`, or its alias `topic`); nullopt when absent or empty.
std::optional<std::string> name_of(const QueueRequest& r, std::string_view key, std::string_view alias) {
  std::optional<std::string> v = r.string(key);
  if (!v || v->empty()) v = r.string(alias);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

std::string join_names(const QueueWorkerConfig& config) {
  std::string out;
  for (const auto& [name, q] : config.queues) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// The FIFO group of `data`: the value of `field` (a string as is, anything else as JSON text).
std::optional<std::string> group_of(std::string_view data, const std::string& field) {
  std::optional<json::value> v = json_text::parse(data);
  if (!v || !v->is_object()) return std::nullopt;
  const json::value* g = v->get_object().if_contains(field);
  if (!g || g->is_null()) return std::nullopt;
  return g->is_string() ? std::string(g->get_string()) : json_text::serialize(*g);
}

Reply too_large(size_t size, uint64_t limit) {
  return fail("payload_too_large", "The message data is " + std::to_string(size) + " bytes, over the limit of " +
                                       std::to_string(limit) + " bytes (max_message_bytes of the queue worker)");
}

Reply enqueue(const QueueRequest& r, QueueService& s) {
  const std::string queue = required_string(r, "queue");
  const std::string function_id = required_string(r, "function_id");
  if (function_id.empty()) throw RequestError("field `function_id` must not be empty");
  const std::string_view data = r.raw("data").value_or("null");
  auto it = s.config().queues.find(queue);
  if (it == s.config().queues.end())
    return fail("queue_not_found", "Queue `" + queue + "` is not configured (configured queues: " + join_names(s.config()) +
                                       "); add it under queue_configs of the queue worker");
  if (data.size() > s.config().max_message_bytes) return too_large(data.size(), s.config().max_message_bytes);
  NewQueueMessage m{named_queue_store_name(queue), "", r.string("messageReceiptId").value_or(""), function_id,
                    std::string(data), std::nullopt, r.string("traceparent").value_or(""), r.string("baggage").value_or("")};
  if (!r.call_traceparent.empty()) m.traceparent = r.call_traceparent;
  if (m.message_id.empty()) m.message_id = new_uuid();
  if (const QueueSettings& q = it->second.settings; q.fifo) {
    m.group = group_of(data, q.message_group_field);
    if (!m.group)
      return fail("message_group_missing", "Queue `" + queue + "` is FIFO: `data." + q.message_group_field +
                                               "` must be present and not null (it names the message group)");
  }
  auto store = running_store(s);
  const int64_t now = s.dispatcher()->now();
  // The answer may come after the worker stopped: it holds the dispatcher, not the service.
  return Reply{{}, {}, [d = s.dispatcher(), store, now, m = std::move(m)](Answer answer) mutable {
                 std::string receipt = FrameWriter(64).string("messageReceiptId", m.message_id).finish();
                 std::string queue = m.queue;
                 std::vector<NewQueueMessage> one;
                 one.push_back(std::move(m));
                 store->enqueue_async(std::move(one), now, [d, answer, receipt = std::move(receipt),
                                                            queue = std::move(queue)](QueueResult<size_t> r) {
                   if (!r.ok()) return answer(fail("enqueue_failed", r.error));
                   answer(Reply{Outcome::success(receipt), [d, queue] { d->wake(queue); }, {}});
                 });
               }};
}

Reply publish(const QueueRequest& r, QueueService& s) {
  std::optional<std::string> topic = name_of(r, "topic", "queue");
  if (!topic) return fail("topic_not_set", "`topic` is required (a non-empty string)");
  const std::string_view data = r.raw("data").value_or("null");
  if (data.size() > s.config().max_message_bytes) return too_large(data.size(), s.config().max_message_bytes);
  std::vector<QueueService::FanOut> targets = s.fan_out(*topic);
  auto store = running_store(s);
  if (targets.empty()) {
    spdlog::debug("iii-queue: publish to topic {} with no subscriber dropped", *topic);
    return ok("null");
  }
  std::vector<NewQueueMessage> copies;
  for (const auto& t : targets)
    copies.push_back(NewQueueMessage{t.queue, *topic, new_uuid(), t.function_id, std::string(data), std::nullopt, r.call_traceparent, ""});
  const int64_t now = s.dispatcher()->now();
  return Reply{{}, {}, [d = s.dispatcher(), store, now, copies = std::move(copies), targets](Answer answer) mutable {
                 store->enqueue_async(std::move(copies), now, [d, answer, targets](QueueResult<size_t> r) {
                   if (!r.ok()) return answer(fail("publish_failed", r.error));
                   answer(Reply{Outcome::success("null"), [d, targets] {
                                  for (const auto& t : targets) d->wake(t.queue);
                                },
                                {}});
                 });
               }};
}

Reply redrive(const QueueRequest& r, QueueService& s) {
  std::optional<std::string> name = name_of(r, "queue", "topic");
  if (!name) return fail("queue_not_set", "`queue` is required");
  QueueScope scope = s.scope_for(*name);
  size_t n = running_store(s)->redrive(scope, s.dispatcher()->now());
  std::string answer = FrameWriter(64).string("queue", *name).number("redriven", static_cast<long long>(n)).finish();
  return Reply{Outcome::success(std::move(answer)), [&s, scope] { s.wake(scope); }, {}};
}

// redrive_message and discard_message: one dead message by id.
Body one_message(bool redrive) {
  return [redrive](const QueueRequest& r, QueueService& s) -> Reply {
    std::optional<std::string> name = name_of(r, "queue", "topic");
    if (!name) return fail("queue_not_set", "`queue` is required");
    std::optional<std::string> id = r.string("message_id");
    if (!id || id->empty()) return fail("message_id_not_set", "`message_id` is required");
    QueueScope scope = s.scope_for(*name);
    auto store = running_store(s);
    const bool done = redrive ? store->redrive_message(scope, *id, s.dispatcher()->now()) : store->discard(scope, *id);
    std::string answer = FrameWriter(96).string("queue", *name).string("message_id", *id).number("redriven", done).finish();
    std::function<void()> after;
    if (redrive && done) after = [&s, scope] { s.wake(scope); };
    return Reply{Outcome::success(std::move(answer)), std::move(after), {}};
  };
}

// A store queue name as users know it: the named queue, or the topic of a subscriber queue.
std::pair<std::string, const char*> public_name(const QueueSummary& q) {
  if (!q.topic.empty()) return {q.topic, "builtin"};
  std::string_view name = q.queue;
  if (name.starts_with(kNamedQueuePrefix)) name.remove_prefix(std::string_view(kNamedQueuePrefix).size());
  return {std::string(name), "function_queue"};
}

Reply list_topics(const QueueRequest&, QueueService& s) {
  std::map<std::string, std::pair<const char*, long long>> topics;  // name → broker, subscribers
  for (const auto& [name, q] : s.config().queues) topics[name] = {"function_queue", q.settings.concurrency};
  for (const auto& [topic, n] : s.subscriber_counts()) topics.try_emplace(topic, "builtin", static_cast<long long>(n));
  for (const QueueSummary& q : running_store(s)->summaries())
    if (!q.topic.empty()) topics.try_emplace(q.topic, "builtin", 0);
  std::string out = "[";
  for (const auto& [name, t] : topics) {
    if (out.size() > 1) out += ',';
    out += FrameWriter(96).string("name", name).string("broker_type", std::string_view(t.first)).number("subscriber_count", t.second).finish();
  }
  return ok(out + "]");
}

Reply topic_stats(const QueueRequest& r, QueueService& s) {
  std::optional<std::string> name = name_of(r, "topic", "queue");
  if (!name) return fail("topic_required", "`topic` is required");
  QueueScope scope = s.scope_for(*name);
  QueueCounts c = running_store(s)->counts(scope);
  long long consumers = 0;
  std::string config = "null";
  if (auto it = s.config().queues.find(*name); !scope.is_topic && it != s.config().queues.end()) {
    consumers = it->second.settings.concurrency;
    config = named_queue_config_json(it->second);
  } else if (scope.is_topic) {
    auto counts = s.subscriber_counts();
    if (auto t = counts.find(*name); t != counts.end()) consumers = static_cast<long long>(t->second);
  }
  return ok(FrameWriter(128)
                .number("depth", static_cast<long long>(c.pending()))
                .number("in_flight", static_cast<long long>(c.leased))  // ours (the console shows it)
                .number("consumer_count", consumers)
                .number("dlq_depth", static_cast<long long>(c.dead))
                .raw("config", config)
                .finish());
}

Reply dlq_topics(const QueueRequest&, QueueService& s) {
  std::map<std::string, std::pair<const char*, uint64_t>> dead;
  for (const QueueSummary& q : running_store(s)->summaries()) {
    if (!q.counts.dead) continue;
    auto [name, broker] = public_name(q);
    auto& entry = dead.try_emplace(name, broker, 0).first->second;
    entry.second += q.counts.dead;
  }
  std::string out = "[";
  for (const auto& [name, d] : dead) {
    if (out.size() > 1) out += ',';
    out += FrameWriter(96)
               .string("topic", name)
               .string("broker_type", std::string_view(d.first))
               .number("message_count", static_cast<long long>(d.second))
               .finish();
  }
  return ok(out + "]");
}

Reply dlq_messages(const QueueRequest& r, QueueService& s) {
  std::optional<std::string> name = name_of(r, "topic", "queue");
  if (!name) return fail("topic_required", "`topic` is required");
  const uint64_t offset = r.integer("offset").value_or(0);
  const uint64_t limit = std::min<uint64_t>(r.integer("limit").value_or(50), 1000);
  std::string out = "[";
  for (const DeadMessage& m : running_store(s)->dead(s.scope_for(*name), offset, limit)) {
    if (out.size() > 1) out += ',';
    out += FrameWriter(128 + m.data.size() + m.error.size())
               .string("id", m.message_id)
               .raw("payload", m.data)
               .string("error", m.error)
               .number("failed_at", m.failed_at_ms / 1000)
               .number("retries", m.attempts)
               .number("size_bytes", static_cast<long long>(m.data.size()))
               .finish();
  }
  return ok(out + "]");
}

// Where a function's body runs: on the engine's thread that received the call (it only reads the
// request and submits its write), or where the store does its blocking work.
enum class Runs { kHere, kByStore };

void add(InProcessWorker& worker, const std::shared_ptr<QueueService>& service, const char* id, const char* description,
         const char* failure_code, Runs runs, Body body) {
  auto handle = [service, code = std::string(failure_code), body = std::move(body)](const InProcessCall& call,
                                                                                  const Completion& done) {
    Answer answer = [done](Reply r) {
      done(std::move(r.outcome));
      if (r.after) r.after();
    };
    Reply reply;
    try {
      QueueRequest request(call.data);
      request.call_traceparent = call.traceparent;
      if (std::optional<std::string> target = request.string("function_id");
          target && std::string_view(call.function_id) == "engine::queue::enqueue") {
        if (auto denied = job_target_denied(service->engine(), call.caller_worker_id, *target))
          return done(Outcome{{}, std::move(*denied)});
      }
      reply = body(request, *service);
    } catch (const RequestError& e) {
      reply = fail(codes::kDeserializationError, e.what());
    } catch (const QueueStoreError& e) {
      reply = fail(code, e.what());
    }
    if (reply.later) return reply.later(std::move(answer));
    answer(std::move(reply));
  };
  worker.add_function(FunctionSpec{id, description, {}, {}, {}},
                      AsyncFunctionHandler([service, runs, handle](const InProcessCall& call, Completion done) {
                        std::shared_ptr<QueueStore> store = runs == Runs::kByStore ? service->store() : nullptr;
                        if (!store) return handle(call, done);  // not running: answers its error at once
                        if (!store->run_async([handle, call, done] { handle(call, done); }))
                          done(Outcome::failure("queue_busy", "iii-queue: too many calls wait for its store"));
                      }));
}

}  // namespace

void add_queue_functions(InProcessWorker& worker, const std::shared_ptr<QueueService>& service) {
  struct Entry {
    const char* id;
    const char* description;
    const char* failure_code;  // the error code when the store fails
    Runs runs;
    Body body;
  };
  const Entry entries[] = {
      {"engine::queue::enqueue", "Durably enqueue a job for a named queue (TriggerAction.Enqueue)", "enqueue_failed",
       Runs::kHere, enqueue},
      {"iii::durable::publish", "Publish a message to every durable:subscriber of a topic", "publish_failed", Runs::kHere, publish},
      {"iii::queue::redrive", "Move every dead-lettered message of a queue back to it", "redrive_failed", Runs::kByStore, redrive},
      {"iii::queue::redrive_message", "Move one dead-lettered message back to its queue", "redrive_message_failed", Runs::kByStore,
       one_message(true)},
      {"iii::queue::discard_message", "Delete one dead-lettered message", "discard_message_failed", Runs::kByStore, one_message(false)},
      {"engine::queue::list_topics", "Named queues and topics", "list_topics_failed", Runs::kByStore, list_topics},
      {"engine::queue::topic_stats", "Depth, consumers and dead-letter depth of a queue or topic", "topic_stats_failed", Runs::kByStore,
       topic_stats},
      {"engine::queue::dlq_topics", "Queues and topics with dead-lettered messages", "dlq_topics_failed", Runs::kByStore, dlq_topics},
      {"engine::queue::dlq_messages", "Dead-lettered messages of a queue or topic", "dlq_messages_failed", Runs::kByStore,
       dlq_messages},
  };
  for (const Entry& e : entries) add(worker, service, e.id, e.description, e.failure_code, e.runs, e.body);
}

}  // namespace iii
