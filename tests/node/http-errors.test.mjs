// iii-http: error envelopes, conditions, per-route middleware and permissive CORS
// (docs/protocol.md §3.11, §5, §7; docs/builtins.md §1.4–§1.6).
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { sdkSync, sdkWorker } from './harness.mjs';
import { bindHttp, call, httpLifecycle } from './http-support.mjs';

const ctx = httpLifecycle();
let W;
const conditionInputs = [];
const order = [];
const middlewareInputs = [];

// Handlers, conditions and middleware, and the routes bound to them.
before(async () => {
  await ctx.ready;
  W = sdkWorker(ctx.engine.url, 'http-errors');
  W.registerFunction('e::ok', async (req) => { order.push('handler'); return { body: { ok: true, q: req.query_params } }; });
  W.registerFunction('e::throws', async () => { throw new Error('boom'); });
  W.registerFunction('e::cond', async (req) => {
    conditionInputs.push(req);
    order.push('cond');
    return req.query_params.allow === 'yes';
  });
  W.registerFunction('e::cond_null', async () => null);
  W.registerFunction('e::cond_throws', async () => { throw new Error('condition exploded'); });
  W.registerFunction('e::mw_a', async (input) => { order.push('mw_a'); middlewareInputs.push(input); return { action: 'continue' }; });
  W.registerFunction('e::mw_b', async () => { order.push('mw_b'); return undefined; });
  W.registerFunction('e::mw_deny', async (input) => {
    order.push('mw_deny');
    if (input.request.headers['x-token'] === 'good') return { action: 'continue' };
    return { action: 'respond', response: { status_code: 401, body: { error: 'unauthorized' }, headers: { 'WWW-Authenticate': 'Bearer' } } };
  });
  W.registerFunction('e::mw_throws', async () => { throw new Error('middleware broke'); });
  await sdkSync(W);
  await bindHttp(W, 'e::ok', { api_path: '/ok', http_method: 'POST' });
  await bindHttp(W, 'e::throws', { api_path: '/throws' });
  await bindHttp(W, 'e::missing_function', { api_path: '/missing' });
  await bindHttp(W, 'e::ok', { api_path: '/gated', condition_function_id: 'e::cond' });
  await bindHttp(W, 'e::ok', { api_path: '/gated-null', condition_function_id: 'e::cond_null' });
  await bindHttp(W, 'e::ok', { api_path: '/gated-throws', condition_function_id: 'e::cond_throws' });
  await bindHttp(W, 'e::ok', { api_path: '/mw', condition_function_id: 'e::cond', middleware_function_ids: ['e::mw_a', 'e::mw_b'] });
  await bindHttp(W, 'e::ok', { api_path: '/guarded', middleware_function_ids: ['e::mw_deny', 'e::mw_a'] });
  await bindHttp(W, 'e::ok', { api_path: '/mw-throws', middleware_function_ids: ['e::mw_throws'] });
});

test('404: an unknown route gets the NOT_FOUND envelope', async () => {
  for (const url of ['/nope', '/ok', '/ok/extra']) {
    const r = await call(`${ctx.engine.httpUrl}${url}`);
    assert.equal(r.status, 404, url);
    assert.deepEqual(r.json, { error: { code: 'NOT_FOUND', message: 'Not Found' } });
    assert.equal(r.headers.get('content-type'), 'application/json');
  }
});

test('500: a throwing handler gives its code and message and an error_id', async () => {
  const r = await call(`${ctx.engine.httpUrl}/throws`);
  assert.equal(r.status, 500);
  assert.equal(r.json.error.code, 'invocation_failed');
  assert.equal(r.json.error.message, 'boom');
  assert.match(r.json.error.error_id, /^[0-9a-f]{1,12}$/);
});

test('500: a route bound to a function nobody provides gives function_not_found', async () => {
  const r = await call(`${ctx.engine.httpUrl}/missing`);
  assert.equal(r.status, 500);
  assert.equal(r.json.error.code, 'function_not_found');
  assert.ok(r.json.error.error_id);
});

