// iii-bridge and the `bridge` adapters (docs/builtins.md §10) with real engines and official SDK
// workers: forward aliases and bridge.invoke reach a worker of another engine (its error codes
// kept), expose makes a function of this engine callable there, a chain of three engines works,
// the remote going away fails calls at once with bridge_error and its return restores everything
// (exposed functions re-registered), state and streams on the bridge adapter keep their data on
// the remote engine (this engine's triggers fire on the changes made through it; its stream
// sockets get every change of their stream, wherever made), queues on the bridge adapter run this
// engine's jobs with the remote's retries and DLQ, the configuration store on the bridge adapter
// keeps its entries on a source engine shared by two bridging engines, and the official
// sdk/fixtures/config-bridge*.yaml pair runs unchanged.
import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TriggerAction } from 'iii-sdk';
import {
  closeAll, connectRaw, freePort, sdkCallError, sdkSync, sdkWorker, sleep, startEngine, waitFor,
} from './harness.mjs';

const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'official');
const engines = [];
after(async () => {
  await closeAll();
  await Promise.all(engines.map((e) => e.stop()));
});
async function engine(options) {
  const e = await startEngine(options);
  engines.push(e);
  return e;
}
const call = async (w, function_id, payload, timeoutMs = 5000) => (await w.trigger({ function_id, payload, timeoutMs })) ?? null;
const bridgeTo = (url, body = '') => `workers:
  - name: iii-bridge
    config:
      url: ${url}
${body}`;

test('forward and bridge.invoke run functions of a worker on the other engine, keeping its error codes', async () => {
  const b = await engine();
  const a = await engine({
    config: bridgeTo(b.url, `      forward:
        - { local_function: "bar::remote_add", remote_function: "bar::add", timeout_ms: 5000 }
        - { local_function: "bar::remote_fail", remote_function: "bar::fail" }
        - { local_function: "bar::remote_slow", remote_function: "bar::slow", timeout_ms: 300 }
`),
  });
  const seen = [];
  const wb = sdkWorker(b.url, 'bar-backend');
  wb.registerFunction('bar::add', async (p) => ({ c: p.a + p.b }));
  wb.registerFunction('bar::fail', async () => { throw Object.assign(new Error('no bar today'), { code: 'BAR_CLOSED' }); });
  wb.registerFunction('bar::slow', async () => { await sleep(2000); return 'late'; });
  wb.registerFunction('bar::note', async (p) => { seen.push({ n: p.n }); return null; });  // without _caller_worker_id
  await sdkSync(wb);
  const wa = sdkWorker(a.url, 'bar-front');
  await waitFor(async () => (await call(wa, 'bar::remote_add', { a: 1, b: 1 }).catch(() => null))?.c === 2, 10000,
    'the bridge connected');

  assert.deepEqual(await call(wa, 'bar::remote_add', { a: 2, b: 40 }), { c: 42 });
  const failed = await sdkCallError(wa, { function_id: 'bar::remote_fail', payload: {}, timeoutMs: 5000 });
  const direct = await sdkCallError(wb, { function_id: 'bar::fail', payload: {}, timeoutMs: 5000 });
  assert.equal(failed.code, direct.code, 'the remote error code is passed on');
  assert.match(failed.message, /no bar today/);
  const slow = await sdkCallError(wa, { function_id: 'bar::remote_slow', payload: {}, timeoutMs: 5000 });
  assert.equal(slow.code, 'bridge_error');
  assert.match(slow.message, /timed out/);

  assert.deepEqual(await call(wa, 'bridge.invoke', { function_id: 'bar::add', data: { a: 1, b: 2 } }), { c: 3 });
  const missing = await sdkCallError(wa, { function_id: 'bridge.invoke', payload: { function_id: 'bar::none' }, timeoutMs: 5000 });
  assert.equal(missing.code, 'function_not_found', 'a function the remote lacks is named as such');
  const bad = await sdkCallError(wa, { function_id: 'bridge.invoke', payload: { data: 1 }, timeoutMs: 5000 });
  assert.equal(bad.code, 'deserialization_error');
  assert.equal(await call(wa, 'bridge.invoke_async', { function_id: 'bar::note', data: { n: 7 } }), null);
  await waitFor(() => seen.length === 1, 5000, 'the fire-and-forget call ran on the remote');
  assert.deepEqual(seen[0], { n: 7 });
});

