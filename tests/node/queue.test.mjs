// docs/builtins.md §3 (iii-queue) through the official SDK: TriggerAction.Enqueue delivery, retries
// with exponential backoff (timing asserted with tolerances), the dead-letter queue with redrive
// and discard, FIFO order per message group, the concurrency limit, bad enqueues, durable topics
// (durable:subscriber + iii::durable::publish), introspection, and an unwritable data directory.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TriggerAction } from 'iii-sdk';
import {
  UUID_RE, engineLifecycle, sdkCallError, sdkSync, sdkWorker, sleep, startEngine, waitFor,
} from './harness.mjs';

const config = `workers:
  - name: queue
    config:
      max_message_bytes: 2048
      queue_configs:
        jobs: { max_retries: 3, backoff_ms: 200, concurrency: 5 }
        retry: { max_retries: 3, backoff_ms: 300 }
        once: { max_retries: 1, backoff_ms: 100 }
        limited: { concurrency: 2 }
        orders: { type: fifo, message_group_field: user, concurrency: 4, backoff_ms: 100 }
`;

const ctx = engineLifecycle({ config });
let W; // serves the queued functions
let C; // the caller

const enqueue = (queue, function_id, payload) =>
  C.trigger({ function_id, payload, action: TriggerAction.Enqueue({ queue }), timeoutMs: 5000 });
const call = async (function_id, payload = {}) => (await C.trigger({ function_id, payload, timeoutMs: 5000 })) ?? null;

// The workers connect and the queue worker answers.
before(async () => {
  await ctx.ready;
  W = sdkWorker(ctx.engine.url, 'queue-test-worker');
  C = sdkWorker(ctx.engine.url, 'queue-test-caller');
  await waitFor(async () => {
    try {
      await call('engine::queue::list_topics');
      return true;
    } catch {
      return false;
    }
  }, 10_000, 'engine::queue::list_topics answers');
});

test('enqueue: the caller gets a receipt, the function gets the payload once', async () => {
  const got = [];
  W.registerFunction('q::echo', async (data) => { got.push(data); return { ok: true }; });
  await sdkSync(W);
  const receipt = await enqueue('jobs', 'q::echo', { order: 42, items: ['a', 'b'], price: 9.5 });
  assert.match(receipt.messageReceiptId, UUID_RE);
  await waitFor(() => got.length === 1, 5000, 'delivery');
  assert.deepEqual(got[0], { order: 42, items: ['a', 'b'], price: 9.5 });
  await waitFor(async () => (await call('engine::queue::topic_stats', { topic: 'jobs' })).depth === 0, 3000, 'acked');
  await sleep(300);
  assert.equal(got.length, 1, 'delivered more than once');
  // The default queue always exists.
  await enqueue('default', 'q::echo', { d: 1 });
  await waitFor(() => got.length === 2, 5000, 'delivery from the default queue');
});

test('retries: backoff_ms * 2^(attempt-1) between attempts, then success', async () => {
  const at = [];
  W.registerFunction('q::flaky', async (data) => {
    at.push(Date.now());
    if (at.length < 3) throw new Error(`flaky failure ${at.length}`);
    return { done: data.n };
  });
  await sdkSync(W);
  await enqueue('retry', 'q::flaky', { n: 1 });
  await waitFor(() => at.length === 3, 8000, 'three attempts');
  const gap1 = at[1] - at[0], gap2 = at[2] - at[1];
  // backoff_ms 300: 300 ms then 600 ms. The engine ticks every 100 ms; allow for a loaded machine.
  assert.ok(gap1 >= 280 && gap1 <= 300 + 700, `first retry after ${gap1} ms (expected ≈300)`);
  assert.ok(gap2 >= 580 && gap2 <= 600 + 700, `second retry after ${gap2} ms (expected ≈600)`);
  assert.ok(gap2 > gap1 * 1.4, `backoff did not grow: ${gap1} ms then ${gap2} ms`);
  await sleep(800);
  assert.equal(at.length, 3, 'retried after success');
  assert.equal((await call('engine::queue::topic_stats', { topic: 'retry' })).dlq_depth, 0);
});

