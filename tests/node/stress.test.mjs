// Concurrency: many callers, many in-flight calls, connection churn, mass invocation_stopped.
// Every call must be answered with the right result (or a legitimate error), never lost or crossed.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { connectRaw, engineLifecycle, sdkSync, sdkWorker, waitFor } from './harness.mjs';

const ctx = engineLifecycle();
const CALLEES = 3;
const CALLERS = 10;
const CALLS_PER_CALLER = 300;

// Three raw callees serving st::f0..st::f2.
before(async () => {
  await ctx.ready;
  for (let i = 0; i < CALLEES; i++) {
    const c = await connectRaw(ctx.engine.url);
    c.serve(`st::f${i}`, (m) => ({ result: { n: m.data.n, by: i, caller: m.data._caller_worker_id } }));
    await c.sync();
  }
});

test(`${CALLERS} raw callers × ${CALLS_PER_CALLER} pipelined calls: every answer matches its call`, async () => {
  const callers = await Promise.all(Array.from({ length: CALLERS }, () => connectRaw(ctx.engine.url)));
  const all = [];
  callers.forEach((c, ci) => {
    for (let k = 0; k < CALLS_PER_CALLER; k++) {
      const fi = (ci + k) % CALLEES;
      const n = ci * 100_000 + k;
      all.push(c.call(`st::f${fi}`, { n }, { timeoutMs: 20_000 }).then((r) => ({ r, n, fi, c })));
    }
  });
  const results = await Promise.all(all);
  for (const { r, n, fi, c } of results) {
    assert.equal(r.error, undefined, JSON.stringify(r));
    assert.deepEqual(r.result, { n, by: fi, caller: c.workerId });
  }
  await Promise.all(callers.map((c) => c.close()));
});

test('5 SDK callers × 100 concurrent calls to an SDK callee', async () => {
  const callee = sdkWorker(ctx.engine.url, 'stress-callee');
  callee.registerFunction('st::sdk', async (d) => ({ n: d.n * 2 }));
  await sdkSync(callee);
  const callers = Array.from({ length: 5 }, (_, i) => sdkWorker(ctx.engine.url, `stress-caller-${i}`));
  await Promise.all(callers.map((w) => sdkSync(w)));
  const calls = [];
  callers.forEach((w, wi) => {
    for (let k = 0; k < 100; k++) {
      const n = wi * 1000 + k;
      calls.push(w.trigger({ function_id: 'st::sdk', payload: { n }, timeoutMs: 20_000 }).then((r) => assert.deepEqual(r, { n: n * 2 })));
    }
  });
  await Promise.all(calls);
});

test('200 calls in flight to a callee that disconnects: all end with invocation_stopped', async () => {
  const callee = await connectRaw(ctx.engine.url);
  let received = 0;
  callee.serve('st::hold', () => { received++; return null; });
  await callee.sync();
  const callers = await Promise.all(Array.from({ length: 4 }, () => connectRaw(ctx.engine.url)));
  const calls = [];
  for (let k = 0; k < 200; k++) calls.push(callers[k % 4].call('st::hold', { k }, { timeoutMs: 10_000 }));
  await waitFor(() => received === 200, 5000, `all 200 reached the callee (got ${received})`);
  const t0 = Date.now();
  await callee.terminate();
  const results = await Promise.all(calls);
  assert.ok(Date.now() - t0 < 3000, `stopping 200 calls took ${Date.now() - t0} ms`);
  for (const r of results) assert.deepEqual(r.error, { code: 'invocation_stopped', message: 'Invocation stopped' });
  await Promise.all(callers.map((c) => c.close()));
});

test('connection churn while calls are in flight: every call is answered, engine survives', async () => {
  const caller = await connectRaw(ctx.engine.url);
  const outcomes = [];
  const churn = async (k) => {
    const w = await connectRaw(ctx.engine.url);
    w.serve(`churn::f${k}`, (m) => ({ result: m.data.k }));
    await w.sync();
    const inFlight = [];
    for (let j = 0; j < 10; j++) inFlight.push(caller.call(`churn::f${k}`, { k }, { timeoutMs: 10_000 }));
    if (k % 2) await w.terminate(); else await w.close();
    const rs = await Promise.all(inFlight);
    for (const r of rs) {
      if (r.error) assert.ok(['invocation_stopped', 'function_not_found'].includes(r.error.code), JSON.stringify(r));
      else assert.equal(r.result, k);
      outcomes.push(r.error ? r.error.code : 'ok');
    }
  };
  await Promise.all(Array.from({ length: 30 }, (_, k) => churn(k)));
  assert.equal(outcomes.length, 300);
  // Everything from the churned workers is gone.
  const r = await caller.call('churn::f3', { k: 3 });
  assert.equal(r.error?.code, 'function_not_found');
  ctx.engine.assertAlive();
  // And ordinary routing still works.
  const ok = await caller.call('st::f0', { n: 1 });
  assert.equal(ok.result.n, 1);
  await caller.close();
});

test('many simultaneous connects and disconnects (100 sockets)', async () => {
  const socks = await Promise.all(Array.from({ length: 100 }, () => connectRaw(ctx.engine.url)));
  assert.equal(new Set(socks.map((s) => s.workerId)).size, 100, 'worker ids are unique');
  await Promise.all(socks.map((s, i) => (i % 2 ? s.terminate() : s.close())));
  const c = await connectRaw(ctx.engine.url);
  await c.jsonPing();
  await c.close();
});
