// docs/builtins.md §6 (iii-stream) through the official SDK and a raw WebSocket client on the
// stream port: the stream::* functions and their shapes, the `stream`, `stream:join` and
// `stream:leave` triggers, the client socket (join → sync → changes → leave, item filters, binary
// frames, ping), and custom backends. The socket's auth, bounds, restart and hot reload are in
// stream-socket.test.mjs.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import crypto from 'node:crypto';
import http from 'node:http';
import {
  connectRaw, freePort, lifecycle, sdkCallError, sdkSync, sdkWorker, shutdownSdk, sleep, startEngine, waitFor,
} from './harness.mjs';

let SP; // the stream port
const ctx = lifecycle(async () => {
  SP = await freePort();
  return startEngine({
    config: `workers:
  - name: iii-stream
    config:
      host: 127.0.0.1
      port: ${SP}
      max_item_bytes: 65536
      adapter: { name: kv, config: { store_method: in_memory } }
`,
  });
});
let W; // the SDK worker calling stream::*

const call = (function_id, payload) => W.trigger({ function_id, payload, timeoutMs: 5000 });
const streamSocket = () => connectRaw(`ws://127.0.0.1:${SP}/`, { waitRegistered: false });
const join = (c, data) => c.send({ type: 'join', data });
/** The next stream message on `c` after `since` matching `pred`. */
const nextEvent = (c, pred, since = 0, ms = 3000) =>
  c.waitFrame((m) => m && m.type === 'stream' && pred(m), ms, { since, label: 'stream message' });

before(async () => {
  await ctx.ready;
  W = sdkWorker(ctx.engine.url, 'stream-caller');
  await sdkSync(W);
});

test('set, get, update, list, list_groups, list_all, send and delete answer with the official shapes', async () => {
  const s = 'shapes';
  assert.deepEqual(await call('stream::set', { stream_name: s, group_id: 'g1', item_id: 'a', data: { n: 1 } }),
    { old_value: null, new_value: { n: 1 } });
  assert.deepEqual(await call('stream::set', { stream_name: s, group_id: 'g1', item_id: 'a', data: { n: 2 } }),
    { old_value: { n: 1 }, new_value: { n: 2 } });
  await call('stream::set', { stream_name: s, group_id: 'g1', item_id: 'b', data: 'two' });
  await call('stream::set', { stream_name: s, group_id: 'g0', item_id: 'c', data: [3] });
  assert.deepEqual(await call('stream::get', { stream_name: s, group_id: 'g1', item_id: 'a' }), { n: 2 });
  assert.equal((await call('stream::get', { stream_name: s, group_id: 'g1', item_id: 'nope' })) ?? null, null); // the SDK gives undefined for null
  assert.deepEqual(await call('stream::list', { stream_name: s, group_id: 'g1' }), [{ n: 2 }, 'two']);
  assert.deepEqual(await call('stream::list', { stream_name: s, group_id: 'unknown' }), []);
  assert.deepEqual(await call('stream::list_groups', { stream_name: s }), ['g0', 'g1']);

  const u = await call('stream::update', {
    stream_name: s, group_id: 'g1', item_id: 'a',
    ops: [{ type: 'increment', path: 'n', by: 5 }, { type: 'set', path: 'tag', value: 'x' }, { type: 'append', path: 'n', value: 1 }],
  });
  assert.deepEqual(u.old_value, { n: 2 });
  assert.deepEqual(u.new_value, { n: 7, tag: 'x' });
  assert.equal(u.errors.length, 1);
  assert.equal(u.errors[0].op_index, 2);
  const fresh = await call('stream::update', { stream_name: s, group_id: 'g2', item_id: 'z', ops: [{ type: 'set', path: 'k', value: 1 }] });
  assert.deepEqual(fresh, { old_value: null, new_value: { k: 1 } });

  const all = await call('stream::list_all', {});
  const mine = all.stream.find((x) => x.id === s);
  assert.deepEqual(mine, { id: s, groups: ['g0', 'g1', 'g2'] });
  assert.equal(all.count, all.stream.length);

  assert.equal((await call('stream::send', { stream_name: s, group_id: 'g1', type: 'ping', data: { hi: true } })) ?? null, null);
  assert.deepEqual(await call('stream::delete', { stream_name: s, group_id: 'g1', item_id: 'b' }), { old_value: 'two' });
  assert.deepEqual(await call('stream::delete', { stream_name: s, group_id: 'g1', item_id: 'b' }), { old_value: null });
  assert.deepEqual(await call('stream::list', { stream_name: s, group_id: 'g1' }), [{ n: 7, tag: 'x' }]);
  // Deleting the last item of a group makes the group disappear.
  await call('stream::delete', { stream_name: s, group_id: 'g0', item_id: 'c' });
  assert.deepEqual(await call('stream::list_groups', { stream_name: s }), ['g1', 'g2']);
});