test('expose: a function of this engine is called from the other one, through a chain of three engines', async () => {
  const b = await engine();
  // C exposes its worker's function on B; A forwards to it through B: A -> B -> C.
  const c = await engine({
    config: bridgeTo(b.url, `      expose:
        - { local_function: "c::upper", remote_function: "via_c::upper" }
`),
  });
  const a = await engine({
    config: bridgeTo(b.url, `      forward:
        - { local_function: "a::upper", remote_function: "via_c::upper", timeout_ms: 5000 }
`),
  });
  const wc = sdkWorker(c.url, 'upper-worker');
  wc.registerFunction('c::upper', async (p) => ({ text: String(p.text).toUpperCase(), on: 'c' }));
  wc.registerFunction('c::refuse', async () => { throw new Error('refused on c'); });
  await sdkSync(wc);
  const wb = sdkWorker(b.url, 'b-caller');
  await waitFor(async () => (await call(wb, 'via_c::upper', { text: 'x' }).catch(() => null))?.on === 'c', 10000,
    'C exposed its function on B');
  assert.deepEqual(await call(wb, 'via_c::upper', { text: 'from b' }), { text: 'FROM B', on: 'c' });
  const wa = sdkWorker(a.url, 'a-caller');
  assert.deepEqual(await call(wa, 'a::upper', { text: 'from a' }), { text: 'FROM A', on: 'c' });
});

test('while the remote engine is down calls fail at once with bridge_error; when it is back, exposes are registered again', async () => {
  const bPort = await freePort();
  let b = await engine({ port: bPort });
  const a = await engine({
    config: bridgeTo(b.url, `      expose:
        - { local_function: "a::ping" }
      forward:
        - { local_function: "a::remote_echo", remote_function: "b::echo", timeout_ms: 20000 }
`),
  });
  const wa = sdkWorker(a.url, 'a-worker');
  wa.registerFunction('a::ping', async () => 'pong from a');
  await sdkSync(wa);
  let wb = sdkWorker(b.url, 'b-worker');
  wb.registerFunction('b::echo', async (p) => {
    if (p.slow) await sleep(15000);
    return { x: p.x };
  });
  await waitFor(async () => (await call(wb, 'a::ping', {}).catch(() => null)) === 'pong from a', 10000, 'a::ping on B');
  assert.deepEqual(await call(wa, 'a::remote_echo', { x: 1 }), { x: 1 });

  // A call in flight when B dies ends at once with bridge_error (B ends its calls with the
  // connection: no answer can come), not at the forward's 20 s timeout.
  const inFlight = sdkCallError(wa, { function_id: 'a::remote_echo', payload: { x: 2, slow: true }, timeoutMs: 30000 });
  await sleep(300);
  b.proc.kill('SIGKILL');
  const lost = await inFlight;
  assert.equal(lost.code, 'bridge_error');
  assert.match(lost.message, /closed before the answer/, 'ended by the lost connection, not by a timeout');
  await b.stop();
  await waitFor(async () => {
    const e = await sdkCallError(wa, { function_id: 'a::remote_echo', payload: {}, timeoutMs: 30000 });
    return e.code === 'bridge_error' && /not connected/.test(e.message);
  }, 10000, 'the bridge noticed the remote is gone');
  // At once: the call is refused because nothing is connected, not ended by the forward's timeout.
  const down = await sdkCallError(wa, { function_id: 'a::remote_echo', payload: {}, timeoutMs: 30000 });
  assert.equal(down.code, 'bridge_error');
  assert.match(down.message, /not connected/);

  b = await engine({ port: bPort });
  wb = sdkWorker(b.url, 'b-worker-again');
  wb.registerFunction('b::echo', async (p) => ({ x: p.x }));
  await waitFor(async () => (await call(wb, 'a::ping', {}).catch(() => null)) === 'pong from a', 20000,
    'a::ping registered again on the restarted B');
  assert.deepEqual(await call(wa, 'a::remote_echo', { x: 2 }), { x: 2 });
});

