// docs/builtins.md §7.2 (the `configuration` worker) through the official SDK: it runs without
// being listed and leaves an empty directory empty; register/set/get/list/schema shapes; values
// checked against the registered JSON Schema; `${VAR:default}` expanded with the engine's
// environment; `configuration` triggers; hand edits of ./config/<id>.yaml becoming events (and
// invalid ones rejected); values surviving a restart; the built-ins' blocks as entries, set live
// (docs/builtins.md §0.3).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  closeAll, connectRaw, sdkCallError, sdkSync, sdkWaitCallable, sdkWorker, shutdownSdk, startEngine, tcpConnects, waitFor,
} from './harness.mjs';
import { bindHttp, parseRaw, rawExchange, startHttpEngine } from './http-support.mjs';

// One directory for the file: ./config (the fs adapter's default) lives in it across restarts.
const dir = mkdtempSync(path.join(os.tmpdir(), 'iii-configuration-node-'));
const fileOf = (id) => path.join(dir, 'config', `${id}.yaml`);
// The engine inherits this environment: what `${CFG_NODE_PORT}` expands to.
process.env.CFG_NODE_PORT = '8080';
delete process.env.CFG_NODE_UNSET;

const schema = {
  type: 'object',
  properties: { n: { type: 'integer', minimum: 0 }, port: { type: 'integer' }, url: { type: 'string' } },
  required: ['n'],
  additionalProperties: false,
};

let engine = null;
let W = null;

async function boot() {
  engine = await startEngine({ cwd: dir });
  W = sdkWorker(engine.url, 'configuration-test');
  await sdkWaitCallable(W, 'configuration::list');
}

async function shutdownEngine() {
  await shutdownSdk(W);
  await engine.stop();
  engine = null;
}

const call = async (function_id, payload) => (await W.trigger({ function_id, payload, timeoutMs: 5000 })) ?? null;
const failure = async (function_id, payload) => sdkCallError(W, { function_id, payload, timeoutMs: 5000 });

before(async () => {
  await boot();
});

