// The iii-stream client socket's edges (docs/builtins.md §6.5, src/workers/stream/README.md): the
// auth function (its request, accepting with a context, and failing closed on an error, a bad
// answer, a missing function or a timeout), the per-socket bounds (subscriptions, message size,
// a subscriber that stops reading while 999 others keep up), a file_based store surviving kill -9,
// and hot reload in place. Each test starts its own engine.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import {
  closeAll, connectRaw, freePort, sdkSync, sdkWorker, shutdownSdk, sleep, startEngine, waitFor,
} from './harness.mjs';

const engines = [];
after(async () => {
  await closeAll();
  for (const e of engines) await e.stop();
});

const streamBlock = (port, extra = '') => `  - name: iii-stream
    config:
      host: 127.0.0.1
      port: ${port}
${extra}`;

/** An engine with iii-stream on a fresh port; `extra` is more of its config block (indented 6). */
async function streamEngine(extra = '', options = {}) {
  const port = await freePort();
  const engine = await startEngine({ config: `workers:\n${streamBlock(port, extra)}`, ...options });
  engines.push(engine);
  await waitFor(() => /iii-stream listening/.test(engine.logs()), 5000, 'stream listener');
  return { engine, port, url: `ws://127.0.0.1:${port}/` };
}

/** Opens a socket; resolves {ok, status} (the HTTP status of a refused upgrade). */
function tryConnect(url, headers = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => { ws.close(); resolve({ ok: true }); });
    ws.on('unexpected-response', (_req, res) => { resolve({ ok: false, status: res.statusCode }); res.resume(); ws.terminate(); });
    ws.on('error', () => resolve({ ok: false, status: 0 }));
  });
}

const streamSocket = (url) => connectRaw(url, { waitRegistered: false });
const joinAndSync = async (c, data) => {
  const since = c.mark();
  c.send({ type: 'join', data });
  return c.waitFrame((m) => m && m.type === 'stream' && m.event.type === 'sync', 5000, { since, label: 'sync' });
};

test('the auth function gets headers, path, query params and address; its context reaches the join trigger', async () => {
  const { engine, url } = await streamEngine('      auth_function: auth::check\n');
  const A = sdkWorker(engine.url, 'stream-auth');
  const requests = [];
  const joins = [];
  A.registerFunction('auth::check', async (req) => { requests.push(req); return { context: { user: req.query_params.token?.[0] } }; });
  A.registerFunction('auth::join', async (p) => { joins.push(p); return null; });
  A.registerTrigger({ type: 'stream:join', function_id: 'auth::join', config: {} });
  await sdkSync(A);
  await sleep(200);

  const c = await connectRaw(`${url}?token=abc&x=1&x=2&e=a%20b`, { waitRegistered: false, wsOptions: { headers: { 'X-Tenant': 'acme' } } });
  assert.equal(requests.length, 1);
  const req = requests[0];
  assert.equal(req.path, '/');
  assert.deepEqual(req.query_params, { token: ['abc'], x: ['1', '2'], e: ['a b'] });
  assert.equal(req.headers['x-tenant'], 'acme');
  assert.equal(req.headers.upgrade.toLowerCase(), 'websocket');
  assert.match(req.addr, /^127\.0\.0\.1:\d+$/);
  await joinAndSync(c, { subscriptionId: 's', streamName: 'auth', groupId: 'g' });
  assert.deepEqual(joins[0], { subscription_id: 's', stream_name: 'auth', group_id: 'g', context: { user: 'abc' } });
  await c.close();
  await shutdownSdk(A);
});

