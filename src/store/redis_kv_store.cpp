#include "store/redis_kv_store.h"

#include "store/redis_script.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>
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

// An update that keeps losing the compare-and-set to other writers retries for this long, sleeping
// a random, growing while between attempts (so that two engines hammering one key take turns).
constexpr auto kUpdateDeadline = std::chrono::seconds(5);
constexpr auto kMaxConflictPause = std::chrono::microseconds(5000);

void pause_after_conflict(int conflicts) {
  thread_local std::minstd_rand random{std::random_device{}()};
  const auto cap = std::min<std::chrono::microseconds>(kMaxConflictPause, std::chrono::microseconds(50L << std::min(conflicts, 10)));
  std::this_thread::sleep_for(std::chrono::microseconds(random() % (cap.count() + 1)));
}

std::optional<std::string> optional_string(const RedisReply& r) {
  if (r.type == RedisReply::Type::kString) return r.str;
  return std::nullopt;
}

}  // namespace

// The store itself; what each method costs in Redis is one round trip unless said.
class RedisKvStore final : public KvStore {
 public:
  RedisKvStore(std::shared_ptr<RedisPool> pool, RedisKvLayout layout)
      : pool_(std::move(pool)), layout_(std::move(layout)) {}

  // HGET.
  std::optional<std::string> get(std::string_view scope, std::string_view key) override;
  // A script: HSET; for a new key also ZADD to the order index and SADD to the scope set.
  std::optional<std::string> set(std::string_view scope, std::string_view key, std::string_view value) override;
  // A script: HDEL and ZREM; an emptied scope also loses its index and leaves the scope set.
  std::optional<std::string> remove(std::string_view scope, std::string_view key) override;
  // HGET, then a compare-and-set script; both again after a conflict.
  KvUpdate update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) override;
  // A script: ZRANGE of the order index, then HMGET of those keys.
  std::vector<std::string> list(std::string_view scope) override;
  std::vector<KvEntry> entries(std::string_view scope) override;
  // SMEMBERS of the scope set, and a SCAN of the layout's hashes (scopes other clients wrote).
  std::vector<std::string> list_groups() override;

 private:
  std::string hash_of(std::string_view scope) const {
    return layout_.hash_prefix + (layout_.hash_name ? layout_.hash_name(scope) : std::string(scope));
  }
  std::string order_of(std::string_view scope) const { return layout_.order_prefix + std::string(scope); }
  // The script's ARGV `args` followed by the change message of (scope, key) when the layout has a
  // channel; `text` keeps the strings alive.
  std::vector<std::string_view> with_message(std::vector<std::string_view> args, std::string_view scope,
                                             std::string_view key, RedisChangeText& text) const {
    if (layout_.channel.empty()) return args;
    text = layout_.change_text(scope, key);
    args.insert(args.end(), {layout_.channel, text.head, text.mid, text.tail});
    return args;
  }
  // EVALSHA of a script (EVAL when the server does not know it yet); throws KvStoreError.
  RedisReply eval(const RedisScript& script, const std::vector<std::string_view>& keys,
                  const std::vector<std::string_view>& args);
  // One command; a Redis error reply or a lost server throws KvStoreError.
  RedisReply run(const std::vector<std::string_view>& command);

  std::shared_ptr<RedisPool> pool_;
  const RedisKvLayout layout_;
};

RedisReply RedisKvStore::eval(const RedisScript& script, const std::vector<std::string_view>& keys,
                              const std::vector<std::string_view>& args) {
  try {
    return run_script(*pool_, script, keys, args);
  } catch (const RedisError& e) {
    throw KvStoreError(e.what());
  }
}

RedisReply RedisKvStore::run(const std::vector<std::string_view>& command) {
  try {
    RedisReply r = pool_->run(command);
    if (r.is_error()) throw KvStoreError("redis " + pool_->endpoint().address() + ": " + r.str);
    return r;
  } catch (const RedisError& e) {
    throw KvStoreError(e.what());
  }
}

std::optional<std::string> RedisKvStore::get(std::string_view scope, std::string_view key) {
  return optional_string(run({"HGET", hash_of(scope), key}));
}

std::optional<std::string> RedisKvStore::set(std::string_view scope, std::string_view key, std::string_view value) {
  RedisChangeText text;
  return optional_string(eval(kSet, {hash_of(scope), order_of(scope), layout_.seq_key, layout_.scopes_key},
                              with_message({scope, key, value}, scope, key, text)));
}

