// iii-http streaming through channels (docs/protocol.md §3.13, §7; docs/builtins.md §1.4–§1.5): request
// bodies read from `request_body`, responses written to `response` with the SDK's http() helper
// (set_status / set_headers text frames, binary body chunks, chunked transfer encoding).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { before, test } from 'node:test';
import { http } from '@iii-dev/helpers/http';
import { sdkSync, sdkWorker, sleep } from './harness.mjs';
import { bindHttp, call, fetchWithin, httpLifecycle, parseRaw, rawExchange } from './http-support.mjs';

const ctx = httpLifecycle({ default_timeout: 10000 });
let W;
const BIG = Buffer.alloc(3 * 1024 * 1024 + 123);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31 + (i >> 8)) & 0xff;
const sha = (b) => createHash('sha256').update(b).digest('hex');

// Streaming handlers and the routes bound to them.
before(async () => {
  await ctx.ready;
  W = sdkWorker(ctx.engine.url, 'http-streaming');
  W.registerFunction('s::hello', http(async (req, res) => {
    res.status(201);
    res.headers({ 'content-type': 'text/plain; charset=utf-8', 'x-stream': 'yes' });
    res.stream.write('hello ');
    res.stream.end('world');  // end() closes the channel (stream_complete) once flushed
  }));
  W.registerFunction('s::doc-example', http(async (req, res) => {
    // The helper's documented pattern: one final chunk, then close().
    res.status(200);
    res.headers({ 'content-type': 'application/json' });
    res.stream.end(JSON.stringify({ hello: 'world' }));
    res.close();
  }));
  W.registerFunction('s::big', http(async (req, res) => {
    res.headers({ 'content-type': 'application/octet-stream' });
    for (let off = 0; off < BIG.length; off += 100_000) {
      if (!res.stream.write(BIG.subarray(off, Math.min(off + 100_000, BIG.length)))) {
        await new Promise((r) => res.stream.once('drain', r));
      }
    }
    res.stream.end();
  }));
  W.registerFunction('s::echo', http(async (req, res) => {
    res.status(200);
    res.headers({ 'content-type': req.headers['content-type'] ?? 'application/octet-stream', 'x-method': req.method });
    await pipeline(req.request_body.stream, res.stream);
  }));
  W.registerFunction('s::digest', async (req) => {
    const bytes = await req.request_body.readAll();
    return { body: { size: bytes.length, sha: sha(bytes) } };
  });
  W.registerFunction('s::status-only', http(async (req, res) => {
    res.status(204);
    res.close();
  }));
  W.registerFunction('s::late', async (req) => {
    // Returns at once; the response is written afterwards.
    setTimeout(() => {
      req.response.sendMessage(JSON.stringify({ type: 'set_status', status_code: 202 }));
      req.response.stream.end(Buffer.from('later'));
    }, 200);
    return undefined;
  });
  W.registerFunction('s::silent', async () => undefined);  // never opens the response channel
  await sdkSync(W);
  await bindHttp(W, 's::hello', { api_path: '/hello' });
  await bindHttp(W, 's::doc-example', { api_path: '/doc-example' });
  await bindHttp(W, 's::big', { api_path: '/big' });
  await bindHttp(W, 's::echo', { api_path: '/echo', http_method: 'POST' });
  await bindHttp(W, 's::digest', { api_path: '/digest', http_method: 'POST' });
  await bindHttp(W, 's::status-only', { api_path: '/status-only' });
  await bindHttp(W, 's::late', { api_path: '/late' });
  await bindHttp(W, 's::silent', { api_path: '/silent' });
});

test('http() helper: status, headers and body chunks become a chunked response', async () => {
  const r = await call(`${ctx.engine.httpUrl}/hello`);
  assert.equal(r.status, 201);
  assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(r.headers.get('x-stream'), 'yes');
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  assert.equal(r.text, 'hello world');
  const raw = parseRaw((await rawExchange(ctx.engine.httpPort, ['GET /hello HTTP/1.1\r\nHost: x\r\n\r\n'], {
    ms: 5000, waitFor: (b) => b.includes('0\r\n\r\n'),
  })).raw);
  assert.equal(raw.status, 201);
  assert.deepEqual(raw.headers['transfer-encoding'], ['chunked']);
  assert.equal(raw.headers['content-length'], undefined);
  assert.equal(raw.body.toString(), 'hello world');
});

