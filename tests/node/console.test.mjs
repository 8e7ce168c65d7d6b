// docs/builtins.md §15 (iii-console) without a browser: the embedded pages, the API's rules (the
// page functions, the invoke form's `invocable`, JSON only, same site, the token), the live socket,
// and the blocks the engine refuses. The pages themselves run in console-browser.test.mjs.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import {
  III_BINARY, freePort, lifecycle, sdkSync, sdkWaitCallable, sdkWorker, startEngine, tcpConnects, waitFor, withTimeout,
} from './harness.mjs';

let consolePort;
const ctx = lifecycle(async () => {
  consolePort = await freePort();
  return startEngine({ config: `workers:\n  - name: iii-console\n    config: { port: ${consolePort} }\n  - name: state\n` });
});
let base;

async function api(pathname, { body, headers = {}, method = body === undefined ? 'GET' : 'POST', port = consolePort } = {}) {
  const response = await fetch(`http://127.0.0.1:${port}${pathname}`, {
    method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json;
  try { json = JSON.parse(text); } catch { /* a page */ }
  return { status: response.status, type: response.headers.get('content-type'), text, json };
}

before(async () => {
  await ctx.ready;
  base = `http://127.0.0.1:${consolePort}`;
  await waitFor(() => tcpConnects(consolePort), 5000, 'console port open');
  const W = sdkWorker(ctx.engine.url, 'console-api-worker');
  W.registerFunction('demo::echo', async (data) => ({ echoed: data }));
  W.registerFunction('demo::fail', async () => { throw new Error('it failed on purpose'); });
  await sdkSync(W);
  await sdkWaitCallable(W, 'demo::echo', {});
});

test('the pages are served from the binary: /, a page path, the scripts; a missing file is 404', async () => {
  const index = await api('/');
  assert.equal(index.status, 200);
  assert.match(index.type, /text\/html/);
  assert.match(index.text, /<html/);
  const page = await api('/workers');
  assert.equal(page.status, 200);
  assert.equal(page.text, index.text, 'a page path is the single-page app');
  const script = await api('/console-core.js');
  assert.equal(script.status, 200);
  assert.match(script.type, /text\/javascript/);
  assert.equal((await api('/missing.png')).status, 404);
  assert.equal((await api('/', { method: 'DELETE' })).status, 405);
});

test('GET /api/session tells the live port and what the invoke form may call', async () => {
  const r = await api('/api/session');
  assert.equal(r.status, 200);
  assert.ok(r.json.live_port > 0);
  assert.equal(r.json.token_required, false);
  assert.deepEqual(r.json.invocable, ['*']);
});

test('POST /api/call runs the functions the pages need and refuses the others', async () => {
  const workers = await api('/api/call', { body: { function_id: 'engine::workers::list', payload: {} } });
  assert.equal(workers.status, 200);
  assert.ok(workers.json.result.workers.some((w) => w.name === 'console-api-worker'));
  const state = await api('/api/call', { body: { function_id: 'state::set', payload: { scope: 's', key: 'k', value: 1 } } });
  assert.deepEqual(state.json.result, { old_value: null, new_value: 1 });
  const refused = await api('/api/call', { body: { function_id: 'state::delete', payload: { scope: 's', key: 'k' } } });
  assert.equal(refused.status, 403);
  const user = await api('/api/call', { body: { function_id: 'demo::echo', payload: {} } });
  assert.equal(user.status, 403, 'user functions go through /api/invoke only');
  const error = await api('/api/call', { body: { function_id: 'engine::workers::info', payload: { name: 'nobody' } } });
  assert.equal(error.status, 200);
  assert.equal(error.json.error.code, 'NOT_FOUND');
});

test('POST /api/invoke calls a worker function through the engine, with its result or its error', async () => {
  const ok = await api('/api/invoke', { body: { function_id: 'demo::echo', payload: { a: 1 } } });
  assert.deepEqual(ok.json, { result: { echoed: { a: 1 } } });
  const failed = await api('/api/invoke', { body: { function_id: 'demo::fail', payload: {} } });
  assert.match(failed.json.error.message, /it failed on purpose/);
  const missing = await api('/api/invoke', { body: { function_id: 'demo::none', payload: {} } });
  assert.equal(missing.json.error.code, 'function_not_found');
  const engineFunction = await api('/api/invoke', { body: { function_id: 'engine::workers::list' } });
  assert.equal(engineFunction.status, 403, '`*` leaves out the engine:: functions');
});

test('API requests must be JSON, from the same site, and well formed', async () => {
  const form = await api('/api/invoke', { body: '{"function_id":"demo::echo"}', headers: { 'content-type': 'text/plain' } });
  assert.equal(form.status, 415);
  const otherSite = await api('/api/invoke', { body: { function_id: 'demo::echo' }, headers: { origin: 'http://evil.example' } });
  assert.equal(otherSite.status, 403);
  // node:http, not fetch: fetch sends the Host of the URL whatever the headers say.
  const rebound = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: consolePort, path: '/api/session', headers: { host: 'evil.example:3113' } },
      (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
  });
  assert.equal(rebound, 403, 'a DNS name pointing at 127.0.0.1 is not the console');
  const sameSite = await api('/api/invoke', { body: { function_id: 'demo::echo' }, headers: { origin: base } });
  assert.equal(sameSite.status, 200);
  assert.equal((await api('/api/call', { body: 'not json' })).status, 400);
  assert.equal((await api('/api/call', { body: { payload: {} } })).status, 400);
  assert.equal((await api('/api/nothing', { body: {} })).status, 404);
});