test('state on the bridge adapter: data lives on the remote, this engine\'s triggers fire on changes made through it', async () => {
  const b = await engine({ config: 'workers:\n  - name: iii-state\n' });
  const a = await engine({
    config: `workers:
  - name: iii-state
    config: { adapter: { name: bridge, config: { bridge_url: "${b.url}" } } }
`,
  });
  const wa = sdkWorker(a.url, 'state-front');
  const events = [];
  wa.registerFunction('front::on_state', async (p) => { events.push(p); return null; });
  wa.registerTrigger({ type: 'state', function_id: 'front::on_state', config: { scope: 'carts' } });
  await sdkSync(wa);
  const wb = sdkWorker(b.url, 'state-back');
  await waitFor(async () => (await call(wa, 'state::get', { scope: 'carts', key: 'none' }).catch(() => 'x')) === null,
    10000, 'the state bridge connected');

  assert.deepEqual(await call(wa, 'state::set', { scope: 'carts', key: 'c1', value: { n: 1 } }), { old_value: null, new_value: { n: 1 } });
  assert.deepEqual(await call(wb, 'state::get', { scope: 'carts', key: 'c1' }), { n: 1 }, 'stored on the remote');
  const updated = await call(wa, 'state::update', { scope: 'carts', key: 'c1', ops: [{ type: 'increment', path: 'n', by: 4 }] });
  assert.deepEqual(updated.new_value, { n: 5 });
  assert.deepEqual(await call(wa, 'state::list', { scope: 'carts' }), [{ n: 5 }]);
  await call(wb, 'state::set', { scope: 'carts', key: 'c2', value: { n: 9 } });
  assert.deepEqual((await call(wa, 'state::list_keys', { scope: 'carts' })).keys.sort(), ['c1', 'c2']);
  await call(wa, 'state::delete', { scope: 'carts', key: 'c1' });
  assert.equal(await call(wb, 'state::get', { scope: 'carts', key: 'c1' }), null);

  await waitFor(() => events.length === 3, 5000, 'three state events on A');
  assert.deepEqual(events.map((e) => e.event_type), ['state:created', 'state:updated', 'state:deleted']);
  assert.deepEqual(events[1].old_value, { n: 1 });
  assert.deepEqual(events[1].new_value, { n: 5 });
  assert.deepEqual(events[2].old_value, { n: 5 });
  await sleep(300);
  assert.equal(events.length, 3, 'the write made directly on B is not announced on A');
});