test('http() helper, documented pattern: end(json) then close()', async () => {
  const r = await call(`${ctx.engine.httpUrl}/doc-example`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.deepEqual(r.json, { hello: 'world' });
});

test('a multi-megabyte streamed response arrives intact', async () => {
  const res = await fetchWithin(`${ctx.engine.httpUrl}/big`, {}, 20000);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(body.length, BIG.length);
  assert.equal(sha(body), sha(BIG));
});

test('a multi-megabyte request body streams through request_body', async () => {
  const upload = BIG.subarray(0, 5 * 1024 * 1024 > BIG.length ? BIG.length : 5 * 1024 * 1024);
  const r = await call(`${ctx.engine.httpUrl}/digest`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: upload }, 20000);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { size: upload.length, sha: sha(upload) });
});

test('echo: the request body piped back as the streamed response', async () => {
  const payload = Buffer.concat([Buffer.from('start|'), BIG.subarray(0, 1_500_000), Buffer.from('|end')]);
  const res = await fetchWithin(`${ctx.engine.httpUrl}/echo`, { method: 'POST', headers: { 'content-type': 'application/x-test' }, body: payload }, 20000);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/x-test');
  assert.equal(res.headers.get('x-method'), 'POST');
  const back = Buffer.from(await res.arrayBuffer());
  assert.equal(back.length, payload.length);
  assert.equal(sha(back), sha(payload));
  const empty = await fetchWithin(`${ctx.engine.httpUrl}/echo`, { method: 'POST' });
  assert.equal(empty.status, 200);
  assert.equal((await empty.arrayBuffer()).byteLength, 0);
});

test('a stream closed without body bytes ends the response with the status it set', async () => {
  const r = await call(`${ctx.engine.httpUrl}/status-only`);
  assert.equal(r.status, 204);
  assert.equal(r.text, '');
  // On the wire: a 204 carries no body at all, so the connection stays usable.
  const req = 'GET /status-only HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n';
  const { raw } = await rawExchange(ctx.engine.httpPort, [req], { ms: 5000, waitFor: (b) => b.includes('0\r\n\r\n') });
  const text = raw.toString();
  assert.match(text, /^HTTP\/1\.1 204 No Content\r\n/);
  const second = text.indexOf('HTTP/1.1 201');
  assert.ok(second > 0, text);
  assert.ok(text.slice(0, second).endsWith('\r\n\r\n'), JSON.stringify(text.slice(0, second)));
  assert.equal(parseRaw(Buffer.from(text.slice(second))).body.toString(), 'hello world');
});

test('the handler may return first and stream afterwards', async () => {
  const r = await call(`${ctx.engine.httpUrl}/late`);
  assert.equal(r.status, 202);
  assert.equal(r.text, 'later');
});

test('concurrent streamed responses do not mix', async () => {
  const results = await Promise.all(Array.from({ length: 8 }, () => call(`${ctx.engine.httpUrl}/hello`)));
  for (const r of results) {
    assert.equal(r.status, 201);
    assert.equal(r.text, 'hello world');
  }
});

test('a handler that returns nothing and never writes is cut off by the timeout (504)', async () => {
  const fast = await import('./http-support.mjs').then((m) => m.startHttpEngine({ default_timeout: 700 }));
  try {
    const V = sdkWorker(fast.url, 'http-streaming-silent');
    V.registerFunction('s::silent', async () => undefined);
    await sdkSync(V);
    await bindHttp(V, 's::silent', { api_path: '/silent' });
    const started = Date.now();
    const r = await call(`${fast.httpUrl}/silent`, {}, 5000);
    assert.equal(r.status, 504);
    assert.ok(Date.now() - started < 3000);
  } finally {
    await fast.stop();
  }
  await sleep(0);
});
