// iii-http, request → payload and result → response (docs/protocol.md §7, docs/builtins.md §1.3–§1.5),
// driven by real HTTP clients against handlers written with the official iii-sdk@0.22.1.
import assert from 'node:assert/strict';
import http from 'node:http';
import { before, test } from 'node:test';
import { connectRaw, engineCall, sdkSync, sdkWorker, waitFor } from './harness.mjs';
import { bindHttp, call, fetchWithin, httpLifecycle, parseRaw, rawExchange } from './http-support.mjs';

const ctx = httpLifecycle();
let W;
const seen = [];  // payloads handlers received (channel objects summarised)

function summarize(req, metadata) {
  const isRef = (v) => v && typeof v === 'object' && typeof v.channel_id === 'string';
  return {
    query_params: req.query_params,
    path_params: req.path_params,
    headers: req.headers,
    path: req.path,
    method: req.method,
    body: req.body,
    trigger: req.trigger,
    request_body: req.request_body?.constructor?.name,
    response: req.response?.constructor?.name,
    raw_refs: isRef(req.request_body) || isRef(req.response),
    keys: Object.keys(req).sort(),
    metadata,
  };
}

// A worker with echo-style handlers and the routes bound to them.
before(async () => {
  await ctx.ready;
  W = sdkWorker(ctx.engine.url, 'http-mapping');
  W.registerFunction('t::echo', async (req, metadata) => {
    const s = summarize(req, metadata);
    seen.push(s);
    return { status_code: 200, body: s };
  });
  W.registerFunction('t::reply', async (req) => req.body);  // returns whatever envelope the client asks for
  W.registerFunction('t::raw', async (req) => {
    const bytes = await req.request_body.readAll();
    return { status_code: 200, body: { size: bytes.length, hex: bytes.subarray(0, 8).toString('hex'), text: bytes.toString('utf8').slice(0, 40), body: req.body } };
  });
  W.registerFunction('t::number', async () => 5);
  W.registerFunction('t::which', async (req) => ({ body: { route: req.path, method: req.method } }));
  await sdkSync(W);
  await bindHttp(W, 't::echo', { api_path: '/echo/:id/items/:item', http_method: 'POST' }, { route: 'echo' });
  await bindHttp(W, 't::echo', { api_path: 'plain' });  // no leading slash, default GET
  await bindHttp(W, 't::reply', { api_path: '/reply', http_method: 'post' });
  await bindHttp(W, 't::raw', { api_path: '/raw', http_method: 'PUT' });
  await bindHttp(W, 't::number', { api_path: '/number' });
  for (const m of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) await bindHttp(W, 't::which', { api_path: '/methods', http_method: m });
  await bindHttp(W, 't::which', { api_path: '/users/:id' });
  await bindHttp(W, 't::which', { api_path: '/users/me' });
});

test('request payload: method, registered path, path/query params, lower-case headers, JSON body, trigger, metadata', async () => {
  const r = await call(`${ctx.engine.httpUrl}/echo/42/items/a%20b?x=1&y=two+words&x=3&flag&enc=%E2%9C%93`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Custom-Header': 'Hello', 'X-Dup': 'v' },
    body: JSON.stringify({ a: 100, b: [1, 2], c: { d: null } }),
  });
  assert.equal(r.status, 200, r.text);
  const p = r.json;
  assert.equal(p.method, 'POST');
  assert.equal(p.path, '/echo/:id/items/:item');
  assert.deepEqual(p.path_params, { id: '42', item: 'a%20b' });  // raw segment text
  assert.deepEqual(p.query_params, { x: '3', y: 'two words', flag: '', enc: '✓' });
  assert.equal(p.headers['x-custom-header'], 'Hello');
  assert.equal(p.headers['content-type'], 'application/json');
  assert.equal(p.headers.host, `127.0.0.1:${ctx.engine.httpPort}`);
  for (const k of Object.keys(p.headers)) assert.equal(k, k.toLowerCase());
  assert.deepEqual(p.body, { a: 100, b: [1, 2], c: { d: null } });
  assert.deepEqual(p.trigger, { type: 'http', path: '/echo/:id/items/:item', method: 'POST' });
  assert.deepEqual(p.keys, ['body', 'headers', 'method', 'path', 'path_params', 'query_params', 'request_body', 'response', 'trigger']);
  assert.equal(p.request_body, 'ChannelReader');  // the SDK turned the refs into channel objects
  assert.equal(p.response, 'ChannelWriter');
  assert.deepEqual(p.metadata, { route: 'echo' });
});

test('request payload: path without a leading slash, GET by default, body null without JSON', async () => {
  const r = await call(`${ctx.engine.httpUrl}/plain`);
  assert.equal(r.status, 200);
  assert.equal(r.json.path, 'plain');
  assert.equal(r.json.method, 'GET');
  assert.equal(r.json.body, null);
  assert.deepEqual(r.json.query_params, {});
  assert.deepEqual(r.json.path_params, {});
  assert.equal(r.json.metadata, undefined);
});

