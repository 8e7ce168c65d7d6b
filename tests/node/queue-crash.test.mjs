// iii-queue crash guarantees with the official SDK: a worker killed mid-job has its message
// retried on another worker; kill -9 of the engine with a thousand messages enqueued and in
// flight, a restart on the same data directory, and every acknowledged message delivered at
// least once (duplicates are counted and printed: at-least-once allows them).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TriggerAction } from 'iii-sdk';
import { closeAll, sdkSync, sdkWorker, shutdownSdk, startEngine, waitFor } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'iii-queue-crash-'));
const config = `workers:
  - name: queue
    config:
      queue_configs:
        bulk: { concurrency: 20, max_retries: 5, backoff_ms: 100 }
        crashy: { max_retries: 3, backoff_ms: 200 }
`;
let engine = null;

after(async () => {
  await closeAll();
  if (engine) await engine.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const stats = (w, topic) => w.trigger({ function_id: 'engine::queue::topic_stats', payload: { topic }, timeoutMs: 5000 });

function spawnHangWorker(url, functionId) {
  const child = spawn(process.execPath, [path.join(HERE, 'fixtures', 'hang-worker.mjs'), url, functionId],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const events = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      try { events.push(JSON.parse(line)); } catch { /* SDK noise */ }
    }
  });
  return { child, events };
}

// The engine with a file-based queue; the kill -9 test restarts it on the same data directory.
before(async () => {
  engine = await startEngine({ config, cwd: dataDir });
});

test('a worker killed mid-job: the message is retried and reaches another worker', async (t) => {
  const hang = spawnHangWorker(engine.url, 'crash::job');
  t.after(() => { if (hang.child.exitCode === null) hang.child.kill('SIGKILL'); });
  await waitFor(() => hang.events.find((e) => e.event === 'ready'), 10_000, 'child worker ready');
  const C = sdkWorker(engine.url, 'crash-caller');
  const { messageReceiptId } = await C.trigger({
    function_id: 'crash::job', payload: { job: 'resize', id: 7 }, action: TriggerAction.Enqueue({ queue: 'crashy' }),
  });
  assert.ok(messageReceiptId);
  await waitFor(() => hang.events.find((e) => e.event === 'called'), 5000, 'the job reached the child');
  hang.child.kill('SIGKILL');

  const got = [];
  const W = sdkWorker(engine.url, 'crash-rescuer');
  W.registerFunction('crash::job', async (data) => { got.push(data); return { ok: true }; });
  await sdkSync(W);
  await waitFor(() => got.length === 1, 10_000, 'the retried job on the new worker');
  assert.deepEqual(got[0], { job: 'resize', id: 7 });
  await waitFor(async () => (await stats(C, 'crashy')).depth === 0, 5000, 'acknowledged');
  assert.equal((await stats(C, 'crashy')).dlq_depth, 0);
  await shutdownSdk(W);
  await shutdownSdk(C);
});

test('kill -9 of the engine with 1000 messages enqueued and in flight: all delivered after restart', async () => {
  const delivered = new Map(); // id → deliveries
  let active = 0, peak = 0, deliveries = 0;
  // The first 100 deliveries complete; the next ones hang until the engine has been killed, so
  // the crash always finds jobs done, jobs in flight and jobs waiting, however fast the machine.
  let openGate;
  const gate = new Promise((r) => { openGate = r; });
  const W = sdkWorker(engine.url, 'bulk-worker');
  W.registerFunction('bulk::job', async ({ id }) => {
    active++;
    peak = Math.max(peak, active);
    delivered.set(id, (delivered.get(id) ?? 0) + 1);
    if (++deliveries > 100) await gate;
    await new Promise((r) => setTimeout(r, 5));
    active--;
    return null;
  });
  await sdkSync(W);
  const C = sdkWorker(engine.url, 'bulk-caller');
  const receipts = new Set();
  for (let chunk = 0; chunk < 10; chunk++) {
    const batch = Array.from({ length: 100 }, (_, k) => chunk * 100 + k);
    const answers = await Promise.all(batch.map((id) => C.trigger({
      function_id: 'bulk::job', payload: { id }, action: TriggerAction.Enqueue({ queue: 'bulk' }), timeoutMs: 10_000,
    })));
    for (const [k, a] of answers.entries()) {
      assert.ok(a && a.messageReceiptId, `message ${batch[k]} got no receipt`);
      receipts.add(batch[k]);
    }
  }
  assert.equal(receipts.size, 1000);
  await waitFor(() => deliveries >= 120, 20_000, '100 deliveries done and 20 in flight');
  const inFlight = active;
  engine.proc.kill('SIGKILL');
  await waitFor(() => !engine.alive(), 5000, 'engine killed');
  assert.equal(engine.exitInfo().signal, 'SIGKILL');
  console.log(`killed the engine with ${deliveries - inFlight} of 1000 messages done, ${inFlight} in flight`);
  assert.equal(inFlight, 20, 'the concurrency limit (20) was not reached before the crash');
  openGate();  // the hung handlers finish; their answers have no engine to go to

  engine = await startEngine({ config, cwd: dataDir, port: engine.port });
  // The SDK workers reconnect by themselves and register bulk::job again.
  await waitFor(() => [...receipts].every((id) => delivered.has(id)), 60_000,
    () => `every message delivered (${delivered.size}/1000)`);
  await waitFor(async () => {
    try {
      const s = await stats(C, 'bulk');
      return s.depth === 0 && s.dlq_depth === 0;
    } catch {
      return false;
    }
  }, 20_000, 'the queue drained with nothing dead-lettered');
  const duplicates = [...delivered.entries()].filter(([, n]) => n > 1);
  console.log(`delivered: ${delivered.size} distinct messages, ${[...delivered.values()].reduce((a, b) => a + b, 0)} ` +
    `deliveries; ${duplicates.length} duplicate(s)${duplicates.length ? ': ' + duplicates.map(([id, n]) => `${id}×${n}`).join(' ') : ''}`);
  assert.ok(peak <= 20, `the concurrency limit was exceeded: ${peak} deliveries at once`);
  await shutdownSdk(W);
  await shutdownSdk(C);
});
