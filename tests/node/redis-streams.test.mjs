// iii-stream on the `redis` adapter (docs/redis.md "Streams on Redis") with a real redis-server,
// two engines and official SDK workers: an item written through one engine is read through the
// other, in the official engine's layout (`stream:<stream>:<group>` hashes of JSON text); a change
// made through either reaches the client sockets of both engines exactly once; `stream` triggers
// fire on the writing engine only; a hot reload moves a running engine between kv and redis; a
// Redis that goes away gives clear errors at once, and the sockets that may have missed changes
// are closed once it is back; a bad redis_url is refused at start.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  connectRaw, engineCall, engineCallError, sdkSync, sleep, startEngine, tcpConnects, waitFor, withTimeout,
} from './harness.mjs';
import { assertBadRedisUrlRefused, onTwoEngines, redisCommand, startRedis } from './redis-support.mjs';

const adapter = (url) => `{ name: redis, config: { redis_url: "${url}" } }`;
// Port 0: the two engines of a test each get a free stream port (read back from the log).
const streamOn = (url) => `workers:
  - name: iii-stream
    config: { host: 127.0.0.1, port: 0, adapter: ${adapter(url)} }
`;

async function streamUrl(engine) {
  const listening = /iii-stream listening on ws:\/\/127\.0\.0\.1:(\d+)/;
  await waitFor(() => listening.test(engine.logs()), 5000, 'stream listener');
  return `ws://127.0.0.1:${engine.logs().match(listening)[1]}/`;
}

const streamSocket = async (engine) => connectRaw(await streamUrl(engine), { waitRegistered: false });
async function joinAndSync(c, data) {
  const since = c.mark();
  c.send({ type: 'join', data });
  return c.waitFrame((m) => m && m.type === 'stream' && m.event.type === 'sync', 5000, { since, label: 'sync' });
}
const call = (w, function_id, payload) => w.trigger({ function_id, payload, timeoutMs: 5000 });
const todo = (item_id, extra = {}) => ({ stream_name: 'todos', group_id: 'inbox', item_id, ...extra });

/** The change events of type `type` for item `id` that `c` got since `since`, after a pause for duplicates. */
async function eventsOnce(c, since, type, id) {
  const match = (m) => m && m.type === 'stream' && m.event.type === type && m.id === id;
  await c.waitFrame(match, 5000, { since, label: `${type} of ${id}` });
  await sleep(300);  // a duplicate would show up by now
  return c.messages(since).filter(match);
}

test('two engines on one Redis share items in the official layout; every change reaches the sockets of both once', async () => {
  await onTwoEngines(streamOn, ['streams-a', 'streams-b'], async ({ redis, a, b, wa, wb }) => {
    await sdkSync(wa);
    await sdkSync(wb);
    assert.deepEqual(await call(wa, 'stream::set', todo('t1', { data: { title: 'milk' } })),
      { old_value: null, new_value: { title: 'milk' } });
    assert.deepEqual(await call(wb, 'stream::get', todo('t1')), { title: 'milk' });
    assert.deepEqual(await call(wb, 'stream::list_groups', { stream_name: 'todos' }), ['inbox']);
    assert.deepEqual(await call(wb, 'stream::list_all', {}), { stream: [{ id: 'todos', groups: ['inbox'] }], count: 1 });
    assert.deepEqual(await call(wb, 'stream::list', { stream_name: 'todos', group_id: 'inbox' }), [{ title: 'milk' }]);
    // What the official engine (or redis-cli) reads.
    assert.equal(await redisCommand(redis.port, 'HGET', 'stream:todos:inbox', 't1'), '$16\r\n{"title":"milk"}\r\n');

    const sa = await streamSocket(a);
    const sb = await streamSocket(b);
    assert.deepEqual((await joinAndSync(sb, { subscriptionId: 's1', streamName: 'todos', groupId: 'inbox' })).event.data,
      [{ title: 'milk' }]);
    await joinAndSync(sa, { subscriptionId: 's1', streamName: 'todos', groupId: 'inbox' });

    // Through A: B's socket hears of it once, and so does A's.
    let since = [sa.mark(), sb.mark()];
    await call(wa, 'stream::update', todo('t1', { ops: [{ type: 'set', path: 'done', value: true }] }));
    for (const [i, c] of [sa, sb].entries()) {
      const got = await eventsOnce(c, since[i], 'update', 't1');
      assert.equal(got.length, 1, `socket ${i ? 'B' : 'A'}: ${JSON.stringify(got)}`);
      assert.deepEqual(got[0].event.data, { title: 'milk', done: true });
      assert.equal(got[0].streamName, 'todos');
      assert.equal(got[0].groupId, 'inbox');
    }
    // Through B: a new item, a custom event, a delete.
    since = [sa.mark(), sb.mark()];
    await call(wb, 'stream::set', todo('t2', { data: 2 }));
    await call(wb, 'stream::send', { stream_name: 'todos', group_id: 'inbox', type: 'ping', data: { hi: 1 } });
    await call(wb, 'stream::delete', todo('t1'));
    for (const [i, c] of [sa, sb].entries()) {
      assert.equal((await eventsOnce(c, since[i], 'delete', 't1')).length, 1);
      const kinds = c.messages(since[i]).filter((m) => m.type === 'stream').map((m) => `${m.event.type}:${m.id}`);
      assert.deepEqual(kinds, ['create:t2', 'event:null', 'delete:t1'], `socket ${i ? 'B' : 'A'}`);
    }
    assert.deepEqual(await call(wa, 'stream::list', { stream_name: 'todos', group_id: 'inbox' }), [2]);
    await sa.close();
    await sb.close();
  });
});

