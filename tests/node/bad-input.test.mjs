// Robustness: junk from one raw client is logged and dropped; the engine keeps routing between
// other workers and (where the protocol allows) the offending connection keeps working.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  connectRaw, engineCall, engineLifecycle, sdkSync, sdkWorker, sleep, waitFor, withTimeout,
} from './harness.mjs';

const MAX_FRAME = 65536;
const ctx = engineLifecycle({ maxFrameBytes: MAX_FRAME });
let A; let B; let X;
let n = 0;

/** Routing between two SDK workers still works, and the engine process is alive. */
async function assertRouting() {
  ctx.engine.assertAlive();
  n++;
  const r = await B.trigger({ function_id: 'bi::add', payload: { a: n, b: 1 }, timeoutMs: 3000 });
  assert.deepEqual(r, { c: n + 1 });
}

/** The offending raw connection still answers a JSON ping and can still call functions. */
async function assertSameConnectionWorks(c = X) {
  assert.ok(c.isOpen, `connection closed by engine: ${JSON.stringify(c.closeInfo)}`);
  await c.jsonPing(2000);
  const r = await c.call('bi::add', { a: 2, b: 2 }, { timeoutMs: 3000 });
  assert.deepEqual(r.result, { c: 4 });
}

// Two SDK workers and a raw troublemaker, shared by every test of this file.
before(async () => {
  await ctx.ready;
  A = sdkWorker(ctx.engine.url, 'bad-a');
  B = sdkWorker(ctx.engine.url, 'bad-b');
  A.registerFunction('bi::add', async (d) => ({ c: d.a + d.b }));
  A.registerFunction('bi::echo', async (d) => d);
  await sdkSync(A);
  await sdkSync(B);
  X = await connectRaw(ctx.engine.url);
  await assertRouting();
  await assertSameConnectionWorks();
});

const junkText = [
  ['malformed JSON', '{"type":'],
  ['truncated string', '{"type":"invokefunction","function_id":"bi::add","data":"abc'],
  ['JSON array', '[1,2]'],
  ['JSON string', '"str"'],
  ['JSON number', '42'],
  ['JSON null', 'null'],
  ['object without type', '{}'],
  ['unknown type', '{"type":"nope","x":1}'],
  ['numeric type', '{"type":5}'],
  ['unregistertriggertype (not in the 0.22.1 engine enum)', '{"type":"unregistertriggertype","id":"never-registered","description":"x"}'],
  ['invokefunction without function_id', `{"type":"invokefunction","invocation_id":"${crypto.randomUUID()}","data":{}}`],
  ['invokefunction with numeric function_id', `{"type":"invokefunction","invocation_id":"${crypto.randomUUID()}","function_id":5,"data":{}}`],
  ['invokefunction with non-UUID invocation_id object', '{"type":"invokefunction","invocation_id":{"x":1},"function_id":"bi::add","data":{"a":1,"b":1}}'],
  ['invokefunction with unknown action type', `{"type":"invokefunction","invocation_id":"${crypto.randomUUID()}","function_id":"bi::add","data":{"a":1,"b":1},"action":{"type":"teleport"}}`],
  ['registerfunction with numeric id', '{"type":"registerfunction","id":5}'],
  ['registerfunction without id', '{"type":"registerfunction","description":"x"}'],
  ['registertriggertype without id', '{"type":"registertriggertype","description":"x"}'],
  ['registertrigger with wrong types', '{"type":"registertrigger","id":7,"trigger_type":[],"function_id":{}}'],
  ['unregistertrigger for an unknown id', `{"type":"unregistertrigger","id":"${crypto.randomUUID()}","trigger_type":"x"}`],
  ['triggerregistrationresult nobody asked for', `{"type":"triggerregistrationresult","id":"${crypto.randomUUID()}","trigger_type":"x","function_id":"y","error":{"code":"c","message":"m"}}`],
  ['invocationresult without invocation_id', '{"type":"invocationresult","function_id":"bi::add","result":1}'],
  ['invocationresult with a malformed error', `{"type":"invocationresult","invocation_id":"${crypto.randomUUID()}","function_id":"bi::add","error":"oops"}`],
  ['duplicate keys', '{"type":"ping","type":"ping"}'],
  ['trailing garbage after JSON', '{"type":"ping"} trailing'],
  ['deeply nested array', '['.repeat(20000) + ']'.repeat(20000)],
  ['deeply nested data', `{"type":"invokefunction","function_id":"bi::nowhere","data":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`],
  ['invalid escape', '{"type":"ping","x":"\\q"}'],
  ['lone surrogate escape', '{"type":"ping","x":"\\ud800"}'],
  ['huge number', `{"type":"ping","x":1${'0'.repeat(400)}}`],
];

