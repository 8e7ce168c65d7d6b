// docs/builtins.md §2 (iii-state) and §0.4 (update ops) through the official SDK: every state::*
// function, every update op, `state` triggers with scope/key filters and conditions, and
// persistence of the file_based store across an engine restart and across kill -9.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  closeAll, connectRaw, sdkCallError, sdkSync, sdkWaitCallable, sdkWorker, shutdownSdk, sleep, startEngine, waitFor,
} from './harness.mjs';

// One directory for the whole file: each engine start runs in it, so ./data/state_store.db
// (relative to the engine's working directory) is the same database across restarts.
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'iii-state-node-'));
const dbFile = path.join(dataDir, 'data', 'state_store.db');

const config = (name = 'iii-state') => `workers:
  - name: ${name}
    config:
      adapter:
        name: kv
        config:
          store_method: file_based
          file_path: ./data/state_store.db
          save_interval_ms: 5000
      triggers_enabled: true
      max_value_bytes: 4096
`;

let engine = null;
let W = null; // the SDK worker every call goes through

async function boot(name) {
  engine = await startEngine({ config: config(name), cwd: dataDir });
  W = sdkWorker(engine.url, 'state-test');
  // The built-ins come up right after the listener: wait until state::* answers.
  await sdkWaitCallable(W, 'state::list_groups');
}

async function shutdownEngine({ kill = false } = {}) {
  await shutdownSdk(W);
  if (kill) {
    engine.proc.kill('SIGKILL');
    await waitFor(() => !engine.alive(), 5000, 'engine killed');
    assert.equal(engine.exitInfo().signal, 'SIGKILL');
  }
  await engine.stop();
  engine = null;
}

// The engine leaves `result` out of a frame when it is null (docs/protocol.md §2.12), so the SDK resolves
// with undefined where the function answered null.
const call = async (function_id, payload) => (await W.trigger({ function_id, payload, timeoutMs: 5000 })) ?? null;

