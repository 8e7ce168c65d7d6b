// §4.1: engine::functions::*, engine::workers::*, engine::triggers::*, engine::registered-triggers::*,
// engine::register_trigger / engine::unregister_trigger.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  connectRaw, engineCall, engineCallError, engineLifecycle, sdkSync, sdkWorker, sdkWorkerId, UUID_RE, waitFor,
} from './harness.mjs';

const ctx = engineLifecycle();
let A; let q;
const provider = {
  registered: [], unregistered: [],
  async registerTrigger(c) { provider.registered.push(c); if (c.config && c.config.reject) throw new Error('bad config'); },
  async unregisterTrigger(c) { provider.unregistered.push(c); },
};
const REQ = { type: 'object', properties: { a: { type: 'number' } } };

// SDK worker "ef-worker" with three functions and a trigger type, and a raw query client.
before(async () => {
  await ctx.ready;
  A = sdkWorker(ctx.engine.url, 'ef-worker', { workerDescription: 'engine fn tests' });
  A.registerFunction('ef::alpha', async () => 'a', { description: 'Alpha fn', request_format: REQ, response_format: { type: 'string' }, metadata: { owner: 'ef' } });
  A.registerFunction('ef::beta', async () => 'b');
  A.registerFunction('ef::hidden', async () => 'h', { metadata: { internal: true } });
  A.registerTriggerType({ id: 'ef-type', description: 'EF type' }, provider);
  q = await connectRaw(ctx.engine.url);
  await sdkSync(A);
  await sdkWorkerId(A);
  await waitFor(async () => (await engineCall(q, 'engine::workers::list', {})).workers.some((w) => w.name === 'ef-worker'),
    3000, 'ef-worker listed after engine::workers::register');
});

test('functions::list hides engine::* and internal functions by default, sorted by id', async () => {
  const { functions } = await engineCall(q, 'engine::functions::list', {});
  const ids = functions.map((f) => f.function_id);
  assert.ok(ids.includes('ef::alpha') && ids.includes('ef::beta'), `ids: ${ids}`);
  assert.ok(!ids.includes('ef::hidden'), 'metadata.internal hidden by default');
  assert.ok(!ids.some((id) => id.startsWith('engine::') && !id.startsWith('engine::queue::')), `engine ids leaked: ${ids}`);
  assert.deepEqual(ids, [...ids].sort(), 'sorted by id');
  const alpha = functions.find((f) => f.function_id === 'ef::alpha');
  assert.equal(alpha.worker_name, 'ef-worker');
  assert.equal(alpha.description, 'Alpha fn');
  assert.deepEqual(alpha.metadata, { owner: 'ef' });
  const beta = functions.find((f) => f.function_id === 'ef::beta');
  assert.equal(beta.description ?? null, null);
});

test('functions::list include_internal, prefix and search', async () => {
  const all = (await engineCall(q, 'engine::functions::list', { include_internal: true })).functions.map((f) => f.function_id);
  for (const id of ['ef::hidden', 'engine::functions::list', 'engine::functions::info', 'engine::workers::list',
    'engine::workers::register', 'engine::register_trigger', 'engine::unregister_trigger']) {
    assert.ok(all.includes(id), `include_internal list lacks ${id}`);
  }
  const pre = (await engineCall(q, 'engine::functions::list', { prefix: 'ef::' })).functions.map((f) => f.function_id);
  assert.deepEqual(pre, ['ef::alpha', 'ef::beta']);
  const found = (await engineCall(q, 'engine::functions::list', { search: 'alpha' })).functions.map((f) => f.function_id);
  assert.ok(found.includes('ef::alpha') && !found.includes('ef::beta'), `search alpha: ${found}`);
});

test('engine::channels::create is listed and returns a writer/reader pair with one channel id (§3.13)', async () => {
  const all = (await engineCall(q, 'engine::functions::list', { include_internal: true })).functions.map((f) => f.function_id);
  assert.ok(all.includes('engine::channels::create'), 'include_internal list lacks engine::channels::create');
  const r = await engineCall(q, 'engine::channels::create', { buffer_size: 16 });
  assert.equal(r.writer.direction, 'write');
  assert.equal(r.reader.direction, 'read');
  assert.match(r.writer.channel_id, UUID_RE);
  assert.equal(r.writer.channel_id, r.reader.channel_id);
  assert.equal(r.writer.access_key, r.reader.access_key);
});

