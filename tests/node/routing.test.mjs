// §2.11/§3.2: SDK worker → engine → SDK worker routing, _caller_worker_id, metadata, payload fidelity.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  connectRaw, engineLifecycle, sdkSync, sdkWorker, sdkWorkerId, UUID_RE, waitFor,
} from './harness.mjs';

const ctx = engineLifecycle();
let A; let B;
const seen = []; // every (data, metadata) the callee saw

// Worker A registers math::add and echo functions, worker B connects.
before(async () => {
  await ctx.ready;
  A = sdkWorker(ctx.engine.url, 'routing-a');
  B = sdkWorker(ctx.engine.url, 'routing-b');
  A.registerFunction('math::add', async (data, metadata) => {
    seen.push({ fn: 'math::add', data, metadata });
    return { c: data.a + data.b };
  }, { description: 'Add two numbers' });
  A.registerFunction('echo::data', async (data, metadata) => {
    seen.push({ fn: 'echo::data', data, metadata });
    return data;
  });
  A.registerFunction('echo::undef', async () => undefined);
  await sdkSync(A);
  await sdkSync(B);
  await sdkWorkerId(A);
  await sdkWorkerId(B);
});

test('the worker ids the SDK learnt from workerregistered are UUIDs and match engine::workers::list', async () => {
  assert.match(await sdkWorkerId(A), UUID_RE);
  assert.match(await sdkWorkerId(B), UUID_RE);
  // The id the SDK learnt from workerregistered is the one the engine lists for that worker.
  const list = await waitFor(async () => {
    const r = await B.trigger({ function_id: 'engine::workers::list', payload: {} });
    return r.workers.some((w) => w.name === 'routing-b') && r.workers;
  }, 3000, 'routing-b listed');
  assert.equal(list.find((w) => w.name === 'routing-b').id, B.workerId);
  assert.equal(list.find((w) => w.name === 'routing-a').id, A.workerId);
});

test('B calls math::add on A and gets the result', async () => {
  const r = await B.trigger({ function_id: 'math::add', payload: { a: 2, b: 3 } });
  assert.deepEqual(r, { c: 5 });
});

test('callee sees _caller_worker_id = caller worker id (SDK caller)', async () => {
  seen.length = 0;
  await B.trigger({ function_id: 'math::add', payload: { a: 1, b: 1 } });
  const call = seen.find((s) => s.fn === 'math::add');
  assert.ok(call, 'handler ran');
  assert.equal(call.data._caller_worker_id, B.workerId);
  assert.deepEqual(call.data, { a: 1, b: 1, _caller_worker_id: B.workerId });
});

test('callee sees _caller_worker_id = raw caller id; a forged _caller_worker_id is overwritten', async () => {
  const raw = await connectRaw(ctx.engine.url);
  seen.length = 0;
  const res = await raw.call('math::add', { a: 4, b: 5, _caller_worker_id: 'forged' });
  assert.deepEqual(res.result, { c: 9 });
  assert.equal(res.function_id, 'math::add');
  assert.equal(res.error, undefined);
  assert.equal(seen[0].data._caller_worker_id, raw.workerId);
  await raw.close();
});

test('raw callee receives the exact E→W invokefunction shape', async () => {
  const callee = await connectRaw(ctx.engine.url);
  const frames = [];
  callee.serve('raw::shape', (m) => { frames.push(m); return { result: { ok: true } }; });
  await callee.sync();
  const r = await B.trigger({ function_id: 'raw::shape', payload: { x: 1 }, metadata: { tenant: 'acme' } });
  assert.deepEqual(r, { ok: true });
  const m = frames[0];
  assert.equal(m.type, 'invokefunction');
  assert.match(m.invocation_id, UUID_RE);
  assert.equal(m.function_id, 'raw::shape');
  assert.deepEqual(m.data, { x: 1, _caller_worker_id: B.workerId });
  assert.deepEqual(m.metadata, { tenant: 'acme' });
  assert.equal(m.action, undefined, 'action is never forwarded to the callee');
  await callee.close();
});