test('request body: invalid JSON reads as null; non-JSON bodies arrive raw through request_body', async () => {
  let r = await call(`${ctx.engine.httpUrl}/raw`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{oops' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.body, null);
  assert.equal(r.json.text, '{oops');  // the raw bytes are still in the channel

  const bin = Buffer.alloc(300_000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7 + 3) & 0xff;
  r = await call(`${ctx.engine.httpUrl}/raw`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.body, null);
  assert.equal(r.json.size, bin.length);
  assert.equal(r.json.hex, bin.subarray(0, 8).toString('hex'));

  r = await call(`${ctx.engine.httpUrl}/raw`, { method: 'PUT', headers: { 'content-type': 'application/json; charset=utf-8' }, body: '{"k":"v"}' });
  assert.deepEqual(r.json.body, { k: 'v' });
  assert.equal(r.json.text, '{"k":"v"}');  // JSON bodies are copied into the channel too

  r = await call(`${ctx.engine.httpUrl}/raw`, { method: 'PUT', body: 'plain text' });
  assert.equal(r.json.body, null);
  assert.equal(r.json.text, 'plain text');
});

test('methods: each route answers its own method, http_method is case-insensitive, others get 404', async () => {
  for (const m of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await call(`${ctx.engine.httpUrl}/methods`, { method: m });
    assert.equal(r.status, 200, `${m}: ${r.text}`);
    assert.deepEqual(r.json, { route: '/methods', method: m });
  }
  const r = await call(`${ctx.engine.httpUrl}/reply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"body":"ok"}' });
  assert.equal(r.status, 200);
  assert.equal((await call(`${ctx.engine.httpUrl}/reply`)).status, 404);  // GET is not registered
  const head = await fetchWithin(`${ctx.engine.httpUrl}/methods`, { method: 'HEAD' });
  assert.equal(head.status, 200);  // HEAD is served by the GET route, without a body
  assert.equal(await head.text(), '');
});

test('routing: a literal segment wins over a parameter', async () => {
  assert.deepEqual((await call(`${ctx.engine.httpUrl}/users/me`)).json, { route: '/users/me', method: 'GET' });
  assert.deepEqual((await call(`${ctx.engine.httpUrl}/users/7`)).json, { route: '/users/:id', method: 'GET' });
  assert.equal((await call(`${ctx.engine.httpUrl}/users/7/`)).status, 404);
});

async function reply(envelope) {
  return call(`${ctx.engine.httpUrl}/reply`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
}

test('response: status_code, headers as an object, JSON body by default', async () => {
  const r = await reply({ status_code: 201, headers: { 'X-Sum': '300', 'X-Num': 5 }, body: { result: 300, f: 1.5 } });
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('x-sum'), '300');
  assert.equal(r.headers.get('x-num'), null);  // non-string values are dropped
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.deepEqual(r.json, { result: 300, f: 1.5 });
});

test('response: headers as "Name: value" lines; entries without a colon are dropped', async () => {
  const r = await reply({ headers: ['X-A: one', 'nocolon', 'X-B:  two words ', 'Set-Cookie: a=1', 'Set-Cookie: b=2'], body: 'x' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-a'), 'one');
  assert.equal(r.headers.get('x-b'), 'two words');
  assert.deepEqual(r.headers.getSetCookie(), ['a=1', 'b=2']);
  assert.equal(r.text, '"x"');  // no content type: the string is JSON-encoded
});

test('response: body defaults to {}; a non-object result gives 200 {}', async () => {
  let r = await reply({ status_code: 202 });
  assert.equal(r.status, 202);
  assert.equal(r.text, '{}');
  r = await call(`${ctx.engine.httpUrl}/number`);
  assert.equal(r.status, 200);
  assert.equal(r.text, '{}');
  assert.equal(r.headers.get('content-type'), 'application/json');
});

test('response: a user content type sends strings raw, null as empty, other values as JSON text', async () => {
  let r = await reply({ headers: { 'Content-Type': 'text/xml' }, body: '<Response><Say>hi</Say></Response>' });
  assert.equal(r.headers.get('content-type'), 'text/xml');
  assert.equal(r.text, '<Response><Say>hi</Say></Response>');
  r = await reply({ headers: { 'content-type': 'text/plain' }, body: null });
  assert.equal(r.text, '');
  assert.equal(r.headers.get('content-length'), '0');
  r = await reply({ headers: { 'content-type': 'text/plain' }, body: { a: [1, 2] } });
  assert.equal(r.text, '{"a":[1,2]}');
  r = await reply({ headers: { 'content-type': 'application/json' }, body: 'already json' });
  assert.equal(r.text, 'already json');
  r = await reply({ body: null });
  assert.equal(r.text, 'null');
  assert.equal(r.headers.get('content-type'), 'application/json');
});

test('keep-alive: many requests over one connection', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set();
  try {
    for (let i = 0; i < 20; i++) {
      const { status, body, socket } = await new Promise((resolve, reject) => {
        const req = http.request(`${ctx.engine.httpUrl}/echo/${i}/items/x?i=${i}`, { method: 'POST', agent, headers: { 'content-type': 'application/json' }, timeout: 5000 }, (res) => {
          const parts = [];
          res.on('data', (d) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(parts)), socket: req.socket }));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end(JSON.stringify({ i }));
      });
      assert.equal(status, 200);
      assert.deepEqual(body.body, { i });
      assert.equal(body.path_params.id, String(i));
      sockets.add(socket);
    }
    assert.equal(sockets.size, 1);
  } finally {
    agent.destroy();
  }
});

test('wire: pipelined requests are answered in order; HTTP/1.0 without keep-alive is closed', async () => {
  const req = (i) => `GET /users/${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const { raw } = await rawExchange(ctx.engine.httpPort, [req(1) + req(2) + req(3)], {
    ms: 5000, waitFor: (b) => (b.toString().match(/HTTP\/1\.1 200/g) ?? []).length === 3 && b.toString().endsWith('}'),
  });
  const text = raw.toString();
  const bodies = text.match(/\{"route":"\/users\/:id","method":"GET"\}/g) ?? [];
  assert.equal(bodies.length, 3, text);

  const old = await rawExchange(ctx.engine.httpPort, ['GET /users/me HTTP/1.0\r\n\r\n'], { ms: 5000 });
  assert.ok(old.closed, 'HTTP/1.0 connection should be closed by the server');
  const r = parseRaw(old.raw);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'][0], String(r.body.length));
  assert.deepEqual(JSON.parse(r.body), { route: '/users/me', method: 'GET' });
});

test('routes come and go live; the same key registered again replaces the route', async () => {
  const V = sdkWorker(ctx.engine.url, 'http-mapping-2');
  V.registerFunction('t::v1', async () => ({ body: 'v1' }));
  V.registerFunction('t::v2', async () => ({ body: 'v2' }));
  await sdkSync(V);
  const t1 = await bindHttp(V, 't::v1', { api_path: '/live' });
  assert.equal((await call(`${ctx.engine.httpUrl}/live`)).json, 'v1');
  const t2 = await bindHttp(V, 't::v2', { api_path: 'live', http_method: 'get' });
  assert.equal((await call(`${ctx.engine.httpUrl}/live`)).json, 'v2');
  t1.unregister();  // no longer the owner: the route stays
  await sdkSync(V);
  assert.equal((await call(`${ctx.engine.httpUrl}/live`)).json, 'v2');
  t2.unregister();
  await sdkSync(V);
  assert.equal((await call(`${ctx.engine.httpUrl}/live`)).status, 404);
});

test('a route whose shape matches another with other parameter names is refused', async () => {
  const V = sdkWorker(ctx.engine.url, 'http-mapping-3');
  V.registerFunction('t::x', async (req) => ({ body: req.path_params }));
  V.registerFunction('t::y', async (req) => ({ body: req.path_params }));
  await sdkSync(V);
  await bindHttp(V, 't::x', { api_path: '/shape/:x' });
  await bindHttp(V, 't::y', { api_path: '/shape/:y' });
  assert.deepEqual((await call(`${ctx.engine.httpUrl}/shape/1`)).json, { x: '1' });
  const q = await connectRaw(ctx.engine.url);
  const list = await engineCall(q, 'engine::registered-triggers::list', { trigger_type: 'http' });
  const shapes = list.registered_triggers.filter((t) => String(t.config?.api_path ?? '').startsWith('/shape/'));
  assert.deepEqual(shapes.map((t) => t.function_id), ['t::x'], JSON.stringify(shapes));
});

test('a binding without api_path is rejected and not listed', async () => {
  const V = sdkWorker(ctx.engine.url, 'http-mapping-4');
  V.registerFunction('t::nopath', async () => ({}));
  await sdkSync(V);
  await bindHttp(V, 't::nopath', { http_method: 'GET' });
  const q = await connectRaw(ctx.engine.url);
  await waitFor(async () => {
    const list = await engineCall(q, 'engine::registered-triggers::list', { trigger_type: 'http' });
    return !list.registered_triggers.some((t) => t.function_id === 't::nopath');
  }, 3000, 'rejected binding removed');
  // The routes bound in before() still serve: the echo handler runs for both of its routes.
  const seenBefore = seen.length;
  assert.equal((await call(`${ctx.engine.httpUrl}/plain`)).status, 200);
  assert.equal((await call(`${ctx.engine.httpUrl}/echo/1/items/x`, { method: 'POST' })).status, 200);
  assert.ok(seen.length >= 2 && seen.length - seenBefore === 2, 'the echo handler ran');
});