after(async () => {
  await closeAll();
  if (engine) await engine.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('it runs without a config entry and creates nothing until something is registered', async () => {
  // Only the built-ins' blocks (in memory: §0.3): here the always-running iii-observability.
  assert.deepEqual((await call('configuration::list', {})).configurations.map((c) => c.id), ['iii-observability']);
  assert.equal((await failure('configuration::get', { id: 'nothing' })).code, 'NOT_FOUND');
  assert.equal(existsSync(path.join(dir, 'config')), false, 'the configuration worker created ./config');
});

test('register, set, get, list and schema', async () => {
  const entry = await call('configuration::register', {
    id: 'bar-cfg', name: 'Bar', description: 'bar config', schema, initial_value: { n: 1 }, metadata: { team: 'core' },
  });
  assert.deepEqual(entry, {
    id: 'bar-cfg', name: 'Bar', description: 'bar config', schema, value: { n: 1 }, metadata: { team: 'core' },
  });
  assert.deepEqual(await call('configuration::set', { id: 'bar-cfg', value: { n: 5 } }), { old_value: { n: 1 }, new_value: { n: 5 } });
  assert.deepEqual(await call('configuration::get', { id: 'bar-cfg' }), { id: 'bar-cfg', value: { n: 5 } });
  const listed = await call('configuration::list', {});
  assert.deepEqual(listed.configurations.find((c) => c.id === 'bar-cfg'),
    { id: 'bar-cfg', name: 'Bar', description: 'bar config', schema, metadata: { team: 'core' } });
  assert.deepEqual(await call('configuration::schema', { id: 'bar-cfg' }),
    { id: 'bar-cfg', name: 'Bar', description: 'bar config', schema, metadata: { team: 'core' } });
  // On disk: identity and value, not the schema.
  const text = readFileSync(fileOf('bar-cfg'), 'utf8');
  assert.match(text, /^id: bar-cfg\nname: Bar\ndescription: bar config\nvalue:\n {2}n: 5\nmetadata:\n {2}team: core\n$/);
});

test('a value that violates the schema is refused and changes nothing', async () => {
  await call('configuration::register', { id: 'strict', name: 'S', description: 'd', schema, initial_value: { n: 1 } });
  const before = readFileSync(fileOf('strict'), 'utf8');
  for (const value of [{ n: -3 }, { n: 'x' }, {}, { n: 1, extra: true }, 'text']) {
    const e = await failure('configuration::set', { id: 'strict', value });
    assert.equal(e.code, 'SCHEMA_INVALID', `${JSON.stringify(value)}: ${e.message}`);
    assert.match(e.message, /schema validation failed: /);
  }
  assert.deepEqual(await call('configuration::get', { id: 'strict' }), { id: 'strict', value: { n: 1 } });
  assert.equal(readFileSync(fileOf('strict'), 'utf8'), before);
  assert.equal((await failure('configuration::register',
    { id: 'strict2', name: 'S', description: 'd', schema, initial_value: { n: -1 } })).code, 'SCHEMA_INVALID');
  assert.equal(existsSync(fileOf('strict2')), false);
  assert.equal((await failure('configuration::set', { id: 'Not Valid', value: 1 })).code, 'INVALID_ID');
  assert.equal((await failure('configuration::set', { id: 'unknown', value: 1 })).code, 'NOT_REGISTERED');
  const bad = await failure('configuration::register', { id: 'bad-schema', name: 'S', description: 'd', schema: { type: 'object', properties: { a: { minimum: 'x' } } } });
  assert.equal(bad.code, 'SCHEMA_INVALID');
  assert.match(bad.message, /invalid JSON Schema/);
});

test('${VAR:default} is expanded with the engine environment and re-typed', async () => {
  await call('configuration::register', {
    id: 'tpl', name: 'T', description: 'd', schema,
    initial_value: { n: '${CFG_NODE_PORT:1}', port: '${CFG_NODE_UNSET:3111}', url: 'http://h:${CFG_NODE_PORT}' },
  });
  assert.deepEqual(await call('configuration::get', { id: 'tpl' }), { id: 'tpl', value: { n: 8080, port: 3111, url: 'http://h:8080' } });
  assert.deepEqual((await call('configuration::get', { id: 'tpl', raw: true })).value,
    { n: '${CFG_NODE_PORT:1}', port: '${CFG_NODE_UNSET:3111}', url: 'http://h:${CFG_NODE_PORT}' });
  await call('configuration::set', { id: 'tpl', value: { n: '${CFG_NODE_UNSET}' } });
  const e = await failure('configuration::get', { id: 'tpl' });
  assert.equal(e.code, 'EXPAND_FAILED');
  assert.match(e.message, /CFG_NODE_UNSET/);
  engine.assertAlive('after a read with a missing variable');
});

test('configuration triggers get registered and updated events; hand edits become events', async () => {
  const T = sdkWorker(engine.url, 'configuration-trigger-test');
  const all = [];
  const updates = [];
  T.registerFunction('cfg::all', async (data, metadata) => { all.push({ data, metadata }); return null; });
  T.registerFunction('cfg::updates', async (data) => { updates.push(data); return null; });
  T.registerTrigger({ type: 'configuration', function_id: 'cfg::all', config: { configuration_id: 'watched' }, metadata: { from: 'test' } });
  T.registerTrigger({ type: 'configuration', function_id: 'cfg::updates', config: { event_types: ['configuration:updated'] } });
  await sdkSync(T);

  await call('configuration::register', { id: 'watched', name: 'W', description: 'watched', schema, initial_value: { n: 1, port: '${CFG_NODE_PORT}' } });
  await call('configuration::set', { id: 'watched', value: { n: 2 } });
  await waitFor(() => all.length === 2, 5000, 'registered and updated events');
  assert.deepEqual(all[0].data, {
    type: 'configuration', event_type: 'configuration:registered', id: 'watched', name: 'W', description: 'watched',
    schema, old_value: null, new_value: { n: 1, port: 8080 },
  });
  assert.deepEqual(all[0].metadata, { from: 'test' });
  assert.equal(all[1].data.event_type, 'configuration:updated');
  assert.deepEqual([all[1].data.old_value, all[1].data.new_value], [{ n: 1, port: 8080 }, { n: 2 }]);

  // A hand edit of the file: one configuration:updated event, and reads see it.
  writeFileSync(fileOf('watched'), 'id: watched\nname: W\ndescription: watched\nvalue:\n  n: 3\n');
  await waitFor(() => all.length === 3, 5000, 'the hand edit as an event');
  assert.equal(all[2].data.event_type, 'configuration:updated');
  assert.deepEqual([all[2].data.old_value, all[2].data.new_value], [{ n: 2 }, { n: 3 }]);
  assert.deepEqual(all[2].data.schema, schema);  // the registered schema, not the file's (none)
  assert.deepEqual((await call('configuration::get', { id: 'watched' })).value, { n: 3 });

  // An edit that breaks the schema, or the YAML, is rejected: the old value stays served.
  writeFileSync(fileOf('watched'), 'id: watched\nname: W\ndescription: watched\nvalue:\n  n: -7\n');
  await waitFor(() => engine.logs().includes('the edit of watched is rejected'), 5000, 'the rejection logged');
  writeFileSync(fileOf('watched'), 'id: watched\nvalue: [unclosed\n');
  await waitFor(() => engine.logs().includes('watched.yaml ignored'), 5000, 'the broken file logged');
  assert.deepEqual((await call('configuration::get', { id: 'watched' })).value, { n: 3 });
  assert.equal(all.length, 3);

  // A file that appears is a registration; its removal a deletion.
  writeFileSync(fileOf('dropped-in'), 'id: dropped-in\nname: D\ndescription: by hand\nvalue: 42\n');
  await waitFor(async () => (await call('configuration::list', {})).configurations.some((c) => c.id === 'dropped-in'), 5000, 'new file loaded');
  assert.deepEqual((await call('configuration::get', { id: 'dropped-in' })).value, 42);
  rmSync(fileOf('dropped-in'));
  await waitFor(async () => (await failure('configuration::get', { id: 'dropped-in' })).code === 'NOT_FOUND', 5000, 'removed file dropped');
  // Only the set and the good hand edit were updates.
  assert.deepEqual(updates.filter((u) => u.id === 'watched').map((u) => u.new_value), [{ n: 2 }, { n: 3 }]);
  await shutdownSdk(T);
});

test('a malformed configuration trigger config is rejected to the binder', async () => {
  const binder = await connectRaw(engine.url);
  for (const [config, detail] of [
    [{ event_types: ['configuration:created'] }, '`event_types` may only hold'],
    [{ event_types: 'configuration:updated' }, '`event_types` must be a list'],
    [{ configuration_id: 5 }, '`configuration_id` must be a string'],
  ]) {
    const id = crypto.randomUUID();
    binder.send({ type: 'registertrigger', id, trigger_type: 'configuration', function_id: 'x::y', config });
    const r = await binder.waitFrame((m) => m && m.type === 'triggerregistrationresult' && m.id === id, 3000,
      { label: 'registration failure' });
    assert.equal(r.error.code, 'trigger_registration_failed');
    assert.ok(r.error.message.startsWith('Invalid configuration trigger config: ') && r.error.message.includes(detail), r.error.message);
  }
  await binder.close();
});

test('stored values survive an engine restart', async () => {
  await call('configuration::register', { id: 'durable', name: 'D', description: 'd', schema, initial_value: { n: 9 } });
  await shutdownEngine();
  await boot();
  assert.deepEqual(await call('configuration::get', { id: 'durable' }), { id: 'durable', value: { n: 9 } });
  // The schema is not stored: until its owner registers again, set is refused.
  assert.equal((await failure('configuration::set', { id: 'durable', value: { n: 1 } })).code, 'SCHEMA_UNAVAILABLE');
  await call('configuration::register', { id: 'durable', name: 'D', description: 'd', schema });
  assert.deepEqual(await call('configuration::set', { id: 'durable', value: { n: 10 } }), { old_value: { n: 9 }, new_value: { n: 10 } });
});

// docs/builtins.md §0.3: the built-ins publish their config blocks; setting one applies it live.
test('configuration::set on iii-http changes CORS live; a refused block leaves it untouched', async () => {
  const e = await startHttpEngine({ cors: { allowed_origins: ['https://a.example'] } });
  try {
    const H = sdkWorker(e.url, 'configuration-http');
    const events = [];
    H.registerFunction('cfg::ok', async () => ({ body: { ok: true } }));
    H.registerFunction('cfg::http-changed', async (data) => { events.push(data); return null; });
    await sdkSync(H);
    await bindHttp(H, 'cfg::ok', { api_path: '/ok' });
    H.registerTrigger({ type: 'configuration', function_id: 'cfg::http-changed', config: { configuration_id: 'iii-http' } });
    await sdkSync(H);
    const allowed = async (origin) => {
      const raw = await rawExchange(e.httpPort, [`GET /ok HTTP/1.1\r\nHost: x\r\nOrigin: ${origin}\r\nConnection: close\r\n\r\n`]);
      const res = parseRaw(raw.raw);
      assert.equal(res.status, 200);
      return res.headers['access-control-allow-origin']?.[0] ?? null;
    };
    assert.equal(await allowed('https://a.example'), 'https://a.example');

    const entry = await H.trigger({ function_id: 'configuration::get', payload: { id: 'iii-http' } });
    assert.deepEqual(entry.value.cors, { allowed_origins: ['https://a.example'] });
    assert.equal((await H.trigger({ function_id: 'configuration::schema', payload: { id: 'iii-http' } })).schema.type[0], 'object');
    const listed = (await H.trigger({ function_id: 'configuration::list', payload: {} })).configurations.map((c) => c.id);
    assert.ok(listed.includes('iii-http') && listed.includes('iii-observability'), JSON.stringify(listed));

    // A keep-alive connection opened before the change: the replaced instance closes it once idle,
    // so that no later request on it is served with the old CORS.
    const kept = net.connect({ port: e.httpPort, host: '127.0.0.1' });
    let keptClosed = false;
    kept.on('close', () => { keptClosed = true; });
    kept.on('error', () => {});
    const firstAnswer = new Promise((resolve) => kept.once('data', resolve));
    kept.write('GET /ok HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n\r\n');
    assert.match(String(await firstAnswer), /^HTTP\/1\.1 200/);

    const value = { ...entry.value, cors: { allowed_origins: ['https://b.example'] } };
    const r = await H.trigger({ function_id: 'configuration::set', payload: { id: 'iii-http', value }, timeoutMs: 10_000 });
    await waitFor(() => keptClosed, 5000, 'the keep-alive connection of the replaced instance closed');
    assert.deepEqual(r, { old_value: entry.value, new_value: value });
    await waitFor(() => tcpConnects(e.httpPort), 5000, 'iii-http listening again');
    assert.equal(await allowed('https://b.example'), 'https://b.example');
    assert.equal(await allowed('https://a.example'), null);
    await waitFor(() => events.length === 1, 5000, 'the configuration:updated event');
    assert.equal(events[0].event_type, 'configuration:updated');
    assert.deepEqual(events[0].new_value, value);

    // Refused by the schema, then by the built-in's own checks: nothing changes.
    let err = await sdkCallError(H, { function_id: 'configuration::set', payload: { id: 'iii-http', value: { ...value, cors: { allowed_origins: 'x' } } } });
    assert.equal(err.code, 'SCHEMA_INVALID', err.message);
    err = await sdkCallError(H, { function_id: 'configuration::set', payload: { id: 'iii-http', value: { ...value, cors: { allowed_origins: [], nope: 1 } } } });
    assert.equal(err.code, 'SCHEMA_INVALID', err.message);
    assert.match(err.message, /nope/);
    assert.equal(await allowed('https://b.example'), 'https://b.example');
    assert.deepEqual((await H.trigger({ function_id: 'configuration::get', payload: { id: 'iii-http' } })).value, value);
    // Valid, but it cannot start (the port is the engine's own worker port): back on the old block.
    err = await sdkCallError(H, { function_id: 'configuration::set', payload: { id: 'iii-http', value: { ...value, port: e.port } }, timeoutMs: 10_000 });
    assert.equal(err.code, 'ADAPTER_ERROR', err.message);
    assert.match(err.message, /runs on its previous one/);
    await waitFor(() => tcpConnects(e.httpPort), 5000, 'iii-http back on its port');
    assert.equal(await allowed('https://b.example'), 'https://b.example');
    assert.deepEqual((await H.trigger({ function_id: 'configuration::get', payload: { id: 'iii-http' } })).value, value);
    assert.equal((await sdkCallError(H, { function_id: 'configuration::register',
      payload: { id: 'iii-http', name: 'x', description: 'x', schema: {} } })).code, 'ADAPTER_ERROR');
    assert.equal(events.length, 1);
    assert.equal(existsSync(path.join(e.cwd, 'config')), false, 'built-in blocks are not written to ./config');
    await shutdownSdk(H);
  } finally {
    await e.stop();
  }
});