test('DLQ after the last attempt, with its last error; redrive_message, redrive and discard', async () => {
  let healthy = false;
  const seen = [];
  W.registerFunction('q::fails', async (data) => {
    seen.push(data.n);
    if (!healthy) throw new Error(`cannot process ${data.n}`);
    return null;
  });
  await sdkSync(W);
  const receipts = [];
  for (const n of [1, 2, 3]) receipts.push((await enqueue('once', 'q::fails', { n })).messageReceiptId);
  await waitFor(async () => (await call('engine::queue::topic_stats', { topic: 'once' })).dlq_depth === 3, 5000, 'three dead');
  const stats = await call('engine::queue::topic_stats', { topic: 'once' });
  assert.equal(stats.depth, 0);
  assert.equal(stats.consumer_count, 10);
  assert.deepEqual(stats.config, { max_retries: 1, concurrency: 10, type: 'standard', backoff_ms: 100, poll_interval_ms: 100 });
  const dead = await call('engine::queue::dlq_messages', { topic: 'once', offset: 0, limit: 10 });
  assert.equal(dead.length, 3);
  assert.deepEqual(dead.map((d) => d.id).sort(), [...receipts].sort());
  const first = dead.find((d) => d.id === receipts[0]);
  assert.deepEqual(first.payload, { n: 1 });
  assert.match(first.error, /^invocation_failed: .*cannot process 1/);
  assert.equal(first.retries, 1);
  assert.equal(first.size_bytes, JSON.stringify({ n: 1 }).length);
  assert.ok(Math.abs(first.failed_at - Date.now() / 1000) < 60, `failed_at ${first.failed_at} is not unix seconds`);
  assert.deepEqual((await call('engine::queue::dlq_messages', { topic: 'once', offset: 1, limit: 1 })).length, 1);
  const topics = await call('engine::queue::dlq_topics');
  assert.deepEqual(topics.find((t) => t.topic === 'once'), { topic: 'once', broker_type: 'function_queue', message_count: 3 });

  healthy = true;
  seen.length = 0;
  assert.deepEqual(await call('iii::queue::redrive_message', { queue: 'once', message_id: receipts[0] }),
    { queue: 'once', message_id: receipts[0], redriven: 1 });
  await waitFor(() => seen.includes(1), 5000, 'redriven message delivered');
  assert.deepEqual(await call('iii::queue::discard_message', { queue: 'once', message_id: receipts[1] }),
    { queue: 'once', message_id: receipts[1], redriven: 1 });
  assert.equal((await call('iii::queue::discard_message', { queue: 'once', message_id: receipts[1] })).redriven, 0);
  assert.deepEqual(await call('iii::queue::redrive', { queue: 'once' }), { queue: 'once', redriven: 1 });
  await waitFor(() => seen.includes(3), 5000, 'redriven queue delivered');
  await sleep(300);
  assert.deepEqual(seen.sort(), [1, 3], 'the discarded message came back');
  assert.equal((await call('engine::queue::topic_stats', { topic: 'once' })).dlq_depth, 0);

  for (const [fn, payload, code] of [
    ['iii::queue::redrive', {}, 'queue_not_set'],
    ['iii::queue::redrive_message', { queue: 'once' }, 'message_id_not_set'],
    ['engine::queue::topic_stats', {}, 'topic_required'],
    ['iii::durable::publish', { data: 1 }, 'topic_not_set'],
  ]) {
    const e = await sdkCallError(C, { function_id: fn, payload, timeoutMs: 5000 });
    assert.equal(e.code, code, `${fn}: ${e.message}`);
  }
});

test('FIFO: in order per message group, one in flight per group, groups in parallel', async () => {
  const log = [];
  const inFlight = new Map();
  let parallelGroups = 0, overlap = null;
  W.registerFunction('q::fifo', async ({ user, n }) => {
    if (inFlight.get(user)) overlap = `${user} had two messages in flight`;
    inFlight.set(user, true);
    parallelGroups = Math.max(parallelGroups, [...inFlight.values()].filter(Boolean).length);
    await sleep(5 + Math.floor(Math.random() * 25));
    log.push({ user, n });
    inFlight.set(user, false);
    if (user === 'carol' && n === 2 && !log.some((e) => e.failed)) {
      log.push({ user, n, failed: true });
      throw new Error('carol 2 fails once');
    }
    return null;
  });
  await sdkSync(W);
  const users = ['alice', 'bob', 'carol'];
  for (let n = 1; n <= 6; n++) {
    for (const user of users) await enqueue('orders', 'q::fifo', { user, n });
  }
  await waitFor(() => log.filter((e) => !e.failed).length === 19, 10_000, 'every message processed');
  assert.equal(overlap, null, overlap);
  for (const user of users) {
    const order = log.filter((e) => e.user === user && !e.failed).map((e) => e.n);
    const expected = user === 'carol' ? [1, 2, 2, 3, 4, 5, 6] : [1, 2, 3, 4, 5, 6];
    assert.deepEqual(order, expected, `${user}: ${order}`);
  }
  assert.ok(parallelGroups >= 2, `groups never ran in parallel (max ${parallelGroups})`);
  const e = await sdkCallError(C, { function_id: 'q::fifo', payload: { n: 1 }, action: TriggerAction.Enqueue({ queue: 'orders' }) });
  assert.equal(e.code, 'enqueue_error');
  assert.match(e.message, /message_group_missing: Queue `orders` is FIFO: `data.user` must be present/);
});

