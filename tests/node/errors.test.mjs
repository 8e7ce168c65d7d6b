// §3.3/§3.5/§3.6: fire-and-forget, unknown functions, throwing handlers, payload-less calls.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { TriggerAction, InvocationError } from 'iii-sdk';
import {
  connectRaw, engineLifecycle, sdkCallError, sdkSync, sdkWorker, UUID_RE, waitFor,
} from './harness.mjs';

const ctx = engineLifecycle();
let A; let B;
const sink = [];

// A serves the functions below; B is the SDK caller.
before(async () => {
  await ctx.ready;
  A = sdkWorker(ctx.engine.url, 'errors-a');
  B = sdkWorker(ctx.engine.url, 'errors-b');
  A.registerFunction('sink::collect', async (data, metadata) => { sink.push({ data, metadata }); return { stored: true }; });
  A.registerFunction('math::boom', async () => { throw new Error('boom'); });
  A.registerFunction('math::throw_string', async () => { throw 'plain string'; }); // eslint-disable-line no-throw-literal
  A.registerFunction('echo::data', async (data) => ({ got: data === undefined ? 'undefined' : data }));
  await sdkSync(A);
  await sdkSync(B);
});

test('fire-and-forget (TriggerAction.Void) is delivered and resolves immediately', async () => {
  sink.length = 0;
  const r = await B.trigger({ function_id: 'sink::collect', payload: { n: 1 }, action: TriggerAction.Void(), metadata: { m: 1 } });
  assert.equal(r, undefined);
  await waitFor(() => sink.length === 1, 3000, 'void call delivered');
  assert.deepEqual(sink[0].data, { n: 1, _caller_worker_id: B.workerId });
  assert.deepEqual(sink[0].metadata, { m: 1 });
});

test('void: callee gets a fresh invocation id and the caller never gets an answer', async () => {
  const callee = await connectRaw(ctx.engine.url);
  const got = [];
  callee.serve('sink::raw', (m) => { got.push(m); return { result: { answered: true } }; });
  await callee.sync();
  const caller = await connectRaw(ctx.engine.url);
  const callerId = crypto.randomUUID();
  const mark = caller.mark();
  caller.send({ type: 'invokefunction', invocation_id: callerId, function_id: 'sink::raw', data: { v: 1 }, action: { type: 'void' } });
  // Neither invocation_id nor action: also fire-and-forget.
  caller.send({ type: 'invokefunction', function_id: 'sink::raw', data: { v: 2 } });
  await waitFor(() => got.length === 2, 3000, 'both void calls delivered');
  for (const m of got) {
    assert.match(m.invocation_id, UUID_RE, 'engine→callee invokefunction always carries a UUID');
    assert.equal(m.data._caller_worker_id, caller.workerId);
  }
  assert.notEqual(got.find((m) => m.data.v === 1).invocation_id, callerId, 'void ignores the caller-supplied id');
  assert.ok(await caller.noFrame((m) => m && m.type === 'invocationresult', 500, mark),
    `caller got an answer to a void call: ${JSON.stringify(caller.messages(mark))}`);
  await caller.close();
  await callee.close();
});

test('unknown function → function_not_found "Function math::nope not found" (SDK)', async () => {
  const e = await sdkCallError(B, { function_id: 'math::nope', payload: { a: 1 } });
  assert.ok(e instanceof InvocationError, `got ${e}`);
  assert.equal(e.code, 'function_not_found');
  assert.equal(e.message, 'function_not_found: Function math::nope not found');
});

test('unknown function → exact invocationresult frame (raw)', async () => {
  const c = await connectRaw(ctx.engine.url);
  const r = await c.call('math::nope', { a: 1 });
  assert.equal(r.type, 'invocationresult');
  assert.equal(r.function_id, 'math::nope');
  assert.match(r.invocation_id, UUID_RE);
  assert.equal('result' in r, false, 'no result key alongside error');
  assert.deepEqual(r.error, { code: 'function_not_found', message: 'Function math::nope not found' });
  // Void to an unknown function: nothing comes back.
  const mark = c.mark();
  c.send({ type: 'invokefunction', function_id: 'math::nope', data: {}, action: { type: 'void' } });
  assert.ok(await c.noFrame(() => true, 400, mark), `engine answered a void call: ${JSON.stringify(c.messages(mark))}`);
  await c.jsonPing();
  await c.close();
});

