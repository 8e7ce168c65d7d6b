#include "store/redis_kv_store.h"

#include "store/redis_script.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

namespace iii {

namespace {

// KEYS: hash, order, seq, scopes. ARGV: scope, key, value. Returns the previous value (nil: new).
const RedisScript kSet(R"lua(
local old = redis.call('HGET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if not old then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[2])
  redis.call('SADD', KEYS[4], ARGV[1])
end
return old
)lua");

// Same keys. ARGV: scope, key, new value, '1' when the key is expected to exist, expected value.
// Sets the key only when it still holds what the caller read: returns 1, else 0.
const RedisScript kCompareAndSet(R"lua(
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if ARGV[4] == '1' then
  if cur ~= ARGV[5] then return 0 end
elseif cur then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if not cur then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[2])
  redis.call('SADD', KEYS[4], ARGV[1])
end
return 1
)lua");

// KEYS: hash, order, scopes. ARGV: scope, key. Returns the removed value (nil: none). An emptied
// scope leaves no key behind and leaves the scope set.
const RedisScript kRemove(R"lua(
local old = redis.call('HGET', KEYS[1], ARGV[2])
if old then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  if redis.call('HLEN', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[2])
    redis.call('SREM', KEYS[3], ARGV[1])
  end
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
  RedisKvStore(std::shared_ptr<RedisPool> pool, std::string name);

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
  // SMEMBERS of the scope set, and a SCAN of `<name>:*` hashes (scopes other clients wrote).
  std::vector<std::string> list_groups() override;

 private:
  struct Keys {
    std::string hash, order;
  };
  Keys keys_of(std::string_view scope) const;
  // EVALSHA of a script (EVAL when the server does not know it yet); throws KvStoreError.
  RedisReply eval(const RedisScript& script, const std::vector<std::string_view>& keys,
                  const std::vector<std::string_view>& args);

  std::shared_ptr<RedisPool> pool_;
  std::string name_, seq_key_, scopes_key_;
};

RedisKvStore::RedisKvStore(std::shared_ptr<RedisPool> pool, std::string name)
    : pool_(std::move(pool)), name_(std::move(name)), seq_key_("iii:" + name_ + "-seq"),
      scopes_key_("iii:" + name_ + "-scopes") {}

RedisKvStore::Keys RedisKvStore::keys_of(std::string_view scope) const {
  Keys k;
  k.hash.reserve(name_.size() + 1 + scope.size());
  k.hash.append(name_).append(":").append(scope);
  k.order.append("iii:").append(name_).append("-order:").append(scope);
  return k;
}

RedisReply RedisKvStore::eval(const RedisScript& script, const std::vector<std::string_view>& keys,
                              const std::vector<std::string_view>& args) {
  try {
    return run_script(*pool_, script, keys, args);
  } catch (const RedisError& e) {
    throw KvStoreError(e.what());
  }
}

std::optional<std::string> RedisKvStore::get(std::string_view scope, std::string_view key) {
  const Keys k = keys_of(scope);
  try {
    RedisReply r = pool_->run({"HGET", k.hash, key});
    if (r.is_error()) throw KvStoreError("redis " + pool_->endpoint().address() + ": " + r.str);
    return optional_string(r);
  } catch (const RedisError& e) {
    throw KvStoreError(e.what());
  }
}

std::optional<std::string> RedisKvStore::set(std::string_view scope, std::string_view key, std::string_view value) {
  const Keys k = keys_of(scope);
  return optional_string(eval(kSet, {k.hash, k.order, seq_key_, scopes_key_}, {scope, key, value}));
}

std::optional<std::string> RedisKvStore::remove(std::string_view scope, std::string_view key) {
  const Keys k = keys_of(scope);
  return optional_string(eval(kRemove, {k.hash, k.order, scopes_key_}, {scope, key}));
}

KvUpdate RedisKvStore::update(std::string_view scope, std::string_view key, const KvUpdateFn& fn) {
  const Keys k = keys_of(scope);
  const auto deadline = std::chrono::steady_clock::now() + kUpdateDeadline;
  for (int conflicts = 0;; ++conflicts) {
    KvUpdate out;
    out.old_value = get(scope, key);
    std::optional<std::string> next = fn(out.old_value);  // may throw: nothing changed
    if (!next) {
      out.new_value = out.old_value;
      return out;
    }
    const RedisReply done = eval(kCompareAndSet, {k.hash, k.order, seq_key_, scopes_key_},
                                 {scope, key, *next, out.old_value ? "1" : "0", out.old_value ? *out.old_value : ""});
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
  const Keys k = keys_of(scope);
  const RedisReply r = eval(kEntries, {k.hash, k.order}, {});
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
  auto checked = [&](RedisReply r) {
    if (r.is_error()) throw KvStoreError("redis " + pool_->endpoint().address() + ": " + r.str);
    return r;
  };
  const std::string prefix = name_ + ":";
  std::string pattern;  // "<name>:*", the name's glob characters escaped
  for (char c : prefix) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') pattern += '\\';
    pattern += c;
  }
  pattern += '*';
  std::vector<std::string> out;
  try {
    for (RedisReply& e : checked(pool_->run({"SMEMBERS", scopes_key_})).elements) out.push_back(std::move(e.str));
    // Scopes that only another client wrote (the official engine keeps no index): their hashes.
    std::string cursor = "0";
    do {
      const RedisReply page = checked(pool_->run({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000", "TYPE", "hash"}));
      if (page.elements.size() != 2) throw KvStoreError("redis " + pool_->endpoint().address() + ": odd SCAN reply");
      cursor = page.elements[0].str;
      for (const RedisReply& key : page.elements[1].elements) out.push_back(key.str.substr(prefix.size()));
    } while (cursor != "0");
  } catch (const RedisError& e) {
    throw KvStoreError(e.what());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::unique_ptr<KvStore> make_redis_kv_store(std::shared_ptr<RedisPool> pool, std::string name) {
  return std::make_unique<RedisKvStore>(std::move(pool), std::move(name));
}

}  // namespace iii
