// docs/builtins.md §5 (iii-pubsub) through the official SDK: `publish` fans out to subscribers on several
// SDK workers, unsubscribing one keeps the others (the upstream bug of §14.3 is not copied), a
// subscriber that throws or disconnects does not affect the others, and the config is validated.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  III_BINARY, connectRaw, engineCall, engineLifecycle, freePort, sdkCallError, sdkSync, sdkWorker, shutdownSdk, sleep,
  waitFor,
} from './harness.mjs';

const ctx = engineLifecycle({ config: 'workers:\n  - name: pubsub\n' });
let P; // the publisher

const publish = (topic, data) => P.trigger({ function_id: 'publish', payload: { topic, data }, timeoutMs: 5000 });

// The subscribe trigger type is offered, and the publisher is connected.
before(async () => {
  await ctx.ready;
  const q = await connectRaw(ctx.engine.url);
  await waitFor(async () => (await engineCall(q, 'engine::triggers::list', {})).triggers.some((t) => t.id === 'subscribe'),
    5000, 'subscribe trigger type registered');
  await q.close();
  P = sdkWorker(ctx.engine.url, 'ps-publisher');
  await sdkSync(P);
});

/**
 * Each test gets its own subscribers: three SDK workers on `orders` (metadata {i}) and one on
 * `users`, under a per-test prefix for worker names, function ids and topics so that no test sees
 * another's subscriptions. Returns [{worker, got, trigger}] (the `users` one last) and the topics.
 */
async function subscribers(tag) {
  const topics = { orders: `${tag}-orders`, users: `${tag}-users` };
  const workers = [];
  for (let i = 0; i < 3; i++) {
    const worker = sdkWorker(ctx.engine.url, `ps-${tag}-sub-${i}`);
    const got = [];
    worker.registerFunction(`ps::${tag}::sub${i}`, async (data, metadata) => { got.push({ data, metadata }); return { ok: i }; });
    const trigger = worker.registerTrigger({ type: 'subscribe', function_id: `ps::${tag}::sub${i}`, config: { topic: topics.orders },
      metadata: { i } });
    await sdkSync(worker);
    workers.push({ worker, got, trigger });
  }
  const other = sdkWorker(ctx.engine.url, `ps-${tag}-users`);
  const got = [];
  other.registerFunction(`ps::${tag}::users`, async (data) => { got.push({ data }); return null; });
  other.registerTrigger({ type: 'subscribe', function_id: `ps::${tag}::users`, config: { topic: topics.users } });
  await sdkSync(other);
  workers.push({ worker: other, got });
  await sdkSync(P);
  return { workers, topics };
}

test('publish fans the raw data out to every subscriber of the topic, and only them', async () => {
  const { workers, topics } = await subscribers('fan');
  const r = await publish(topics.orders, { id: 1, items: ['a', 'b'], total: 9.5 });
  assert.equal(r ?? null, null);
  await waitFor(() => workers.slice(0, 3).every((w) => w.got.length === 1), 3000, 'all three order subscribers');
  for (const w of workers.slice(0, 3)) {
    assert.deepEqual(w.got[0].data, { id: 1, items: ['a', 'b'], total: 9.5 });
    assert.equal(w.got[0].metadata, undefined, 'pub/sub does not forward trigger metadata');
  }
  await sleep(200);
  assert.equal(workers[3].got.length, 0, 'the users subscriber got an orders message');

  await publish(topics.users, 'plain string');
  await waitFor(() => workers[3].got.length === 1, 3000, 'users subscriber');
  assert.equal(workers[3].got[0].data, 'plain string');
  assert.equal(await publish('nobody-listens', { x: 1 }) ?? null, null);
});

