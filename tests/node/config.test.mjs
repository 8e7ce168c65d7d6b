// The config file end to end: ${VAR} substitution, errors at start naming file and line, unknown
// built-ins reported and skipped, and hot reload (good and bad) without dropping workers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { III_BINARY, startEngine, freePort, sdkWorker, sdkWorkerId, closeAll, waitFor, sleep } from './harness.mjs';

const engines = [];
after(async () => {
  await closeAll();
  for (const e of engines) await e.stop();
});

function tcpOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

/** Runs the engine on a config that must be rejected at start; returns {status, stderr}. */
function runRejected(configText, env = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iii-config-test-'));
  try {
    writeFileSync(path.join(dir, 'config.yaml'), configText);
    const r = spawnSync(III_BINARY, ['--config', 'config.yaml'], { cwd: dir, timeout: 10_000, env: { ...process.env, ...env } });
    return { status: r.status, stderr: r.stderr.toString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a zero invocation deadline is refused, in the config and on the command line', () => {
  const r = runRejected('workers:\n  - name: iii-worker-manager\n    config:\n      invocation_timeout_ms: 0\n');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /config\.yaml:4: `invocation_timeout_ms` must be at least 1/);
  const flag = spawnSync(III_BINARY, ['--invocation-timeout-ms', '0'], { timeout: 10_000 });
  assert.notEqual(flag.status, 0);
  assert.match(flag.stderr.toString(), /--invocation-timeout-ms: Value 0 not in range/);
});

test('a typo in the config stops the engine at start with file, line and reason', () => {
  const r = runRejected('workers:\n  - name: iii-worker-manager\n    config:\n      prot: 49999\n');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /config\.yaml:4: unknown key `prot`/);
  const bad = runRejected('workers:\n  - name: http\n    config:\n      port: 3999\n      hots: 127.0.0.1\n');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /config\.yaml:2: .*hots/);
  const unset = runRejected('workers:\n  - name: iii-worker-manager\n    config:\n      port: ${III_TEST_SURELY_UNSET}\n');
  assert.equal(unset.status, 1);
  assert.match(unset.stderr, /config\.yaml:4: environment variable `III_TEST_SURELY_UNSET` is not set/);
});

test('${VAR} and ${VAR:default} are substituted before parsing', async () => {
  const port = await freePort();
  const httpPort = await freePort();
  process.env.III_TEST_WS_PORT = String(port);
  const engine = await startEngine({
    port,
    config: 'workers:\n  - name: iii-worker-manager\n    config:\n      port: ${III_TEST_WS_PORT}\n      host: 127.0.0.1\n' +
      `  - name: http\n    config:\n      port: \${III_TEST_HTTP_UNSET:${httpPort}}\n      host: 127.0.0.1\n`,
  });
  engines.push(engine);
  assert.ok(await tcpOpen(port));
  assert.ok(await waitFor(() => tcpOpen(httpPort), 3000, 'http port from the default'));
});

test('an unknown built-in is reported as not supported yet, not a crash', async () => {
  const engine = await startEngine({ config: 'workers:\n  - name: iii-telemetry\n' });
  engines.push(engine);
  await waitFor(() => /iii-telemetry` is not supported by this engine yet/.test(engine.logs()), 3000, 'warning');
  engine.assertAlive();
});

test('hot reload applies a new file, keeps a bad one out, and never drops connected workers', async () => {
  const httpPort = await freePort();
  const engine = await startEngine({ config: 'workers: []\n' });
  engines.push(engine);
  const cfg = path.join(engine.cwd, 'config.yaml');
  const worker = sdkWorker(engine.url, 'reload-witness');
  const calls = [];
  worker.registerFunction('witness::ping', async (p) => { calls.push(p); return { pong: true }; });
  const workerId = await sdkWorkerId(worker);
  const caller = sdkWorker(engine.url, 'reload-caller');
  await sdkWorkerId(caller);
  assert.deepEqual(await caller.trigger({ function_id: 'witness::ping', payload: { n: 1 } }), { pong: true });

  // Good change: the HTTP worker appears on its port.
  writeFileSync(cfg, `workers:\n  - name: http\n    config:\n      port: ${httpPort}\n      host: 127.0.0.1\n`);
  await waitFor(() => tcpOpen(httpPort), 5000, 'http listener after reload');
  // Logged once the whole reload is applied, a moment after the listener opened.
  await waitFor(() => /config reloaded/.test(engine.logs()), 5000, 'the reload logged');

  // Bad change (written the way editors do: temp file + rename): rejected, the running config stays.
  const tmp = path.join(engine.cwd, '.config.yaml.swp');
  writeFileSync(tmp, `workers:\n  - name: http\n    config:\n      port: ${httpPort}\n      hots: x\n`);
  renameSync(tmp, cfg);
  await waitFor(() => /config reload rejected, the running config stays: .*config\.yaml:2/.test(engine.logs()), 5000, 'rejection logged');
  assert.ok(await tcpOpen(httpPort), 'http listener still up after a bad reload');

  // Removal: the HTTP worker stops.
  writeFileSync(cfg, 'workers: []\n');
  await waitFor(async () => !(await tcpOpen(httpPort)), 5000, 'http listener closed after removal');

  // The connected workers never noticed.
  assert.equal(worker.workerId, workerId);
  assert.deepEqual(await caller.trigger({ function_id: 'witness::ping', payload: { n: 2 } }), { pong: true });
  assert.equal(calls.length, 2);
  engine.assertAlive();
  await sleep(10);
});

test('hot reload opens and closes iii-worker-manager listeners; workers on the kept port stay connected', async () => {
  const main = await freePort();
  const extra = await freePort();
  const managers = (ports) => 'workers:\n' + ports.map((p) => `  - name: iii-worker-manager\n    config:\n      port: ${p}\n      host: 127.0.0.1\n`).join('');
  const engine = await startEngine({ port: main, config: managers([main]) });
  engines.push(engine);
  const cfg = path.join(engine.cwd, 'config.yaml');
  const worker = sdkWorker(engine.url, 'listener-witness');
  worker.registerFunction('witness::hello', async () => ({ hello: true }));
  const workerId = await sdkWorkerId(worker);
  assert.equal(await tcpOpen(extra), false);

  // A second listener appears; a worker on it reaches the function registered on the first.
  writeFileSync(cfg, managers([main, extra]));
  await waitFor(() => tcpOpen(extra), 5000, 'second listener opened');
  const other = sdkWorker(`ws://127.0.0.1:${extra}`, 'second-port-caller');
  await sdkWorkerId(other);
  assert.deepEqual(await other.trigger({ function_id: 'witness::hello', payload: {} }), { hello: true });

  // It goes away again; the worker on the first port never noticed.
  writeFileSync(cfg, managers([main]));
  await waitFor(async () => !(await tcpOpen(extra)), 5000, 'second listener closed');
  assert.equal(worker.workerId, workerId);
  assert.ok(await tcpOpen(main));
  engine.assertAlive();
});
