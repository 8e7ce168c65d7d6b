#include "store/redis_kv_store.h"

#include "store/redis_script.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <random>
#include <unordered_set>

namespace iii {

namespace {

// What the writes share: Lua functions defined at the top of their scripts. A write takes the
// layout's change message as optional trailing ARGV (channel, head, mid, tail: RedisChangeText),
// from index `m`, and publishes it only when the key changed.
const std::string kWriteFunctions = R"lua(
local function announce(m, kind, value)
  if ARGV[m] then
    redis.call('PUBLISH', ARGV[m], ARGV[m + 1] .. kind .. ARGV[m + 2] .. value .. ARGV[m + 3])
  end
end
-- KEYS: hash, order, seq, scopes. ARGV: scope, key, value. `prev`: what the key held (nil: new).
local function store(prev, m)
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  if not prev then
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[2])
    redis.call('SADD', KEYS[4], ARGV[1])
  end
  announce(m, prev and 'update' or 'create', ARGV[3])
end
)lua";

// KEYS: hash, order, seq, scopes. ARGV: scope, key, value[, message]. Returns the previous value
// (nil: new).
const RedisScript kSet(kWriteFunctions + R"lua(
local old = redis.call('HGET', KEYS[1], ARGV[2])
store(old, 4)
return old
)lua");

// KEYS: hash, order, seq, scopes. ARGV: scope, key. Indexes a key that a transaction has just
// added to the hash, if it is still there (a delete may have come in between). Returns nothing.
const RedisScript kIndexNewKey(R"lua(
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], 'NX', redis.call('INCR', KEYS[3]), ARGV[2])
  redis.call('SADD', KEYS[4], ARGV[1])
end
)lua");

// Same keys. ARGV: scope, key, new value, '1' when the key is expected to exist, expected
// value[, message]. Sets the key only when it still holds what the caller read: returns 1, else 0.
const RedisScript kCompareAndSet(kWriteFunctions + R"lua(
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if ARGV[4] == '1' then
  if cur ~= ARGV[5] then return 0 end
elseif cur then
  return 0
end
store(cur, 6)
return 1
)lua");

// KEYS: hash, order, scopes. ARGV: scope, key[, message]. Returns the removed value (nil: none).
// An emptied scope leaves no key behind and leaves the scope set.
const RedisScript kRemove(kWriteFunctions + R"lua(
local old = redis.call('HGET', KEYS[1], ARGV[2])
if old then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  if redis.call('HLEN', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[2])
    redis.call('SREM', KEYS[3], ARGV[1])
  end
  announce(3, 'delete', old)
end
return old
)lua");