test('unsubscribing one binding keeps the topic\'s other subscribers', async () => {
  const { workers, topics } = await subscribers('unsub');
  workers[0].trigger.unregister();
  await sdkSync(workers[0].worker);
  for (const w of workers) w.got.length = 0;
  await publish(topics.orders, { id: 2 });
  await waitFor(() => workers[1].got.length === 1 && workers[2].got.length === 1, 3000, 'remaining subscribers');
  await sleep(200);
  assert.equal(workers[0].got.length, 0, 'unsubscribed binding still received');
  assert.deepEqual(workers[1].got[0].data, { id: 2 });
});

test('a subscriber that throws does not affect the others', async () => {
  const { workers, topics } = await subscribers('throw');
  const T = sdkWorker(ctx.engine.url, 'ps-thrower');
  let thrown = 0;
  T.registerFunction('ps::throws', async () => { thrown += 1; throw new Error('subscriber exploded'); });
  T.registerTrigger({ type: 'subscribe', function_id: 'ps::throws', config: { topic: topics.orders } });
  await sdkSync(T);
  for (const w of workers) w.got.length = 0;
  for (let n = 0; n < 5; n++) assert.equal(await publish(topics.orders, { n }) ?? null, null);
  await waitFor(() => thrown === 5 && workers[1].got.length === 5 && workers[2].got.length === 5, 3000,
    'every message reached every subscriber');
  assert.deepEqual(workers[1].got.map((g) => g.data.n).sort(), [0, 1, 2, 3, 4]);
  await shutdownSdk(T);
});

test('a subscriber worker that disconnects takes only its own subscription', async () => {
  const { workers, topics } = await subscribers('disc');
  await shutdownSdk(workers[1].worker);
  for (const w of workers) w.got.length = 0;
  await publish(topics.orders, { id: 3 });
  await waitFor(() => workers[2].got.length === 1, 3000, 'the remaining subscriber');
  assert.deepEqual(workers[2].got[0].data, { id: 3 });
  await waitFor(() => workers[0].got.length === 1, 3000, 'the other remaining subscriber');
  assert.deepEqual(workers[0].got[0].data, { id: 3 });
});

test('publish errors and bad subscribe configs', async () => {
  const e = await sdkCallError(P, { function_id: 'publish', payload: { topic: '', data: 1 }, timeoutMs: 5000 });
  assert.equal(e.code, 'topic_not_set');
  assert.match(e.message, /Topic is not set/);
  const missing = await sdkCallError(P, { function_id: 'publish', payload: { data: 1 }, timeoutMs: 5000 });
  assert.equal(missing.code, 'deserialization_error');

  const binder = await connectRaw(ctx.engine.url);
  const id = crypto.randomUUID();
  binder.send({ type: 'registertrigger', id, trigger_type: 'subscribe', function_id: 'x::y', config: { topic: '' } });
  const r = await binder.waitFrame((m) => m && m.type === 'triggerregistrationresult' && m.id === id, 3000,
    { label: 'registration failure' });
  assert.deepEqual(r.error, { code: 'trigger_registration_failed', message: 'Invalid subscribe trigger config: `topic` must not be empty' });
  await binder.close();
});

function runRejected(configText) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iii-pubsub-config-'));
  return freePort().then((port) => {
    try {
      writeFileSync(path.join(dir, 'config.yaml'), configText);
      const r = spawnSync(III_BINARY, ['--port', String(port), '--host', '127.0.0.1'], { cwd: dir, timeout: 10_000 });
      return { status: r.status, stderr: r.stderr.toString() };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('config: an unknown adapter or a bad redis_url is refused with a clear message', async () => {
  const r = await runRejected('workers:\n  - name: iii-pubsub\n    config:\n      adapter:\n        name: redis\n        config:\n          redis_url: redis://localhost:6379/db\n');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /config\.yaml:2: iii-pubsub: `adapter\.config\.redis_url` .*database number/);
  const k = await runRejected('workers:\n  - name: iii-pubsub\n    config:\n      adapter: { name: kafka }\n');
  assert.equal(k.status, 1);
  assert.match(k.stderr, /config\.yaml:2: iii-pubsub: `adapter.name` `kafka` is not a pubsub adapter \(supported: local, redis\)/);
});
