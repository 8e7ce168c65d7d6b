// §1.7/§2.2: reattach with the token, ownership-aware cleanup, SDK reconnect after an engine restart.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  connectRaw, engineCall, engineLifecycle, sdkSync, sdkWorker, sdkWorkerId, sleep, startEngine, waitFor, withTimeout,
} from './harness.mjs';

const ctx = engineLifecycle();
let q;

async function listedWorkerIds() {
  const r = await engineCall(q, 'engine::workers::list', {});
  return r.workers.map((w) => w.id);
}

// A raw client for engine::* calls, shared by every test of this file.
before(async () => {
  await ctx.ready;
  q = await connectRaw(ctx.engine.url);
});

test('reattach with the right token retires the old socket; replayed function answers on the new one', async () => {
  const old = await connectRaw(ctx.engine.url);
  old.serve('re::fn', () => ({ result: { from: 'old' } }));
  old.send({ type: 'invokefunction', function_id: 'engine::workers::register', data: { runtime: 'node', name: 're-worker', pid: 4242 }, action: { type: 'void' } });
  await old.sync();
  assert.deepEqual((await q.call('re::fn', {})).result, { from: 'old' });
  await waitFor(async () => (await listedWorkerIds()).includes(old.workerId), 3000, 'old worker listed');

  const fresh = await connectRaw(ctx.engine.url);
  assert.notEqual(fresh.workerId, old.workerId);
  fresh.send({ type: 'reattach', previous_worker_id: old.workerId, reattach_token: old.reattachToken });
  fresh.serve('re::fn', () => ({ result: { from: 'new' } }));
  fresh.send({ type: 'invokefunction', function_id: 'engine::workers::register', data: { runtime: 'node', name: 're-worker', pid: 4242 }, action: { type: 'void' } });
  await fresh.sync();

  const closeInfo = await withTimeout(old.closed, 3000, 'engine closes the retired socket');
  assert.ok(closeInfo, 'old socket closed');
  assert.ok(fresh.isOpen, 'new socket stays open');
  const r = await q.call('re::fn', {});
  assert.deepEqual(r.result, { from: 'new' }, `got ${JSON.stringify(r)}`);
  const ids = await listedWorkerIds();
  assert.ok(!ids.includes(old.workerId), 'retired worker no longer listed');
  await waitFor(async () => (await listedWorkerIds()).includes(fresh.workerId), 3000, 'new worker listed');
  await fresh.close();
});

test('in-flight calls to the retired connection end with invocation_stopped', async () => {
  const old = await connectRaw(ctx.engine.url);
  let got = 0;
  old.serve('re::slow', () => { got++; return null; });
  await old.sync();
  const call = q.call('re::slow', {}, { timeoutMs: 5000 });
  await waitFor(() => got === 1, 3000, 'call reached old socket');
  const fresh = await connectRaw(ctx.engine.url);
  fresh.send({ type: 'reattach', previous_worker_id: old.workerId, reattach_token: old.reattachToken });
  const r = await call;
  assert.deepEqual(r.error, { code: 'invocation_stopped', message: 'Invocation stopped' });
  await fresh.close();
});

test('a wrong token does nothing: the old connection stays open and keeps its functions', async () => {
  const keep = await connectRaw(ctx.engine.url);
  keep.serve('re::keep', () => ({ result: 'kept' }));
  await keep.sync();
  const intruder = await connectRaw(ctx.engine.url);
  intruder.send({ type: 'reattach', previous_worker_id: keep.workerId, reattach_token: crypto.randomUUID() });
  intruder.send({ type: 'reattach', previous_worker_id: keep.workerId }); // token missing
  intruder.send({ type: 'reattach', previous_worker_id: keep.workerId, reattach_token: intruder.reattachToken }); // someone else's token
  await intruder.sync();
  await sleep(500);
  assert.ok(keep.isOpen, `old connection was closed: ${JSON.stringify(keep.closeInfo)}`);
  assert.ok(intruder.isOpen);
  assert.equal((await q.call('re::keep', {})).result, 'kept');
  await keep.jsonPing();
  await intruder.close();
  await keep.close();
});

