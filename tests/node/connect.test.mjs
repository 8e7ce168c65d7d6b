// §1: connection opening, heartbeats, /otel telemetry socket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectRaw, engineLifecycle, sleep, startEngine, UUID_RE, waitFor, withTimeout } from './harness.mjs';

const ctx = engineLifecycle();

test('first frame is workerregistered with a UUID worker_id and a reattach_token', async () => {
  const c = await connectRaw(ctx.engine.url);
  const first = c.frames[0];
  assert.equal(first.kind, 'text');
  assert.equal(first.json.type, 'workerregistered');
  assert.match(first.json.worker_id, UUID_RE);
  assert.equal(typeof first.json.reattach_token, 'string');
  assert.ok(first.json.reattach_token.length > 0);

  const d = await connectRaw(ctx.engine.url);
  assert.notEqual(d.workerId, c.workerId, 'each socket is a new worker');
  assert.notEqual(d.reattachToken, c.reattachToken, 'each socket gets its own token');
  // Nothing else is sent unsolicited on connect.
  assert.ok(await c.noFrame(() => true, 300, 1), `unexpected frames after workerregistered: ${JSON.stringify(c.messages(1))}`);
  await c.close();
  await d.close();
});

test('WebSocket ping is answered with a pong carrying the same payload', async () => {
  const c = await connectRaw(ctx.engine.url);
  const payload = Buffer.from('heartbeat-123');
  const pong = await c.wsPing(payload);
  assert.deepEqual(pong, payload);
  const empty = await c.wsPing(Buffer.alloc(0));
  assert.equal(empty.length, 0);
  await c.close();
});

test('JSON {"type":"ping"} is answered with {"type":"pong"}; JSON pong is ignored', async () => {
  const c = await connectRaw(ctx.engine.url);
  const pong = await c.jsonPing();
  assert.deepEqual(pong, { type: 'pong' });
  // Python-style: type last and extra keys.
  const since = c.mark();
  c.sendText('{"extra":1,"type":"ping"}');
  await c.waitFrame((m) => m && m.type === 'pong', 2000, { since, label: 'pong to ping with extra keys' });

  const mark = c.mark();
  c.send({ type: 'pong' });
  assert.ok(await c.noFrame(() => true, 300, mark), `engine answered a JSON pong: ${JSON.stringify(c.messages(mark))}`);
  assert.ok(c.isOpen);
  await c.jsonPing();
  await c.close();
});

test('/otel accepts OTLP/MTRC/LOGS binary frames, sends nothing, creates no worker', async () => {
  // Watch worker lifecycle events: an /otel socket must not produce worker_connected.
  const watcher = await connectRaw(ctx.engine.url);
  const events = [];
  watcher.serve('otelwatch::workers', (m) => { events.push(m.data); return { result: null }; });
  watcher.send({ type: 'registertrigger', id: crypto.randomUUID(), trigger_type: 'engine::workers-available', function_id: 'otelwatch::workers', config: {} });
  await watcher.sync();

  // Control: a worker socket does fire worker_connected (so the watcher works).
  const control = await connectRaw(ctx.engine.url);
  await waitFor(() => events.some((e) => e && e.event === 'worker_connected' && e.worker_id === control.workerId), 3000,
    'worker_connected for a / connection');

  const before = events.length;
  const otel = await connectRaw(ctx.engine.otelUrl, { waitRegistered: false });
  otel.sendBinary(Buffer.from('OTLP' + JSON.stringify({ resourceSpans: [] })));
  otel.sendBinary(Buffer.from('MTRC' + JSON.stringify({ resourceMetrics: [] })));
  otel.sendBinary(Buffer.from('LOGS' + JSON.stringify({ resourceLogs: [] })));
  otel.sendBinary(Buffer.from('JUNKJUNK'));
  otel.sendText('{"type":"ping"}'); // text on /otel is ignored
  const pong = await otel.wsPing(Buffer.from('otel'));
  assert.deepEqual(pong, Buffer.from('otel'));
  await sleep(500);
  assert.equal(otel.frames.length, 0, `engine sent frames on /otel: ${JSON.stringify(otel.frames.map((f) => f.json ?? f.kind))}`);
  assert.ok(otel.isOpen, '/otel socket must stay open');
  await otel.close();
  await sleep(300);
  const after = events.slice(before);
  assert.deepEqual(after.filter((e) => e && (e.event === 'worker_connected' || e.event === 'worker_disconnected')), [],
    `/otel connection produced worker events: ${JSON.stringify(after)}`);

  // The worker socket is still fine and the engine still routes.
  await control.jsonPing();
  await control.close();
  await watcher.close();
});

test('telemetry binary frames are also accepted on the worker socket /', async () => {
  const c = await connectRaw(ctx.engine.url);
  c.sendBinary(Buffer.from('OTLP' + JSON.stringify({ resourceSpans: [] })));
  c.sendBinary(Buffer.from('LOGS' + JSON.stringify({ resourceLogs: [] })));
  await c.jsonPing();
  assert.ok(c.isOpen);
  await c.close();
});

test('whitespace-only text frame is ignored', async () => {
  const c = await connectRaw(ctx.engine.url);
  const mark = c.mark();
  c.sendText('   \n\t ');
  await c.jsonPing();
  assert.deepEqual(c.messages(mark), [{ type: 'pong' }]);
  await c.close();
});

test('a worker socket closing does not affect other sockets', async () => {
  const a = await connectRaw(ctx.engine.url);
  const b = await connectRaw(ctx.engine.url);
  await a.terminate();
  await b.jsonPing();
  const c = await connectRaw(ctx.engine.url);
  await c.jsonPing();
  await b.close();
  await c.close();
});

test('engine exits with status 0 on SIGTERM', async () => {
  const e = await startEngine();
  const c = await connectRaw(e.url);
  const closed = c.closed;
  const info = await withTimeout(e.stop(), 6000, 'engine stop');
  assert.equal(info.signal, null, `engine was killed by ${info.signal} (did not exit within 3 s of SIGTERM?)`);
  assert.equal(info.code, 0);
  await withTimeout(closed, 3000, 'client close after engine exit');
});
