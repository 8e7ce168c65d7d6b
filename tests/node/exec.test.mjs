// iii-exec end to end, with real processes: a pipeline's steps run in order and the last one keeps
// running with its output on the engine's console; a crashing command is restarted with growing
// delays; a watched file change restarts it; a failing step stops the pipeline; the engine's
// SIGTERM and a hot reload leave no child alive (checked by pid); and the Quickstart runs from one
// `iii --config` whose iii-exec blocks start both workers. No assertion on speed: gaps are
// compared with each other, and every wait has a deadline.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { III_BINARY, REPO_ROOT, freePort, sleep, startEngine, waitFor } from './harness.mjs';

const run = promisify(execFile);
const engines = [];
const dirs = [];
after(async () => {
  for (const e of engines) await e.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir() {
  const d = mkdtempSync(path.join(os.tmpdir(), 'iii-exec-test-'));
  dirs.push(d);
  return d;
}

/** A config with one iii-exec block whose `config:` holds `lines` (YAML, one key a line). */
const execConfig = (...lines) => `workers:\n  - name: iii-exec\n    config:\n${lines.map((l) => `      ${l}\n`).join('')}`;

async function engineWith(config, cwd = tempDir()) {
  const engine = await startEngine({ config, cwd });
  engines.push(engine);
  return engine;
}

/** `kill -0`: the engine reaps its children, so a stopped one is gone, not a zombie. */
function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Running and not a zombie (for grandchildren, which an init that does not reap leaves as zombies). */
function running(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Every process below `root` (children, their children, …), from /proc. */
function descendants(root) {
  const parentOf = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone meanwhile */ }
  }
  const out = [];
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parentOf) {
      if ((ppid === root || out.includes(ppid)) && !out.includes(pid)) { out.push(pid); grew = true; }
    }
  }
  return out;
}

const lines = (file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

/** SIGTERM, then wait (up to 15 s) for the engine to exit by itself. */
async function terminate(engine) {
  engine.proc.kill('SIGTERM');
  await waitFor(() => !engine.alive(), 15_000, 'engine exit after SIGTERM');
  return engine.exitInfo();
}

test('the steps run in order, the last keeps running with its output prefixed, and SIGTERM to the engine leaves no child', async () => {
  const engine = await engineWith(execConfig('name: pipe', 'exec:', '  - echo first-step-ran > step1.txt',
    `  - 'echo "hello from the last command"; echo "to stderr" >&2; echo $$ > last.pid; exec sleep 1000'`));
  const pidFile = path.join(engine.cwd, 'last.pid');
  await waitFor(() => lines(pidFile).length === 1, 10_000, 'the last command started');
  assert.equal(readFileSync(path.join(engine.cwd, 'step1.txt'), 'utf8'), 'first-step-ran\n');
  const pid = Number(lines(pidFile)[0]);
  assert.ok(pidAlive(pid), 'the last command runs');
  await waitFor(() => /\[pipe\] hello from the last command/.test(engine.logs()) && /\[pipe\] to stderr/.test(engine.logs()),
    5000, () => `prefixed output in the engine log:\n${engine.logs().slice(-2000)}`);
  assert.match(engine.logs(), /iii-exec \[pipe\]: starting step 2\/2: echo "hello/);

  const exit = await terminate(engine);
  assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, engine.logs().slice(-2000));
  assert.equal(pidAlive(pid), false, `pid ${pid} outlived the engine`);
});

test('a crashing command is restarted with growing delays', async () => {
  const engine = await engineWith(execConfig('name: crashy', 'restart_delay_ms: 500', 'restart_max_delay_ms: 8000',
    `exec: ['date +%s%3N >> starts.txt; echo crashing; exit 1']`));
  const starts = path.join(engine.cwd, 'starts.txt');
  await waitFor(() => lines(starts).length >= 4, 20_000, () => `four starts; got ${lines(starts).length}\n${engine.logs().slice(-2000)}`);
  const t = lines(starts).map(Number);
  const gaps = t.slice(1, 4).map((v, i) => v - t[i]);
  assert.ok(gaps[1] > gaps[0] && gaps[2] > gaps[1], `gaps between starts should grow: ${gaps.join(', ')} ms`);
  const log = engine.logs();
  assert.match(log, /iii-exec \[crashy\]: `date \+%s%3N >> starts.txt; echo crashing; exit 1` exited \(exit status 1\) after/);
  assert.match(log, /restarting the pipeline in 0\.5 s \(restart 1\)/);
  assert.match(log, /restarting the pipeline in 1\.0 s \(restart 2\)/);
  assert.match(log, /restarting the pipeline in 2\.0 s \(restart 3\)/);
  assert.match(log, /\[crashy\] crashing/);
});

test('a watched file change restarts the pipeline; other files do not', async () => {
  const cwd = tempDir();
  mkdirSync(path.join(cwd, 'src'));
  const engine = await engineWith(execConfig('name: watched', `watch: ['src/**/*.txt']`,
    `exec: ['echo $$ >> pids.txt; exec sleep 1000']`), cwd);
  const pids = path.join(cwd, 'pids.txt');
  await waitFor(() => lines(pids).length === 1, 10_000, 'first start');
  const first = Number(lines(pids)[0]);

  writeFileSync(path.join(cwd, 'src', 'notes.md'), 'not watched');
  await sleep(800);
  assert.equal(lines(pids).length, 1, 'a .md file does not match src/**/*.txt');

  writeFileSync(path.join(cwd, 'src', 'a.txt'), 'changed');
  await waitFor(() => lines(pids).length === 2, 10_000, () => `restart after src/a.txt changed\n${engine.logs().slice(-2000)}`);
  const second = Number(lines(pids)[1]);
  assert.notEqual(second, first);
  assert.equal(pidAlive(first), false, 'the old process is stopped');
  assert.ok(pidAlive(second));
  assert.match(engine.logs(), /iii-exec \[watched\]: src\/a\.txt changed: restarting the pipeline/);

  // A directory created later is watched too.
  mkdirSync(path.join(cwd, 'src', 'deep'));
  await sleep(300);
  writeFileSync(path.join(cwd, 'src', 'deep', 'b.txt'), 'new');
  await waitFor(() => lines(pids).length === 3, 10_000, 'restart after src/deep/b.txt appeared');
  assert.equal(pidAlive(second), false);
});

test('a failing step stops the pipeline with a clear log line and is retried', async () => {
  const engine = await engineWith(execConfig('name: broken', 'restart_delay_ms: 200', 'exec:',
    '  - echo try >> tries.txt; exit 3', '  - touch never.txt; exec sleep 1000'));
  await waitFor(() => lines(path.join(engine.cwd, 'tries.txt')).length >= 2, 10_000, 'the failing step retried');
  assert.match(engine.logs(),
    /iii-exec \[broken\]: step 1\/2 `echo try >> tries.txt; exit 3` failed \(exit status 3\): the pipeline stops here/);
  assert.equal(existsSync(path.join(engine.cwd, 'never.txt')), false, 'the last step never ran');
});

test('a hot reload that changes the block restarts it, and one that removes it kills its children', async () => {
  const block = (name) => execConfig(`name: ${name}`, `exec: ['echo $$ >> pids.txt; exec sleep 1000']`);
  const engine = await engineWith(block('before'));
  const cfg = path.join(engine.cwd, 'config.yaml');
  const pids = path.join(engine.cwd, 'pids.txt');
  await waitFor(() => lines(pids).length === 1, 10_000, 'first start');
  const first = Number(lines(pids)[0]);

  writeFileSync(cfg, block('after'));
  await waitFor(() => lines(pids).length === 2, 10_000, () => `restart after the block changed\n${engine.logs().slice(-2000)}`);
  const second = Number(lines(pids)[1]);
  await waitFor(() => !pidAlive(first), 10_000, 'the old pipeline stopped');
  assert.ok(pidAlive(second));

  writeFileSync(cfg, 'workers: []\n');
  await waitFor(() => !pidAlive(second), 10_000, `pid ${second} still alive after its block was removed`);
  assert.match(engine.logs(), /config reloaded \(changed: -; added: -; removed: iii-exec\)/);
  engine.assertAlive();
});

test('a bad block stops the engine at start naming the key', () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'config.yaml'), execConfig('exec: []'));
  const r = spawnSync(III_BINARY, ['--config', 'config.yaml'], { cwd: dir, timeout: 10_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr.toString(), /config\.yaml:2: iii-exec: `exec` must list at least one command/);
  writeFileSync(path.join(dir, 'config.yaml'), execConfig('exec: [x]', 'wacth: ["*.ts"]'));
  const typo = spawnSync(III_BINARY, ['--config', 'config.yaml'], { cwd: dir, timeout: 10_000 });
  assert.equal(typo.status, 1);
  assert.match(typo.stderr.toString(), /iii-exec: unknown key `wacth`/);
});

