// The Quickstart, end to end, exactly as the README walks through it: the engine on
// examples/quickstart/config.yaml, the C++ math worker, the TypeScript caller worker (run with tsx),
// `iii trigger`, the running total in state (surviving a restart) and the HTTP route.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, III_BINARY, startEngine, freePort, waitFor } from './harness.mjs';

const run = promisify(execFile);
const QUICKSTART = path.join(REPO_ROOT, 'examples', 'quickstart');
const MATH_WORKER = path.join(path.dirname(III_BINARY), 'quickstart_math_worker');
const TSX = path.join(QUICKSTART, 'caller-worker', 'node_modules', '.bin', 'tsx');

const children = [];
const dir = mkdtempSync(path.join(os.tmpdir(), 'iii-quickstart-'));
let engine;
after(async () => {
  for (const c of children) c.kill('SIGTERM');
  if (engine) await engine.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startChild(cmd, args, env) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  child.logs = () => log;
  children.push(child);
  return child;
}

async function trigger(url, ...args) {
  const { stdout } = await run(III_BINARY, ['trigger', ...args, '--address', url, '--timeout-ms', '5000']);
  return JSON.parse(stdout);
}

test('quickstart: C++ math worker + TypeScript caller through iii trigger and HTTP, total survives restart', async () => {
  const wsPort = await freePort();
  const httpPort = await freePort();
  process.env.III_PORT = String(wsPort);
  process.env.III_HTTP_PORT = String(httpPort);
  const config = (await import('node:fs')).readFileSync(path.join(QUICKSTART, 'config.yaml'), 'utf8');
  engine = await startEngine({ port: wsPort, cwd: dir, config });
  const env = { III_URL: engine.url };
  const math = startChild(MATH_WORKER, [], env);
  await waitFor(() => /serving math::add/.test(math.logs()), 10_000, 'math worker up');
  const caller = startChild(TSX, [path.join(QUICKSTART, 'caller-worker', 'src', 'worker.ts')], env);
  await waitFor(() => /caller-worker: serving/.test(caller.logs()), 20_000, 'caller worker up');

  // iii trigger math::add a=2 b=3 → c 5, and the running total starts.
  await waitFor(async () => (await trigger(engine.url, 'math::add', 'a=2', 'b=3').catch(() => null))?.c === 5, 10_000, 'math::add');
  const two = await waitFor(() => trigger(engine.url, 'math::add_two_numbers', 'a=10', 'b=20').catch(() => null), 10_000, 'add_two_numbers');
  assert.equal(two.c, 30);
  assert.equal(two.success, true);
  assert.equal(two.total, 35);
  assert.deepEqual(await trigger(engine.url, 'state::get', 'scope=quickstart', 'key=total'), { sum: 35, count: 2 });
  // The caller's Logger line reaches the engine's console (iii-observability, logs_console_output).
  await waitFor(() => /\[iii-node\] add_two_numbers: 10 \+ 20 = 30 \{"total":35\}/.test(engine.logs()), 10_000,
    'the worker log line on the engine console');

  // curl -X POST localhost:3111/math/add-two-numbers -d '{"a":100,"b":200}'
  const res = await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${httpPort}/math/add-two-numbers`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 100, b: 200 }),
    }).catch(() => null);
    return r && r.status === 200 ? r : null;
  }, 10_000, 'HTTP route');
  assert.match(res.headers.get('content-type'), /application\/json/);
  assert.deepEqual(await res.json(), { c: 300, total: 335, success: true });
  const bad = await fetch(`http://127.0.0.1:${httpPort}/math/add-two-numbers`, { method: 'POST', body: 'nope' });
  assert.equal(bad.status, 400);

  // Restart the engine on the same data: the total is still there and the workers come back.
  await engine.stop();
  engine = await startEngine({ port: wsPort, cwd: dir, config });
  assert.deepEqual(await trigger(engine.url, 'state::get', 'scope=quickstart', 'key=total'), { sum: 335, count: 3 });
  const again = await waitFor(() => trigger(engine.url, 'math::add_two_numbers', 'a=1', 'b=1').catch(() => null), 15_000, 'workers reconnected');
  assert.equal(again.total, 337);
});
