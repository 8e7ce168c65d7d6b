#include "store/redis_queue_scripts.h"

namespace iii::redis_queue_scripts {
namespace {

// What every script shares. A message is the hash <prefix>m:<seq> with the fields
//   q queue, t topic, id message id, fn function, d data, g group (absent: none), tp traceparent,
//   bg baggage, st state (0 ready, 1 delayed, 2 leased, 3 dead), at (enqueued / retry at / lease
//   deadline / failed at), n attempts, o holder (leased only), e last error
// and it sits in exactly one of its queue's sorted sets ready:/delayed:/leased:/dead:<queue>.
// busy:<queue> counts, per group, the messages that are leased or delayed (FIFO gating).
constexpr const char* kLibrary = R"lua(
local P = ARGV[1]
local function mkey(seq) return P .. 'm:' .. seq end
local function grp(seq) return redis.call('HGET', mkey(seq), 'g') or '' end
local function busy(q, g, d)
  local k = P .. 'busy:' .. q
  if redis.call('HINCRBY', k, g, d) <= 0 then redis.call('HDEL', k, g) end
end
local function read(seq)
  local v = redis.call('HMGET', mkey(seq), 'q', 't', 'id', 'fn', 'd', 'g', 'tp', 'bg', 'n', 'e')
  table.insert(v, 1, seq)
  return v
end
-- The queue of message seq when its lease `n` is still held, else nil.
local function held(seq, n)
  local v = redis.call('HMGET', mkey(seq), 'st', 'n', 'q')
  if v[1] ~= '2' or v[2] ~= n then return nil end
  return v[3]
end
local function unlease(seq, q)
  redis.call('ZREM', P .. 'leased:' .. q, seq)
  redis.call('ZREM', P .. 'leases', seq)
  local o = redis.call('HGET', mkey(seq), 'o')
  if o then
    redis.call('SREM', P .. 'held:' .. o, seq)
    redis.call('HDEL', mkey(seq), 'o')
  end
end
-- Ends lease `n` of message seq (attempt number as text) when it is still held: returns the
-- message's queue, or nil when the lease was lost (the caller then changes nothing).
local function end_lease(seq, n)
  local q = held(seq, n)
  if q then unlease(seq, q) end
  return q
end
local function make_ready(seq, q, at)
  redis.call('ZADD', P .. 'ready:' .. q, seq, seq)
  redis.call('HSET', mkey(seq), 'st', '0', 'at', at)
end
-- Tells every engine (RedisQueueStore::watch_ready) that queue q has ready messages, once per
-- script and queue.
local notified = {}
local function notify(q)
  if notified[q] then return end
  notified[q] = true
  redis.call('PUBLISH', P .. 'ready', q)
end
-- A dead message redriven: ready again with its attempts and error cleared.
local function revive(seq, q, at)
  redis.call('HSET', mkey(seq), 'n', '0', 'e', '')
  make_ready(seq, q, at)
end
local function forget_queue_if_empty(q)
  for _, set in ipairs({'ready:', 'delayed:', 'leased:', 'dead:'}) do
    if redis.call('EXISTS', P .. set .. q) == 1 then return end
  end
  local t = redis.call('HGET', P .. 'qt', q)
  redis.call('SREM', P .. 'queues', q)
  redis.call('HDEL', P .. 'qt', q)
  if t and t ~= '' then redis.call('SREM', P .. 'topic:' .. t, q) end
end
local function delete(seq, q)
  redis.call('HDEL', P .. 'ids:' .. q, redis.call('HGET', mkey(seq), 'id'))
  redis.call('DEL', mkey(seq))
  forget_queue_if_empty(q)
end
local function scope_queues(name, is_topic)
  if is_topic == '1' then return redis.call('SMEMBERS', P .. 'topic:' .. name) end
  return {name}
end
)lua";

std::string with_library(const char* body) { return std::string(kLibrary) + body; }

}  // namespace