test('§6: the callee gets the caller\'s trace with the engine\'s span as parent; baggage gets iii.function.id=<target>, other entries kept', async () => {
  const callee = await connectRaw(ctx.engine.url);
  const frames = [];
  callee.serve('raw::traced', (m) => { frames.push(m); return { result: 1 }; });
  await callee.sync();
  const caller = await connectRaw(ctx.engine.url);
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const r = await caller.call('raw::traced', {}, { extra: { traceparent, baggage: 'tenant=acme,iii.function.id=caller%3A%3Afn' } });
  assert.equal(r.result, 1);
  // Same trace, sampled, parent = the engine's span of this call, whose own parent is the caller's
  // span (docs/observability.md).
  const [, traceId, parentId, flags] = String(frames[0].traceparent).split('-');
  assert.equal(traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(flags, '01');
  assert.notEqual(parentId, '00f067aa0ba902b7');
  const spans = (await caller.call('engine::traces::list', { trace_id: traceId })).result.spans;
  const engineSpan = spans.find((s) => s.span_id === parentId);
  assert.ok(engineSpan, JSON.stringify(spans));
  assert.equal(engineSpan.parent_span_id, '00f067aa0ba902b7');
  assert.equal(engineSpan.name, 'call raw::traced');
  const entries = Object.fromEntries(String(frames[0].baggage).split(',').map((kv) => kv.trim().split('=').map((x) => decodeURIComponent(x.split(';')[0]))));
  assert.equal(entries['iii.function.id'], 'raw::traced', `baggage ${frames[0].baggage}`);
  assert.equal(entries.tenant, 'acme');
  if (r.traceparent !== undefined) assert.equal(r.traceparent, traceparent, 'result echoes the caller\'s own traceparent');
  await caller.close();
  await callee.close();
});

test('metadata travels as the handler second argument, not inside data', async () => {
  seen.length = 0;
  await B.trigger({ function_id: 'math::add', payload: { a: 1, b: 2 }, metadata: { tenant: 'acme', n: [1, 2] } });
  assert.deepEqual(seen[0].metadata, { tenant: 'acme', n: [1, 2] });
  assert.deepEqual(Object.keys(seen[0].data).sort(), ['_caller_worker_id', 'a', 'b']);

  seen.length = 0;
  await B.trigger({ function_id: 'math::add', payload: { a: 1, b: 2 } });
  assert.equal(seen[0].metadata, undefined, 'no metadata when the caller sent none');

  // Non-object metadata is allowed too (any JSON).
  seen.length = 0;
  await B.trigger({ function_id: 'math::add', payload: { a: 0, b: 0 }, metadata: 'just-a-string' });
  assert.equal(seen[0].metadata, 'just-a-string');
});

test('non-object payloads pass through untouched', async () => {
  const cases = [[1, 2, 3], [{ a: 1 }, { b: [] }], [], 42, 3.5, -0.25, 'hello', '{"x":1}', '', true, false, 1e300];
  for (const payload of cases) {
    seen.length = 0;
    const r = await B.trigger({ function_id: 'echo::data', payload });
    assert.deepEqual(seen[0].data, payload, `callee input for ${JSON.stringify(payload)}`);
    assert.deepEqual(r, payload, `result for ${JSON.stringify(payload)}`);
  }
  // null payload: callee sees null; a null result means "no value".
  seen.length = 0;
  const r = await B.trigger({ function_id: 'echo::data', payload: null });
  assert.equal(seen[0].data, null);
  assert.ok(r === null || r === undefined);
});

test('non-object payloads reach a raw callee byte-for-byte (no injection inside arrays)', async () => {
  const callee = await connectRaw(ctx.engine.url);
  const texts = [];
  callee.ws.on('message', (d) => texts.push(d.toString()));
  callee.serve('raw::echo', (m) => ({ result: m.data }));
  await callee.sync();
  const caller = await connectRaw(ctx.engine.url);
  const res = await caller.call('raw::echo', [{ a: 1 }, 'x', 2.5]);
  assert.deepEqual(res.result, [{ a: 1 }, 'x', 2.5]);
  const inv = texts.map((t) => JSON.parse(t)).find((m) => m.type === 'invokefunction');
  assert.deepEqual(inv.data, [{ a: 1 }, 'x', 2.5]);
  await caller.close();
  await callee.close();
});

test('handler returning undefined resolves to undefined', async () => {
  const r = await B.trigger({ function_id: 'echo::undef', payload: {} });
  assert.equal(r, undefined);
});

test('a ~1 MB payload round-trips byte-identical', async () => {
  // Varied content: escapes, quotes, unicode, surrogate pairs, control characters.
  const alphabet = Array.from('abcXYZ0123 "\\/\n\t\r\u0001\u001f éü中文😀\u2028{}[]:,'); // code points
  let s = '';
  let i = 0;
  while (s.length < 1_000_000) { s += alphabet[(i * 7919) % alphabet.length]; i++; }
  const payload = { blob: s, nested: { arr: Array.from({ length: 1000 }, (_, k) => k * 1.5), big: 12345678901234 } };
  const r = await B.trigger({ function_id: 'echo::data', payload, timeoutMs: 20000 });
  assert.equal(r.blob.length, s.length);
  assert.ok(r.blob === s, 'blob differs');
  assert.deepEqual(r.nested, payload.nested);
  assert.equal(r._caller_worker_id, B.workerId);

  const arr = [s, s.slice(0, 1000)];
  const r2 = await B.trigger({ function_id: 'echo::data', payload: arr, timeoutMs: 20000 });
  assert.ok(JSON.stringify(r2) === JSON.stringify(arr));
});

test('50 concurrent calls are each answered with their own result', async () => {
  const calls = Array.from({ length: 50 }, (_, k) => B.trigger({ function_id: 'math::add', payload: { a: k, b: 1000 } }));
  const results = await Promise.all(calls);
  results.forEach((r, k) => assert.deepEqual(r, { c: k + 1000 }));
});

test('a worker can call its own function through the engine', async () => {
  const r = await A.trigger({ function_id: 'math::add', payload: { a: 10, b: 20 } });
  assert.deepEqual(r, { c: 30 });
});

test('a handler that calls another function (nested invocation) works', async () => {
  A.registerFunction('math::add_two', async (data) => {
    const inner = await A.trigger({ function_id: 'math::add', payload: { a: data.a, b: 2 } });
    return { c: inner.c, success: true };
  });
  await sdkSync(A);
  const r = await B.trigger({ function_id: 'math::add_two', payload: { a: 40 } });
  assert.deepEqual(r, { c: 42, success: true });
});

test('re-registering a function id from another worker replaces the owner (last writer wins)', async () => {
  // A function of its own (not math::add, which the other tests call on A), first owned by A.
  A.registerFunction('math::add_owned', async (data) => ({ c: data.a + data.b, by: 'A' }));
  await sdkSync(A);
  assert.deepEqual(await B.trigger({ function_id: 'math::add_owned', payload: { a: 1, b: 1 } }), { c: 2, by: 'A' });
  const C = sdkWorker(ctx.engine.url, 'routing-c');
  C.registerFunction('math::add_owned', async (data) => ({ c: data.a + data.b, by: 'C' }));
  await sdkSync(C);
  const r = await B.trigger({ function_id: 'math::add_owned', payload: { a: 1, b: 1 } });
  assert.deepEqual(r, { c: 2, by: 'C' });
});

test('unregisterFunction removes the function; unregisterfunction from a non-owner is a no-op', async () => {
  const D = sdkWorker(ctx.engine.url, 'routing-d');
  const ref = D.registerFunction('tmp::fn', async () => 'here');
  await sdkSync(D);
  assert.equal(await B.trigger({ function_id: 'tmp::fn', payload: {} }), 'here');

  const other = await connectRaw(ctx.engine.url);
  other.send({ type: 'unregisterfunction', id: 'tmp::fn' });
  await other.sync();
  assert.equal(await B.trigger({ function_id: 'tmp::fn', payload: {} }), 'here', 'non-owner unregister must not remove it');
  await other.close();

  ref.unregister();
  await sdkSync(D);
  await assert.rejects(B.trigger({ function_id: 'tmp::fn', payload: {} }), (e) => e.code === 'function_not_found');
});

test('(docs/protocol.md §10.3) a non-UUID caller invocation_id still works: callee sees a UUID, caller gets its own id back', async () => {
  const callee = await connectRaw(ctx.engine.url);
  const frames = [];
  callee.serve('raw::anyid', (m) => { frames.push(m); return { result: 'ok' }; });
  await callee.sync();
  const caller = await connectRaw(ctx.engine.url);
  const mark = caller.mark();
  caller.send({ type: 'invokefunction', invocation_id: 'my-call-1', function_id: 'raw::anyid', data: {} });
  const r = await caller.waitFrame((m) => m && m.type === 'invocationresult', 3000, { since: mark, label: 'result for non-UUID id' });
  assert.equal(r.invocation_id, 'my-call-1');
  assert.equal(r.result, 'ok');
  assert.match(frames[0].invocation_id, UUID_RE);
  await caller.close();
  await callee.close();
});
