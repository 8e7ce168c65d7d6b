// iii-http with a config block (docs/builtins.md §1.1): default_timeout (504), body_limit_bytes (413),
// restricted CORS (§1.6) and global middleware sorted by priority (§1.4).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { sdkSync, sdkWorker, sleep } from './harness.mjs';
import { bindHttp, call, httpLifecycle, parseRaw, rawExchange } from './http-support.mjs';

const ctx = httpLifecycle({
  default_timeout: 1000,
  body_limit_bytes: 4096,
  concurrency_request_limit: 2,
  cors: { allowed_origins: ['https://good.example'], allowed_methods: ['GET', 'POST'] },
  middleware: [
    { function_id: 'g::second', priority: 20 },
    { function_id: 'g::first', priority: 10, phase: 'preHandler' },
    { function_id: 'g::ignored', phase: 'onResponse' },
  ],
});
let W;
const order = [];

// The middleware functions named in the config and the routes, shared by every test of this file.
before(async () => {
  await ctx.ready;
  W = sdkWorker(ctx.engine.url, 'http-config');
  W.registerFunction('g::first', async (input) => {
    order.push('first');
    if (input.request.headers['x-block'] === '1') return { action: 'respond', response: { status_code: 418, body: 'teapot' } };
    if (input.request.headers['x-hang'] === '1') await sleep(3000);
    return { action: 'continue' };
  });
  W.registerFunction('g::second', async () => { order.push('second'); return { action: 'continue' }; });
  W.registerFunction('g::ignored', async () => { order.push('ignored'); return { action: 'respond', response: { status_code: 500 } }; });
  W.registerFunction('g::ok', async (req) => { order.push('handler'); return { body: { size: req.body ? JSON.stringify(req.body).length : 0 } }; });
  W.registerFunction('g::never', async () => new Promise(() => {}));
  await sdkSync(W);
  await bindHttp(W, 'g::ok', { api_path: '/ok', http_method: 'POST' });
  await bindHttp(W, 'g::ok', { api_path: '/ok' });
  await bindHttp(W, 'g::never', { api_path: '/never' });
});

test('global middleware runs preHandler entries by ascending priority, before the route', async () => {
  order.length = 0;
  const r = await call(`${ctx.engine.httpUrl}/ok`);
  assert.equal(r.status, 200);
  assert.deepEqual(order, ['first', 'second', 'handler']);
  order.length = 0;
  const blocked = await call(`${ctx.engine.httpUrl}/ok`, { headers: { 'X-Block': '1' } });
  assert.equal(blocked.status, 418);
  assert.equal(blocked.text, '"teapot"');
  assert.deepEqual(order, ['first']);
  order.length = 0;
  assert.equal((await call(`${ctx.engine.httpUrl}/unknown`)).status, 404);
  assert.deepEqual(order, [], 'no route, no middleware');
});

test('a handler that never answers gets 504 after default_timeout, with an empty body', async () => {
  const started = Date.now();
  const r = await call(`${ctx.engine.httpUrl}/never`, {}, 5000);
  const took = Date.now() - started;
  assert.equal(r.status, 504);
  assert.equal(r.text, '');
  assert.ok(took >= 900 && took < 3000, `took ${took} ms`);
});

test('a middleware still running at the deadline gives 504 MIDDLEWARE_TIMEOUT', async () => {
  const r = await call(`${ctx.engine.httpUrl}/ok`, { headers: { 'X-Hang': '1' } }, 5000);
  assert.equal(r.status, 504);
  assert.equal(r.json.error.code, 'MIDDLEWARE_TIMEOUT');
  await sleep(2200);  // let the hanging middleware finish before the next test counts calls
});

test('a body over body_limit_bytes gets 413; one under it passes', async () => {
  const big = JSON.stringify({ data: 'x'.repeat(5000) });
  const r = await call(`${ctx.engine.httpUrl}/ok`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, 'PAYLOAD_TOO_LARGE');
  const small = JSON.stringify({ data: 'x'.repeat(1000) });
  const ok = await call(`${ctx.engine.httpUrl}/ok`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: small });
  assert.equal(ok.status, 200);
  assert.equal(ok.json.size, small.length);
  // A chunked body that grows past the limit is refused too.
  const chunk = 'y'.repeat(3000);
  const raw = await rawExchange(ctx.engine.httpPort, [
    `POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`,
    `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
  ], { ms: 4000 });
  assert.equal(parseRaw(raw.raw).status, 413);
});

test('CORS with a block: listed origins are echoed, others get no allow-origin; methods listed', async () => {
  let r = await call(`${ctx.engine.httpUrl}/ok`, { headers: { Origin: 'https://good.example' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), 'https://good.example');
  assert.equal(r.headers.get('access-control-expose-headers'), null);
  r = await call(`${ctx.engine.httpUrl}/ok`, { headers: { Origin: 'https://evil.example' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), null);
  r = await call(`${ctx.engine.httpUrl}/ok`, {
    method: 'OPTIONS', headers: { Origin: 'https://good.example', 'Access-Control-Request-Method': 'POST' },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), 'https://good.example');
  assert.equal(r.headers.get('access-control-allow-methods'), 'GET,POST');
  assert.equal(r.headers.get('access-control-allow-headers'), '*');
});

test('concurrency_request_limit: excess requests wait for a running one to finish', async () => {
  const W2 = sdkWorker(ctx.engine.url, 'http-config-2');
  let running = 0;
  let peak = 0;
  W2.registerFunction('g::gate', async () => {
    running++;
    peak = Math.max(peak, running);
    await sleep(150);
    running--;
    return { body: 'done' };
  });
  await sdkSync(W2);
  await bindHttp(W2, 'g::gate', { api_path: '/gate' });
  const results = await Promise.all(Array.from({ length: 6 }, () => call(`${ctx.engine.httpUrl}/gate`, {}, 5000)));
  assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
  assert.equal(peak, 2);
});
