// The `redis` adapters (docs/redis.md) with a real redis-server and official SDK workers on two
// engines: state is one state (in the official engine's key layout, `state:<scope>` hashes of JSON
// text); a publish reaches every subscriber on every engine once; a cron job scheduled on both
// engines runs once per tick; a Redis that goes away gives clear errors, not hangs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  engineCall, engineCallError, connectRaw, sdkSync, sleep, startEngine, tcpConnects,
  waitFor,
} from './harness.mjs';
import { assertBadRedisUrlRefused, onTwoEngines, redisCommand, startRedis } from './redis-support.mjs';

const stateOn = (url) => `workers:\n  - name: iii-state\n    config: { adapter: { name: redis, config: { redis_url: "${url}" } } }\n`;

test('two engines on one Redis share their state, written in the official layout', async () => {
  await onTwoEngines(stateOn, ['redis-a', 'redis-b'], async ({ redis, wa, wb }) => {
    await sdkSync(wa);
    await sdkSync(wb);
    const set = await wa.trigger({ function_id: 'state::set', payload: { scope: 'orders', key: 'o1', value: { total: 5 } } });
    assert.deepEqual(set, { old_value: null, new_value: { total: 5 } });
    assert.deepEqual(await wb.trigger({ function_id: 'state::get', payload: { scope: 'orders', key: 'o1' } }), { total: 5 });
    await wb.trigger({ function_id: 'state::set', payload: { scope: 'orders', key: 'o2', value: 'two' } });
    const upd = await wb.trigger({
      function_id: 'state::update',
      payload: { scope: 'orders', key: 'o1', ops: [{ type: 'increment', path: 'total', by: 2 }] },
    });
    assert.deepEqual(upd.new_value, { total: 7 });
    assert.deepEqual(await wa.trigger({ function_id: 'state::list', payload: { scope: 'orders' } }), [{ total: 7 }, 'two']);
    assert.deepEqual(await wa.trigger({ function_id: 'state::list_groups', payload: {} }), { groups: ['orders'] });
    // What another Redis client (or the official engine) sees.
    assert.equal(await redisCommand(redis.port, 'HGET', 'state:orders', 'o1'), '$11\r\n{"total":7}\r\n');
    await wa.trigger({ function_id: 'state::delete', payload: { scope: 'orders', key: 'o2' } });
    assert.equal((await wb.trigger({ function_id: 'state::get', payload: { scope: 'orders', key: 'o2' } })) ?? null, null);  // the SDK answers undefined for null
  });
});

test('state triggers fire on the writing engine with the old and new values, as on the embedded store', async () => {
  await onTwoEngines(stateOn, ['trig-a', 'trig-b'], async ({ wa, wb }) => {
    const got = { a: [], b: [] };
    wa.registerFunction('st::a', async (data) => { got.a.push(data); return null; });
    wb.registerFunction('st::b', async (data) => { got.b.push(data); return null; });
    wa.registerTrigger({ type: 'state', function_id: 'st::a', config: { scope: 'trig' } });
    wb.registerTrigger({ type: 'state', function_id: 'st::b', config: { scope: 'trig' } });
    await sdkSync(wa);
    await sdkSync(wb);
    const call = (id, payload) => wa.trigger({ function_id: id, payload });
    await call('state::set', { scope: 'trig', key: 'k', value: 1 });
    await call('state::set', { scope: 'trig', key: 'k', value: 2 });
    await call('state::update', { scope: 'trig', key: 'k', ops: [{ type: 'increment', path: '', by: 1 }] });
    await call('state::delete', { scope: 'trig', key: 'k' });
    await call('state::delete', { scope: 'trig', key: 'never-existed' });
    await waitFor(() => got.a.length === 5, 5000, 'five state events');
    assert.deepEqual(got.a, [
      { type: 'state', event_type: 'state:created', scope: 'trig', key: 'k', old_value: null, new_value: 1 },
      { type: 'state', event_type: 'state:updated', scope: 'trig', key: 'k', old_value: 1, new_value: 2 },
      { type: 'state', event_type: 'state:updated', scope: 'trig', key: 'k', old_value: 2, new_value: 3 },
      { type: 'state', event_type: 'state:deleted', scope: 'trig', key: 'k', old_value: 3, new_value: null },
      { type: 'state', event_type: 'state:deleted', scope: 'trig', key: 'never-existed', old_value: null, new_value: null },
    ]);
    // The other engine's bindings hear nothing of writes made through this one (docs/redis.md).
    await wb.trigger({ function_id: 'state::set', payload: { scope: 'trig', key: 'b', value: true } });
    await waitFor(() => got.b.length === 1, 5000, 'the event on engine b');
    assert.equal(got.a.length, 5);
    assert.deepEqual(got.b[0], { type: 'state', event_type: 'state:created', scope: 'trig', key: 'b', old_value: null, new_value: true });
  });
});