test('bad input is refused with a clear error and stores nothing', async () => {
  let e = await sdkCallError(W, { function_id: 'stream::set', payload: { group_id: 'g', item_id: 'i', data: 1 } });
  assert.equal(e.code, 'deserialization_error');
  assert.match(e.message, /missing field `stream_name`/);
  e = await sdkCallError(W, { function_id: 'stream::get', payload: { stream_name: 7, group_id: 'g', item_id: 'i' } });
  assert.match(e.message, /`stream_name`: invalid type: number, expected a string/);
  e = await sdkCallError(W, { function_id: 'stream::set', payload: { stream_name: 'a\u0000b', group_id: 'g', item_id: 'i', data: 1 } });
  assert.match(e.message, /must not contain a NUL/);
  e = await sdkCallError(W, { function_id: 'stream::update', payload: { stream_name: 'bad', group_id: 'g', item_id: 'i', ops: [{ type: 'nope' }] } });
  assert.equal(e.code, 'deserialization_error');
  e = await sdkCallError(W, { function_id: 'stream::send', payload: { stream_name: 'bad', group_id: 'g', data: 1 } });
  assert.match(e.message, /missing field `type`/);

  const big = 'x'.repeat(70_000);
  e = await sdkCallError(W, { function_id: 'stream::set', payload: { stream_name: 'bad', group_id: 'g', item_id: 'i', data: big } });
  assert.equal(e.code, 'ITEM_TOO_LARGE');
  assert.match(e.message, /exceeds max_item_bytes \(65536\)/);
  e = await sdkCallError(W, { function_id: 'stream::send', payload: { stream_name: 'bad', group_id: 'g', type: 't', data: big } });
  assert.equal(e.code, 'ITEM_TOO_LARGE');
  await call('stream::set', { stream_name: 'bad', group_id: 'g', item_id: 'u', data: { s: '' } });
  e = await sdkCallError(W, { function_id: 'stream::update', payload: { stream_name: 'bad', group_id: 'g', item_id: 'u', ops: [{ type: 'set', path: 's', value: big }] } });
  assert.equal(e.code, 'ITEM_TOO_LARGE');
  assert.deepEqual(await call('stream::get', { stream_name: 'bad', group_id: 'g', item_id: 'u' }), { s: '' });
  assert.equal((await call('stream::get', { stream_name: 'bad', group_id: 'g', item_id: 'i' })) ?? null, null);
});