test('stream triggers fire on the engine that made the change only', async () => {
  await onTwoEngines(streamOn, ['trig-a', 'trig-b'], async ({ wa, wb }) => {
    const fired = [];
    wa.registerFunction('seen::a', async (e) => { fired.push(`a:${e.id}`); return null; });
    wb.registerFunction('seen::b', async (e) => { fired.push(`b:${e.id}`); return null; });
    wa.registerTrigger({ type: 'stream', function_id: 'seen::a', config: { stream_name: 'todos' } });
    wb.registerTrigger({ type: 'stream', function_id: 'seen::b', config: { stream_name: 'todos' } });
    await sdkSync(wa);
    await sdkSync(wb);
    await sleep(300);  // registrations travel to the engines
    await call(wa, 'stream::set', todo('x', { data: 1 }));
    await call(wb, 'stream::set', todo('y', { data: 2 }));
    await waitFor(() => fired.length >= 2, 5000, 'both triggers');
    await sleep(300);
    assert.deepEqual(fired.sort(), ['a:x', 'b:y']);
  });
});

test('a hot reload moves an engine between kv and redis; its open sockets stay subscribed', async () => {
  const redis = await startRedis();
  const kvBlock = `workers:\n  - name: iii-stream\n    config: { host: 127.0.0.1, port: 0 }\n`;
  const a = await startEngine({ config: kvBlock });
  const b = await startEngine({ config: streamOn(redis.url) });
  const ca = await connectRaw(a.url);
  const cb = await connectRaw(b.url);
  try {
    const s = await streamSocket(a);
    await joinAndSync(s, { subscriptionId: 's', streamName: 'todos', groupId: 'inbox' });
    writeFileSync(path.join(a.cwd, 'config.yaml'), streamOn(redis.url));
    await waitFor(() => /iii-stream: now on the redis store/.test(a.logs()), 5000, 'store swapped');
    let since = s.mark();
    await engineCall(cb, 'stream::set', todo('r1', { data: 'from b' }));
    assert.equal((await eventsOnce(s, since, 'create', 'r1')).length, 1);
    assert.equal(await engineCall(ca, 'stream::get', todo('r1')), 'from b');

    writeFileSync(path.join(a.cwd, 'config.yaml'), kvBlock);
    await waitFor(() => /iii-stream: now on the in-memory store/.test(a.logs()), 5000, 'back to kv');
    since = s.mark();
    await engineCall(cb, 'stream::set', todo('r2', { data: 'not seen by a' }));
    await engineCall(ca, 'stream::set', todo('k1', { data: 'local' }));
    assert.equal((await eventsOnce(s, since, 'create', 'k1')).length, 1);
    assert.ok(!s.messages(since).some((m) => m.id === 'r2'), 'a change on redis reached a kv engine');
    assert.equal((await engineCall(ca, 'stream::get', todo('r1'))) ?? null, null);
    a.assertAlive();
    await s.close();
  } finally {
    await ca.terminate();
    await cb.terminate();
    await a.stop();
    await b.stop();
    await redis.stop();
  }
});

test('when Redis is down, stream calls fail at once naming it; once it is back, subscribed sockets are closed to join again', async () => {
  const redis = await startRedis();
  const e = await startEngine({ config: streamOn(redis.url) });
  const c = await connectRaw(e.url);
  try {
    await engineCall(c, 'stream::set', todo('k', { data: 1 }));
    const s = await streamSocket(e);
    await joinAndSync(s, { subscriptionId: 's', streamName: 'todos', groupId: 'inbox' });
    redis.proc.kill('SIGKILL');
    await waitFor(async () => !(await tcpConnects(redis.port)), 5000, 'redis gone');
    const started = Date.now();
    for (const [fn, data, code] of [
      ['stream::get', todo('k'), 'STREAM_GET_ERROR'],
      ['stream::set', todo('k', { data: 2 }), 'STREAM_SET_ERROR'],
      ['stream::send', { stream_name: 'todos', group_id: 'inbox', type: 't', data: 1 }, 'STREAM_SEND_ERROR'],
    ]) {
      const err = await engineCallError(c, fn, data, 10_000);
      assert.equal(err.code, code, fn);
      assert.match(err.message, new RegExp(`redis 127\\.0\\.0\\.1:${redis.port}`), fn);
    }
    assert.ok(Date.now() - started < 3000, `failed within the deadline (${Date.now() - started} ms)`);
    assert.ok(s.isOpen, 'the socket stays open while Redis is down');

    // The same port again: calls work, and the socket, which may have missed changes, is closed.
    const again = await redis.restart();
    const closed = await withTimeout(s.closed, 10_000, 'the socket closed once redis is back');
    assert.equal(closed.code, 1012);
    await engineCall(c, 'stream::set', todo('k', { data: 3 }));
    assert.equal(await engineCall(c, 'stream::get', todo('k')), 3);
    const s2 = await streamSocket(e);
    assert.deepEqual((await joinAndSync(s2, { subscriptionId: 's', streamName: 'todos', groupId: 'inbox' })).event.data, [3]);
    await s2.close();
    e.assertAlive();
    await again.stop();
  } finally {
    await c.terminate();
    await e.stop();
  }
});

test('a bad redis_url is refused at start with the key named', () => assertBadRedisUrlRefused(streamOn));
