// §1.9/§3.8: a worker that goes away mid-call; the caller gets invocation_stopped at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  connectRaw, engineLifecycle, sdkCallError, sdkSync, sdkWorker, waitFor, withTimeout,
} from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ctx = engineLifecycle();
let B;

function spawnHangWorker(url, functionId) {
  const child = spawn(process.execPath, [path.join(HERE, 'fixtures', 'hang-worker.mjs'), url, functionId],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const events = [];
  let buf = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      try { events.push(JSON.parse(line)); } catch { /* SDK noise */ }
    }
  });
  child.stderr.on('data', (d) => { stderr += d.toString(); });
  const exited = new Promise((r) => child.once('exit', r));
  return { child, events, exited, stderr: () => stderr };
}

// B: the SDK caller every test uses.
before(async () => {
  await ctx.ready;
  B = sdkWorker(ctx.engine.url, 'disconnect-b');
  await sdkSync(B);
});

test('kill -9 of the callee mid-call → invocation_stopped within ~1 s, then function_not_found', async (t) => {
  const w = spawnHangWorker(ctx.engine.url, 'hang::forever');
  t.after(() => { if (w.child.exitCode === null) w.child.kill('SIGKILL'); });
  await waitFor(() => w.events.find((e) => e.event === 'ready'), 10000, `child worker ready (stderr: ${w.stderr()})`);

  const raw = await connectRaw(ctx.engine.url);
  const sdkCall = sdkCallError(B, { function_id: 'hang::forever', payload: { who: 'sdk' }, timeoutMs: 10000 });
  const rawCall = raw.call('hang::forever', { who: 'raw' }, { timeoutMs: 10000 });
  await waitFor(() => w.events.filter((e) => e.event === 'called').length === 2, 5000, 'both calls reached the child');

  const killedAt = Date.now();
  w.child.kill('SIGKILL');
  const [sdkErr, rawRes] = await Promise.all([sdkCall, rawCall]);
  const elapsed = Date.now() - killedAt;

  assert.equal(sdkErr.code, 'invocation_stopped', `SDK caller got ${sdkErr.message}`);
  assert.equal(sdkErr.message, 'invocation_stopped: Invocation stopped');
  assert.deepEqual(rawRes.error, { code: 'invocation_stopped', message: 'Invocation stopped' });
  assert.equal(rawRes.function_id, 'hang::forever');
  assert.ok(elapsed < 1500, `invocation_stopped took ${elapsed} ms after the kill`);

  const after = await sdkCallError(B, { function_id: 'hang::forever', payload: {}, timeoutMs: 3000 });
  assert.equal(after.code, 'function_not_found');
  const rawAfter = await raw.call('hang::forever', {});
  assert.equal(rawAfter.error?.code, 'function_not_found');
  await raw.close();
});

test('graceful close of the callee mid-call → invocation_stopped', async () => {
  const callee = await connectRaw(ctx.engine.url);
  let invoked = 0;
  callee.serve('hang::graceful', () => { invoked++; return null; });
  await callee.sync();
  const call = sdkCallError(B, { function_id: 'hang::graceful', payload: {}, timeoutMs: 10000 });
  await waitFor(() => invoked === 1, 3000, 'call reached the callee');
  const t0 = Date.now();
  await callee.close();
  const e = await call;
  assert.equal(e.code, 'invocation_stopped');
  assert.ok(Date.now() - t0 < 1500);
});

test('all of a dead worker\'s functions go away, other workers\' functions stay', async () => {
  const keeper = await connectRaw(ctx.engine.url);
  keeper.serve('keep::alive', () => ({ result: 'alive' }));
  await keeper.sync();
  const goner = await connectRaw(ctx.engine.url);
  goner.serve('gone::one', () => ({ result: 1 }));
  goner.serve('gone::two', () => ({ result: 2 }));
  await goner.sync();
  assert.equal(await B.trigger({ function_id: 'gone::two', payload: {} }), 2);
  await goner.terminate();
  await waitFor(async () => {
    const e = await sdkCallError(B, { function_id: 'gone::one', payload: {}, timeoutMs: 3000 });
    return e.code === 'function_not_found';
  }, 3000, 'gone::one removed');
  const e2 = await sdkCallError(B, { function_id: 'gone::two', payload: {}, timeoutMs: 3000 });
  assert.equal(e2.code, 'function_not_found');
  assert.equal(await B.trigger({ function_id: 'keep::alive', payload: {} }), 'alive');
  await keeper.close();
});

test('caller disconnects mid-call: the late result is dropped, callee and engine unaffected', async () => {
  const callee = await connectRaw(ctx.engine.url);
  const pending = [];
  callee.serve('slow::reply', (m) => {
    if (m.data && m.data.now) return { result: 'now' };
    return new Promise((resolve) => pending.push(resolve));
  });
  await callee.sync();
  const caller = await connectRaw(ctx.engine.url);
  const inFlight = caller.call('slow::reply', { now: false }, { timeoutMs: 10000 }).catch(() => 'closed');
  await waitFor(() => pending.length === 1, 3000, 'call reached the callee');
  await caller.terminate();
  assert.equal(await withTimeout(inFlight, 3000, 'caller promise'), 'closed');
  // Give the engine a moment to process the disconnect, then deliver the late answer.
  await new Promise((r) => setTimeout(r, 200));
  pending[0]({ result: 'late' });
  await callee.jsonPing();
  assert.equal(await B.trigger({ function_id: 'slow::reply', payload: { now: true } }), 'now');
  ctx.engine.assertAlive();
  await callee.close();
});

test('caller disconnects while its call is queued at a callee that later dies: no crash', async () => {
  const callee = await connectRaw(ctx.engine.url);
  let got = 0;
  callee.serve('slow::both', () => { got++; return null; });
  await callee.sync();
  const caller = await connectRaw(ctx.engine.url);
  caller.call('slow::both', {}, { timeoutMs: 10000 }).catch(() => {});
  await waitFor(() => got === 1, 3000, 'call reached the callee');
  await Promise.all([caller.terminate(), callee.terminate()]);
  await sdkSync(B);
  ctx.engine.assertAlive();
});