test('a socket joined to a group gets a sync with the items, then every change with the official event shape', async () => {
  const s = 'live';
  await call('stream::set', { stream_name: s, group_id: 'g', item_id: 'old', data: { v: 0 } });
  const c = await streamSocket();
  join(c, { subscriptionId: 'sub-g', streamName: s, groupId: 'g' });
  const sync = await nextEvent(c, (m) => m.event.type === 'sync');
  assert.deepEqual(sync.event, { type: 'sync', data: [{ v: 0 }] });
  assert.equal(sync.streamName, s);
  assert.equal(sync.groupId, 'g');
  assert.equal(sync.id, null);

  let since = c.mark();
  const before = Date.now();
  await call('stream::set', { stream_name: s, group_id: 'g', item_id: 'i1', data: { v: 1 } });
  const created = await nextEvent(c, (m) => m.event.type === 'create', since);
  assert.deepEqual(Object.keys(created).sort(), ['event', 'groupId', 'id', 'streamName', 'timestamp', 'type']);
  assert.deepEqual(created, { type: 'stream', timestamp: created.timestamp, streamName: s, groupId: 'g', id: 'i1', event: { type: 'create', data: { v: 1 } } });
  assert.ok(created.timestamp >= before - 1000 && created.timestamp <= Date.now() + 1000, 'timestamp is unix ms');

  since = c.mark();
  await call('stream::set', { stream_name: s, group_id: 'g', item_id: 'i1', data: { v: 2 } });
  assert.deepEqual((await nextEvent(c, (m) => m.event.type === 'update', since)).event, { type: 'update', data: { v: 2 } });
  since = c.mark();
  await call('stream::update', { stream_name: s, group_id: 'g', item_id: 'i1', ops: [{ type: 'increment', path: 'v', by: 1 }] });
  assert.deepEqual((await nextEvent(c, (m) => m.event.type === 'update', since)).event, { type: 'update', data: { v: 3 } });
  since = c.mark();
  await call('stream::send', { stream_name: s, group_id: 'g', id: 'i1', type: 'typing', data: { who: 'ann' } });
  const custom = await nextEvent(c, (m) => m.event.type === 'event', since);
  assert.deepEqual(custom.event, { type: 'event', event: { type: 'typing', data: { who: 'ann' } } });
  assert.equal(custom.id, 'i1');
  since = c.mark();
  await call('stream::delete', { stream_name: s, group_id: 'g', item_id: 'i1' });
  assert.deepEqual((await nextEvent(c, (m) => m.event.type === 'delete', since)).event, { type: 'delete', data: { v: 3 } });
  // Deleting what is not there announces nothing; other groups are not seen.
  since = c.mark();
  await call('stream::delete', { stream_name: s, group_id: 'g', item_id: 'i1' });
  await call('stream::set', { stream_name: s, group_id: 'other', item_id: 'x', data: 1 });
  assert.ok(await c.noFrame((m) => m && m.type === 'stream', 300, since));

  // After leaving, nothing more arrives.
  c.send({ type: 'leave', data: { subscriptionId: 'sub-g', streamName: s, groupId: 'g' } });
  await sleep(100);
  since = c.mark();
  await call('stream::set', { stream_name: s, group_id: 'g', item_id: 'i2', data: 1 });
  assert.ok(await c.noFrame((m) => m && m.type === 'stream', 300, since));
  await c.close();
});

test('an item subscription syncs the item (or null) and sees only that item; two matching subscriptions get two messages', async () => {
  const s = 'items';
  await call('stream::set', { stream_name: s, group_id: 'g', item_id: 'mine', data: { a: 1 } });
  const c = await streamSocket();
  join(c, { subscriptionId: 'one', streamName: s, groupId: 'g', id: 'mine' });
  const sync = await nextEvent(c, (m) => m.event.type === 'sync');
  assert.deepEqual(sync.event.data, { a: 1 });
  assert.equal(sync.id, 'mine');
  join(c, { subscriptionId: 'two', streamName: s, groupId: 'g', id: 'missing' });
  assert.equal((await nextEvent(c, (m) => m.event.type === 'sync' && m.id === 'missing')).event.data, null);

  let since = c.mark();
  await call('stream::set', { stream_name: s, group_id: 'g', item_id: 'someone-else', data: 0 });
  await call('stream::set', { stream_name: s, group_id: 'g', item_id: 'mine', data: { a: 2 } });
  await nextEvent(c, (m) => m.id === 'mine' && m.event.type === 'update', since);
  await sleep(150);
  assert.deepEqual(c.messages(since).filter((m) => m.type === 'stream').map((m) => m.id), ['mine']);

  // A group subscription on the same socket: a change to `mine` now matches twice.
  join(c, { subscriptionId: 'three', streamName: s, groupId: 'g' });
  await nextEvent(c, (m) => m.event.type === 'sync' && m.id === null, c.mark());
  since = c.mark();
  await call('stream::set', { stream_name: s, group_id: 'g', item_id: 'mine', data: { a: 3 } });
  await waitFor(() => c.messages(since).filter((m) => m.type === 'stream').length >= 2, 3000, 'two copies');
  await sleep(150);
  assert.equal(c.messages(since).filter((m) => m.type === 'stream').length, 2);
  await c.close();
});