test('queues on the bridge adapter: jobs and topics live on the remote, the functions run here, retries and DLQ are the remote\'s', async () => {
  const bPort = await freePort();
  const backConfig = `workers:
  - name: iii-queue
    config:
      adapter: { name: builtin, config: { store_method: in_memory } }
      queue_configs:
        jobs: { max_retries: 3, backoff_ms: 100 }
        once: { max_retries: 1, backoff_ms: 100 }
`;
  const b = await engine({ port: bPort, config: backConfig });
  const a = await engine({
    config: `workers:
  - name: iii-queue
    config: { adapter: { name: bridge, config: { bridge_url: "${b.url}" } } }
`,
  });
  const wa = sdkWorker(a.url, 'queue-front');
  let attempts = 0;
  const done = [];
  const topic = [];
  wa.registerFunction('a::job', async (p) => {
    attempts += 1;
    if (attempts === 1) throw new Error('first attempt fails');
    done.push(p);
    return null;
  });
  wa.registerFunction('a::doomed', async () => { throw new Error('always fails'); });
  wa.registerFunction('a::on_order', async (p) => { topic.push(p); return null; });
  wa.registerFunction('a::only_even', async (p) => p.n % 2 === 0);
  wa.registerTrigger({ type: 'durable:subscriber', function_id: 'a::on_order',
    config: { topic: 'orders', condition_function_id: 'a::only_even' } });
  await sdkSync(wa);
  await waitFor(async () => Array.isArray(await call(wa, 'engine::queue::list_topics', {}).catch(() => null)), 10000,
    'the queue bridge connected');

  const receipt = await wa.trigger({ function_id: 'a::job', payload: { id: 1 }, action: TriggerAction.Enqueue({ queue: 'jobs' }), timeoutMs: 5000 });
  assert.ok(receipt.messageReceiptId, 'the remote acknowledged the job');
  await waitFor(() => done.length === 1, 10000, 'the job ran here after a retry on the remote');
  assert.deepEqual(done[0], { id: 1 });
  assert.equal(attempts, 2);

  await waitFor(async () => {
    const topics = await call(wa, 'engine::queue::list_topics', {});
    return topics.some((t) => t.name === 'orders' && t.subscriber_count === 1);
  }, 10000, 'the subscriber is bound on the remote');
  for (const n of [1, 2, 3, 4]) await call(wa, 'iii::durable::publish', { topic: 'orders', data: { n } });
  await waitFor(() => topic.length === 2, 10000, 'the even orders reached the subscriber here');
  assert.deepEqual(topic.map((p) => p.n).sort(), [2, 4], 'the condition ran here');

  await wa.trigger({ function_id: 'a::doomed', payload: { id: 9 }, action: TriggerAction.Enqueue({ queue: 'once' }), timeoutMs: 5000 });
  let dead = [];
  await waitFor(async () => (dead = await call(wa, 'engine::queue::dlq_messages', { topic: 'once' })).length === 1, 10000,
    'the failed job in the remote\'s DLQ, seen through this engine');
  assert.deepEqual(dead[0].payload, { id: 9 });
  assert.match(dead[0].error, /always fails/);

  await b.stop();
  await waitFor(async () => {
    const e = await sdkCallError(wa, { function_id: 'a::job', payload: {}, action: TriggerAction.Enqueue({ queue: 'jobs' }), timeoutMs: 20000 });
    return e.code === 'enqueue_error' && /bridge_error: .*not connected/.test(e.message);
  }, 10000, 'an enqueue while the remote is down is refused, not accepted and lost');
});