function openLive(port, query = '') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/${query}`);
  const messages = [];
  ws.on('message', (m) => messages.push(JSON.parse(m.toString())));
  return { ws, messages, opened: withTimeout(new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); }), 5000, 'live socket open') };
}

test('the live socket pushes a watched result, then again only when it changes', async () => {
  const { live_port } = (await api('/api/session')).json;
  const live = openLive(live_port);
  await live.opened;
  live.ws.send(JSON.stringify({ type: 'watch', id: 'fns', function_id: 'engine::functions::list', payload: {} }));
  const ids = (m) => m.result.functions.map((f) => f.function_id);
  await waitFor(() => live.messages.some((m) => m.id === 'fns' && m.type === 'result'), 5000, 'first push');
  assert.ok(ids(live.messages.find((m) => m.id === 'fns')).includes('demo::echo'));
  const W = sdkWorker(ctx.engine.url, 'console-live-worker');
  W.registerFunction('demo::late', async () => null);
  await sdkSync(W);
  await waitFor(() => live.messages.some((m) => m.id === 'fns' && ids(m).includes('demo::late')), 5000, 'pushed after the change');
  const count = live.messages.length;
  await new Promise((r) => setTimeout(r, 2500));  // two refreshes with nothing new
  assert.equal(live.messages.length, count, 'nothing pushed while the answer stays the same');
  live.ws.send(JSON.stringify({ type: 'watch', id: 'no', function_id: 'state::delete', payload: {} }));
  await waitFor(() => live.messages.some((m) => m.id === 'no' && m.type === 'error' && m.error.code === 'FORBIDDEN'), 5000, 'refused watch');
  live.ws.close();
});

async function runRejected(configText) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iii-console-config-'));
  try {
    writeFileSync(path.join(dir, 'config.yaml'), configText);
    const port = String(await freePort());
    const r = spawnSync(III_BINARY, ['--port', port, '--host', '127.0.0.1'], { cwd: dir, timeout: 10_000, env: { ...process.env, III_CONSOLE_TOKEN: '' } });
    return { status: r.status, stderr: r.stderr.toString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a console bound beyond loopback without a token, or with an unknown key, is refused at start', async () => {
  const open = await runRejected('workers:\n  - name: iii-console\n    config: { host: 0.0.0.0 }\n');
  assert.notEqual(open.status, 0);
  assert.match(open.stderr, /iii-console: `token` is required when `host` is not a loopback address/);
  const unknown = await runRejected('workers:\n  - name: iii-console\n    config: { prot: 1 }\n');
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /iii-console: unknown key `prot`/);
  const pattern = await runRejected('workers:\n  - name: iii-console\n    config: { invocable: ["a*b"] }\n');
  assert.match(pattern.stderr, /`invocable\[0\]` may hold `\*` only at its end/);
});

test('with a token (here from III_CONSOLE_TOKEN) every API request and live socket needs it', async () => {
  const port = await freePort();
  const engine = await startEngine({ config: `workers:\n  - name: iii-console\n    config: { host: 0.0.0.0, port: ${port}, invocable: [] }\n`,
    env: { III_CONSOLE_TOKEN: 's3cret' } });
  try {
    await waitFor(() => tcpConnects(port), 5000, 'console port open');
    assert.equal((await api('/', { port })).status, 200, 'the pages hold no data');
    assert.equal((await api('/api/session', { port })).status, 401);
    assert.equal((await api('/api/session', { port, headers: { authorization: 'Bearer wrong' } })).status, 401);
    const ok = await api('/api/session', { port, headers: { authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.token_required, true);
    assert.deepEqual(ok.json.invocable, []);
    const byCookie = await api('/api/call', { port, body: { function_id: 'engine::health::check' }, headers: { cookie: 'a=b; iii_console_token=s3cret' } });
    assert.equal(byCookie.status, 200);
    const invoke = await api('/api/invoke', { port, body: { function_id: 'engine::health::check' }, headers: { authorization: 'Bearer s3cret' } });
    assert.equal(invoke.status, 403, '`invocable: []` turns the invoke form off');
    const refused = openLive(ok.json.live_port);
    await assert.rejects(refused.opened, /401/);
    const admitted = openLive(ok.json.live_port, '?token=s3cret');
    await admitted.opened;
    admitted.ws.close();
  } finally {
    await engine.stop();
  }
});