test('condition false → 422 CONDITION_NOT_MET with skipped:true; true → the handler runs', async () => {
  order.length = 0;
  let r = await call(`${ctx.engine.httpUrl}/gated?allow=no`);
  assert.equal(r.status, 422);
  assert.deepEqual(r.json, { error: { code: 'CONDITION_NOT_MET', message: 'Request condition not met' }, skipped: true });
  assert.deepEqual(order, ['cond']);
  r = await call(`${ctx.engine.httpUrl}/gated?allow=yes`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { ok: true, q: { allow: 'yes' } });
  const input = conditionInputs.at(-1);
  assert.equal(input.path, '/gated');
  assert.equal(input.method, 'GET');
  assert.equal(input.request_body, undefined, 'the condition gets no channel refs');
  assert.equal(input.response, undefined);
  assert.deepEqual(input.trigger, { type: 'http', path: '/gated', method: 'GET' });
});

test('condition returning null proceeds; a throwing condition gives 500 with its error', async () => {
  assert.equal((await call(`${ctx.engine.httpUrl}/gated-null`)).status, 200);
  const r = await call(`${ctx.engine.httpUrl}/gated-throws`);
  assert.equal(r.status, 500);
  assert.equal(r.json.error.code, 'invocation_failed');
  assert.equal(r.json.error.message, 'condition exploded');
});

test('per-route middleware runs after the condition, in order, then the handler', async () => {
  order.length = 0;
  const r = await call(`${ctx.engine.httpUrl}/mw?allow=yes&k=v`, { headers: { 'X-Trace': 't1' } });
  assert.equal(r.status, 200);
  assert.deepEqual(order, ['cond', 'mw_a', 'mw_b', 'handler']);
  const input = middlewareInputs.at(-1);
  assert.equal(input.phase, 'preHandler');
  assert.deepEqual(input.context, {});
  assert.equal(input.request.method, 'GET');
  assert.deepEqual(input.request.query_params, { allow: 'yes', k: 'v' });
  assert.deepEqual(input.request.path_params, {});
  assert.equal(input.request.headers['x-trace'], 't1');
  assert.equal(input.request.body, undefined);
  order.length = 0;
  assert.equal((await call(`${ctx.engine.httpUrl}/mw?allow=no`)).status, 422);
  assert.deepEqual(order, ['cond'], 'a failed condition stops before the middleware');
});

test('middleware may answer instead of the handler', async () => {
  order.length = 0;
  let r = await call(`${ctx.engine.httpUrl}/guarded`);
  assert.equal(r.status, 401);
  assert.deepEqual(r.json, { error: 'unauthorized' });
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.deepEqual(order, ['mw_deny']);
  order.length = 0;
  r = await call(`${ctx.engine.httpUrl}/guarded`, { headers: { 'X-Token': 'good' } });
  assert.equal(r.status, 200);
  assert.deepEqual(order, ['mw_deny', 'mw_a', 'handler']);
});

test('a throwing middleware gives 500 with its error', async () => {
  const r = await call(`${ctx.engine.httpUrl}/mw-throws`);
  assert.equal(r.status, 500);
  assert.equal(r.json.error.code, 'invocation_failed');
  assert.equal(r.json.error.message, 'middleware broke');
  assert.ok(r.json.error.error_id);
});

test('CORS without a cors block: permissive headers on every response, preflight answered', async () => {
  let r = await call(`${ctx.engine.httpUrl}/ok`, { method: 'POST', headers: { Origin: 'https://anything.example' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  assert.equal(r.headers.get('access-control-expose-headers'), '*');
  assert.match(r.headers.get('vary') ?? '', /origin/i);
  r = await call(`${ctx.engine.httpUrl}/nope`, { headers: { Origin: 'https://anything.example' } });
  assert.equal(r.status, 404);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');

  order.length = 0;
  r = await call(`${ctx.engine.httpUrl}/ok`, {
    method: 'OPTIONS',
    headers: { Origin: 'https://anything.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'x-custom, content-type' },
  });
  assert.equal(r.status, 200);
  assert.equal(r.text, '');
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  assert.equal(r.headers.get('access-control-allow-methods'), '*');
  assert.equal(r.headers.get('access-control-allow-headers'), '*');
  assert.deepEqual(order, [], 'the preflight never reaches a function');
  r = await call(`${ctx.engine.httpUrl}/not-a-route`, { method: 'OPTIONS' });
  assert.equal(r.status, 200);
});
