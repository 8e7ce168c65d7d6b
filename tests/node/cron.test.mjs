// docs/builtins.md §4 (iii-cron) through the official SDK: a live `* * * * * *` schedule, the payload,
// a bad expression rejected at registration (SDK logs it, binding not listed), conditions,
// no overlapping runs with a slow handler, and config blocks the engine refuses.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  III_BINARY, connectRaw, engineCall, engineCallError, engineLifecycle, freePort, sdkSync, sdkWorker, shutdownSdk, sleep, startEngine,
  waitFor,
} from './harness.mjs';

const ctx = engineLifecycle({ config: 'workers:\n  - name: cron\n' });
let q; // raw client for engine::* queries

/** Runs the engine on a config that must be rejected at start; returns {status, stderr}. */
async function runRejected(configText) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iii-cron-config-'));
  try {
    writeFileSync(path.join(dir, 'config.yaml'), configText);
    const port = String(await freePort());
    const r = spawnSync(III_BINARY, ['--port', port, '--host', '127.0.0.1'], { cwd: dir, timeout: 10_000 });
    return { status: r.status, stderr: r.stderr.toString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?\+00:00$/;

async function cronBindings(functionId) {
  const r = await engineCall(q, 'engine::registered-triggers::list', { function_id: functionId });
  return r.registered_triggers;
}

// The cron trigger type is offered before any test binds to it.
before(async () => {
  await ctx.ready;
  q = await connectRaw(ctx.engine.url);
  await waitFor(async () => (await engineCall(q, 'engine::triggers::list', {})).triggers.some((t) => t.id === 'cron'),
    5000, 'cron trigger type registered');
});

test('a `* * * * * *` schedule fires about once per second with the cron payload', async () => {
  const W = sdkWorker(ctx.engine.url, 'cron-live');
  const calls = [];
  W.registerFunction('cron::tick', async (data, metadata) => { calls.push({ data, metadata, at: Date.now() }); return null; });
  const trigger = W.registerTrigger({ type: 'cron', function_id: 'cron::tick', config: { expression: '* * * * * *' },
    metadata: { from: 'test' } });
  await sdkSync(W);
  const [binding] = await cronBindings('cron::tick');
  assert.ok(binding, 'binding listed');

  await waitFor(() => calls.length >= 1, 3000, 'first cron run');
  const before = calls.length;
  await sleep(3000);
  const fired = calls.length - before;
  assert.ok(fired >= 2 && fired <= 4, `expected ≈3 runs in 3 s, got ${fired}`);

  const { data, metadata } = calls[calls.length - 1];
  assert.equal(data.trigger, 'cron');
  assert.equal(data.job_id, binding.id);
  assert.match(data.scheduled_time, RFC3339_UTC);
  assert.match(data.actual_time, RFC3339_UTC);
  assert.equal(new Date(data.scheduled_time).getUTCMilliseconds(), 0);
  const lag = new Date(data.actual_time) - new Date(data.scheduled_time);
  assert.ok(lag >= 0 && lag < 1000, `actual_time ${data.actual_time} should follow scheduled_time ${data.scheduled_time}`);
  assert.deepEqual(metadata, { from: 'test' });
  // Consecutive runs are one second apart on the schedule.
  const scheduled = calls.slice(-3).map((c) => new Date(c.data.scheduled_time).getTime());
  for (let i = 1; i < scheduled.length; i++) assert.equal(scheduled[i] - scheduled[i - 1], 1000);

  trigger.unregister();
  await sdkSync(W);
  const after = calls.length;
  await sleep(1500);
  assert.equal(calls.length, after, 'no runs after unregister');
  await shutdownSdk(W);
});

test('a bad expression is rejected at registration: the SDK logs it and the binding is not listed', async () => {
  const W = sdkWorker(ctx.engine.url, 'cron-bad');
  const logged = [];
  const original = console.error;
  console.error = (...args) => { logged.push(args.join(' ')); };
  try {
    W.registerFunction('cron::bad', async () => null);
    W.registerTrigger({ type: 'cron', function_id: 'cron::bad', config: { expression: '*/5 * * * *' } });
    W.registerTrigger({ type: 'cron', function_id: 'cron::bad', config: { expression: '0 0 0 * * 8' } });
    await sdkSync(W);
    await waitFor(() => logged.filter((l) => l.includes('Trigger registration failed')).length === 2, 3000,
      'SDK logged both registration failures');
  } finally {
    console.error = original;
  }
  const text = logged.join('\n');
  assert.match(text, /Invalid cron expression '\*\/5 \* \* \* \*': expected 6 or 7 fields .* got 5; classic 5-field crontab lines need a seconds field first, e\.g\. `0 \*\/5 \* \* \* \*`/);
  assert.match(text, /day-of-week \(field 6\): `8` is out of range 0-7/);
  assert.deepEqual(await cronBindings('cron::bad'), []);
  await shutdownSdk(W);

  // The exact frame, seen by a raw binder.
  const binder = await connectRaw(ctx.engine.url);
  const id = crypto.randomUUID();
  binder.send({ type: 'registertrigger', id, trigger_type: 'cron', function_id: 'x::y', config: { expression: '0 0 25 * * *' } });
  const r = await binder.waitFrame((m) => m && m.type === 'triggerregistrationresult' && m.id === id, 3000,
    { label: 'registration failure' });
  assert.deepEqual(r.error, {
    code: 'trigger_registration_failed',
    message: "Invalid cron expression '0 0 25 * * *': hour (field 3): `25` is out of range 0-23 (allowed: 0-23)",
  });
  binder.send({ type: 'registertrigger', id: crypto.randomUUID(), trigger_type: 'cron', function_id: 'x::y', config: {} });
  const missing = await binder.waitFrame((m) => m && m.type === 'triggerregistrationresult' && m.id !== id, 3000,
    { label: 'missing expression' });
  assert.equal(missing.error.message, 'Cron expression is required');
  await binder.close();
});

test('a condition that returns false skips the run', async () => {
  const W = sdkWorker(ctx.engine.url, 'cron-cond');
  const verdicts = [];
  const runs = [];
  W.registerFunction('cron::gate', async (data) => {
    const ok = verdicts.length >= 2; // the first two ticks are refused
    verdicts.push({ ok, data });
    return ok;
  });
  W.registerFunction('cron::gated', async (data) => { runs.push(data); return null; });
  const trigger = W.registerTrigger({ type: 'cron', function_id: 'cron::gated',
    config: { expression: '* * * * * *', condition_function_id: 'cron::gate' } });
  await sdkSync(W);
  await waitFor(() => runs.length >= 1, 5000, 'a run after the condition turned true');
  trigger.unregister();
  await sdkSync(W);
  await sleep(300);
  const refused = verdicts.filter((v) => !v.ok);
  assert.equal(refused.length, 2);
  assert.equal(runs.length, verdicts.filter((v) => v.ok).length, 'exactly the accepted ticks ran');
  // The condition saw the handler's payload.
  assert.deepEqual(verdicts.find((v) => v.ok).data, runs[0]);
  await shutdownSdk(W);
});

test('runs of one job never overlap: ticks are skipped while a slow handler runs', async () => {
  const W = sdkWorker(ctx.engine.url, 'cron-slow');
  let inFlight = 0;
  let maxInFlight = 0;
  const runs = [];
  W.registerFunction('cron::slow', async (data) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    runs.push(data);
    await sleep(2500);
    inFlight -= 1;
    return null;
  });
  const trigger = W.registerTrigger({ type: 'cron', function_id: 'cron::slow', config: { expression: '* * * * * *' } });
  await sdkSync(W);
  await waitFor(() => runs.length >= 1, 3000, 'first slow run');
  await sleep(5500);
  trigger.unregister();
  await sdkSync(W);
  await waitFor(() => inFlight === 0, 4000, 'last run finished');
  assert.equal(maxInFlight, 1, 'two runs of one job overlapped');
  assert.ok(runs.length >= 2 && runs.length <= 3, `expected 2-3 runs of a 2.5 s handler in ≈6 s, got ${runs.length}`);
  const scheduled = runs.map((r) => new Date(r.scheduled_time).getTime());
  for (let i = 1; i < scheduled.length; i++) {
    assert.ok(scheduled[i] - scheduled[i - 1] >= 3000, `skipped ticks were replayed: ${JSON.stringify(runs)}`);
  }
  await shutdownSdk(W);
});

test('config: `iii-cron` with kv lock keys starts; a bad redis_url or an unknown key is refused', async () => {
  const ok = await startEngine({ config: `workers:
  - name: iii-cron
    config:
      adapter:
        name: kv
        config:
          lock_ttl_ms: 30000
          lock_index: cron_locks
` });
  try {
    const c = await connectRaw(ok.url);
    await waitFor(async () => (await engineCall(c, 'engine::triggers::list', {})).triggers.some((t) => t.id === 'cron'),
      5000, 'cron trigger type registered');
    await c.close();
  } finally {
    await ok.stop();
  }
  const redis = await runRejected('workers:\n  - name: cron\n    config:\n      adapter:\n        name: redis\n        config: { redis_url: "localhost:6379" }\n');
  assert.equal(redis.status, 1);
  assert.match(redis.stderr, /config\.yaml:2: iii-cron: `adapter\.config\.redis_url` .*the scheme must be redis/);
  const unknown = await runRejected('workers:\n  - name: cron\n    config:\n      schedule: x\n');
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /config\.yaml:2: iii-cron: unknown key `schedule`/);
});

test('iii::cron::fire runs a job now, outside its schedule, and answers with its result (docs/builtins.md §4.2)', async () => {
  const W = sdkWorker(ctx.engine.url, 'cron-fire');
  const calls = [];
  W.registerFunction('cron::by_hand', async (data) => { calls.push(data); return { ran: true }; });
  W.registerTrigger({ type: 'cron', function_id: 'cron::by_hand', config: { expression: '0 0 0 1 1 * 2099' } });
  await sdkSync(W);
  const [binding] = await cronBindings('cron::by_hand');
  assert.ok(binding, 'binding listed');

  const answer = await engineCall(q, 'iii::cron::fire', { id: binding.id });
  assert.deepEqual(answer, { id: binding.id, status: 'ran', result: { ran: true } });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].trigger, 'cron');
  assert.equal(calls[0].job_id, binding.id);
  assert.equal(calls[0].scheduled_time, calls[0].actual_time);

  const unknown = await engineCallError(q, 'iii::cron::fire', { id: 'no-such-job' });
  assert.equal(unknown.code, 'NOT_FOUND');
  const bad = await engineCallError(q, 'iii::cron::fire', {});
  assert.equal(bad.code, 'deserialization_error');
  await shutdownSdk(W);
});