test('concurrency: never more than `concurrency` deliveries at once', async () => {
  let current = 0, max = 0, done = 0;
  W.registerFunction('q::slow', async () => {
    current++;
    max = Math.max(max, current);
    await sleep(120);
    current--;
    done++;
    return null;
  });
  await sdkSync(W);
  await Promise.all(Array.from({ length: 8 }, (_, i) => enqueue('limited', 'q::slow', { i })));
  await waitFor(() => done === 8, 10_000, 'all 8 done');
  assert.equal(max, 2, `max in flight was ${max}`);
});

test('bad enqueues: unknown queue and oversized payload are enqueue_error with a clear message', async () => {
  let e = await sdkCallError(C, { function_id: 'q::echo', payload: {}, action: TriggerAction.Enqueue({ queue: 'nope' }) });
  assert.equal(e.code, 'enqueue_error');
  assert.match(e.message, /queue_not_found: Queue `nope` is not configured \(configured queues: default, jobs, limited, once, orders, retry\)/);
  e = await sdkCallError(C, { function_id: 'q::echo', payload: { blob: 'x'.repeat(3000) }, action: TriggerAction.Enqueue({ queue: 'jobs' }) });
  assert.equal(e.code, 'enqueue_error');
  assert.match(e.message, /payload_too_large: .* over the limit of 2048 bytes/);
  assert.equal((await call('engine::queue::topic_stats', { topic: 'jobs' })).depth, 0);
});

test('durable topics: fan-out per function, replicas share, per-subscriber retries, condition', async () => {
  const a = [], b = [], conditioned = [];
  let bFailures = 0;
  const R = sdkWorker(ctx.engine.url, 'queue-test-replica');
  for (const [worker, tag] of [[W, 'W'], [R, 'R']]) {
    worker.registerFunction('topic::a', async (data) => { a.push({ ...data, by: tag }); return null; });
  }
  W.registerFunction('topic::b', async (data) => {
    if (data.n === 1 && bFailures++ === 0) throw new Error('b fails once');
    b.push(data);
    return null;
  });
  W.registerFunction('topic::cond', async (data) => data.n % 2 === 0);
  W.registerFunction('topic::even', async (data) => { conditioned.push(data.n); return null; });
  // topic::a is registered by two workers (the later wins the function); both bind the trigger.
  W.registerTrigger({ type: 'durable:subscriber', function_id: 'topic::a', config: { topic: 'events' } });
  R.registerTrigger({ type: 'durable:subscriber', function_id: 'topic::a', config: { topic: 'events' } });
  W.registerTrigger({ type: 'durable:subscriber', function_id: 'topic::b',
    config: { topic: 'events', queue_config: { maxRetries: 2, backoffDelayMs: 100 } } });
  W.registerTrigger({ type: 'durable:subscriber', function_id: 'topic::even',
    config: { topic: 'events', condition_function_id: 'topic::cond' } });
  await sdkSync(W);
  await sdkSync(R);
  for (const n of [1, 2, 3, 4]) assert.equal(await call('iii::durable::publish', { topic: 'events', data: { n } }), null);
  await waitFor(() => a.length === 4 && b.length === 4 && conditioned.length === 2, 8000,
    `fan-out (a ${a.length}, b ${b.length}, even ${conditioned.length})`);
  assert.deepEqual(a.map((x) => x.n).sort(), [1, 2, 3, 4], 'one copy per function, not per binding');
  assert.deepEqual(b.map((x) => x.n).sort(), [1, 2, 3, 4]);
  assert.deepEqual(conditioned.sort(), [2, 4]);
  const topics = await call('engine::queue::list_topics');
  assert.deepEqual(topics.find((t) => t.name === 'events'), { name: 'events', broker_type: 'builtin', subscriber_count: 4 });
  await waitFor(async () => (await call('engine::queue::topic_stats', { topic: 'events' })).depth === 0, 3000, 'topic drained');
});

test('an unwritable data directory: the queue worker does not start and says why', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iii-queue-unwritable-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'not-a-dir'), 'x');
  const engine = await startEngine({
    cwd: dir,
    config: 'workers:\n  - name: queue\n    config:\n      adapter:\n        name: builtin\n        config:\n          file_path: ./not-a-dir/queue\n',
  });
  t.after(() => engine.stop());
  await waitFor(() => /could not start/.test(engine.logs()), 5000, 'start failure logged');
  assert.match(engine.logs(), /worker `queue` .* could not start: cannot create directory .*not-a-dir/);
  const X = sdkWorker(engine.url, 'queue-unwritable');
  const e = await sdkCallError(X, { function_id: 'f', payload: {}, action: TriggerAction.Enqueue({ queue: 'default' }) });
  assert.equal(e.code, 'enqueue_error');
  engine.assertAlive('after the queue worker failed to start');
});