const RedisScript kEnqueue(with_library(R"lua(
local added = 0
for i = 3, #ARGV, 9 do
  local q, t, id = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local ids = P .. 'ids:' .. q
  if redis.call('HSETNX', ids, id, '') == 1 then
    local seq = redis.call('INCR', P .. 'seq')
    redis.call('HSET', ids, id, seq)
    local m = mkey(seq)
    redis.call('HSET', m, 'q', q, 't', t, 'id', id, 'fn', ARGV[i + 3], 'd', ARGV[i + 4], 'tp', ARGV[i + 7],
               'bg', ARGV[i + 8], 'st', '0', 'at', ARGV[2], 'n', '0', 'e', '')
    if ARGV[i + 5] == '1' then redis.call('HSET', m, 'g', ARGV[i + 6]) end
    redis.call('ZADD', P .. 'ready:' .. q, seq, seq)
    notify(q)
    redis.call('SADD', P .. 'queues', q)
    redis.call('HSET', P .. 'qt', q, t)
    if t ~= '' then redis.call('SADD', P .. 'topic:' .. t, q) end
    added = added + 1
  end
end
return added
)lua"));

const RedisScript kPromoteDue(with_library(R"lua(
local due = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, seq in ipairs(due) do
  redis.call('ZREM', P .. 'due', seq)
  local q = redis.call('HGET', mkey(seq), 'q')
  if q then
    redis.call('ZREM', P .. 'delayed:' .. q, seq)
    busy(q, grp(seq), -1)
    make_ready(seq, q, ARGV[2])
  end
end
return #due
)lua"));

const RedisScript kLease(with_library(R"lua(
local q, max, until_ms, holder = ARGV[2], tonumber(ARGV[3]), ARGV[5], ARGV[6]
local ready = P .. 'ready:' .. q
local picked = {}
if ARGV[4] ~= '1' then
  picked = redis.call('ZRANGE', ready, 0, max - 1)
else
  -- A group is blocked while one of its messages is leased or delayed; otherwise its head is its
  -- oldest ready message.
  local seen = {}
  for _, g in ipairs(redis.call('HKEYS', P .. 'busy:' .. q)) do seen[g] = true end
  for _, seq in ipairs(redis.call('ZRANGE', ready, 0, tonumber(ARGV[7]) - 1)) do
    if #picked >= max then break end
    local g = grp(seq)
    if not seen[g] then
      seen[g] = true
      picked[#picked + 1] = seq
    end
  end
end
local out = {}
for _, seq in ipairs(picked) do
  local m = mkey(seq)
  redis.call('ZREM', ready, seq)
  redis.call('HINCRBY', m, 'n', 1)
  redis.call('HSET', m, 'st', '2', 'at', until_ms, 'o', holder)
  redis.call('ZADD', P .. 'leased:' .. q, until_ms, seq)
  redis.call('ZADD', P .. 'leases', until_ms, seq)
  redis.call('SADD', P .. 'held:' .. holder, seq)
  busy(q, grp(seq), 1)
  out[#out + 1] = read(seq)
end
return out
)lua"));

const RedisScript kFinish(with_library(R"lua(
local seq = ARGV[2]
local q = end_lease(seq, ARGV[3])
if not q then return 0 end
busy(q, grp(seq), -1)
if ARGV[4] == 'ack' then
  delete(seq, q)
else
  redis.call('HSET', mkey(seq), 'st', '3', 'at', ARGV[6], 'e', ARGV[5])
  redis.call('ZADD', P .. 'dead:' .. q, seq, seq)
end
return 1
)lua"));

const RedisScript kRequeue(with_library(R"lua(
local seq = ARGV[2]
local q = end_lease(seq, ARGV[3])
if not q then return 0 end
local m = mkey(seq)
if ARGV[6] == 'release' then redis.call('HINCRBY', m, 'n', -1) else redis.call('HSET', m, 'e', ARGV[7]) end
if tonumber(ARGV[4]) <= tonumber(ARGV[5]) then
  busy(q, grp(seq), -1)
  make_ready(seq, q, ARGV[4])
else  -- stays busy for its group until it is due
  redis.call('HSET', m, 'st', '1', 'at', ARGV[4])
  redis.call('ZADD', P .. 'delayed:' .. q, ARGV[4], seq)
  redis.call('ZADD', P .. 'due', ARGV[4], seq)
end
return 1
)lua"));

const RedisScript kExpired(with_library(R"lua(
-- Only this holder's: each engine settles its own expired leases, with its own queue settings;
-- a dead holder's are reclaimed instead. A bounded scan: the rest waits for the next tick.
local out, max = {}, tonumber(ARGV[3])
for _, seq in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', ARGV[2], 'LIMIT', 0, max * 8)) do
  if #out >= max then break end
  if redis.call('HGET', mkey(seq), 'o') == ARGV[4] then out[#out + 1] = read(seq) end
end
return out
)lua"));

const RedisScript kReclaim(with_library(R"lua(
local n = 0
for _, h in ipairs(redis.call('SMEMBERS', P .. 'holders')) do
  if h ~= ARGV[2] and redis.call('EXISTS', P .. 'live:' .. h) == 0 then
    for _, seq in ipairs(redis.call('SMEMBERS', P .. 'held:' .. h)) do
      local v = redis.call('HMGET', mkey(seq), 'st', 'o', 'q')
      if v[1] == '2' and v[2] == h then
        busy(v[3], grp(seq), -1)
        unlease(seq, v[3])
        make_ready(seq, v[3], ARGV[3])
        notify(v[3])
        n = n + 1
      end
    end
    redis.call('DEL', P .. 'held:' .. h)
    redis.call('SREM', P .. 'holders', h)
  end
end
return n
)lua"));

const RedisScript kCounts(with_library(R"lua(
local c = {0, 0, 0, 0}
for _, q in ipairs(scope_queues(ARGV[2], ARGV[3])) do
  for i, set in ipairs({'ready:', 'delayed:', 'leased:', 'dead:'}) do
    c[i] = c[i] + redis.call('ZCARD', P .. set .. q)
  end
end
return c
)lua"));

const RedisScript kSummaries(with_library(R"lua(
local out = {}
for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  out[#out + 1] = q
  out[#out + 1] = redis.call('HGET', P .. 'qt', q) or ''
  for _, set in ipairs({'ready:', 'delayed:', 'leased:', 'dead:'}) do
    out[#out + 1] = redis.call('ZCARD', P .. set .. q)
  end
end
return out
)lua"));

const RedisScript kDead(with_library(R"lua(
local offset, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local seqs
if ARGV[3] == '1' then
  -- A topic's page is among the first offset + limit of each of its queues (sorted by seq).
  seqs = {}
  for _, q in ipairs(scope_queues(ARGV[2], ARGV[3])) do
    for _, seq in ipairs(redis.call('ZRANGE', P .. 'dead:' .. q, 0, offset + limit - 1)) do seqs[#seqs + 1] = seq end
  end
  table.sort(seqs, function(a, b) return tonumber(a) < tonumber(b) end)
else
  seqs = redis.call('ZRANGE', P .. 'dead:' .. ARGV[2], offset, offset + limit - 1)
  offset = 0
end
local out = {}
for i = offset + 1, math.min(#seqs, offset + limit) do
  out[#out + 1] = redis.call('HMGET', mkey(seqs[i]), 'q', 't', 'id', 'fn', 'd', 'e', 'at', 'n')
end
return out
)lua"));

const RedisScript kDeadLetters(with_library(R"lua(
local n = 0
for _, q in ipairs(scope_queues(ARGV[2], ARGV[3])) do
  local seqs
  if ARGV[5] == 'all' then  -- a page of ARGV[6] at most: the caller repeats until none is left
    seqs = redis.call('ZRANGE', P .. 'dead:' .. q, 0, tonumber(ARGV[6]) - 1)
  else
    local seq = redis.call('HGET', P .. 'ids:' .. q, ARGV[6])
    seqs = (seq and redis.call('HGET', mkey(seq), 'st') == '3') and {seq} or {}
  end
  for _, seq in ipairs(seqs) do
    redis.call('ZREM', P .. 'dead:' .. q, seq)
    if ARGV[5] == 'discard' then delete(seq, q) else revive(seq, q, ARGV[4]); notify(q) end
  end
  n = n + #seqs
end
return n
)lua"));

}  // namespace iii::redis_queue_scripts