test('functions::info: single, batch, INVALID_ARGUMENTS, NOT_FOUND', async () => {
  const d = await engineCall(q, 'engine::functions::info', { function_id: 'ef::alpha' });
  assert.equal(d.function_id, 'ef::alpha');
  assert.equal(d.worker_name, 'ef-worker');
  assert.equal(d.description, 'Alpha fn');
  assert.deepEqual(d.metadata, { owner: 'ef' });
  assert.deepEqual(d.request_schema, REQ);
  assert.deepEqual(d.response_schema, { type: 'string' });
  assert.ok(Array.isArray(d.registered_triggers));

  const batch = await engineCall(q, 'engine::functions::info', { function_ids: ['ef::alpha', 'nope::x'] });
  assert.equal(batch.functions.length, 2);
  assert.equal(batch.functions[0].function_id, 'ef::alpha');
  assert.deepEqual(batch.functions[0].request_schema, REQ);
  assert.deepEqual(batch.functions[1], { function_id: 'nope::x', error: 'not_found' });

  for (const bad of [{}, { function_id: 'ef::alpha', function_ids: ['ef::beta'] }, { function_ids: [] },
    { function_ids: Array.from({ length: 33 }, (_, i) => `f::${i}`) }]) {
    const e = await engineCallError(q, 'engine::functions::info', bad);
    assert.equal(e.code, 'INVALID_ARGUMENTS', `input ${JSON.stringify(bad).slice(0, 80)} → ${JSON.stringify(e)}`);
  }
  const nf = await engineCallError(q, 'engine::functions::info', { function_id: 'nope::x' });
  assert.deepEqual(nf, { code: 'NOT_FOUND', message: "Function 'nope::x' is not registered." });
});

test('workers::list: the SDK worker with runtime node and its function_count; pid-less sockets omitted', async () => {
  const { workers } = await engineCall(q, 'engine::workers::list', {});
  const w = workers.find((x) => x.name === 'ef-worker');
  for (const k of ['name', 'description', 'version', 'id', 'runtime', 'os', 'status', 'function_count',
    'connected_at_ms', 'active_invocations', 'isolation', 'ip_address']) {
    assert.ok(k in w, `WorkerSummary lacks ${k}: ${JSON.stringify(w)}`);
  }
  assert.equal(w.id, A.workerId);
  assert.equal(w.runtime, 'node');
  assert.equal(w.version, '0.22.1');
  assert.equal(w.description, 'engine fn tests');
  assert.equal(w.status, 'connected');
  assert.equal(w.function_count, 3);
  assert.equal(w.ip_address, '127.0.0.1');
  assert.equal(typeof w.connected_at_ms, 'number');
  assert.ok(Math.abs(Date.now() - w.connected_at_ms) < 120_000, `connected_at_ms ${w.connected_at_ms}`);
  assert.ok(!workers.some((x) => x.id === q.workerId), 'a socket that never registered a pid is not listed');

  const node = (await engineCall(q, 'engine::workers::list', { runtime: 'node' })).workers;
  assert.ok(node.some((x) => x.id === A.workerId));
  const py = (await engineCall(q, 'engine::workers::list', { runtime: 'python' })).workers;
  assert.ok(!py.some((x) => x.id === A.workerId));
});

test('workers::register sanitises name/description and defaults runtime to "unknown"', async () => {
  const w = await connectRaw(ctx.engine.url);
  const long = 'n'.repeat(300);
  w.send({ type: 'invokefunction', function_id: 'engine::workers::register', action: { type: 'void' },
    data: { name: '  evil\u0007na\u202eme\n ', description: long, pid: 99 } });
  await w.sync();
  const row = await waitFor(async () => (await engineCall(q, 'engine::workers::list', {})).workers.find((x) => x.id === w.workerId),
    3000, 'raw worker listed once it sent a pid');
  assert.equal(row.name, 'evilname');
  assert.equal(row.description.length, 280);
  assert.equal(row.runtime, 'unknown');
  await w.close();
});

test('workers::info: detail, functions, trigger types; NOT_FOUND', async () => {
  const info = await engineCall(q, 'engine::workers::info', { name: 'ef-worker' });
  assert.equal(info.worker.id, A.workerId);
  assert.equal(info.worker.name, 'ef-worker');
  assert.equal(info.worker.pid, process.pid);
  assert.equal(info.worker.internal, false);
  const fids = info.functions.map((f) => f.function_id);
  assert.ok(fids.includes('ef::alpha') && fids.includes('ef::beta'), `functions: ${fids}`);
  assert.ok(info.trigger_types.some((t) => t.id === 'ef-type'));
  assert.ok(Array.isArray(info.registered_triggers));
  const nf = await engineCallError(q, 'engine::workers::info', { name: 'nope-worker' });
  assert.deepEqual(nf, { code: 'NOT_FOUND', message: "Worker 'nope-worker' is not connected." });
});