std::optional<std::string> RedisKvStore::remove(std::string_view scope, std::string_view key) {
  RedisChangeText text;
  return optional_string(
      eval(kRemove, {hash_of(scope), order_of(scope), layout_.scopes_key}, with_message({scope, key}, scope, key, text)));
}

KvUpdate RedisKvStore::update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) {
  const std::string hash = hash_of(scope), order = order_of(scope);
  const auto deadline = std::chrono::steady_clock::now() + kUpdateDeadline;
  for (int conflicts = 0;; ++conflicts) {
    KvUpdate out;
    out.old_value = get(scope, key);
    std::optional<std::string> next = fn(out.old_value);  // may throw: nothing changed
    if (!next) {
      out.new_value = out.old_value;
      return out;
    }
    RedisChangeText text;
    const RedisReply done = eval(
        kCompareAndSet, {hash, order, layout_.seq_key, layout_.scopes_key},
        with_message({scope, key, *next, out.old_value ? "1" : "0", out.old_value ? *out.old_value : ""}, scope, key, text));
    if (done.type == RedisReply::Type::kInteger && done.integer == 1) {
      out.new_value = std::move(next);
      return out;
    }
    // Another writer changed the key since it was read: read it again and recompute.
    if (std::chrono::steady_clock::now() >= deadline)
      throw KvStoreError("redis " + pool_->endpoint().address() + ": update of `" + std::string(key) + "` in `" +
                         std::string(scope) + "` kept conflicting with other writers for " +
                         std::to_string(kUpdateDeadline.count()) + " s (" + std::to_string(conflicts + 1) + " attempts)");
    pause_after_conflict(conflicts);
  }
}

std::vector<KvEntry> RedisKvStore::entries(std::string_view scope) {
  const RedisReply r = eval(kEntries, {hash_of(scope), order_of(scope)}, {});
  std::vector<KvEntry> out;
  out.reserve(r.elements.size() / 2);
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) out.push_back(KvEntry{r.elements[i].str, r.elements[i + 1].str});
  return out;
}

std::vector<std::string> RedisKvStore::list(std::string_view scope) {
  std::vector<std::string> out;
  for (KvEntry& e : entries(scope)) out.push_back(std::move(e.value));
  return out;
}

std::vector<std::string> RedisKvStore::list_groups() {
  std::string pattern;  // "<hash prefix>*", the prefix's glob characters escaped
  for (char c : layout_.hash_prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern += '\\';
    pattern += c;
  }
  pattern += '*';
  std::vector<std::string> out;
  std::unordered_set<std::string> indexed;  // the hashes of the scopes in our set
  for (RedisReply& e : run({"SMEMBERS", layout_.scopes_key}).elements) {
    indexed.insert(hash_of(e.str));
    out.push_back(std::move(e.str));
  }
  // Scopes that only another client wrote (the official engine keeps no index): their hashes.
  std::string cursor = "0";
  do {
    const RedisReply page = run({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000", "TYPE", "hash"});
    if (page.elements.size() != 2) throw KvStoreError("redis " + pool_->endpoint().address() + ": odd SCAN reply");
    cursor = page.elements[0].str;
    for (const RedisReply& key : page.elements[1].elements) {
      if (indexed.contains(key.str)) continue;
      const std::string_view rest = std::string_view(key.str).substr(layout_.hash_prefix.size());
      if (!layout_.foreign_scope) {
        out.emplace_back(rest);
      } else if (std::optional<std::string> scope = layout_.foreign_scope(rest)) {
        out.push_back(std::move(*scope));
      }
    }
  } while (cursor != "0");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

RedisKvLayout redis_kv_layout(std::string_view name) {
  const std::string n(name);
  RedisKvLayout layout;
  layout.hash_prefix = n + ":";
  layout.order_prefix = "iii:" + n + "-order:";
  layout.seq_key = "iii:" + n + "-seq";
  layout.scopes_key = "iii:" + n + "-scopes";
  return layout;
}

std::unique_ptr<KvStore> make_redis_kv_store(std::shared_ptr<RedisPool> pool, RedisKvLayout layout) {
  return std::make_unique<RedisKvStore>(std::move(pool), std::move(layout));
}

}  // namespace iii
