// Durable queues on Redis (docs/redis.md "Queues on Redis") with two engines, official SDK
// workers and a real redis-server: the embedded queue's semantics across engines (every job runs,
// retries with backoff, the dead-letter queue with redrive, FIFO per message group); an engine
// killed with 1,000 jobs in flight loses none of them; a Redis restarted with `appendonly yes`
// loses no acknowledged enqueue, and enqueues fail fast with a clear error while it is down.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TriggerAction } from 'iii-sdk';
import { sdkCallError, sdkSync, sleep, waitFor } from './harness.mjs';
import { onTwoEngines, startRedis } from './redis-support.mjs';

const queueOn = (url) => `workers:
  - name: iii-queue
    config:
      adapter: { name: redis, config: { redis_url: "${url}" } }
      queue_configs:
        jobs: { max_retries: 3, backoff_ms: 100, concurrency: 8 }
        flaky: { max_retries: 3, backoff_ms: 100, concurrency: 4 }
        orders: { type: fifo, message_group_field: user, concurrency: 4, backoff_ms: 100 }
        slow: { max_retries: 5, backoff_ms: 100, concurrency: 2 }
  - name: iii-cluster
    config: { redis_url: "${url}", lease_ms: 1500, heartbeat_ms: 300 }
`;

const enqueue = (w, queue, function_id, payload) =>
  w.trigger({ function_id, payload, action: TriggerAction.Enqueue({ queue }), timeoutMs: 10_000 });
const call = (w, function_id, payload = {}) => w.trigger({ function_id, payload, timeoutMs: 10_000 });

// How many times each job ran, and the duplicates (runs beyond the first), printed.
function tally(label, runs, total) {
  const counts = new Map();
  for (const n of runs) counts.set(n, (counts.get(n) ?? 0) + 1);
  const duplicates = [...counts.values()].reduce((s, c) => s + c - 1, 0);
  console.log(`# ${label}: ${counts.size}/${total} jobs ran, ${duplicates} duplicate run(s)`);
  return { ran: counts.size, duplicates };
}

test('jobs enqueued on one engine run once each, on workers of both engines', async () => {
  await onTwoEngines(queueOn, ['queue-a', 'queue-b'], async ({ wa, wb }) => {
    const runs = { a: [], b: [] };
    // 20 ms each at concurrency 8: A alone would need half a second, so B (woken by the enqueues
    // through Redis pub/sub, or at its next poll) takes its share.
    wa.registerFunction('jobs::run', async (p) => { runs.a.push(p.n); await sleep(20); return null; });
    wb.registerFunction('jobs::run', async (p) => { runs.b.push(p.n); await sleep(20); return null; });
    await sdkSync(wa);
    await sdkSync(wb);
    await Promise.all(Array.from({ length: 200 }, (_, n) => enqueue(wa, 'jobs', 'jobs::run', { n })));
    await waitFor(() => runs.a.length + runs.b.length >= 200, 20_000, 'every job ran');
    await sleep(500);
    const all = [...runs.a, ...runs.b];
    assert.equal(all.length, 200, 'a job ran twice');
    assert.equal(new Set(all).size, 200);
    assert.ok(runs.a.length > 0 && runs.b.length > 0, `both engines consumed: a ${runs.a.length}, b ${runs.b.length}`);
    for (const w of [wa, wb]) {
      const stats = await call(w, 'engine::queue::topic_stats', { topic: 'jobs' });
      assert.equal(stats.depth, 0);
      assert.equal(stats.dlq_depth, 0);
    }
  });
});

test('retries with backoff and the dead-letter queue are shared: dead on one engine, redriven from the other', async () => {
  await onTwoEngines(queueOn, ['queue-a', 'queue-b'], async ({ wa, wb }) => {
    const attempts = new Map();
    let healthy = false;
    wb.registerFunction('flaky::run', async (p) => {
      attempts.set(p.n, (attempts.get(p.n) ?? 0) + 1);
      if (p.n === 'doomed' && !healthy) throw new Error(`cannot process ${p.n}`);
      if (attempts.get(p.n) < 3 && p.n !== 'doomed') throw new Error('not yet');
      return null;
    });
    await sdkSync(wb);
    // Enqueued on A, whose engine reaches B's function through the cluster.
    await waitFor(async () => (await sdkCallError(wa, { function_id: 'flaky::run', payload: { n: 'probe' }, timeoutMs: 2000 })).code !== 'function_not_found',
      10_000, 'flaky::run reachable from a');
    attempts.clear();
    for (let n = 0; n < 10; n++) await enqueue(wa, 'flaky', 'flaky::run', { n });
    const receipt = await enqueue(wa, 'flaky', 'flaky::run', { n: 'doomed' });
    await waitFor(() => [...Array(10).keys()].every((n) => attempts.get(n) === 3), 15_000, 'every job succeeded on its third attempt');
    await waitFor(async () => (await call(wb, 'engine::queue::topic_stats', { topic: 'flaky' })).dlq_depth === 1, 10_000, 'doomed dead');
    assert.equal(attempts.get('doomed'), 3);
    const dead = await call(wb, 'engine::queue::dlq_messages', { topic: 'flaky', offset: 0, limit: 10 });
    assert.equal(dead.length, 1);
    assert.equal(dead[0].id, receipt.messageReceiptId);
    assert.deepEqual(dead[0].payload, { n: 'doomed' });
    assert.match(dead[0].error, /cannot process doomed/);
    healthy = true;
    assert.deepEqual(await call(wa, 'iii::queue::redrive', { queue: 'flaky' }), { queue: 'flaky', redriven: 1 });
    await waitFor(() => attempts.get('doomed') === 4, 10_000, 'redriven job ran');
    await waitFor(async () => (await call(wa, 'engine::queue::topic_stats', { topic: 'flaky' })).dlq_depth === 0, 5000, 'dlq empty');
    await sleep(300);
    for (let n = 0; n < 10; n++) assert.equal(attempts.get(n), 3, `job ${n} ran ${attempts.get(n)} times`);
  });
});

