// RBAC authentication (docs/security.md): the auth function runs on every upgrade of a listener
// with an `rbac` block — worker sockets, /otel and channel sockets — and anything but a valid
// grant refuses the connection with an `error` frame AUTH_ERROR and a Close (fail closed).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import WebSocket from 'ws';
import { connectRaw, engineCall, lifecycle, RawClient, sdkWorker, sdkWorkerId, waitFor, withTimeout } from './harness.mjs';
import { bearer, startRbacEngine, startTrustedWorker } from './rbac-support.mjs';

const ctx = lifecycle(startRbacEngine);
let trusted;

before(async () => {
  await ctx.ready;
  trusted = await startTrustedWorker(ctx.engine);
});

/** Opens a raw socket and returns the frames it got before the engine closed it. */
async function refusedFrames(url, headers = {}) {
  const c = new RawClient(url, { wsOptions: { headers } });
  await withTimeout(c.opened, 5000, `open ${url}`);
  const closed = await withTimeout(c.closed, 5000, 'the engine closes a refused socket');
  return { messages: c.messages(), closed };
}

async function assertRefused(url, headers, messagePattern) {
  const { messages, closed } = await refusedFrames(url, headers);
  assert.equal(messages.length, 1, `one frame, no workerregistered: ${JSON.stringify(messages)}`);
  assert.equal(messages[0].type, 'error');
  assert.equal(messages[0].error.code, 'AUTH_ERROR');
  assert.match(messages[0].error.message, messagePattern);
  assert.equal(closed.code, 1008);
  return messages[0];
}

test('no token: the auth function throws, the socket gets AUTH_ERROR and a Close, no workerregistered', async () => {
  await assertRefused(ctx.engine.urls.rbac, {}, /unknown token null/);
  await waitFor(() => /rbac 127\.0\.0\.1:\d+: worker connection from 127\.0\.0\.1:\d+ refused: auth function sec::auth failed/.test(ctx.engine.logs()),
    2000, 'the refusal is logged');
});

test('a wrong token and an expired token are refused with the reason the auth function gave', async () => {
  await assertRefused(ctx.engine.urls.rbac, bearer('forged'), /unknown token "forged"/);
  await assertRefused(ctx.engine.urls.rbac, bearer('expired'), /token expired/);
});

test('an auth function answering something other than an object refuses the connection', async () => {
  await assertRefused(ctx.engine.urls.rbac, bearer('weird'), /must return an object/);
});

test('an auth function that does not answer within the handshake deadline refuses the connection', async () => {
  const started = Date.now();
  await assertRefused(ctx.engine.urls.rbac, bearer('slow'), /did not answer within 1000 ms/);
  assert.ok(Date.now() - started < 2900, 'refused at the 1 s deadline, not when the function finally answers');
});

test('an auth function that is not registered refuses every connection (fail closed)', async () => {
  await assertRefused(ctx.engine.urls.broken, bearer('good'), /function_not_found/);
});

test('the auth function receives headers, query params (every value), the address and the path', async () => {
  const c = await connectRaw(`${ctx.engine.urls.rbac}/?token=good&tag=a&tag=b`, { wsOptions: { headers: { 'x-team': 'blue' } } });
  const input = trusted.seen.auth.findLast((a) => a.headers?.['x-team'] === 'blue');
  assert.ok(input, 'the auth function was called for this socket');
  assert.deepEqual(input.query_params, { token: ['good'], tag: ['a', 'b'] });
  assert.equal(input.ip_address, '127.0.0.1');
  assert.equal(input.path, '/');
  assert.ok(input.headers.host, 'the Host header is passed');
  assert.ok(c.workerId, 'a granted socket is registered as a worker');
  await c.close();
});

test('an official SDK worker with a valid token connects and is registered', async () => {
  const w = sdkWorker(ctx.engine.urls.rbac, 'rbac-sdk-ok', { headers: bearer('good') });
  const id = await sdkWorkerId(w);
  const q = await connectRaw(ctx.engine.urls.main);
  await waitFor(async () => (await engineCall(q, 'engine::workers::list', {})).workers.some((x) => x.id === id || x.name === 'rbac-sdk-ok'),
    5000, 'worker listed');
});