test('auth fails closed: an error, an answer that is not an object, a missing function and a timeout all refuse', async () => {
  const { engine, url } = await streamEngine('      auth_function: auth::gate\n      auth_timeout_ms: 500\n');
  // No auth function registered yet: refused.
  assert.deepEqual(await tryConnect(url), { ok: false, status: 401 });
  await waitFor(() => /auth function auth::gate failed \(function_not_found/.test(engine.logs()), 3000, 'missing logged');

  const A = sdkWorker(engine.url, 'stream-gate');
  let mode = 'error';
  A.registerFunction('auth::gate', async () => {
    if (mode === 'error') throw new Error('no token');
    if (mode === 'null') return null;
    if (mode === 'slow') { await sleep(1500); return { context: 1 }; }
    return { context: { ok: true } };
  });
  await sdkSync(A);
  assert.deepEqual(await tryConnect(url), { ok: false, status: 401 });
  mode = 'null';
  assert.deepEqual(await tryConnect(url), { ok: false, status: 401 });
  mode = 'slow';
  const t0 = Date.now();
  const slow = await tryConnect(url);
  assert.deepEqual(slow, { ok: false, status: 401 });
  assert.ok(Date.now() - t0 < 1400, 'refused at the auth deadline, not when the function answers');
  mode = 'ok';
  assert.deepEqual(await tryConnect(url), { ok: true });
  assert.match(engine.logs(), /connection refused/);
  await shutdownSdk(A);
});

test('a socket over max_subscriptions_per_socket or max_message_bytes is closed with a clear code', async () => {
  const { url } = await streamEngine('      max_subscriptions_per_socket: 2\n      max_message_bytes: 512\n');
  const c = await streamSocket(url);
  await joinAndSync(c, { subscriptionId: 'a', streamName: 'cap', groupId: 'g' });
  await joinAndSync(c, { subscriptionId: 'b', streamName: 'cap', groupId: 'g', id: 'x' });
  await joinAndSync(c, { subscriptionId: 'a', streamName: 'cap', groupId: 'h' }); // replaces `a`: still two
  c.send({ type: 'join', data: { subscriptionId: 'c', streamName: 'cap', groupId: 'g' } });
  const closed = await c.closed;
  assert.equal(closed.code, 1008);
  assert.match(closed.reason, /too many subscriptions \(limit 2\)/);

  const d = await streamSocket(url);
  d.send({ type: 'join', data: { subscriptionId: 'x'.repeat(600), streamName: 'cap', groupId: 'g' } });
  assert.equal((await d.closed).code, 1009);
});

test('a subscriber that stops reading is closed (1008, logged) while 999 others get every event', async () => {
  const { engine, url } = await streamEngine('      max_send_queue_bytes: 16384\n');
  const W = sdkWorker(engine.url, 'slow-writer');
  await sdkSync(W);
  const readers = [];
  for (let i = 0; i < 999; i++) readers.push(new WebSocket(url, { perMessageDeflate: false }));
  const slow = new WebSocket(url, { perMessageDeflate: false });
  const counts = new Array(999).fill(0);
  const synced = new Set();
  readers.forEach((ws, i) => ws.on('message', (d) => {
    const m = JSON.parse(d);
    if (m.event.type === 'sync') synced.add(i); else counts[i]++;
  }));
  let slowClose = null;
  slow.on('close', (code) => { slowClose = code; });
  let slowSynced = false;
  slow.on('message', () => { slowSynced = true; });
  await Promise.all([...readers, slow].map((ws) => new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); })));
  const joinMsg = (i) => JSON.stringify({ type: 'join', data: { subscriptionId: `s${i}`, streamName: 'fan', groupId: 'g' } });
  readers.forEach((ws, i) => ws.send(joinMsg(i)));
  slow.send(joinMsg('slow'));
  await waitFor(() => synced.size === 999 && slowSynced, 20000, 'every socket synced');
  slow._socket.pause(); // stops reading: the kernel buffers fill, then the engine's queue

  const N = 300;
  const pad = 'p'.repeat(2000);
  for (let k = 0; k < N; k++) {
    await W.trigger({ function_id: 'stream::set', payload: { stream_name: 'fan', group_id: 'g', item_id: `i${k % 10}`, data: { k, pad } } });
  }
  await waitFor(() => counts.every((c) => c === N), 30000, 'every reader got every event');
  await waitFor(() => /stream socket \d+ is not reading \(\d+ bytes would be queued, limit 16384\): closing it with code 1008/.test(engine.logs()),
    5000, 'slow consumer logged');
  slow._socket.resume();
  await waitFor(() => slowClose !== null, 10000, 'slow socket closed');
  assert.ok([1008, 1006].includes(slowClose), `closed with ${slowClose}`);
  for (const ws of readers) ws.terminate();
  await shutdownSdk(W);
});