test('FIFO per message group holds across engines: in order, one at a time per group', async () => {
  await onTwoEngines(queueOn, ['queue-a', 'queue-b'], async ({ wa, wb }) => {
    const seen = new Map();
    const running = new Set();
    let overlaps = 0;
    const handler = async (p) => {
      if (running.has(p.user)) overlaps++;
      running.add(p.user);
      await sleep(3);
      running.delete(p.user);
      seen.set(p.user, [...(seen.get(p.user) ?? []), p.seq]);
      return null;
    };
    wa.registerFunction('orders::run', handler);
    wb.registerFunction('orders::run', handler);
    await sdkSync(wa);
    await sdkSync(wb);
    const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
    for (let seq = 0; seq < 20; seq++) {
      for (const user of users) await enqueue(seq % 2 ? wa : wb, 'orders', 'orders::run', { user, seq });
    }
    await waitFor(() => users.every((u) => (seen.get(u) ?? []).length === 20), 20_000, 'every order ran');
    for (const u of users) assert.deepEqual(seen.get(u), [...Array(20).keys()], `order of ${u}`);
    assert.equal(overlaps, 0, 'two messages of one group ran at once');
  });
});

test('kill -9 of an engine with 1,000 queued jobs in flight: every job runs, its leases are taken over', async () => {
  await onTwoEngines(queueOn, ['queue-a', 'queue-b'], async ({ a, wa, wb }) => {
    const runs = [];
    let onA = 0;
    wa.registerFunction('jobs::run', async (p) => { runs.push(p.n); onA++; await sleep(20); return null; });
    wb.registerFunction('jobs::run', async (p) => { runs.push(p.n); await sleep(20); return null; });
    await sdkSync(wa);
    await sdkSync(wb);
    await Promise.all(Array.from({ length: 1000 }, (_, n) => enqueue(wb, 'jobs', 'jobs::run', { n })));
    await waitFor(() => runs.length >= 150, 20_000, 'jobs running');
    a.proc.kill('SIGKILL');
    const killedAt = runs.length;
    assert.ok(onA > 0, 'the killed engine was consuming');
    await waitFor(() => new Set(runs).size === 1000, 60_000, () => `every job ran (${new Set(runs).size})`);
    // The jobs the dead engine held (started there, never acknowledged) are leased until another
    // engine takes them over: within the 5 s liveness bound, far sooner than their lease deadline
    // (the invocation timeout + 5 s), the queue is empty.
    const t0 = Date.now();
    await waitFor(async () => (await call(wb, 'engine::queue::topic_stats', { topic: 'jobs' })).depth === 0, 9000,
      'the killed engine\'s leases taken over');
    const { ran, duplicates } = tally(`engine killed after ${killedAt} runs (${onA} on it); drained ${Date.now() - t0} ms later`, runs, 1000);
    assert.equal(ran, 1000);
    // A duplicate is a job that the killed engine started but did not acknowledge: at most what it
    // held in flight (its concurrency).
    assert.ok(duplicates <= 8, `${duplicates} duplicates`);
  });
});

test('Redis restarted mid-run with appendonly yes: enqueues fail fast meanwhile, no acknowledged job is lost', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iii-redis-aof-'));
  let redis = await startRedis({ appendonly: 'always', dir });
  try {
    await onTwoEngines(queueOn, ['queue-a', 'queue-b'], async ({ wa, wb }) => {
      const runs = [];
      wa.registerFunction('slow::run', async (p) => { runs.push(p.n); await sleep(30); return null; });
      await sdkSync(wa);
      for (let n = 0; n < 100; n++) await enqueue(wb, 'slow', 'slow::run', { n });
      await waitFor(() => runs.length >= 10, 10_000, 'jobs running');
      await redis.stop('SIGKILL');
      const t0 = Date.now();
      const err = await sdkCallError(wb, { function_id: 'slow::run', payload: { n: 'down' }, action: TriggerAction.Enqueue({ queue: 'slow' }), timeoutMs: 10_000 });
      assert.ok(Date.now() - t0 < 6000, `the enqueue waited ${Date.now() - t0} ms`);
      assert.match(err.message, new RegExp(`redis 127\\.0\\.0\\.1:${redis.port}`), JSON.stringify(err));
      await sleep(500);
      redis = await redis.restart();
      await waitFor(() => new Set(runs).size === 100, 60_000, () => `every job ran (${new Set(runs).size})`);
      const { ran } = tally('redis restarted', runs, 100);
      assert.equal(ran, 100);
      assert.ok(!runs.includes('down'), 'a refused enqueue ran');
      // New enqueues work again.
      await enqueue(wb, 'slow', 'slow::run', { n: 'after' });
      await waitFor(() => runs.includes('after'), 10_000, 'enqueue after the restart ran');
    }, redis);
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