test('when Redis is down, state calls fail at once with an error naming it; they work again when it is back', async () => {
  const redis = await startRedis();
  const e = await startEngine({ config: stateOn(redis.url) });
  const c = await connectRaw(e.url);
  try {
    await engineCall(c, 'state::set', { scope: 's', key: 'k', value: 1 });
    redis.proc.kill('SIGKILL');
    await waitFor(async () => !(await tcpConnects(redis.port)), 5000, 'redis gone');
    const started = Date.now();
    const err = await engineCallError(c, 'state::get', { scope: 's', key: 'k' }, 10_000);
    assert.equal(err.code, 'GET_ERROR');
    assert.match(err.message, new RegExp(`redis 127\\.0\\.0\\.1:${redis.port}`));
    assert.ok(Date.now() - started < 6000, 'failed within the deadline');
    assert.match(e.logs(), /iii-state: redis store/);
    // The same port again: the engine reconnects on the next call.
    const again = await redis.restart();
    await engineCall(c, 'state::set', { scope: 's', key: 'k', value: 2 });
    assert.equal(await engineCall(c, 'state::get', { scope: 's', key: 'k' }), 2);
    await again.stop();
  } finally {
    await c.terminate();
    await e.stop();
  }
});

test('a bad redis_url is refused at start with the key named', () => assertBadRedisUrlRefused(stateOn));

const allOn = (url) => `workers:
  - name: iii-pubsub
    config: { adapter: { name: redis, config: { redis_url: "${url}" } } }
  - name: iii-cron
    config: { adapter: { name: redis, config: { redis_url: "${url}" } } }
`;

test('a publish on one engine reaches every subscriber on both engines once', async () => {
  await onTwoEngines(allOn, ['pub-a', 'pub-b'], async ({ redis, wa, wb }) => {
    const got = { a: [], b1: [], b2: [] };
    wa.registerFunction('news::a', async (d) => { got.a.push(d); return null; });
    wb.registerFunction('news::b1', async (d) => { got.b1.push(d); return null; });
    wb.registerFunction('news::b2', async (d) => { got.b2.push(d); return null; });
    wa.registerTrigger({ type: 'subscribe', function_id: 'news::a', config: { topic: 'news' } });
    wb.registerTrigger({ type: 'subscribe', function_id: 'news::b1', config: { topic: 'news' } });
    wb.registerTrigger({ type: 'subscribe', function_id: 'news::b2', config: { topic: 'news' } });
    await sdkSync(wa);
    await sdkSync(wb);
    await sleep(300);  // registrations travel to the engines
    await wa.trigger({ function_id: 'publish', payload: { topic: 'news', data: { n: 1 } } });
    await wb.trigger({ function_id: 'publish', payload: { topic: 'news', data: { n: 2 } } });
    await waitFor(() => got.a.length === 2 && got.b1.length === 2 && got.b2.length === 2, 5000, 'every subscriber got both');
    await sleep(300);  // a duplicate would show up by now
    for (const k of ['a', 'b1', 'b2']) assert.deepEqual(got[k].map((d) => d.n).sort(), [1, 2], k);
    // The official layout: a channel named like the topic, the JSON of data.
    assert.match(await redisCommand(redis.port, 'PUBLISH', 'news', '{"n":3}'), /^:2\r\n$/);  // two engines listen
    await waitFor(() => got.a.length === 3 && got.b2.length === 3, 5000, 'a message from another Redis client');
  });
});

test('a cron job scheduled on two engines runs once per tick', async () => {
  await onTwoEngines(allOn, ['cron-a', 'cron-b'], async ({ wa, wb }) => {
    const ticks = [];
    // The same worker code on both engines: one function, one schedule.
    for (const w of [wa, wb]) {
      w.registerFunction('jobs::tick', async (d) => { ticks.push(d.scheduled_time); return null; });
      w.registerTrigger({ type: 'cron', function_id: 'jobs::tick', config: { expression: '* * * * * *' } });
    }
    await sdkSync(wa);
    await sdkSync(wb);
    await waitFor(() => ticks.length >= 4, 10_000, 'four ticks');
    await sleep(500);
    assert.equal(new Set(ticks).size, ticks.length, `a tick ran twice: ${ticks.join(' ')}`);
  });
});