test('/otel is behind the same auth: refused without a token, kept open with one', async () => {
  const refused = await refusedFrames(`${ctx.engine.urls.rbac}/otel`);
  assert.equal(refused.messages[0]?.error?.code, 'AUTH_ERROR');
  assert.equal(refused.closed.code, 1008);
  const ok = new RawClient(`${ctx.engine.urls.rbac}/otel`, { wsOptions: { headers: bearer('good') } });
  await withTimeout(ok.opened, 5000, 'otel open');
  ok.sendBinary(Buffer.concat([Buffer.from('OTLP'), Buffer.from('{"resourceSpans":[]}')]));
  await ok.wsPing();  // still served: telemetry frames are read and dropped
  assert.equal(ok.closeInfo, null);
  assert.deepEqual(ok.messages(), [], 'a telemetry socket gets no workerregistered');
  await ok.close();
});

test('channel sockets are behind the same auth: HTTP 403 without a token, served with one', async () => {
  const q = await connectRaw(ctx.engine.urls.main);
  const { writer, reader } = await engineCall(q, 'engine::channels::create', {});
  const url = (ref) => `${ctx.engine.urls.rbac}/ws/channels/${ref.channel_id}?key=${encodeURIComponent(ref.access_key)}&dir=${ref.direction}`;
  const status = await new Promise((resolve, reject) => {
    const ws = new WebSocket(url(reader));
    ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); res.resume(); });
    ws.once('open', () => reject(new Error('a channel socket without a token was accepted')));
    ws.once('error', () => {});
  });
  assert.equal(status, 403);
  await waitFor(() => /channel connection from 127\.0\.0\.1:\d+ refused/.test(ctx.engine.logs()), 2000, 'the refusal is logged');

  const readerWs = new WebSocket(url(reader), { headers: bearer('good') });
  const got = new Promise((resolve) => readerWs.once('message', (data) => resolve(data.toString())));
  await new Promise((resolve, reject) => { readerWs.once('open', resolve); readerWs.once('error', reject); });
  const writerWs = new WebSocket(url(writer), { headers: bearer('good') });
  await new Promise((resolve, reject) => { writerWs.once('open', resolve); writerWs.once('error', reject); });
  writerWs.send('through the rbac listener');
  assert.equal(await withTimeout(got, 5000, 'channel message'), 'through the rbac listener');
  writerWs.close();
  readerWs.close();
});

test('the plain listener of the same engine asks for nothing', async () => {
  const before = trusted.seen.auth.length;
  const c = await connectRaw(ctx.engine.urls.main);
  assert.ok(c.workerId);
  assert.equal(trusted.seen.auth.length, before, 'no auth call for the plain listener');
  await c.close();
});

test('rbac without an auth function: connections are let in, expose_functions still applies, missing hook and middleware deny', async () => {
  const c = await connectRaw(ctx.engine.urls.open);
  assert.ok(c.workerId, 'no auth function: the connection is accepted');
  const secret = await c.call('internal::secret', {});
  assert.equal(secret.error.code, 'FORBIDDEN');
  const echo = await c.call('api::echo', {});
  assert.equal(echo.error.code, 'function_not_found', 'the middleware is not registered: the call does not reach api::echo');
  assert.match(echo.error.message, /sec::no-middleware/);
  await waitFor(() => /middleware sec::no-middleware is not registered: call to api::echo refused/.test(ctx.engine.logs()),
    2000, 'the missing middleware is logged');
  c.serve('api::from-open', () => ({ result: 1 }));
  await waitFor(() => /registration of function api::from-open denied: hook sec::no-hook failed: function_not_found/.test(ctx.engine.logs()),
    3000, 'registration denied by the missing hook');
  const q = await connectRaw(ctx.engine.urls.main);
  assert.equal((await q.call('api::from-open', {})).error.code, 'function_not_found');
});