for (const [name, text] of junkText) {
  test(`text junk: ${name}`, async () => {
    X.sendText(text);
    await assertSameConnectionWorks();
    await assertRouting();
  });
}

test('registerfunction with a numeric id registers nothing', async () => {
  X.sendText('{"type":"registerfunction","id":5}');
  await X.sync();
  const { functions } = await engineCall(X, 'engine::functions::list', { include_internal: true });
  assert.ok(!functions.some((f) => f.function_id === '5' || f.function_id === 5 || f.function_id === ''), JSON.stringify(functions.map((f) => f.function_id)));
});

test('binary junk frames', async () => {
  X.sendBinary(Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x81, 0x7b, 0x22]));
  X.sendBinary(Buffer.from('OTLPnot json at all'));
  X.sendBinary(Buffer.from('MTR')); // shorter than a prefix
  X.sendBinary(Buffer.alloc(0));
  X.sendBinary(Buffer.from('{"type":"ping"}')); // JSON in a binary frame: parsed like text (reference) or dropped
  await assertSameConnectionWorks();
  await assertRouting();
});

test('invalid UTF-8 in a text frame closes at most that connection', async () => {
  const c = await connectRaw(ctx.engine.url);
  // ws does not validate outgoing text: these bytes go out as a text frame with invalid UTF-8.
  c.ws.send(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), { binary: false });
  await sleep(300);
  await assertRouting();
  await c.terminate();
});

test('a frame just under --max-frame-bytes is accepted', async () => {
  const c = await connectRaw(ctx.engine.url);
  const blob = 'y'.repeat(MAX_FRAME - 2000);
  const r = await c.call('bi::echo', { blob }, { timeoutMs: 5000 });
  assert.equal(r.result?.blob, blob);
  await c.close();
});

test('a frame larger than --max-frame-bytes: at most that connection is closed, everything else keeps working', async () => {
  const big = await connectRaw(ctx.engine.url);
  const payload = JSON.stringify({ type: 'invokefunction', invocation_id: crypto.randomUUID(), function_id: 'bi::echo', data: { blob: 'z'.repeat(MAX_FRAME + 10_000) } });
  big.sendText(payload);
  // Either the engine closes this socket (e.g. 1009) or drops the frame; it must not forward it.
  await Promise.race([big.closed, sleep(1000)]);
  if (big.isOpen) {
    assert.ok(!big.messages().some((m) => m.type === 'invocationresult' && m.result), 'oversized call was executed');
  }
  await assertRouting();
  await assertSameConnectionWorks();
  const fresh = await connectRaw(ctx.engine.url);
  await fresh.jsonPing();
  await fresh.close();
  await big.terminate();
});

test('invocationresult for an unknown invocation id is dropped', async () => {
  const mark = X.mark();
  X.send({ type: 'invocationresult', invocation_id: crypto.randomUUID(), function_id: 'bi::add', result: { c: 1 } });
  X.send({ type: 'invocationresult', invocation_id: 'not-a-uuid', function_id: 'bi::add', error: { code: 'x', message: 'y' } });
  await assertSameConnectionWorks();
  assert.ok(!X.messages(mark).some((m) => m.type === 'error'));
  await assertRouting();
});