test('joining again under the same subscription id moves it; a leave goes by the id', async () => {
  const c = await streamSocket();
  await (async () => { join(c, { subscriptionId: 'm', streamName: 'move', groupId: 'a' }); await nextEvent(c, (m) => m.event.type === 'sync'); })();
  join(c, { subscriptionId: 'm', streamName: 'move', groupId: 'b' });
  await nextEvent(c, (m) => m.event.type === 'sync' && m.groupId === 'b');
  let since = c.mark();
  await call('stream::set', { stream_name: 'move', group_id: 'a', item_id: 'x', data: 1 });
  await call('stream::set', { stream_name: 'move', group_id: 'b', item_id: 'y', data: 2 });
  await nextEvent(c, (m) => m.groupId === 'b' && m.event.type === 'create', since);
  await sleep(150);
  assert.deepEqual(c.messages(since).filter((m) => m.type === 'stream').map((m) => m.groupId), ['b'], 'group a is no longer followed');
  // The names in a leave do not matter: the id does.
  c.send({ type: 'leave', data: { subscriptionId: 'm', streamName: 'whatever', groupId: 'else' } });
  await sleep(150);
  since = c.mark();
  await call('stream::set', { stream_name: 'move', group_id: 'b', item_id: 'y', data: 3 });
  assert.ok(await c.noFrame((m) => m && m.type === 'stream', 300, since));
  await c.close();
});

test('binary JSON frames work, pings are answered, and malformed messages are ignored without closing', async () => {
  const c = await streamSocket();
  assert.deepEqual([...(await c.wsPing(Buffer.from('hey')))], [...Buffer.from('hey')]);
  c.sendText('not json');
  c.sendText('');
  c.send({ type: 'join', data: { streamName: 'x' } });
  c.send({ type: 'dance' });
  c.sendBinary(Buffer.from(JSON.stringify({ type: 'join', data: { subscriptionId: 'b', streamName: 'bin', groupId: 'g' } })));
  await nextEvent(c, (m) => m.event.type === 'sync' && m.streamName === 'bin');
  assert.ok(c.isOpen);
  const since = c.mark();
  await call('stream::set', { stream_name: 'bin', group_id: 'g', item_id: 'i', data: true });
  await nextEvent(c, (m) => m.event.type === 'create', since);
  await c.close();
});

test('the stream port serves WebSocket upgrades on / only', async () => {
  const get = (p) => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: SP, path: p }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
  });
  assert.equal(await get('/'), 426);
  assert.equal(await get('/elsewhere'), 404);
});