test('triggers::list / triggers::info (trigger types)', async () => {
  const { triggers } = await engineCall(q, 'engine::triggers::list', {});
  const t = triggers.find((x) => x.id === 'ef-type');
  assert.deepEqual({ id: t.id, worker_name: t.worker_name, description: t.description },
    { id: 'ef-type', worker_name: 'ef-worker', description: 'EF type' });
  assert.ok(!triggers.some((x) => x.id.startsWith('engine::')), 'engine trigger types hidden by default');
  const all = (await engineCall(q, 'engine::triggers::list', { include_internal: true })).triggers.map((x) => x.id);
  assert.ok(all.includes('engine::workers-available') && all.includes('engine::functions-available'), `all: ${all}`);

  const d = await engineCall(q, 'engine::triggers::info', { id: 'ef-type' });
  assert.equal(d.id, 'ef-type');
  assert.equal(d.description, 'EF type');
  assert.equal(typeof d.instance_count, 'number');
  const nf = await engineCallError(q, 'engine::triggers::info', { id: 'nope-type' });
  assert.deepEqual(nf, { code: 'NOT_FOUND', message: "Trigger type 'nope-type' is not registered." });
});

test('registered-triggers::list / info', async () => {
  A.registerTrigger({ type: 'ef-type', function_id: 'ef::alpha', config: { k: 1 }, metadata: { mm: 1 } });
  await waitFor(() => provider.registered.some((r) => r.function_id === 'ef::alpha'), 3000, 'binding delivered');
  const id = provider.registered.find((r) => r.function_id === 'ef::alpha').id;

  const { registered_triggers: rows } = await engineCall(q, 'engine::registered-triggers::list', { trigger_type: 'ef-type' });
  const row = rows.find((r) => r.id === id);
  assert.ok(row, `not listed: ${JSON.stringify(rows)}`);
  assert.equal(row.trigger_type, 'ef-type');
  assert.equal(row.function_id, 'ef::alpha');
  assert.deepEqual(row.config, { k: 1 });
  assert.equal(row.config_summary, '{"k":1}');
  assert.equal(typeof row.worker_name, 'string');
  const byFn = (await engineCall(q, 'engine::registered-triggers::list', { function_id: 'ef::beta' })).registered_triggers;
  assert.ok(!byFn.some((r) => r.id === id), 'function_id filter');

  const d = await engineCall(q, 'engine::registered-triggers::info', { id });
  assert.equal(d.id, id);
  assert.equal(d.trigger_type, 'ef-type');
  assert.equal(d.function_id, 'ef::alpha');
  assert.deepEqual(d.config, { k: 1 });
  assert.deepEqual(d.metadata, { mm: 1 });
  assert.equal(d.trigger?.id, 'ef-type');
  assert.equal(d.function?.function_id, 'ef::alpha');

  const fi = await engineCall(q, 'engine::functions::info', { function_id: 'ef::alpha' });
  assert.ok(fi.registered_triggers.some((r) => r.id === id && r.trigger_type === 'ef-type'), 'FunctionDetail lists the binding');

  const unknown = crypto.randomUUID();
  const nf = await engineCallError(q, 'engine::registered-triggers::info', { id: unknown });
  assert.deepEqual(nf, { code: 'NOT_FOUND', message: `Registered trigger '${unknown}' was not found.` });
});

test('engine::register_trigger returns {id}; engine::unregister_trigger returns {removed}', async () => {
  const tmp = await connectRaw(ctx.engine.url);
  const { id } = await engineCall(tmp, 'engine::register_trigger', { trigger_type: 'ef-type', function_id: 'ef::beta', config: { r: 2 } });
  assert.match(id, UUID_RE);
  await tmp.close(); // ownerless binding: survives its creator
  assert.ok(provider.registered.some((r) => r.id === id && r.function_id === 'ef::beta'), 'provider acked before the call returned');
  await waitFor(async () => (await engineCall(q, 'engine::registered-triggers::list', { trigger_type: 'ef-type' }))
    .registered_triggers.some((r) => r.id === id), 2000, 'listed');

  assert.deepEqual(await engineCall(q, 'engine::unregister_trigger', { id }), { removed: true });
  await waitFor(() => provider.unregistered.some((u) => u.id === id), 3000, 'provider told to unregister');
  assert.deepEqual(await engineCall(q, 'engine::unregister_trigger', { id }), { removed: false });

  const e = await engineCallError(q, 'engine::register_trigger', { trigger_type: 'ef-type', function_id: 'ef::beta', config: { reject: true } });
  assert.equal(e.code, 'trigger_registration_failed');
  assert.match(e.message, /bad config/);

  const parked = await engineCall(q, 'engine::register_trigger', { trigger_type: 'no-such-type', function_id: 'ef::beta', config: {} });
  assert.match(parked.id, UUID_RE, 'unknown type ⇒ parked, still returns an id');

  const missing = await engineCallError(q, 'engine::register_trigger', { function_id: 'ef::beta' });
  assert.equal(typeof missing.code, 'string');
});
