// Shared helpers for the Node integration tests: start/stop the engine binary, pick free ports,
// raw `ws` clients that record every frame, official-SDK workers with test-friendly options, and
// bounded waits. Every wait in here has a deadline; nothing polls forever.
//
// Running: `III_BINARY=/path/to/iii node --test --test-concurrency=1 tests/node/` runs every file
// (III_BINARY defaults to build/iii). One test alone, by a regular expression on its name:
//   III_BINARY=/path/to/iii node --test --test-name-pattern='state::set / state::get' tests/node/state.test.mjs
// Each file's shared setup (engine, SDK workers, raw clients) lives in before() hooks and its
// teardown in after() hooks, never in a test (engineLifecycle()/httpLifecycle() register both for
// the engine), so any single test can run alone. A test that needs more than that (an engine
// restart, its own subscribers, a provider with a binding) sets it up itself, so the order of the
// tests does not matter either. A file's own before() starts with `await ctx.ready` (see lifecycle()).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { registerWorker } from 'iii-sdk';
import { after, before } from 'node:test';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const III_BINARY = process.env.III_BINARY || path.join(REPO_ROOT, 'build', 'iii');
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const VERBOSE = !!process.env.III_TEST_VERBOSE;

// The SDK prints a debug line per connection; keep test output readable unless asked.
if (!VERBOSE) console.debug = () => {};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` (sync or async) until it returns a truthy value; throw after `ms` (`label` may be a function, read then). */
export async function waitFor(fn, ms = 5000, label = 'condition') {
  const deadline = Date.now() + ms;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const extra = lastErr ? ` (last error: ${lastErr.message})` : '';
      throw new Error(`waitFor timed out after ${ms}ms: ${typeof label === 'function' ? label() : label}${extra}`);
    }
    await sleep(25);
  }
}

/** Reject `p` if it does not settle within `ms`. */
export function withTimeout(p, ms, label = 'operation') {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timed out after ${ms}ms: ${label}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function tcpConnects(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
  });
}

// ---------------------------------------------------------------------------------------------
// Engine process

/**
 * Start the engine binary in a fresh temp directory.
 * options: port, invocationTimeoutMs, maxFrameBytes, args (extra argv), config (YAML text written
 * to <cwd>/config.yaml; default `workers: []`, so no built-in binds a fixed port such as 3111),
 * cwd (reuse a directory, e.g. to restart on the same data), env (variables added to the engine's).
 */
export async function startEngine(options = {}) {
  const port = options.port ?? (await freePort());
  const ownsCwd = options.cwd == null;
  const cwd = options.cwd ?? mkdtempSync(path.join(os.tmpdir(), 'iii-node-test-'));
  writeFileSync(path.join(cwd, 'config.yaml'), options.config ?? 'workers: []\n');
  const args = ['--port', String(port), '--host', '127.0.0.1'];
  if (options.invocationTimeoutMs != null) args.push('--invocation-timeout-ms', String(options.invocationTimeoutMs));
  if (options.maxFrameBytes != null) args.push('--max-frame-bytes', String(options.maxFrameBytes));
  if (options.args) args.push(...options.args);

  const env = options.env ? { ...process.env, ...options.env } : process.env;
  const proc = spawn(III_BINARY, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk) => {
    const s = chunk.toString();
    if (VERBOSE) process.stderr.write(`[iii:${port}] ${s}`);
    log += s;
    if (log.length > 400_000) log = log.slice(-200_000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => { exitInfo = { code, signal }; resolve(exitInfo); });
    proc.once('error', (err) => { exitInfo = { code: null, signal: null, error: err }; resolve(exitInfo); });
  });

  const engine = {
    port,
    url: `ws://127.0.0.1:${port}`,
    otelUrl: `ws://127.0.0.1:${port}/otel`,
    cwd,
    proc,
    args,
    logs: () => log,
    exitInfo: () => exitInfo,
    alive: () => exitInfo === null,
    /** Throws with the engine's log tail if the process is gone. */
    assertAlive(context = '') {
      if (exitInfo !== null) {
        throw new Error(`engine exited unexpectedly ${context} ${JSON.stringify(exitInfo)}\n--- engine log tail ---\n${log.slice(-4000)}`);
      }
    },
    /** SIGTERM, then SIGKILL after 3 s. Resolves with {code, signal, killed}. */
    async stop() {
      if (exitInfo === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => { if (exitInfo === null) proc.kill('SIGKILL'); }, 3000);
        await exited;
        clearTimeout(t);
      }
      if (ownsCwd) try { rmSync(cwd, { recursive: true, force: true }); } catch { /* ignore */ }
      return exitInfo;
    },
  };

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exitInfo !== null) {
      throw new Error(`engine ${III_BINARY} exited before becoming ready ${JSON.stringify(exitInfo)}\n${log.slice(-4000)}`);
    }
    if (await tcpConnects(port)) break;
    if (Date.now() > deadline) {
      await engine.stop();
      throw new Error(`engine did not accept TCP connections on ${port} within 10 s\n${log.slice(-4000)}`);
    }
    await sleep(50);
  }
  return engine;
}