test('reattach naming an unknown id, its own id, or garbage is ignored', async () => {
  const c = await connectRaw(ctx.engine.url);
  c.send({ type: 'reattach', previous_worker_id: crypto.randomUUID(), reattach_token: crypto.randomUUID() });
  c.send({ type: 'reattach', previous_worker_id: c.workerId, reattach_token: c.reattachToken });
  c.send({ type: 'reattach', previous_worker_id: 'not-a-uuid', reattach_token: 'x' });
  c.send({ type: 'reattach', previous_worker_id: 12, reattach_token: null });
  await c.jsonPing();
  await sleep(200);
  assert.ok(c.isOpen);
  await c.jsonPing();
  await c.close();
});

test('ownership-aware cleanup: a function taken over by another worker survives the old owner\'s disconnect', async () => {
  const first = await connectRaw(ctx.engine.url);
  first.serve('re::shared', () => ({ result: 'first' }));
  await first.sync();
  const second = await connectRaw(ctx.engine.url);
  second.serve('re::shared', () => ({ result: 'second' }));
  await second.sync();
  assert.equal((await q.call('re::shared', {})).result, 'second');
  await first.close();
  await sleep(200);
  assert.equal((await q.call('re::shared', {})).result, 'second');
  await second.close();
});

test('the official SDK recovers from a dropped socket: reattach + replay, functions work again', async () => {
  const S = sdkWorker(ctx.engine.url, 'drop-server');
  S.registerFunction('sdk::dropped', async (d) => ({ echo: d.v }));
  await sdkSync(S);
  const firstId = await sdkWorkerId(S);
  assert.deepEqual((await q.call('sdk::dropped', { v: 1 })).result, { echo: 1 });
  S.ws.terminate(); // the SDK sees a close and reconnects with reattach(previous id, token)
  await waitFor(() => S.workerId && S.workerId !== firstId, 5000, 'SDK got a new worker id');
  await sdkSync(S);
  assert.deepEqual((await q.call('sdk::dropped', { v: 2 })).result, { echo: 2 });
  await waitFor(async () => {
    const ids = await listedWorkerIds();
    return ids.includes(S.workerId) && !ids.includes(firstId);
  }, 3000, 'only the new connection is listed');
});

test('the official SDK reconnects after an engine restart on the same port and its functions work again', async () => {
  // A separate engine for this test so the file's main engine stays up for the others.
  let engine = await startEngine();
  const S = sdkWorker(engine.url, 'restart-server');
  const C = sdkWorker(engine.url, 'restart-client');
  const calls = [];
  S.registerFunction('sdk::persist', async (data) => { calls.push(data); return { ok: data.n }; });
  await sdkSync(S);
  await sdkSync(C);
  const firstId = await sdkWorkerId(S);
  assert.deepEqual(await C.trigger({ function_id: 'sdk::persist', payload: { n: 1 } }), { ok: 1 });

  const restartPort = engine.port;
  await engine.stop();
  await sleep(300);
  try {
    engine = await startEngine({ port: restartPort });
    const deadline = Date.now() + 15000;
    let result; let lastErr;
    while (Date.now() < deadline) {
      try {
        result = await C.trigger({ function_id: 'sdk::persist', payload: { n: 2 }, timeoutMs: 2000 });
        break;
      } catch (e) { lastErr = e; await sleep(200); }
    }
    assert.deepEqual(result, { ok: 2 }, `no successful call after restart (last error: ${lastErr?.message})`);
    assert.notEqual(S.workerId, firstId, 'the SDK got a new worker id from the new engine');
    assert.equal(calls.at(-1)._caller_worker_id, C.workerId);
  } finally {
    await engine.stop();
  }
});
