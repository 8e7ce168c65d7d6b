// HTTP-invoked functions (iii-http-functions, docs/builtins.md): a worker registers a function
// whose implementation is an HTTP endpoint and the engine calls it. Two engines: `open` lets
// loopback http through (so the test's own servers can answer), `strict` keeps the defaults
// (private addresses blocked, https required) and must refuse every SSRF attempt.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { closeAll, connectRaw, sdkCallError, sdkSync, sdkWorker, sdkWorkerId, shutdownSdk, sleep, startEngine, waitFor } from './harness.mjs';

process.env.III_TEST_HMAC_SECRET = 'hmac-secret-for-tests';
process.env.III_TEST_BEARER = 'bearer-token-for-tests';
process.env.III_TEST_API_KEY = 'api-key-for-tests';

let open; let strict; let server; let hits = []; let connections = 0; let tlsServer; let certDir;
const routes = new Map();  // path → (req, body, res) handler

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      hits.push({ method: req.method, url: req.url, headers: req.headers, body });
      const handler = routes.get(req.url.split('?')[0]);
      if (handler) return handler(req, body, res);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ echoed: body ? JSON.parse(body) : null }));
    });
  });
  server.on('connection', () => { connections += 1; });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));

  certDir = mkdtempSync(path.join(os.tmpdir(), 'iii-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem')],
  { stdio: 'ignore' });
  tlsServer = createHttpsServer({ key: readFileSync(path.join(certDir, 'key.pem')), cert: readFileSync(path.join(certDir, 'cert.pem')) },
    (req, res) => { hits.push({ tls: true, url: req.url }); res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"tls":true}'); });
  await new Promise((r) => tlsServer.listen(0, '127.0.0.1', r));

  open = await startEngine({
    config: `workers:
  - name: iii-http-functions
    config:
      security: { url_allowlist: ["127.0.0.1", "localhost"], block_private_ips: false, require_https: false }
`,
  });
  strict = await startEngine({ config: 'workers:\n  - name: iii-http-functions\n' });
});