test('the Quickstart from one `iii --config`: its iii-exec blocks start both workers', async () => {
  // The example's layout, with the real build and caller worker linked in, so that its relative
  // paths (../../build/quickstart_math_worker) resolve as they do in the repository.
  const root = tempDir();
  const quickstart = path.join(root, 'examples', 'quickstart');
  mkdirSync(quickstart, { recursive: true });
  symlinkSync(path.dirname(III_BINARY), path.join(root, 'build'));
  symlinkSync(path.join(REPO_ROOT, 'examples', 'quickstart', 'caller-worker'), path.join(quickstart, 'caller-worker'));
  copyFileSync(path.join(REPO_ROOT, 'examples', 'quickstart', 'with-workers.yaml'), path.join(quickstart, 'with-workers.yaml'));
  const wsPort = await freePort();
  const httpPort = await freePort();
  process.env.III_PORT = String(wsPort);
  process.env.III_HTTP_PORT = String(httpPort);
  const engine = await startEngine({ port: wsPort, cwd: quickstart, config: readFileSync(path.join(quickstart, 'with-workers.yaml'), 'utf8') });
  engines.push(engine);

  const trigger = async (...args) => JSON.parse((await run(III_BINARY, ['trigger', ...args, '--address', engine.url, '--timeout-ms', '5000'])).stdout);
  const two = await waitFor(() => trigger('math::add_two_numbers', 'a=10', 'b=20').catch(() => null), 30_000,
    () => `both workers up\n${engine.logs().slice(-3000)}`);
  assert.equal(two.c, 30);
  assert.equal(two.success, true);
  assert.match(engine.logs(), /\[math-worker\] math-worker \(C\+\+\): serving math::add/);
  assert.match(engine.logs(), /\[caller-worker\] caller-worker: serving math::add_two_numbers/);

  // The math worker, tsx and the node process tsx started.
  const pids = descendants(engine.proc.pid).filter(running);
  assert.ok(pids.length >= 3, `the engine's processes: ${pids.join(', ')}`);
  const exit = await terminate(engine);
  assert.equal(exit.code, 0);
  for (const pid of pids) await waitFor(() => !running(pid), 5000, `pid ${pid} outlived the engine`);
});