// KEYS: hash, order. Returns {key1, value1, key2, value2, ...} in insertion order, read in one
// step (HMGET in slices: Lua's unpack has a stack limit). Fields that another client (such as the
// official engine) wrote without our index come last, in the hash's order.
const RedisScript kEntries(R"lua(
local keys = redis.call('ZRANGE', KEYS[2], 0, -1)
if redis.call('HLEN', KEYS[1]) ~= #keys then
  local indexed = {}
  for _, k in ipairs(keys) do indexed[k] = true end
  for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
    if not indexed[k] then keys[#keys + 1] = k end
  end
end
local out = {}
for i = 1, #keys, 1000 do
  local slice = {}
  for j = i, math.min(i + 999, #keys) do slice[#slice + 1] = keys[j] end
  local values = redis.call('HMGET', KEYS[1], unpack(slice))
  for j = 1, #slice do
    if values[j] then
      out[#out + 1] = slice[j]
      out[#out + 1] = values[j]
    end
  end
end
return out
)lua");

// An update that keeps losing the compare-and-set to other writers retries for this long, pausing
// a random, growing while between attempts (so that two engines hammering one key take turns).
constexpr auto kUpdateDeadline = std::chrono::seconds(5);
constexpr auto kMaxConflictPause = std::chrono::microseconds(5000);

std::chrono::microseconds pause_after_conflict(int conflicts) {
  thread_local std::minstd_rand random{std::random_device{}()};
  const auto cap = std::min<std::chrono::microseconds>(kMaxConflictPause, std::chrono::microseconds(50L << std::min(conflicts, 10)));
  return std::chrono::microseconds(random() % (cap.count() + 1));
}

std::optional<std::string> optional_string(const RedisReply& r) {
  if (r.type == RedisReply::Type::kString) return r.str;
  return std::nullopt;
}

// The client's RedisError as the store's KvStoreError (same text); anything else as it is.
std::exception_ptr as_store_error(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const RedisError& r) {
    return std::make_exception_ptr(KvStoreError(r.what()));
  } catch (...) {
    return e;
  }
}

// What the store's operations share, kept alive by every operation in flight (an update's
// retries outlive the call that started them; the store may be closed meanwhile).
struct Core : std::enable_shared_from_this<Core> {
  Core(std::shared_ptr<RedisClient> c, RedisKvLayout l) : client(std::move(c)), layout(std::move(l)) {}

  const std::shared_ptr<RedisClient> client;
  const RedisKvLayout layout;

  std::string hash_of(std::string_view scope) const {
    return layout.hash_prefix + (layout.hash_name ? layout.hash_name(scope) : std::string(scope));
  }
  std::string order_of(std::string_view scope) const { return layout.order_prefix + std::string(scope); }
  std::string address() const { return client->address(); }
  // The script's ARGV `args` followed by the change message of (scope, key) when the layout has a
  // channel; `text` keeps the strings alive.
  std::vector<std::string_view> with_message(std::vector<std::string_view> args, std::string_view scope,
                                             std::string_view key, RedisChangeText& text) const {
    if (layout.channel.empty()) return args;
    text = layout.change_text(scope, key);
    args.insert(args.end(), {layout.channel, text.head, text.mid, text.tail});
    return args;
  }

  // One command or script; `done` gets the reply, or a KvStoreError (an error reply among them).
  template <class T, class Read>
  static RedisCallback reading(KvDone<T> done, Read read) {
    return [done = std::move(done), read = std::move(read)](std::exception_ptr e, RedisReply r) {
      if (e) return done(as_store_error(e), T{});
      std::optional<T> value;
      try {
        value = read(r);
      } catch (...) {
        return done(std::current_exception(), T{});
      }
      done(nullptr, std::move(*value));
    };
  }
  void run(const std::vector<std::string_view>& command, RedisCallback done) const {
    client->command(command, failing_on_error_reply(address(), std::move(done)));
  }
  void eval(const RedisScript& script, const std::vector<std::string_view>& keys,
            const std::vector<std::string_view>& args, RedisCallback done) const {
    run_script_async(client, script, keys, args, std::move(done));
  }

  void update(std::string_view scope, std::string_view key, KvUpdateFn fn, KvDone<KvUpdate> done);
  void list_groups(KvDone<std::vector<std::string>> done);
};

// One update in flight: read, compute, compare-and-set; again after a pause on a conflict.
struct UpdateRun : std::enable_shared_from_this<UpdateRun> {
  std::shared_ptr<const Core> core;
  std::string scope, key, hash, order;
  KvUpdateFn fn;
  KvDone<KvUpdate> done;
  std::chrono::steady_clock::time_point deadline;
  int conflicts = 0;

  void attempt() {
    core->run({"HGET", hash, key}, Core::reading<KvUpdate>(
                                       [self = shared_from_this()](std::exception_ptr e, KvUpdate read) {
                                         if (e) return self->done(e, {});
                                         self->write(std::move(read.old_value));
                                       },
                                       [](const RedisReply& r) { return KvUpdate{optional_string(r), std::nullopt}; }));
  }

  void write(std::optional<std::string> old_value) {
    std::optional<std::string> next;
    try {
      next = fn(old_value);  // may throw: nothing changed
    } catch (...) {
      return done(std::current_exception(), {});
    }
    if (!next) return done(nullptr, KvUpdate{old_value, old_value});
    RedisChangeText text;
    core->eval(kCompareAndSet, {hash, order, core->layout.seq_key, core->layout.scopes_key},
               core->with_message({scope, key, *next, old_value ? "1" : "0", old_value ? *old_value : ""}, scope, key, text),
               [self = shared_from_this(), old_value, next](std::exception_ptr e, RedisReply r) mutable {
                 if (e) return self->done(as_store_error(e), {});
                 if (r.type == RedisReply::Type::kInteger && r.integer == 1)
                   return self->done(nullptr, KvUpdate{std::move(old_value), std::move(next)});
                 self->conflicted();
               });
  }

  // Another writer changed the key since it was read: read it again and recompute, after a pause.
  void conflicted() {
    if (std::chrono::steady_clock::now() >= deadline)
      return done(std::make_exception_ptr(KvStoreError(
                      "redis " + core->address() + ": update of `" + key + "` in `" + scope +
                      "` kept conflicting with other writers for " + std::to_string(kUpdateDeadline.count()) + " s (" +
                      std::to_string(conflicts + 1) + " attempts)")),
                  {});
    core->client->defer(pause_after_conflict(conflicts++), [self = shared_from_this()] { self->attempt(); });
  }
};

void Core::update(std::string_view scope, std::string_view key, KvUpdateFn fn, KvDone<KvUpdate> done) {
  auto run = std::make_shared<UpdateRun>();
  run->core = shared_from_this();
  run->scope = scope, run->key = key, run->hash = hash_of(scope), run->order = order_of(scope);
  run->fn = std::move(fn), run->done = std::move(done);
  run->deadline = std::chrono::steady_clock::now() + kUpdateDeadline;
  run->attempt();
}

// SMEMBERS of the scope set, then the SCAN pages of the layout's hashes, one after another.
struct ListGroupsRun : std::enable_shared_from_this<ListGroupsRun> {
  std::shared_ptr<const Core> core;
  KvDone<std::vector<std::string>> done;
  std::string pattern;  // "<hash prefix>*", the prefix's glob characters escaped
  std::vector<std::string> out;
  std::unordered_set<std::string> indexed;  // the hashes of the scopes in our set

  void start() {
    for (char c : core->layout.hash_prefix) {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern += '\\';
      pattern += c;
    }
    pattern += '*';
    core->run({"SMEMBERS", core->layout.scopes_key}, [self = shared_from_this()](std::exception_ptr e, RedisReply r) {
      if (e) return self->done(as_store_error(e), {});
      for (RedisReply& s : r.elements) {
        self->indexed.insert(self->core->hash_of(s.str));
        self->out.push_back(std::move(s.str));
      }
      self->scan("0");
    });
  }

  // Scopes that only another client wrote (the official engine keeps no index): their hashes.
  void scan(const std::string& cursor) {
    core->run({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000", "TYPE", "hash"},
              [self = shared_from_this()](std::exception_ptr e, RedisReply page) {
                if (e) return self->done(as_store_error(e), {});
                if (page.elements.size() != 2)
                  return self->done(std::make_exception_ptr(KvStoreError("redis " + self->core->address() + ": odd SCAN reply")), {});
                self->take(page.elements[1]);
                if (page.elements[0].str != "0") return self->scan(page.elements[0].str);
                std::sort(self->out.begin(), self->out.end());
                self->out.erase(std::unique(self->out.begin(), self->out.end()), self->out.end());
                self->done(nullptr, std::move(self->out));
              });
  }

  void take(const RedisReply& keys) {
    const RedisKvLayout& layout = core->layout;
    for (const RedisReply& key : keys.elements) {
      if (indexed.contains(key.str)) continue;
      const std::string_view rest = std::string_view(key.str).substr(layout.hash_prefix.size());
      if (!layout.foreign_scope) {
        out.emplace_back(rest);
      } else if (std::optional<std::string> scope = layout.foreign_scope(rest)) {
        out.push_back(std::move(*scope));
      }
    }
  }
};

void Core::list_groups(KvDone<std::vector<std::string>> done) {
  auto run = std::make_shared<ListGroupsRun>();
  run->core = shared_from_this();
  run->done = std::move(done);
  run->start();
}

}  // namespace

// The store itself; what each method costs in Redis is one round trip unless said. Each
// synchronous method is its asynchronous form, waited for.
class RedisKvStore final : public KvStore {
 public:
  RedisKvStore(std::shared_ptr<RedisClient> client, RedisKvLayout layout)
      : core_(std::make_shared<Core>(std::move(client), std::move(layout))) {}

  std::optional<std::string> get(std::string_view scope, std::string_view key) override {
    return wait<std::optional<std::string>>([&](auto done) { get_async(scope, key, std::move(done)); });
  }
  std::optional<std::string> set(std::string_view scope, std::string_view key, std::string_view value) override {
    return wait<std::optional<std::string>>([&](auto done) { set_async(scope, key, value, std::move(done)); });
  }
  std::optional<std::string> remove(std::string_view scope, std::string_view key) override {
    return wait<std::optional<std::string>>([&](auto done) { remove_async(scope, key, std::move(done)); });
  }
  KvUpdate update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) override {
    return wait<KvUpdate>([&](auto done) { update_async(scope, key, fn, std::move(done)); });
  }
  std::vector<std::string> list(std::string_view scope) override {
    std::vector<std::string> out;
    for (KvEntry& e : entries(scope)) out.push_back(std::move(e.value));
    return out;
  }
  std::vector<KvEntry> entries(std::string_view scope) override {
    return wait<std::vector<KvEntry>>([&](auto done) { entries_async(scope, std::move(done)); });
  }
  std::vector<std::string> list_groups() override {
    return wait<std::vector<std::string>>([&](auto done) { list_groups_async(std::move(done)); });
  }

  // HGET.
  void get_async(std::string_view scope, std::string_view key, KvDone<std::optional<std::string>> done) override {
    core_->run({"HGET", core_->hash_of(scope), key}, Core::reading(std::move(done), optional_string));
  }
  // Without a change message, a transaction: HGET and HSET; for a new key then a script that
  // adds it to the order index and the scope set (a second round trip, answered before the call
  // is). A transaction costs Redis about two thirds of what a script does (bench/README.md). With
  // a message, one script: HSET; for a new key also ZADD and SADD; PUBLISH.
  void set_async(std::string_view scope, std::string_view key, std::string_view value,
                 KvDone<std::optional<std::string>> done) override {
    if (core_->layout.channel.empty()) return set_without_message(scope, key, value, std::move(done));
    RedisChangeText text;
    core_->eval(kSet, {core_->hash_of(scope), core_->order_of(scope), core_->layout.seq_key, core_->layout.scopes_key},
                core_->with_message({scope, key, value}, scope, key, text), Core::reading(std::move(done), optional_string));
  }
  // A script: HDEL and ZREM; an emptied scope also loses its index and leaves the scope set.
  void remove_async(std::string_view scope, std::string_view key, KvDone<std::optional<std::string>> done) override {
    RedisChangeText text;
    core_->eval(kRemove, {core_->hash_of(scope), core_->order_of(scope), core_->layout.scopes_key},
                core_->with_message({scope, key}, scope, key, text), Core::reading(std::move(done), optional_string));
  }
  // HGET, then a compare-and-set script; both again after a conflict.
  void update_async(std::string_view scope, std::string_view key, KvUpdateFn fn, KvDone<KvUpdate> done) override {
    core_->update(scope, key, std::move(fn), std::move(done));
  }
  // A script: ZRANGE of the order index, then HMGET of those keys.
  void entries_async(std::string_view scope, KvDone<std::vector<KvEntry>> done) override {
    core_->eval(kEntries, {core_->hash_of(scope), core_->order_of(scope)}, {},
                Core::reading(std::move(done), [](const RedisReply& r) {
                  std::vector<KvEntry> out;
                  out.reserve(r.elements.size() / 2);
                  for (size_t i = 0; i + 1 < r.elements.size(); i += 2)
                    out.push_back(KvEntry{r.elements[i].str, r.elements[i + 1].str});
                  return out;
                }));
  }
  // SMEMBERS of the scope set, and a SCAN of the layout's hashes (scopes other clients wrote).
  void list_groups_async(KvDone<std::vector<std::string>> done) override { core_->list_groups(std::move(done)); }

 private:
  void set_without_message(std::string_view scope, std::string_view key, std::string_view value,
                           KvDone<std::optional<std::string>> done) {
    std::string hash = core_->hash_of(scope);
    auto indexed = [core = core_, hash, scope = std::string(scope), key = std::string(key), done = std::move(done)](
                       std::exception_ptr e, RedisReply r) mutable {
      if (!e && (r.type != RedisReply::Type::kArray || r.elements.size() != 2))
        e = std::make_exception_ptr(RedisError("redis " + core->address() + ": the set's transaction was not run"));
      if (e) return done(as_store_error(e), std::nullopt);
      std::optional<std::string> old = optional_string(r.elements[0]);
      const bool added = r.elements[1].type == RedisReply::Type::kInteger && r.elements[1].integer == 1;
      if (!added) return done(nullptr, std::move(old));
      core->eval(kIndexNewKey, {hash, core->order_of(scope), core->layout.seq_key, core->layout.scopes_key}, {scope, key},
                 [done = std::move(done), old = std::move(old)](std::exception_ptr e, RedisReply) mutable {
                   if (e) return done(as_store_error(e), std::nullopt);
                   done(nullptr, std::move(old));
                 });
    };
    core_->client->transaction({{"HGET", hash, key}, {"HSET", hash, key, value}},
                               failing_on_error_reply(core_->address(), std::move(indexed)));
  }

  // Runs an asynchronous form and waits for its answer. Never on the client's thread, which is
  // the one that would answer.
  template <class T>
  T wait(const std::function<void(KvDone<T>)>& launch) {
    if (core_->client->on_client_thread())
      throw KvStoreError("redis " + core_->address() + ": a store call waited for on the client's own thread");
    auto answer = std::make_shared<std::promise<T>>();
    std::future<T> got = answer->get_future();
    RedisClient::WaitingCaller waiting;  // not on this thread's lane, nor held for its FlushBatch
    launch([answer](std::exception_ptr e, T value) {
      if (e) answer->set_exception(e);
      else answer->set_value(std::move(value));
    });
    // Every command is answered by its deadline, and an update gives up after kUpdateDeadline;
    // this bound only guards against a bug there.
    const auto bound = kUpdateDeadline + 3 * core_->client->options().timeout;
    if (got.wait_for(bound) != std::future_status::ready)
      throw KvStoreError("redis " + core_->address() + ": no answer within " +
                         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(bound).count()) + " s");
    return got.get();
  }

  const std::shared_ptr<Core> core_;
};

RedisKvLayout redis_kv_layout(std::string_view name) {
  const std::string n(name);
  RedisKvLayout layout;
  layout.hash_prefix = n + ":";
  layout.order_prefix = "iii:" + n + "-order:";
  layout.seq_key = "iii:" + n + "-seq";
  layout.scopes_key = "iii:" + n + "-scopes";
  return layout;
}

std::unique_ptr<KvStore> make_redis_kv_store(std::shared_ptr<RedisClient> client, RedisKvLayout layout) {
  return std::make_unique<RedisKvStore>(std::move(client), std::move(layout));
}

}  // namespace iii