test('handler that throws → invocation_failed with the message and stacktrace', async () => {
  const e = await sdkCallError(B, { function_id: 'math::boom', payload: {} });
  assert.equal(e.code, 'invocation_failed');
  assert.equal(e.message, 'invocation_failed: boom');
  assert.match(e.stacktrace ?? '', /boom/);

  const c = await connectRaw(ctx.engine.url);
  const r = await c.call('math::boom', {});
  assert.equal(r.error.code, 'invocation_failed');
  assert.equal(r.error.message, 'boom');
  assert.match(r.error.stacktrace, /Error: boom/);
  assert.deepEqual(Object.keys(r.error).sort(), ['code', 'message', 'stacktrace']);
  assert.equal('result' in r, false);

  const s = await c.call('math::throw_string', {});
  assert.deepEqual(s.error, { code: 'invocation_failed', message: 'plain string' });
  await c.close();
});

test('error body from a raw callee is forwarded unchanged (custom code, no stacktrace)', async () => {
  const callee = await connectRaw(ctx.engine.url);
  callee.serve('raw::fails', () => ({ error: { code: 'MY_CODE', message: 'custom failure' } }));
  await callee.sync();
  const e = await sdkCallError(B, { function_id: 'raw::fails', payload: {} });
  assert.equal(e.code, 'MY_CODE');
  assert.equal(e.message, 'MY_CODE: custom failure');
  assert.equal(e.stacktrace, undefined);
  await callee.close();
});

test('payload-less call: trigger({function_id:"engine::functions::list"}) still answers', async () => {
  const r = await B.trigger({ function_id: 'engine::functions::list', timeoutMs: 5000 });
  assert.ok(r && Array.isArray(r.functions), `got ${JSON.stringify(r)}`);
  assert.ok(r.functions.some((f) => f.function_id === 'sink::collect'));
});

test('engine functions accept null data like {}', async () => {
  const r = await B.trigger({ function_id: 'engine::functions::list', payload: null, timeoutMs: 5000 });
  assert.ok(r && Array.isArray(r.functions), `got ${JSON.stringify(r)}`);
});

test('payload-less call to a worker function: callee gets data null (key present)', async () => {
  const r = await B.trigger({ function_id: 'echo::data', timeoutMs: 5000 });
  assert.deepEqual(r, { got: null });

  const callee = await connectRaw(ctx.engine.url);
  const got = [];
  callee.serve('raw::nodata', (m) => { got.push(m); return { result: 1 }; });
  await callee.sync();
  const c = await connectRaw(ctx.engine.url);
  const res = await c.call('raw::nodata', undefined, { omitData: true });
  assert.equal(res.result, 1);
  assert.ok('data' in got[0], 'E→W invokefunction must always carry data');
  assert.equal(got[0].data, null);
  await c.close();
  await callee.close();
});

test('result key omitted when the callee returns nothing; explicit null result also means no value', async () => {
  const callee = await connectRaw(ctx.engine.url);
  callee.serve('raw::nothing', () => ({}));
  callee.serve('raw::null', () => ({ result: null }));
  await callee.sync();
  const c = await connectRaw(ctx.engine.url);
  const r1 = await c.call('raw::nothing', {});
  assert.equal(r1.error, undefined);
  assert.ok(r1.result === undefined || r1.result === null, `got ${JSON.stringify(r1)}`);
  assert.equal(r1.function_id, 'raw::nothing');
  const r2 = await c.call('raw::null', {});
  assert.equal(r2.error, undefined);
  assert.ok(r2.result === undefined || r2.result === null);
  await c.close();
  await callee.close();
});