after(async () => {
  await closeAll();
  if (engine) await engine.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

// The engine with iii-state on a file_based store. The persistence tests restart it (boot/
// shutdownEngine) on the same directory; the others only need it running.
before(async () => {
  await boot('iii-state');
  assert.ok(existsSync(dbFile), `no database at ${dbFile}`);
});

/** Writes scope `items` so that it lists as [{i:30},{i:1},{i:2}]; gives the same result when run again. */
async function seedItems() {
  for (const i of [3, 1, 2]) await call('state::set', { scope: 'items', key: `item-${i}`, value: { i } });
  await call('state::set', { scope: 'items', key: 'item-3', value: { i: 30 } }); // keeps its place
}

test('state::set / state::get: result shapes, `data` alias, missing keys', async () => {
  assert.deepEqual(await call('state::set', { scope: 'users', key: 'u1', value: { name: 'Alice', tags: ['a'] } }),
    { old_value: null, new_value: { name: 'Alice', tags: ['a'] } });
  assert.deepEqual(await call('state::get', { scope: 'users', key: 'u1' }), { name: 'Alice', tags: ['a'] });
  assert.deepEqual(await call('state::set', { scope: 'users', key: 'u1', data: 42 }),
    { old_value: { name: 'Alice', tags: ['a'] }, new_value: 42 });
  assert.equal(await call('state::get', { scope: 'users', key: 'u1' }), 42);
  assert.equal(await call('state::get', { scope: 'users', key: 'nobody' }), null);
  assert.equal(await call('state::get', { scope: 'no-such-scope', key: 'u1' }), null);
  // Any JSON value round-trips, floats included.
  for (const v of ['text', 1.5, -7, true, null, [1, [2, { x: 3 }]], { '': '', 'a.b': 'dots are literal' }]) {
    await call('state::set', { scope: 'values', key: 'v', value: v });
    assert.deepEqual(await call('state::get', { scope: 'values', key: 'v' }), v);
  }
});

test('state::delete returns the removed value, or null', async () => {
  await call('state::set', { scope: 'del', key: 'k', value: 'hello' });
  assert.equal(await call('state::delete', { scope: 'del', key: 'k' }), 'hello');
  assert.equal(await call('state::get', { scope: 'del', key: 'k' }), null);
  assert.equal(await call('state::delete', { scope: 'del', key: 'k' }), null);
});

test('state::list (insertion order) and state::list_groups (sorted)', async () => {
  assert.deepEqual(await call('state::list', { scope: 'empty-scope' }), []);
  await seedItems();
  // Two more groups, and a scope that had a key and was emptied again.
  await call('state::set', { scope: 'users', key: 'list-probe', value: 1 });
  await call('state::set', { scope: 'values', key: 'list-probe', value: 1 });
  await call('state::set', { scope: 'del', key: 'list-probe', value: 1 });
  await call('state::delete', { scope: 'del', key: 'list-probe' });
  assert.deepEqual(await call('state::list', { scope: 'items' }), [{ i: 30 }, { i: 1 }, { i: 2 }]);
  assert.deepEqual(await call('state::list_keys', { scope: 'items' }), { keys: ['item-3', 'item-1', 'item-2'] });
  const { groups } = await call('state::list_groups', {});
  assert.deepEqual(groups, [...groups].sort());
  for (const g of ['items', 'users', 'values']) assert.ok(groups.includes(g), `${g} missing from ${groups}`);
  assert.ok(!groups.includes('del'), 'an emptied scope is not a group');
});

test('state::update: set / merge / increment / decrement / append / remove', async () => {
  const upd = (key, ops) => call('state::update', { scope: 'upd', key, ops });
  assert.deepEqual(await upd('doc', [{ type: 'set', path: 'title', value: 'Hi' }]),
    { old_value: null, new_value: { title: 'Hi' } });
  assert.deepEqual(await upd('doc', [
    { type: 'merge', value: { author: 'ann', meta: { v: 1 } } },
    { type: 'merge', path: 'meta', value: { w: 2 } },
    { type: 'merge', path: ['sessions', 'abc'], value: { ts: 1 } },
    { type: 'increment', path: 'views', by: 5 },
    { type: 'decrement', path: 'views', by: 2 },
    { type: 'decrement', path: 'debt', by: 4 },
    { type: 'append', path: 'log', value: 'a' },
    { type: 'append', path: 'log', value: 'b' },
    { type: 'append', path: 'events', value: { k: 1 } },
    { type: 'append', path: ['sessions', 'abc', 'chunks'], value: 'x' },
    { type: 'set', path: 'a.b', value: true },
    { type: 'remove', path: 'title' },
    { type: 'remove', path: 'not-there' },
  ]), {
    old_value: { title: 'Hi' },
    new_value: {
      author: 'ann',
      meta: { v: 1, w: 2 },
      sessions: { abc: { ts: 1, chunks: ['x'] } },
      views: 3,
      debt: -4,
      log: 'ab',
      events: [{ k: 1 }],
      'a.b': true,
    },
  });
  assert.deepEqual((await call('state::get', { scope: 'upd', key: 'doc' })).meta, { v: 1, w: 2 });

  // The root: numbers, strings, arrays, replacement and removal.
  assert.deepEqual(await upd('n', [{ type: 'increment', path: '', by: 7 }]), { old_value: null, new_value: 7 });
  assert.deepEqual(await upd('n', [{ type: 'decrement', path: '', by: 2 }]), { old_value: 7, new_value: 5 });
  assert.deepEqual(await upd('f', [{ type: 'set', path: '', value: 1.5 }, { type: 'increment', path: '', by: 1 }]),
    { old_value: null, new_value: 2.5 });
  assert.deepEqual(await upd('s', [{ type: 'append', value: 'ab' }, { type: 'append', value: 'c' }]),
    { old_value: null, new_value: 'abc' });
  assert.deepEqual(await upd('arr', [{ type: 'append', path: [], value: 1 }, { type: 'append', value: 2 }]),
    { old_value: null, new_value: [1, 2] });
  assert.deepEqual(await upd('arr', [{ type: 'set', path: '', value: { fresh: true } }]),
    { old_value: [1, 2], new_value: { fresh: true } });
  assert.deepEqual(await upd('arr', [{ type: 'remove', path: '' }]), { old_value: { fresh: true }, new_value: null });
});

test('state::update: failed ops are skipped and reported, the rest apply', async () => {
  const DOC = 'https://iii.dev/docs/workers/iii-state#error-codes';
  await call('state::set', { scope: 'upd', key: 'bad', value: { s: 'text', o: {} } });
  const r = await call('state::update', {
    scope: 'upd',
    key: 'bad',
    ops: [
      { type: 'increment', path: 's', by: 1 },
      { type: 'set', path: '__proto__', value: 1 },
      { type: 'append', path: 'o', value: 'x' },
      { type: 'merge', path: 'm', value: 'not an object' },
      { type: 'merge', path: ['a', ''], value: {} },
      { type: 'merge', value: { constructor: 1 } },
      { type: 'append', path: 's', value: 5 },
      { type: 'set', path: 'ok', value: true },
    ],
  });
  assert.deepEqual(r.old_value, { s: 'text', o: {} });
  assert.deepEqual(r.new_value, { s: 'text', o: {}, ok: true });
  assert.deepEqual(r.errors.map((e) => [e.op_index, e.code]), [
    [0, 'increment.not_number'],
    [1, 'set.path.proto_polluted'],
    [2, 'append.type_mismatch'],
    [3, 'merge.value.not_an_object'],
    [4, 'merge.path.empty_segment'],
    [5, 'merge.value.proto_polluted'],
    [6, 'append.type_mismatch'],
  ]);
  for (const e of r.errors) {
    assert.equal(e.doc_url, DOC);
    assert.ok(e.message.length > 0);
  }
  const deep = Array.from({ length: 33 }, (_, i) => `k${i}`);
  const limits = await call('state::update', {
    scope: 'upd',
    key: 'limits',
    ops: [
      { type: 'merge', path: deep, value: { x: 1 } },
      { type: 'append', path: ['x'.repeat(257)], value: 1 },
      { type: 'increment', path: 'prototype', by: 1 },
      { type: 'remove', path: 'constructor' },
    ],
  });
  assert.deepEqual(limits.errors.map((e) => e.code),
    ['merge.path.too_deep', 'append.path.segment_too_long', 'increment.path.proto_polluted', 'remove.path.proto_polluted']);
  assert.deepEqual(limits.new_value, {});
  // No errors ⇒ no `errors` key.
  const clean = await call('state::update', { scope: 'upd', key: 'limits', ops: [{ type: 'set', path: 'a', value: 1 }] });
  assert.equal('errors' in clean, false);
});

test('invalid input: a clear error and nothing changes', async () => {
  await call('state::set', { scope: 'inv', key: 'k', value: 1 });
  const cases = [
    [{ function_id: 'state::set', payload: { key: 'k', value: 2 } }, 'missing field `scope`'],
    [{ function_id: 'state::set', payload: { scope: 'inv', key: 'k' } }, 'missing field `value`'],
    [{ function_id: 'state::get', payload: { scope: 'inv', key: 5 } }, 'field `key`: invalid type: number'],
    [{ function_id: 'state::update', payload: { scope: 'inv', key: 'k', ops: [{ type: 'explode' }] } }, 'unknown variant'],
    [{ function_id: 'state::update', payload: { scope: 'inv', key: 'k', ops: [{ type: 'increment', path: 'a', by: 1.5 }] } },
      'expected i64'],
    [{ function_id: 'state::update', payload: { scope: 'inv', key: 'k', ops: 'nope' } }, 'expected a sequence'],
    [{ function_id: 'state::list', payload: {} }, 'missing field `scope`'],
  ];
  for (const [req, detail] of cases) {
    const e = await sdkCallError(W, { ...req, timeoutMs: 5000 });
    assert.equal(e.code, 'deserialization_error', `${JSON.stringify(req)} → ${e.message}`);
    assert.ok(e.message.includes(`Failed to deserialize input for ${req.function_id}: `), e.message);
    assert.ok(e.message.includes(detail), `${e.message} should mention ${detail}`);
  }
  const big = await sdkCallError(W, { function_id: 'state::set', payload: { scope: 'inv', key: 'k', value: 'x'.repeat(5000) } });
  assert.equal(big.code, 'VALUE_TOO_LARGE');
  assert.equal(await call('state::get', { scope: 'inv', key: 'k' }), 1);
});

test('state triggers: payloads, scope/key filters, conditions, unregister', async () => {
  const T = sdkWorker(engine.url, 'state-trigger-test');
  const got = { all: [], orders: [], o1: [], vip: [] };
  const conditionSaw = [];
  T.registerFunction('st::all', async (data, metadata) => { got.all.push({ data, metadata }); return null; });
  T.registerFunction('st::orders', async (data) => { got.orders.push(data); return null; });
  T.registerFunction('st::o1', async (data) => { got.o1.push(data); return null; });
  T.registerFunction('st::vip', async (data) => { got.vip.push(data); return null; });
  T.registerFunction('st::is_vip', async (data) => { conditionSaw.push(data); return data.key === 'vip'; });
  const all = T.registerTrigger({ type: 'state', function_id: 'st::all', config: { scope: 'trig' }, metadata: { from: 'test' } });
  T.registerTrigger({ type: 'state', function_id: 'st::orders', config: { scope: 'orders' } });
  T.registerTrigger({ type: 'state', function_id: 'st::o1', config: { scope: 'orders', key: 'o1' } });
  T.registerTrigger({ type: 'state', function_id: 'st::vip', config: { scope: 'trig', condition_function_id: 'st::is_vip' } });
  await sdkSync(T);

  await call('state::set', { scope: 'trig', key: 'k', value: 1 });
  await call('state::set', { scope: 'trig', key: 'k', value: 2 });
  await call('state::update', { scope: 'trig', key: 'k', ops: [{ type: 'increment', path: '', by: 1 }] });
  await call('state::delete', { scope: 'trig', key: 'k' });
  await call('state::delete', { scope: 'trig', key: 'never-existed' });
  await waitFor(() => got.all.length === 5, 5000, 'five state events');
  assert.deepEqual(got.all.map((e) => e.data), [
    { type: 'state', event_type: 'state:created', scope: 'trig', key: 'k', old_value: null, new_value: 1 },
    { type: 'state', event_type: 'state:updated', scope: 'trig', key: 'k', old_value: 1, new_value: 2 },
    { type: 'state', event_type: 'state:updated', scope: 'trig', key: 'k', old_value: 2, new_value: 3 },
    { type: 'state', event_type: 'state:deleted', scope: 'trig', key: 'k', old_value: 3, new_value: null },
    { type: 'state', event_type: 'state:deleted', scope: 'trig', key: 'never-existed', old_value: null, new_value: null },
  ]);
  assert.deepEqual(got.all[0].metadata, { from: 'test' });

  // Conditions: the handler runs only where st::is_vip says true; it saw the same payload.
  await call('state::set', { scope: 'trig', key: 'vip', value: 'gold' });
  await waitFor(() => got.vip.length === 1, 5000, 'vip handler');
  assert.equal(got.vip[0].key, 'vip');
  assert.equal(conditionSaw.length, 6);
  assert.deepEqual(conditionSaw[5], got.vip[0]);

  // Filters.
  await call('state::set', { scope: 'orders', key: 'o1', value: 'a' });
  await call('state::set', { scope: 'orders', key: 'o2', value: 'b' });
  await call('state::set', { scope: 'other', key: 'o1', value: 'c' });
  await waitFor(() => got.orders.length === 2 && got.o1.length === 1, 5000, 'filtered events');
  assert.deepEqual(got.orders.map((d) => d.key), ['o1', 'o2']);
  assert.equal(got.o1[0].new_value, 'a');

  // Unregister: no more events for that binding.
  all.unregister();
  await sdkSync(T);
  await call('state::set', { scope: 'trig', key: 'after', value: 1 });
  await sleep(200);
  assert.equal(got.all.length, 6); // the vip set was the sixth
  await shutdownSdk(T);
});

test('a malformed state trigger config is rejected to the binder', async () => {
  const binder = await connectRaw(engine.url);
  const id = crypto.randomUUID();
  binder.send({ type: 'registertrigger', id, trigger_type: 'state', function_id: 'x::y', config: { scope: 5 } });
  const r = await binder.waitFrame((m) => m && m.type === 'triggerregistrationresult' && m.id === id, 3000,
    { label: 'registration failure' });
  assert.equal(r.error.code, 'trigger_registration_failed');
  assert.equal(r.error.message, 'Invalid state trigger config: `scope` must be a string, got number');
  await binder.close();
});

test('persistence: data survives an engine restart', async () => {
  await call('state::set', { scope: 'persist', key: 'graceful', value: { n: 1 } });
  await call('state::delete', { scope: 'persist', key: 'counter' }); // the update below creates it
  await call('state::update', { scope: 'persist', key: 'counter', ops: [{ type: 'increment', path: 'n', by: 41 }] });
  await seedItems();
  await shutdownEngine();
  await boot('iii-state');
  assert.deepEqual(await call('state::get', { scope: 'persist', key: 'graceful' }), { n: 1 });
  assert.deepEqual(await call('state::update', { scope: 'persist', key: 'counter', ops: [{ type: 'increment', path: 'n', by: 1 }] }),
    { old_value: { n: 41 }, new_value: { n: 42 } });
  assert.deepEqual(await call('state::list', { scope: 'items' }), [{ i: 30 }, { i: 1 }, { i: 2 }]);
});

test('persistence: a write that returned survives kill -9 (alias `state`)', async () => {
  await call('state::set', { scope: 'persist', key: 'before-kill', value: 'written' });
  // An update and a delete that returned must survive too (whether or not the restart test ran).
  await call('state::set', { scope: 'persist', key: 'counter', value: { n: 41 } });
  assert.deepEqual(await call('state::update', { scope: 'persist', key: 'counter', ops: [{ type: 'increment', path: 'n', by: 1 }] }),
    { old_value: { n: 41 }, new_value: { n: 42 } });
  await call('state::set', { scope: 'persist', key: 'graceful', value: { n: 1 } });
  await call('state::delete', { scope: 'persist', key: 'graceful' });
  await shutdownEngine({ kill: true });
  await boot('state');
  assert.equal(await call('state::get', { scope: 'persist', key: 'before-kill' }), 'written');
  assert.equal(await call('state::get', { scope: 'persist', key: 'graceful' }), null);
  assert.deepEqual(await call('state::get', { scope: 'persist', key: 'counter' }), { n: 42 });
});