test('`stream` triggers: stream_name is required, group/item filters and conditions apply, the payload is the change event', async () => {
  const binder = await connectRaw(ctx.engine.url);
  const id = crypto.randomUUID();
  binder.send({ type: 'registertrigger', id, trigger_type: 'stream', function_id: 'x::y', config: { group_id: 'g' } });
  const r = await binder.waitFrame((m) => m && m.type === 'triggerregistrationresult' && m.id === id, 3000, { label: 'refusal' });
  assert.deepEqual(r.error, { code: 'trigger_registration_failed', message: 'Invalid stream trigger config: `stream_name` is required' });
  await binder.close();

  const T = sdkWorker(ctx.engine.url, 'stream-triggers');
  const got = { all: [], group: [], item: [], gated: [] };
  const verdicts = [];
  T.registerFunction('st::all', async (p) => { got.all.push(p); return null; });
  T.registerFunction('st::group', async (p) => { got.group.push(p); return null; });
  T.registerFunction('st::item', async (p) => { got.item.push(p); return null; });
  T.registerFunction('st::gated', async (p) => { got.gated.push(p); return null; });
  T.registerFunction('st::gate', async (p) => { verdicts.push(p.event.type); return p.event.type !== 'delete'; });
  T.registerTrigger({ type: 'stream', function_id: 'st::all', config: { stream_name: 'trig' } });
  T.registerTrigger({ type: 'stream', function_id: 'st::group', config: { stream_name: 'trig', group_id: 'g1' } });
  T.registerTrigger({ type: 'stream', function_id: 'st::item', config: { stream_name: 'trig', group_id: 'g1', item_id: 'i1' } });
  T.registerTrigger({ type: 'stream', function_id: 'st::gated', config: { stream_name: 'trig', condition_function_id: 'st::gate' } });
  await sdkSync(T);
  await sleep(200);

  await call('stream::set', { stream_name: 'trig', group_id: 'g1', item_id: 'i1', data: { a: 1 } });
  await call('stream::set', { stream_name: 'trig', group_id: 'g1', item_id: 'i2', data: { a: 2 } });
  await call('stream::set', { stream_name: 'trig', group_id: 'g2', item_id: 'i1', data: { a: 3 } });
  await call('stream::set', { stream_name: 'other', group_id: 'g1', item_id: 'i1', data: { a: 4 } });
  await call('stream::send', { stream_name: 'trig', group_id: 'g1', type: 'note', data: 5 });
  await call('stream::delete', { stream_name: 'trig', group_id: 'g1', item_id: 'i1' });
  await waitFor(() => got.all.length >= 5 && got.gated.length >= 4 && verdicts.length >= 5, 5000, 'trigger calls');
  await sleep(200);

  assert.deepEqual(got.all.map((p) => `${p.groupId}/${p.id}/${p.event.type}`), ['g1/i1/create', 'g1/i2/create', 'g2/i1/create', 'g1/null/event', 'g1/i1/delete']);
  assert.deepEqual(got.group.map((p) => `${p.id}/${p.event.type}`), ['i1/create', 'i2/create', 'null/event', 'i1/delete']);
  assert.deepEqual(got.item.map((p) => p.event.type), ['create', 'delete']);
  assert.deepEqual(got.gated.map((p) => p.event.type), ['create', 'create', 'create', 'event']);
  const first = got.all[0];
  assert.deepEqual(first, { type: 'stream', timestamp: first.timestamp, streamName: 'trig', groupId: 'g1', id: 'i1', event: { type: 'create', data: { a: 1 } } });
  await shutdownSdk(T);
});