test('a file_based store keeps every item that was written across kill -9', async () => {
  const port = await freePort();
  const config = `workers:\n${streamBlock(port, '      adapter: { name: kv, config: { store_method: file_based, file_path: ./data/stream } }\n')}`;
  const first = await startEngine({ config });
  engines.push(first);
  const W = sdkWorker(first.url, 'durable-writer');
  await sdkSync(W);
  for (let i = 0; i < 20; i++)
    await W.trigger({ function_id: 'stream::set', payload: { stream_name: 'keep', group_id: `g${i % 2}`, item_id: `i${i}`, data: { i } } });
  await W.trigger({ function_id: 'stream::delete', payload: { stream_name: 'keep', group_id: 'g0', item_id: 'i0' } });
  await shutdownSdk(W);
  first.proc.kill('SIGKILL');
  await waitFor(() => !first.alive(), 5000, 'engine killed');

  const second = await startEngine({ config, cwd: first.cwd, port: first.port });
  engines.push(second);
  await waitFor(() => /iii-stream listening/.test(second.logs()), 5000, 'stream listener');
  const R = sdkWorker(second.url, 'durable-reader');
  await sdkSync(R);
  const list = (g) => R.trigger({ function_id: 'stream::list', payload: { stream_name: 'keep', group_id: g } });
  assert.deepEqual((await list('g0')).map((v) => v.i), [2, 4, 6, 8, 10, 12, 14, 16, 18]);
  assert.deepEqual((await list('g1')).map((v) => v.i), [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
  assert.deepEqual(await R.trigger({ function_id: 'stream::list_groups', payload: { stream_name: 'keep' } }), ['g0', 'g1']);
  // And a socket syncs from it.
  const c = await streamSocket(`ws://127.0.0.1:${port}/`);
  assert.deepEqual((await joinAndSync(c, { subscriptionId: 's', streamName: 'keep', groupId: 'g1', id: 'i5' })).event.data, { i: 5 });
  await c.close();
  await shutdownSdk(R);
});

test('hot reload in place: auth applies to new sockets, a new adapter keeps open sockets, a new port drops them', async () => {
  const { engine, port, url } = await streamEngine();
  const cfg = path.join(engine.cwd, 'config.yaml');
  const W = sdkWorker(engine.url, 'reload-writer');
  W.registerFunction('auth::deny', async () => { throw new Error('denied'); });
  await sdkSync(W);
  const set = (item, data) => W.trigger({ function_id: 'stream::set', payload: { stream_name: 'rl', group_id: 'g', item_id: item, data } });
  const c = await streamSocket(url);
  await joinAndSync(c, { subscriptionId: 's', streamName: 'rl', groupId: 'g' });

  // 1. An auth function: new sockets are refused, the open one stays and keeps getting events.
  writeFileSync(cfg, `workers:\n${streamBlock(port, '      auth_function: auth::deny\n')}`);
  await waitFor(() => /config reloaded.*iii-stream \(in place\)/.test(engine.logs()), 5000, 'reload in place');
  assert.deepEqual(await tryConnect(url), { ok: false, status: 401 });
  let since = c.mark();
  await set('a', 1);
  await c.waitFrame((m) => m && m.event?.type === 'create' && m.id === 'a', 3000, { since, label: 'event after auth reload' });

  // 2. A new adapter (file_based): the open socket stays subscribed and sees writes to the new store.
  writeFileSync(cfg, `workers:\n${streamBlock(port, '      adapter: { name: kv, config: { store_method: file_based, file_path: ./data/s2 } }\n')}`);
  await waitFor(() => /iii-stream: now on the file store/.test(engine.logs()), 5000, 'store swapped');
  since = c.mark();
  await set('b', 2);
  await c.waitFrame((m) => m && m.event?.type === 'create' && m.id === 'b', 3000, { since, label: 'event after adapter reload' });
  assert.deepEqual(await W.trigger({ function_id: 'stream::list', payload: { stream_name: 'rl', group_id: 'g' } }), [2]);
  assert.ok(c.isOpen);

  // 3. A new port: the listener moves and open sockets are dropped.
  const port2 = await freePort();
  writeFileSync(cfg, `workers:\n${streamBlock(port2, '      adapter: { name: kv, config: { store_method: file_based, file_path: ./data/s2 } }\n')}`);
  await c.closed;
  assert.deepEqual(await tryConnect(`ws://127.0.0.1:${port2}/`), { ok: true });
  assert.equal((await tryConnect(url)).ok, false);
  engine.assertAlive();
  await shutdownSdk(W);
});