// ---------------------------------------------------------------------------------------------
// Raw WebSocket client

const openRaw = new Set();

/**
 * A raw `ws` connection that records every inbound frame as
 * {kind:'text'|'binary', raw, json, at}. `json` is the parsed object for text frames (or undefined).
 */
export class RawClient {
  constructor(url, opts = {}) {
    this.url = url;
    this.frames = [];
    this.pongs = [];
    this.listeners = new Set();
    this.closeWaiters = new Set();
    this.closeInfo = null;
    this.workerId = undefined;
    this.reattachToken = undefined;
    this.servers = new Map();
    this.ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024, ...opts.wsOptions });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.ws.on('error', () => { /* recorded through close */ });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString(), at: Date.now() };
        openRaw.delete(this);
        for (const w of [...this.closeWaiters]) w();
        resolve(this.closeInfo);
      });
    });
    this.ws.on('pong', (data) => this.pongs.push({ data: Buffer.from(data), at: Date.now() }));
    this.ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat([].concat(data));
      const f = { kind: isBinary ? 'binary' : 'text', raw: buf, at: Date.now(), json: undefined };
      if (!isBinary) {
        try { f.json = JSON.parse(buf.toString('utf8')); } catch { /* keep raw */ }
      }
      this.frames.push(f);
      const m = f.json;
      if (m && m.type === 'workerregistered' && this.workerId === undefined) {
        this.workerId = m.worker_id;
        this.reattachToken = m.reattach_token;
      }
      if (m && m.type === 'invokefunction' && this.servers.has(m.function_id)) this.#dispatch(m);
      for (const l of [...this.listeners]) l(f);
    });
    openRaw.add(this);
  }

  /** Connect and (by default) wait for `workerregistered`. */
  static async connect(url, { waitRegistered = true, timeoutMs = 5000, wsOptions } = {}) {
    const c = new RawClient(url, { wsOptions });
    await withTimeout(c.opened, timeoutMs, `ws open ${url}`);
    if (waitRegistered) await c.waitType('workerregistered', timeoutMs);
    return c;
  }

  get isOpen() { return this.ws.readyState === WebSocket.OPEN; }
  mark() { return this.frames.length; }
  messages(since = 0) { return this.frames.slice(since).map((f) => f.json).filter((m) => m !== undefined); }

  send(obj) {
    this.ws.send(typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj));
  }
  sendText(text) { this.ws.send(text, { binary: false }); }
  sendBinary(buf) { this.ws.send(buf, { binary: true }); }

  /** Wait for a frame matching `pred(json, frame)` received at index >= since. */
  waitFrame(pred, ms = 5000, { since = 0, label = 'frame' } = {}) {
    const test = (f) => { try { return pred(f.json, f); } catch { return false; } };
    for (let i = since; i < this.frames.length; i++) if (test(this.frames[i])) return Promise.resolve(this.frames[i].json ?? this.frames[i]);
    return new Promise((resolve, reject) => {
      const l = (f) => {
        if (test(f)) { cleanup(); resolve(f.json ?? f); }
      };
      const onClose = () => { cleanup(); reject(new Error(`connection closed while waiting for ${label} (${JSON.stringify(this.closeInfo)})`)); };
      const t = setTimeout(() => { cleanup(); reject(new Error(`no ${label} within ${ms}ms; got ${this.#tail()}`)); }, ms);
      const cleanup = () => { clearTimeout(t); this.listeners.delete(l); this.closeWaiters.delete(onClose); };
      if (this.closeInfo) { onClose(); return; }
      this.listeners.add(l);
      this.closeWaiters.add(onClose);
    });
  }
  waitType(type, ms = 5000, since = 0) {
    return this.waitFrame((m) => m && m.type === type, ms, { since, label: `"${type}"` });
  }

  /** Resolve true if no frame matching pred arrives within ms (starting at `since`). */
  async noFrame(pred, ms, since = this.mark()) {
    await sleep(ms);
    return !this.frames.slice(since).some((f) => { try { return pred(f.json, f); } catch { return false; } });
  }

  #tail() {
    return JSON.stringify(this.frames.slice(-5).map((f) => f.json ?? `<${f.kind} ${f.raw.length}B>`)).slice(0, 1500);
  }

  /** Synchronous call: send invokefunction, resolve with the matching invocationresult message. */
  async call(functionId, data, { timeoutMs = 5000, extra = {}, omitData = false } = {}) {
    const invocation_id = randomUUID();
    const msg = { type: 'invokefunction', invocation_id, function_id: functionId, ...extra };
    if (!omitData) msg.data = data;
    const waiting = this.waitFrame((m) => m && m.type === 'invocationresult' && m.invocation_id === invocation_id,
      timeoutMs, { since: this.mark(), label: `invocationresult for ${functionId}` });
    this.send(msg);
    return waiting;
  }

  /** Barrier: every frame this connection sent earlier has been processed by the engine. */
  async sync(timeoutMs = 5000) {
    await this.call('__barrier__::none', {}, { timeoutMs });
  }

  /** Register a function served by `handler(msg)`; return {result}|{error}|null (no reply) or a promise. */
  serve(functionId, handler, extra = {}) {
    this.servers.set(functionId, handler);
    this.send({ type: 'registerfunction', id: functionId, ...extra });
  }
  async #dispatch(m) {
    const handler = this.servers.get(m.function_id);
    let out;
    try { out = await handler(m); } catch (e) { out = { error: { code: 'invocation_failed', message: String(e.message ?? e) } }; }
    if (!out || !m.invocation_id || !this.isOpen) return;
    this.send({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: m.function_id, ...out });
  }

  /** JSON-level ping → pong round trip (throws if no pong within ms). */
  async jsonPing(ms = 2000) {
    const since = this.mark();
    this.send({ type: 'ping' });
    return this.waitFrame((m) => m && m.type === 'pong', ms, { since, label: 'JSON pong' });
  }

  /** WebSocket control-frame ping; resolves with the pong payload. */
  async wsPing(payload = Buffer.alloc(0), ms = 2000) {
    const n = this.pongs.length;
    this.ws.ping(payload);
    await waitFor(() => this.pongs.length > n, ms, 'WS pong');
    return this.pongs[n].data;
  }

  close() { try { this.ws.close(); } catch { /* ignore */ } return this.closed; }
  terminate() { try { this.ws.terminate(); } catch { /* ignore */ } return this.closed; }
}