test('the official config-bridge.yaml pair runs unchanged: streams through the bridge engine live on the backend', async () => {
  const back = await engine({ port: 49198, config: readFileSync(path.join(FIXTURES, 'config-bridge-backend.yaml'), 'utf8') });
  const front = await engine({ port: 49197, config: readFileSync(path.join(FIXTURES, 'config-bridge.yaml'), 'utf8') });
  const wf = sdkWorker(front.url, 'stream-front');
  const wb = sdkWorker(back.url, 'stream-back');
  const item = (item_id, extra = {}) => ({ stream_name: 'todos', group_id: 'inbox', item_id, ...extra });
  await waitFor(async () => (await call(wf, 'stream::get', item('none')).catch(() => 'x')) === null, 10000,
    'the stream bridge connected');
  await call(wb, 'stream::set', item('t0', { data: { title: 'made on the backend' } }));

  const socket = await connectRaw('ws://127.0.0.1:3114/', { waitRegistered: false });
  let since = socket.mark();
  socket.send({ type: 'join', data: { subscriptionId: 's1', streamName: 'todos', groupId: 'inbox' } });
  const sync = await socket.waitFrame((m) => m && m.type === 'stream' && m.event.type === 'sync', 5000, { since, label: 'sync' });
  assert.deepEqual(sync.event.data, [{ title: 'made on the backend' }], 'the sync comes from the backend');

  since = socket.mark();
  assert.deepEqual(await call(wf, 'stream::set', item('t1', { data: { title: 'milk' } })),
    { old_value: null, new_value: { title: 'milk' } });
  const created = await socket.waitFrame((m) => m && m.type === 'stream' && m.event.type === 'create', 5000, { since, label: 'create' });
  assert.equal(created.id, 't1');
  assert.deepEqual(created.event.data, { title: 'milk' });
  assert.deepEqual(await call(wb, 'stream::get', item('t1')), { title: 'milk' }, 'stored on the backend');
  assert.deepEqual(await call(wf, 'stream::list_groups', { stream_name: 'todos' }), ['inbox']);
  const all = await call(wf, 'stream::list_all', {});
  assert.deepEqual(all.stream, [{ id: 'todos', groups: ['inbox'] }]);
  since = socket.mark();
  await call(wf, 'stream::update', item('t1', { ops: [{ type: 'set', path: 'done', value: true }] }));
  const changed = await socket.waitFrame((m) => m && m.type === 'stream' && m.event.type === 'update', 5000, { since, label: 'update' });
  assert.deepEqual(changed.event.data, { title: 'milk', done: true });

  // A change made on the backend directly reaches the bridging engine's socket too, once.
  since = socket.mark();
  await call(wb, 'stream::set', item('t2', { data: { title: 'eggs' } }));
  await call(wf, 'stream::send', { stream_name: 'todos', group_id: 'inbox', type: 'ping', data: { n: 1 } });
  await socket.waitFrame((m) => m && m.type === 'stream' && m.event.type === 'event', 5000, { since, label: 'custom event' });
  await sleep(300);  // a duplicate would show up by now
  const seen = socket.messages(since).filter((m) => m && m.type === 'stream').map((m) => `${m.event.type}:${m.id}`);
  assert.deepEqual(seen, ['create:t2', 'event:null'], 'each change once, in the backend\'s order');

  // The backend restarts: what changed there meanwhile was not pushed here, so the socket is
  // closed with 1012 (join again), and a new join reads the backend's new state.
  await back.stop();
  const back2 = await engine({ port: 49198, config: readFileSync(path.join(FIXTURES, 'config-bridge-backend.yaml'), 'utf8') });
  await socket.closed;
  assert.equal(socket.closeInfo.code, 1012);
  const wb2 = sdkWorker(back2.url, 'stream-back-2');
  await waitFor(async () => (await call(wf, 'stream::get', item('t1')).catch(() => 'x')) === null, 10000,
    'the bridge reaches the restarted backend (its in-memory items are gone)');
  await call(wb2, 'stream::set', item('t9', { data: { title: 'after the restart' } }));
  const again = await connectRaw('ws://127.0.0.1:3114/', { waitRegistered: false });
  since = again.mark();
  again.send({ type: 'join', data: { subscriptionId: 's2', streamName: 'todos', groupId: 'inbox' } });
  const fresh = await again.waitFrame((m) => m && m.type === 'stream' && m.event.type === 'sync', 5000, { since, label: 'sync' });
  assert.deepEqual(fresh.event.data, [{ title: 'after the restart' }]);
});

const bridged = (url) => `workers:
  - name: configuration
    config: { adapter: { name: bridge, config: { bridge_url: "${url}" } } }
`;
const schema = { type: 'object', properties: { n: { type: 'integer', minimum: 0 } }, required: ['n'], additionalProperties: false };

