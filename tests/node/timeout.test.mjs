// Engine-side invocation deadline: `--invocation-timeout-ms 1500` ⇒ a waiting caller gets an
// invocationresult error with code `timeout`; the callee's late result is dropped harmlessly.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { connectRaw, engineLifecycle, sdkCallError, sdkSync, sdkWorker, sleep, waitFor } from './harness.mjs';

const TIMEOUT_MS = 1500;
const ctx = engineLifecycle({ invocationTimeoutMs: TIMEOUT_MS });
let B; let callee;
const held = []; // {msg, reply(out)} for calls the callee has not answered

// A raw callee with a function that answers only when told to, and the SDK caller B.
before(async () => {
  await ctx.ready;
  B = sdkWorker(ctx.engine.url, 'timeout-b', { invocationTimeoutMs: 10_000 });
  callee = await connectRaw(ctx.engine.url);
  callee.serve('slow::never', (m) => {
    if (m.data && typeof m.data.delayMs === 'number') {
      return sleep(m.data.delayMs).then(() => ({ result: { waited: m.data.delayMs } }));
    }
    return new Promise((resolve) => held.push({ msg: m, reply: resolve }));
  });
  await callee.sync();
  await sdkSync(B);
});

test('raw caller gets error code "timeout" after ≈1.5 s', async () => {
  const caller = await connectRaw(ctx.engine.url);
  const t0 = Date.now();
  const r = await caller.call('slow::never', { x: 1 }, { timeoutMs: 6000 });
  const elapsed = Date.now() - t0;
  assert.equal(r.type, 'invocationresult');
  assert.equal(r.function_id, 'slow::never');
  assert.ok(r.error, `expected an error, got ${JSON.stringify(r)}`);
  assert.equal(r.error.code, 'timeout');
  assert.equal(typeof r.error.message, 'string');
  assert.ok(elapsed >= TIMEOUT_MS - 200 && elapsed <= TIMEOUT_MS + 1500, `timeout after ${elapsed} ms, expected ≈${TIMEOUT_MS}`);

  // The late result is dropped: the caller never sees a second answer, nothing breaks.
  const inv = held.find((h) => h.msg.data && h.msg.data.x === 1);
  assert.ok(inv, 'callee received the call');
  const mark = caller.mark();
  inv.reply({ result: { late: true } });
  assert.ok(await caller.noFrame((m) => m && m.type === 'invocationresult', 500, mark),
    `late result was forwarded: ${JSON.stringify(caller.messages(mark))}`);
  await callee.jsonPing();
  await caller.jsonPing();
  ctx.engine.assertAlive();
  await caller.close();
});

test('SDK caller gets InvocationError code "timeout" (not the SDK TIMEOUT) after ≈1.5 s', async () => {
  const t0 = Date.now();
  const e = await sdkCallError(B, { function_id: 'slow::never', payload: { x: 2 } });
  const elapsed = Date.now() - t0;
  assert.equal(e.code, 'timeout', `got ${e.message}`);
  assert.ok(elapsed >= TIMEOUT_MS - 200 && elapsed <= TIMEOUT_MS + 1500, `timeout after ${elapsed} ms`);
  const inv = held.find((h) => h.msg.data && h.msg.data.x === 2);
  inv.reply({ result: 'late' });
  await sdkSync(B);
});

test('the callee stays registered and connected after a timeout; fast calls still succeed', async () => {
  const r = await B.trigger({ function_id: 'slow::never', payload: { delayMs: 10 } });
  assert.deepEqual(r, { waited: 10 });
  assert.ok(callee.isOpen);
});

test('a call answered before the deadline (after 900 ms) is not timed out', async () => {
  const r = await B.trigger({ function_id: 'slow::never', payload: { delayMs: 900 } });
  assert.deepEqual(r, { waited: 900 });
});

test('many concurrent timeouts all fire, each with its own invocation id', async () => {
  const caller = await connectRaw(ctx.engine.url);
  const calls = Array.from({ length: 20 }, (_, k) => caller.call('slow::never', { k }, { timeoutMs: 6000 }));
  const results = await Promise.all(calls);
  for (const r of results) assert.equal(r.error?.code, 'timeout');
  assert.equal(new Set(results.map((r) => r.invocation_id)).size, 20);
  // Answer all of them late: must not crash or produce frames for the caller.
  await waitFor(() => held.filter((h) => h.msg.data && typeof h.msg.data.k === 'number').length === 20, 2000, 'callee got 20');
  const mark = caller.mark();
  for (const h of held.filter((x) => x.msg.data && typeof x.msg.data.k === 'number')) h.reply({ error: { code: 'late', message: 'late' } });
  assert.ok(await caller.noFrame((m) => m && m.type === 'invocationresult', 500, mark));
  await caller.close();
});

test('a caller that disconnected before its deadline does not crash the engine when the deadline passes', async () => {
  const caller = await connectRaw(ctx.engine.url);
  caller.call('slow::never', { gone: true }, { timeoutMs: 6000 }).catch(() => {});
  await waitFor(() => held.some((h) => h.msg.data && h.msg.data.gone), 2000, 'callee got the call');
  await caller.terminate();
  await sleep(TIMEOUT_MS + 300);
  held.find((h) => h.msg.data && h.msg.data.gone).reply({ result: 'late' });
  await sdkSync(B);
  ctx.engine.assertAlive();
});
