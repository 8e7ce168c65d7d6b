// §4.2: engine::workers-available and engine::functions-available trigger types; §3.4 enqueue
// without a queue provider.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { TriggerAction } from 'iii-sdk';
import {
  connectRaw, engineLifecycle, sdkCallError, sdkSync, sdkWorker, sdkWorkerId, UUID_RE, waitFor,
} from './harness.mjs';

const ctx = engineLifecycle();
let watcher;
const workerEvents = []; // invokefunction messages delivered to watch::workers
const functionEvents = [];

// A raw watcher bound to both engine trigger types, recording every event it is sent.
before(async () => {
  await ctx.ready;
  watcher = await connectRaw(ctx.engine.url);
  watcher.serve('watch::workers', (m) => { workerEvents.push(m); return { result: null }; });
  watcher.serve('watch::functions', (m) => { functionEvents.push(m); return { result: null }; });
  watcher.send({ type: 'registertrigger', id: crypto.randomUUID(), trigger_type: 'engine::workers-available', function_id: 'watch::workers', config: {}, metadata: { sub: 'w' } });
  watcher.send({ type: 'registertrigger', id: crypto.randomUUID(), trigger_type: 'engine::functions-available', function_id: 'watch::functions', config: {} });
  await watcher.sync();
  // Built-in providers accept synchronously; a failure would come back as triggerregistrationresult.
  assert.ok(await watcher.noFrame((m) => m && m.type === 'triggerregistrationresult', 200, 0),
    `binding rejected: ${JSON.stringify(watcher.messages())}`);
});

const eventsFor = (id) => workerEvents.filter((m) => m.data && m.data.worker_id === id).map((m) => m.data.event);

test('engine::workers-available fires worker_connected / worker_metadata_updated / worker_disconnected', async () => {
  const raw = await connectRaw(ctx.engine.url);
  await waitFor(() => eventsFor(raw.workerId).includes('worker_connected'), 3000, 'worker_connected');
  const ev = workerEvents.find((m) => m.data && m.data.worker_id === raw.workerId);
  assert.deepEqual(ev.data, { event: 'worker_connected', worker_id: raw.workerId }, 'engine-originated: no _caller_worker_id');
  assert.match(ev.invocation_id, UUID_RE);
  assert.deepEqual(ev.metadata, { sub: 'w' }, 'the binding metadata travels with each fire');

  raw.send({ type: 'invokefunction', function_id: 'engine::workers::register', data: { runtime: 'node', name: 'evt-raw', pid: 777 }, action: { type: 'void' } });
  await waitFor(() => eventsFor(raw.workerId).includes('worker_metadata_updated'), 3000, 'worker_metadata_updated');

  await raw.close();
  await waitFor(() => eventsFor(raw.workerId).includes('worker_disconnected'), 3000, 'worker_disconnected');
  assert.deepEqual(eventsFor(raw.workerId), ['worker_connected', 'worker_metadata_updated', 'worker_disconnected']);
});

test('an SDK worker produces the same three events', async () => {
  const w = sdkWorker(ctx.engine.url, 'evt-sdk');
  const id = await sdkWorkerId(w);
  await waitFor(() => eventsFor(id).includes('worker_metadata_updated'), 3000, 'SDK metadata event');
  await w.shutdown();
  await waitFor(() => eventsFor(id).includes('worker_disconnected'), 3000, 'SDK disconnect event');
  assert.equal(eventsFor(id)[0], 'worker_connected');
});

test('engine::functions-available fires functions_changed within ~6 s after a function is registered', async () => {
  const w = sdkWorker(ctx.engine.url, 'evt-fa');
  const t0 = Date.now();
  w.registerFunction('fa::new', async () => 1, { description: 'new fn' });
  await sdkSync(w);
  const hit = await waitFor(() => functionEvents.find((m) => m.data && Array.isArray(m.data.functions)
    && m.data.functions.some((f) => f.function_id === 'fa::new')), 7000, 'functions_changed listing fa::new');
  assert.ok(Date.now() - t0 <= 7000);
  assert.equal(hit.data.event, 'functions_changed');
  assert.equal(hit.data._caller_worker_id, undefined);
  const row = hit.data.functions.find((f) => f.function_id === 'fa::new');
  assert.equal(row.description, 'new fn');

  // And again when it goes away.
  const before = functionEvents.length;
  await w.shutdown();
  await waitFor(() => functionEvents.slice(before).some((m) => m.data && Array.isArray(m.data.functions)
    && !m.data.functions.some((f) => f.function_id === 'fa::new')), 7000, 'functions_changed after removal');
});

test('functions-available does not fire when nothing changed', async () => {
  // Start from a known point whatever ran before (the watcher's own functions registered in
  // before() are a change too): register a marker and wait for the poll that reports it, so
  // every earlier change has been reported. The marker stays registered.
  const w = sdkWorker(ctx.engine.url, 'evt-quiet');
  w.registerFunction('fa::quiet_marker', async () => 1);
  await sdkSync(w);
  await waitFor(() => functionEvents.some((m) => m.data && Array.isArray(m.data.functions)
    && m.data.functions.some((f) => f.function_id === 'fa::quiet_marker')), 7000, 'functions_changed listing fa::quiet_marker');
  const before = functionEvents.length;
  await new Promise((r) => setTimeout(r, 5600));
  assert.equal(functionEvents.length, before, `spurious events: ${JSON.stringify(functionEvents.slice(before).map((m) => m.data.event))}`);
});

test('enqueue action without a queue provider → enqueue_error', async () => {
  const B = sdkWorker(ctx.engine.url, 'evt-enqueue');
  B.registerFunction('job::work', async () => 'done');
  await sdkSync(B);
  const e = await sdkCallError(B, { function_id: 'job::work', payload: { a: 1 }, action: TriggerAction.Enqueue({ queue: 'jobs' }), timeoutMs: 5000 });
  assert.equal(e.code, 'enqueue_error', `got ${e.message}`);
  assert.match(e.message, /engine::queue::enqueue/);

  const raw = await connectRaw(ctx.engine.url);
  const r = await raw.call('job::work', { a: 1 }, { extra: { action: { type: 'enqueue', queue: 'jobs' } } });
  assert.equal(r.error?.code, 'enqueue_error');
  assert.equal(r.function_id, 'job::work');
  await raw.close();
});