after(async () => {
  await closeAll();
  await Promise.all([open?.stop(), strict?.stop()]);
  server?.close();
  tlsServer?.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

const base = () => `http://127.0.0.1:${server.address().port}`;

async function registered(engine, id) {
  const q = await connectRaw(engine.url);
  const r = await q.call(id, {});
  await q.close();
  return r.error?.code !== 'function_not_found';
}

/** Registers `invocation` as `id` on `engine` from a fresh SDK worker; returns the worker. */
async function register(engine, id, invocation) {
  const w = sdkWorker(engine.url, `hf-${id}`);
  w.registerFunction(id, invocation);
  await sdkWorkerId(w);
  await sdkSync(w);
  return w;
}

test('a call becomes a POST with the payload as JSON body and the x-iii-* headers; the JSON answer is the result', async () => {
  const w = await register(open, 'hf::echo', { url: `${base()}/echo?q=1`, headers: { 'x-team': 'blue' } });
  await waitFor(() => registered(open, 'hf::echo'), 3000, 'registered');
  hits = [];
  const caller = sdkWorker(open.url, 'hf-caller');
  const result = await caller.trigger({ function_id: 'hf::echo', payload: { a: 1 } });
  assert.deepEqual(result.echoed.a, 1);
  const h = hits.at(-1);
  assert.equal(h.method, 'POST');
  assert.equal(h.url, '/echo?q=1');
  assert.equal(h.headers['content-type'], 'application/json');
  assert.equal(h.headers['x-iii-function-path'], 'hf::echo');
  assert.match(h.headers['x-iii-invocation-id'], /^[0-9a-f-]{36}$/);
  assert.ok(Math.abs(Number(h.headers['x-iii-timestamp']) - Date.now() / 1000) < 30);
  assert.equal(h.headers['x-team'], 'blue');
  await shutdownSdk(w);
});

test('HMAC auth: the receiving server verifies x-iii-Signature with the secret from the engine environment', async () => {
  routes.set('/signed', (req, body, res) => {
    const ts = req.headers['x-iii-timestamp'];
    const expected = 'sha256=' + createHmac('sha256', process.env.III_TEST_HMAC_SECRET)
      .update(`${ts}:${Buffer.from(body).toString('base64')}`).digest('hex');
    const ok = req.headers['x-iii-signature'] === expected;
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(ok ? '{"verified":true}' : '{"error":{"code":"bad_signature","message":"signature mismatch"}}');
  });
  await register(open, 'hf::signed', { url: `${base()}/signed`, auth: { type: 'hmac', secret_key: 'III_TEST_HMAC_SECRET' } });
  await waitFor(() => registered(open, 'hf::signed'), 3000, 'registered');
  const q = await connectRaw(open.url);
  const r = await q.call('hf::signed', { order: 42, note: 'ünïcode' });
  assert.deepEqual(r.result, { verified: true }, JSON.stringify(r.error));
});

test('bearer and api_key auth send the secrets of the named environment variables', async () => {
  await register(open, 'hf::bearer', { url: `${base()}/b`, auth: { type: 'bearer', token_key: 'III_TEST_BEARER' } });
  await register(open, 'hf::apikey', { url: `${base()}/k`, auth: { type: 'api_key', header: 'x-api-key', value_key: 'III_TEST_API_KEY' } });
  await waitFor(async () => (await registered(open, 'hf::bearer')) && (await registered(open, 'hf::apikey')), 3000, 'registered');
  const q = await connectRaw(open.url);
  hits = [];
  await q.call('hf::bearer', {});
  await q.call('hf::apikey', {});
  assert.equal(hits.find((h) => h.url === '/b').headers.authorization, 'Bearer bearer-token-for-tests');
  assert.equal(hits.find((h) => h.url === '/k').headers['x-api-key'], 'api-key-for-tests');
});

test('an auth secret naming an unset environment variable refuses the registration (missing_env_var)', async () => {
  await register(open, 'hf::nosecret', { url: `${base()}/x`, auth: { type: 'bearer', token_key: 'III_TEST_SURELY_UNSET_VAR' } });
  await waitFor(() => /HTTP function hf::nosecret refused: missing_env_var: environment variable `III_TEST_SURELY_UNSET_VAR`/.test(open.logs()), 3000, 'log');
  assert.equal(await registered(open, 'hf::nosecret'), false);
});

test('responses map as documented: empty 2xx, non-JSON 2xx, an error body, a bare 404, a timeout', async () => {
  routes.set('/empty', (req, body, res) => { res.writeHead(204); res.end(); });
  routes.set('/text', (req, body, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('not json'); });
  routes.set('/fail', (req, body, res) => { res.writeHead(422, { 'content-type': 'application/json' }); res.end('{"error":{"code":"out_of_stock","message":"no more"}}'); });
  routes.set('/missing', (req, body, res) => { res.writeHead(404); res.end('nope'); });
  routes.set('/slow', (req, body, res) => { setTimeout(() => { res.writeHead(200); res.end('{}'); }, 2000); });
  for (const [id, p, extra] of [['empty', '/empty'], ['text', '/text'], ['fail', '/fail'], ['missing', '/missing'], ['slow', '/slow', { timeout_ms: 300 }]])
    await register(open, `hf::${id}`, { url: `${base()}${p}`, ...extra });
  await waitFor(() => registered(open, 'hf::slow'), 3000, 'registered');
  const q = await connectRaw(open.url);
  const empty = await q.call('hf::empty', {});
  assert.equal(empty.error, undefined);
  assert.equal(empty.result, undefined, 'an empty 2xx is a call without a result');
  assert.equal((await q.call('hf::text', {})).error.code, 'invalid_response');
  assert.deepEqual((await q.call('hf::fail', {})).error, { code: 'out_of_stock', message: 'no more' });
  assert.deepEqual((await q.call('hf::missing', {})).error, { code: 'http_error', message: 'HTTP 404' });
  const slow = await q.call('hf::slow', {});
  assert.equal(slow.error.code, 'http_request_failed');
  assert.match(slow.error.message, /300 ms/);
});

test('a redirect is not followed: the 3xx is the answer and the private target is never called', async () => {
  let secretHit = false;
  routes.set('/secret', (req, body, res) => { secretHit = true; res.end('{}'); });
  routes.set('/redirect', (req, body, res) => { res.writeHead(302, { location: `http://127.0.0.1:${server.address().port}/secret` }); res.end(); });
  await register(open, 'hf::redirect', { url: `${base()}/redirect` });
  await waitFor(() => registered(open, 'hf::redirect'), 3000, 'registered');
  const q = await connectRaw(open.url);
  const r = await q.call('hf::redirect', {});
  assert.equal(r.error, undefined);
  await sleep(200);
  assert.equal(secretHit, false, 'the Location was not requested');
});

test('connections to one host are kept alive and reused', async () => {
  await register(open, 'hf::reuse', { url: `${base()}/reuse` });
  await waitFor(() => registered(open, 'hf::reuse'), 3000, 'registered');
  const q = await connectRaw(open.url);
  await q.call('hf::reuse', {});
  const before = connections;
  for (let i = 0; i < 10; i++) assert.equal((await q.call('hf::reuse', { i })).error, undefined);
  assert.equal(connections, before, 'ten sequential calls opened no new connection');
});

test('a self-signed certificate is refused (HTTPS verifies against the system store)', async () => {
  await register(open, 'hf::tls', { url: `https://127.0.0.1:${tlsServer.address().port}/` });
  await waitFor(() => registered(open, 'hf::tls'), 3000, 'registered');
  const q = await connectRaw(open.url);
  const r = await q.call('hf::tls', {});
  assert.equal(r.error.code, 'http_request_failed');
  assert.match(r.error.message, /TLS handshake .* failed: .*certificate verify failed/);
  assert.ok(!hits.some((h) => h.tls), 'no request reached the server');
});

test('the function belongs to the registering connection: gone when it disconnects', async () => {
  const w = await register(open, 'hf::owned', { url: `${base()}/owned` });
  await waitFor(() => registered(open, 'hf::owned'), 3000, 'registered');
  await shutdownSdk(w);
  await waitFor(async () => !(await registered(open, 'hf::owned')), 3000, 'removed with its worker');
});

// --- SSRF under the default security (strict engine) ---------------------------------------

for (const [label, url, reason] of [
  ['plain http when https is required', 'http://example.com/hook', /plain http is refused \(require_https is on\)/],
  ['127.0.0.1', 'https://127.0.0.1/hook', /127\.0\.0\.1 is a loopback address/],
  ['[::1]', 'https://[::1]:8443/hook', /::1 is a loopback address/],
  ['10.0.0.1', 'https://10.0.0.1/hook', /10\.0\.0\.1 is a private \(RFC 1918\) address/],
  ['169.254.169.254 (cloud metadata)', 'https://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local/],
  ['a name that resolves to loopback', 'https://localhost/hook', /localhost resolves to (127\.0\.0\.1|::1): .* loopback address/],
  ['credentials in the URL', 'https://user:pw@example.com/', /credentials in the URL are refused/],
  ['a non-http scheme', 'file:///etc/passwd', /scheme `file` is not http or https/],
]) {
  test(`default security refuses ${label} with a clear reason`, async () => {
    const id = `ssrf::${label.replace(/[^a-z0-9]+/gi, '-')}`;
    await register(strict, id, { url });
    await waitFor(() => strict.logs().includes(`HTTP function ${id} refused: url_validation_failed`), 3000, 'refusal logged');
    const line = strict.logs().split('\n').find((l) => l.includes(`HTTP function ${id} refused`));
    assert.match(line, reason);
    assert.equal(await registered(strict, id), false);
  });
}

test('an engine without iii-http-functions drops such registrations with a warning', async () => {
  const plain = await startEngine();
  try {
    const w = sdkWorker(plain.url, 'hf-plain');
    w.registerFunction('hf::dropped', { url: `${base()}/x` });
    await sdkWorkerId(w);
    await sdkSync(w);
    await waitFor(() => /HTTP-invoked function hf::dropped dropped: add `- name: iii-http-functions`/.test(plain.logs()), 3000, 'warning');
    const e = await sdkCallError(w, { function_id: 'hf::dropped', payload: {} });
    assert.equal(e.code, 'function_not_found');
    await shutdownSdk(w);
  } finally {
    await plain.stop();
  }
});

test('the rules are checked again at every call: a reload that blocks private addresses stops calls to them', async () => {
  const q = await connectRaw(open.url);
  await register(open, 'hf::later', { url: `${base()}/later` });
  await waitFor(() => registered(open, 'hf::later'), 3000, 'registered');
  assert.equal((await q.call('hf::later', {})).error, undefined);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path.join(open.cwd, 'config.yaml'), `workers:
  - name: iii-http-functions
    config:
      security: { url_allowlist: ["127.0.0.1"], block_private_ips: true, require_https: false }
`);
  await waitFor(async () => (await q.call('hf::later', {})).error?.code === 'url_validation_failed', 5000, 'refused after the reload');
  const r = await q.call('hf::later', {});
  assert.match(r.error.message, /127\.0\.0\.1 is a loopback address/);
});
