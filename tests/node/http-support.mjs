// Helpers for the iii-http tests (http*.test.mjs): an engine whose config runs the `iii-http`
// built-in on a free loopback port, bounded fetches, and a raw HTTP/1.1 client for wire-level checks.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, lifecycle, sdkSync, startEngine, waitFor } from './harness.mjs';

/** Start the engine with `iii-http` configured by `httpConfig` (port/host filled in). */
export async function startHttpEngine(httpConfig = {}, options = {}) {
  const httpPort = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iii-http-test-'));
  const configPath = path.join(dir, 'config.yaml');
  const block = { port: httpPort, host: '127.0.0.1', ...httpConfig };
  // YAML is a superset of JSON: the block is written in flow style.
  writeFileSync(configPath, `workers:\n  - name: iii-http\n    config: ${JSON.stringify(block)}\n`);
  const engine = await startEngine({ ...options, args: ['--config', configPath, ...(options.args ?? [])] });
  engine.httpPort = httpPort;
  engine.httpUrl = `http://127.0.0.1:${httpPort}`;
  const stop = engine.stop.bind(engine);
  engine.stop = async () => {
    const info = await stop();
    rmSync(dir, { recursive: true, force: true });
    return info;
  };
  await waitFor(() => tcpConnects(httpPort), 10_000, `iii-http listening on ${httpPort}`);
  return engine;
}

function tcpConnects(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
  });
}

/** before/after hooks for a file that uses one engine with iii-http (see lifecycle() in harness.mjs). */
export function httpLifecycle(httpConfig = {}, options = {}) {
  return lifecycle(() => startHttpEngine(httpConfig, options));
}

/** fetch with a deadline. */
export async function fetchWithin(url, init = {}, ms = 5000) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
}

/** fetch and read: {status, headers, text, json (when parsable)}. */
export async function call(url, init = {}, ms = 5000) {
  const res = await fetchWithin(url, init, ms);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

/** Bind `functionId` to an http route and wait until the engine has processed it. */
export async function bindHttp(worker, functionId, config, metadata) {
  const trigger = worker.registerTrigger({ type: 'http', function_id: functionId, config, ...(metadata ? { metadata } : {}) });
  await sdkSync(worker);
  return trigger;
}

/**
 * Send raw bytes on a fresh TCP connection and collect what comes back until the server closes
 * or `ms` passes. Resolves {raw: Buffer, closed: bool}.
 */
export function rawExchange(port, bytes, { ms = 3000, untilClose = true, waitFor: pattern } = {}) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const s = net.connect({ port, host: '127.0.0.1' });
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      resolve({ raw: Buffer.concat(chunks), closed });
    };
    const t = setTimeout(() => finish(false), ms);
    s.on('data', (d) => {
      chunks.push(d);
      if (pattern && pattern(Buffer.concat(chunks))) finish(false);
    });
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', (e) => { if (!done) { done = true; clearTimeout(t); reject(e); } });
    s.on('connect', () => { for (const b of [].concat(bytes)) s.write(b); if (!untilClose && !pattern) finish(false); });
  });
}

/** Split a raw HTTP/1.1 response buffer: {status, headers (lower-case names → [values]), body (Buffer)}. */
export function parseRaw(raw) {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no header block in ${JSON.stringify(raw.toString())}`);
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).toLowerCase();
    (headers[name] ??= []).push(line.slice(i + 1).trim());
  }
  let body = raw.subarray(end + 4);
  if (headers['transfer-encoding']?.[0] === 'chunked') {
    const parts = [];
    let p = 0;
    for (;;) {
      const eol = body.indexOf('\r\n', p);
      const n = parseInt(body.subarray(p, eol).toString(), 16);
      if (!n) break;
      parts.push(body.subarray(eol + 2, eol + 2 + n));
      p = eol + 2 + n + 2;
    }
    body = Buffer.concat(parts);
  }
  return { status, statusLine: lines[0], headers, body };
}