export const connectRaw = (url, opts) => RawClient.connect(url, opts);

// ---------------------------------------------------------------------------------------------
// Official SDK workers

const sdkWorkers = new Set();

/** registerWorker with OTel/metrics off (one process hosts many workers) and fast reconnects. */
export function sdkWorker(url, name, options = {}) {
  const w = registerWorker(url, {
    workerName: name,
    otel: { enabled: false },
    enableMetricsReporting: false,
    invocationTimeoutMs: 10_000,
    reconnectionConfig: { initialDelayMs: 200, maxDelayMs: 1000, jitterFactor: 0 },
    ...options,
  });
  sdkWorkers.add(w);
  return w;
}

/** Wait until the SDK processed `workerregistered`; returns its worker id. */
export async function sdkWorkerId(w, ms = 5000) {
  await waitFor(() => w.workerId, ms, 'SDK workerregistered');
  return w.workerId;
}

/**
 * Barrier for an SDK worker: everything it sent before (registrations) has been processed.
 * Calls a function that does not exist and accepts any engine answer (but not the SDK's timeout).
 */
export async function sdkSync(w, ms = 5000) {
  try {
    await w.trigger({ function_id: '__barrier__::none', payload: {}, timeoutMs: ms });
  } catch (e) {
    if (e && e.code === 'TIMEOUT') throw new Error(`engine did not answer a barrier call within ${ms}ms`);
  }
}