test('configuration on the bridge adapter: entries live on the source engine; changes made anywhere reach the triggers of a bridging engine once', async () => {
  const bDir = mkdtempSync(path.join(os.tmpdir(), 'iii-bridge-source-'));  // kept across its restart
  const bPort = await freePort();
  const bConfig = 'workers:\n  - name: configuration\n    config: { adapter: { name: fs, config: { directory: ./config } } }\n';
  let b = await engine({ port: bPort, cwd: bDir, config: bConfig });
  const a = await engine({ config: bridged(b.url) });
  const c = await engine({ config: bridged(b.url) });
  const wa = sdkWorker(a.url, 'cfg-a');
  const wb = sdkWorker(b.url, 'cfg-b');
  const wc = sdkWorker(c.url, 'cfg-c');
  const events = [];
  wa.registerFunction('a::on_config', async (p) => { events.push(p); return null; });
  wa.registerTrigger({ type: 'configuration', function_id: 'a::on_config', config: { configuration_id: 'shop' } });
  await sdkSync(wa);
  await sdkSync(wc);
  await waitFor(async () => Array.isArray((await call(wa, 'configuration::list', {}).catch(() => null))?.configurations),
    10000, 'A\'s configuration worker is up on the bridge');

  const registered = await call(wa, 'configuration::register',
    { id: 'shop', name: 'Shop', description: 'shop settings', schema, initial_value: { n: 1 } });
  assert.deepEqual(registered.value, { n: 1 });
  assert.deepEqual((await call(wb, 'configuration::get', { id: 'shop' })).value, { n: 1 }, 'stored on B');
  assert.deepEqual((await call(wb, 'configuration::schema', { id: 'shop' })).schema, schema);

  const refused = await sdkCallError(wa, { function_id: 'configuration::set', payload: { id: 'shop', value: { n: -1 } }, timeoutMs: 10000 });
  assert.ok(refused.code, 'an invalid value is refused');
  assert.deepEqual((await call(wb, 'configuration::get', { id: 'shop' })).value, { n: 1 }, 'nothing changed on B');

  await call(wa, 'configuration::set', { id: 'shop', value: { n: 2 } });
  assert.deepEqual((await call(wb, 'configuration::get', { id: 'shop' })).value, { n: 2 });
  await waitFor(() => events.some((e) => e.new_value?.n === 2), 10000, 'A\'s trigger saw its own set');

  await call(wb, 'configuration::set', { id: 'shop', value: { n: 3 } });
  await waitFor(() => events.some((e) => e.new_value?.n === 3), 10000, 'a set made on B reached A\'s trigger');
  await waitFor(async () => (await call(wa, 'configuration::get', { id: 'shop' })).value.n === 3, 10000, 'A reads B\'s value');

  await waitFor(async () => (await call(wc, 'configuration::get', { id: 'shop' }).catch(() => null))?.value?.n === 3, 10000,
    'C sees the entry');
  await call(wc, 'configuration::set', { id: 'shop', value: { n: 4 } });
  await waitFor(() => events.some((e) => e.new_value?.n === 4), 10000, 'a set made through C reached A\'s trigger');

  await sleep(500);  // a duplicate would show up by now
  const seen = events.filter((e) => e.event_type === 'configuration:updated').map((e) => e.new_value.n);
  assert.deepEqual(seen, [2, 3, 4], 'each change once, in order');

  // The source engine is down while its file is edited by hand: once it is back, A reads every
  // entry again, and its trigger hears of the change it missed.
  await b.stop();
  const file = path.join(bDir, 'config', 'shop.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace(/n: 4/, 'n: 7'));
  b = await engine({ port: bPort, cwd: bDir, config: bConfig });
  await waitFor(() => events.some((e) => e.new_value?.n === 7), 15000, 'the change made while the source was down');
  assert.deepEqual((await call(wa, 'configuration::get', { id: 'shop' })).value, { n: 7 });
  rmSync(bDir, { recursive: true, force: true });
});

test('a bad iii-bridge block is refused at start with the key named', async () => {
  for (const [body, expected] of [
    ['    config: { url: ws://127.0.0.1:1, colour: blue }\n', /unknown key `colour`/],
    ['    config: { url: http://127.0.0.1:1 }\n', /`url` must be a ws:\/\/ or wss:\/\/ URL/],
    ['    config: { forward: [ { local_function: "x::y" } ] }\n', /forward\[0\]\.remote_function` is required/],
  ]) {
    let failed = null;
    try {
      const e = await startEngine({ config: `workers:\n  - name: iii-bridge\n${body}` });
      await e.stop();
    } catch (e) {
      failed = e;
    }
    assert.ok(failed, `the engine refused ${body.trim()}`);
    assert.match(failed.message, expected);
  }
});