test('invocationresult from a worker that was not the callee does not complete the call', async () => {
  const callee = await connectRaw(ctx.engine.url);
  const held = [];
  callee.serve('bi::slow', (m) => new Promise((resolve) => held.push({ m, resolve })));
  await callee.sync();
  let settled = null;
  const call = B.trigger({ function_id: 'bi::slow', payload: {}, timeoutMs: 8000 })
    .then((v) => { settled = { v }; return v; }, (e) => { settled = { e }; throw e; });
  await waitFor(() => held.length === 1, 3000, 'call reached the callee');
  const { invocation_id: id } = held[0].m;

  X.send({ type: 'invocationresult', invocation_id: id, function_id: 'bi::slow', result: { spoofed: true } });
  X.send({ type: 'invocationresult', invocation_id: id, function_id: 'bi::slow', error: { code: 'spoof', message: 'spoofed' } });
  await sleep(500);
  assert.equal(settled, null, `a bystander completed the call: ${JSON.stringify(settled)}`);

  held[0].resolve({ result: { real: true } });
  assert.deepEqual(await withTimeout(call, 3000, 'real answer'), { real: true });
  await assertSameConnectionWorks();
  await callee.close();
});

test('a malformed error body from the callee still completes the call (coerced, not dropped)', async () => {
  const callee = await connectRaw(ctx.engine.url);
  callee.serve('bi::badbody', () => ({ error: 'just a string' }));
  await callee.sync();
  const c = await connectRaw(ctx.engine.url);
  const r = await c.call('bi::badbody', {}, { timeoutMs: 3000 });
  assert.ok(r.error && typeof r.error.code === 'string' && typeof r.error.message === 'string', JSON.stringify(r));
  await c.close();
  await callee.close();
});

test('reattach with garbage or for another live worker with a wrong token changes nothing', async () => {
  X.send({ type: 'reattach', previous_worker_id: 'garbage', reattach_token: 5 });
  X.send({ type: 'reattach' });
  X.send({ type: 'reattach', previous_worker_id: null, reattach_token: null });
  X.send({ type: 'reattach', previous_worker_id: A.workerId, reattach_token: 'wrong' });
  X.send({ type: 'reattach', previous_worker_id: B.workerId, reattach_token: X.reattachToken });
  await assertSameConnectionWorks();
  await assertRouting();
});

test('a flood of junk interleaved with valid calls: every valid call is answered', async () => {
  const calls = [];
  for (let i = 0; i < 50; i++) {
    X.sendText(i % 2 ? '{"type":' : '[]');
    calls.push(X.call('bi::add', { a: i, b: 0 }, { timeoutMs: 5000 }));
  }
  const results = await Promise.all(calls);
  results.forEach((r, i) => assert.deepEqual(r.result, { c: i }));
  await assertRouting();
});

test('engine is still alive and accepts new workers at the end', async () => {
  ctx.engine.assertAlive();
  const c = await connectRaw(ctx.engine.url);
  await c.jsonPing();
  await c.close();
});

test('a payload nested deeper than 128 levels never reaches the worker: the caller gets invalid_message', async () => {
  // Nested thousands deep, such a payload kills an official Node SDK worker (stack overflow).
  const nested = (n) => '['.repeat(n) + '1' + ']'.repeat(n);
  for (const depth of [128, 5000]) {
    const id = crypto.randomUUID();
    const mark = X.mark();
    // The data first, as a hostile client may order it.
    X.sendText(`{"data":${nested(depth)},"type":"invokefunction","invocation_id":"${id}","function_id":"bi::echo"}`);
    const r = await X.waitFrame((m) => m && m.type === 'invocationresult' && m.invocation_id === id, 3000,
      { since: mark, label: `answer at depth ${depth}` });
    assert.equal(r.error.code, 'invalid_message');
    assert.match(r.error.message, depth === 128 ? /field "data" is nested deeper than 128 levels/ : /./);
  }
  // 127 levels of data (128 with the frame) pass through and come back.
  const r = await X.call('bi::echo', JSON.parse('['.repeat(127) + '1' + ']'.repeat(127)), { timeoutMs: 3000 });
  assert.ok(Array.isArray(r.result));
  await waitFor(() => /worker [0-9a-f-]+: dropped frame: field "data" is nested deeper than 128 levels/.test(ctx.engine.logs()), 2000, 'logged with the sender');
  await assertSameConnectionWorks();
  await assertRouting();
});