test('stream:join and stream:leave triggers see every subscription; a join answered unauthorized is refused', async () => {
  const T = sdkWorker(ctx.engine.url, 'stream-joins');
  const joins = [];
  const leaves = [];
  T.registerFunction('sj::join', async (p) => { joins.push(p); return p.group_id === 'secret' ? { unauthorized: true } : { ok: 1 }; });
  T.registerFunction('sj::leave', async (p) => { leaves.push(p); return null; });
  T.registerTrigger({ type: 'stream:join', function_id: 'sj::join', config: {} });
  T.registerTrigger({ type: 'stream:leave', function_id: 'sj::leave', config: {} });
  await sdkSync(T);
  await sleep(200);

  const c = await streamSocket();
  join(c, { subscriptionId: 's1', streamName: 'jl', groupId: 'open' });
  await nextEvent(c, (m) => m.event.type === 'sync');
  assert.deepEqual(joins[0], { subscription_id: 's1', stream_name: 'jl', group_id: 'open' });

  join(c, { subscriptionId: 's2', streamName: 'jl', groupId: 'secret', id: 'k' });
  const refused = await nextEvent(c, (m) => m.groupId === 'secret');
  assert.deepEqual(refused.event, { type: 'unauthorized' });
  assert.equal(refused.id, 'k');
  assert.deepEqual(joins[1], { subscription_id: 's2', stream_name: 'jl', group_id: 'secret', id: 'k' });
  let since = c.mark();
  await call('stream::set', { stream_name: 'jl', group_id: 'secret', item_id: 'k', data: 1 });
  assert.ok(await c.noFrame((m) => m && m.type === 'stream', 300, since), 'a refused subscription sees nothing');

  join(c, { subscriptionId: 's3', streamName: 'jl', groupId: 'open', id: 'x' });
  await nextEvent(c, (m) => m.event.type === 'sync' && m.id === 'x');
  c.send({ type: 'leave', data: { subscriptionId: 's1', streamName: 'jl', groupId: 'open' } });
  await waitFor(() => leaves.length === 1, 3000, 'explicit leave');
  assert.deepEqual(leaves[0], { subscription_id: 's1', stream_name: 'jl', group_id: 'open' });
  await c.close();
  // The remaining subscription leaves when the socket closes (the refused one never joined).
  await waitFor(() => leaves.length === 2, 3000, 'leave on close');
  assert.deepEqual(leaves[1], { subscription_id: 's3', stream_name: 'jl', group_id: 'open', id: 'x' });
  await sleep(200);
  assert.equal(leaves.length, 2);
  await shutdownSdk(T);
});

test('custom backends: stream::<op>(<stream>) functions replace the store, and changes are still announced', async () => {
  const B = sdkWorker(ctx.engine.url, 'stream-backend');
  const rows = new Map();
  const seen = [];
  B.registerFunction('stream::get(custom)', async (p) => { seen.push(['get', p.item_id]); return rows.get(p.item_id) ?? null; });
  B.registerFunction('stream::set(custom)', async (p) => {
    seen.push(['set', p.item_id]);
    const old = rows.get(p.item_id) ?? null;
    rows.set(p.item_id, { ...p.data, stored_by: 'backend' });
    return { old_value: old, new_value: rows.get(p.item_id) };
  });
  B.registerFunction('stream::list(custom)', async () => [...rows.values()]);
  B.registerFunction('stream::delete(custom)', async (p) => {
    const old = rows.get(p.item_id) ?? null;
    rows.delete(p.item_id);
    return { old_value: old };
  });
  await sdkSync(B);

  const c = await streamSocket();
  join(c, { subscriptionId: 'cb', streamName: 'custom', groupId: 'g' });
  assert.deepEqual((await nextEvent(c, (m) => m.event.type === 'sync')).event.data, []);
  let since = c.mark();
  const r = await call('stream::set', { stream_name: 'custom', group_id: 'g', item_id: 'r1', data: { x: 1 } });
  assert.deepEqual(r, { old_value: null, new_value: { x: 1, stored_by: 'backend' } });
  assert.deepEqual((await nextEvent(c, (m) => m.event.type === 'create', since)).event.data, { x: 1, stored_by: 'backend' });
  since = c.mark();
  await call('stream::set', { stream_name: 'custom', group_id: 'g', item_id: 'r1', data: { x: 2 } });
  assert.equal((await nextEvent(c, (m) => m.id === 'r1', since)).event.type, 'update');
  assert.deepEqual(await call('stream::get', { stream_name: 'custom', group_id: 'g', item_id: 'r1' }), { x: 2, stored_by: 'backend' });
  since = c.mark();
  assert.deepEqual(await call('stream::delete', { stream_name: 'custom', group_id: 'g', item_id: 'r1' }), { old_value: { x: 2, stored_by: 'backend' } });
  assert.equal((await nextEvent(c, (m) => m.event.type === 'delete', since)).id, 'r1');
  assert.deepEqual(seen, [['set', 'r1'], ['set', 'r1'], ['get', 'r1']]);
  // The store was never touched for this stream; other streams still use it.
  assert.ok(!(await call('stream::list_all', {})).stream.some((x) => x.id === 'custom'));
  await c.close();
  await shutdownSdk(B);
});