/** Wait until `functionId` answers `payload` through SDK worker `w` (a built-in that comes up after the listener). */
export async function sdkWaitCallable(w, functionId, payload = {}, ms = 10_000) {
  await waitFor(async () => {
    try {
      await w.trigger({ function_id: functionId, payload, timeoutMs: 1000 });
      return true;
    } catch {
      return false;
    }
  }, ms, `${functionId} answers`);
}

/** Call via SDK and return the rejection (throws if the call succeeded). */
export async function sdkCallError(w, req) {
  try {
    const r = await w.trigger(req);
    throw Object.assign(new Error(`expected ${req.function_id} to fail, got ${JSON.stringify(r)}`), { unexpected: true });
  } catch (e) {
    if (e.unexpected) throw e;
    return e;
  }
}

export async function shutdownSdk(w) {
  sdkWorkers.delete(w);
  await w.shutdown().catch(() => {});
}

/** Close everything this file opened (SDK workers and raw clients). */
export async function closeAll() {
  await Promise.all([...sdkWorkers].map((w) => shutdownSdk(w)));
  await Promise.all([...openRaw].map((c) => withTimeout(c.terminate(), 2000, 'raw close').catch(() => {})));
}

/** Engine function call through a raw client; returns result or throws with the error body. */
export async function engineCall(client, functionId, data, timeoutMs = 5000) {
  const r = await client.call(functionId, data, { timeoutMs });
  if (r.error) throw Object.assign(new Error(`${functionId}: ${r.error.code}: ${r.error.message}`), { body: r.error, frame: r });
  return r.result;
}

/** Like engineCall but returns the error body (throws if the call succeeded). */
export async function engineCallError(client, functionId, data, timeoutMs = 5000) {
  const r = await client.call(functionId, data, { timeoutMs });
  if (!r.error) throw new Error(`expected ${functionId} to fail, got ${JSON.stringify(r)}`);
  return r.error;
}

/**
 * before/after hooks for a test file that runs one engine started by `start()` (a promise of an
 * engine). Returns `ctx`: `ctx.engine` (the running engine) and `ctx.ready` (resolves with it).
 *
 * A file's own before() must begin with `await ctx.ready`: in Node 20 a top-level before() starts
 * as soon as it is registered, so a file's before() hooks run side by side, not one after the
 * other (every test still waits for all of them). Reading `ctx.engine` before the engine is up
 * throws and says so.
 */
export function lifecycle(start) {
  let engine = null;
  let settle;
  const ready = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  ready.catch(() => {}); // a failed start is reported by the hook below (and by whoever awaits it)
  const state = {
    ready,
    get engine() {
      if (!engine) throw new Error('the engine is not started yet: a before() hook must `await ctx.ready` first');
      return engine;
    },
  };
  before(async () => {
    try {
      engine = await start();
      settle.resolve(engine);
    } catch (e) {
      settle.reject(e);
      throw e;
    }
  });
  after(async () => {
    await closeAll();
    if (!engine) return;
    const crashed = !engine.alive();
    const info = engine.exitInfo();
    const tail = engine.logs().slice(-4000);
    await engine.stop();
    if (crashed) throw new Error(`engine died during this file: ${JSON.stringify(info)}\n${tail}`);
  });
  return state;
}

/** Standard setup/teardown hooks for a test file that uses one engine (see lifecycle()). */
export function engineLifecycle(options = {}) {
  return lifecycle(() => startEngine(options));
}
