// Channels (docs/protocol.md §3.13): engine::channels::create, the raw /ws/channels endpoints, and
// worker-to-worker streaming with the SDK's createChannel / ChannelReader / ChannelWriter.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, test } from 'node:test';
import WebSocket from 'ws';
import { createChannel } from 'iii-sdk/helpers';
import { connectRaw, engineCall, engineCallError, engineLifecycle, sdkSync, sdkWorker, sleep, UUID_RE, waitFor, withTimeout } from './harness.mjs';

const ctx = engineLifecycle();
let q;

const channelUrl = (ref, dir = ref.direction, key = ref.access_key) =>
  `${ctx.engine.url}/ws/channels/${ref.channel_id}?key=${encodeURIComponent(key)}&dir=${dir}`;

/** Opens a channel socket and records frames; resolves once open (or rejects with the HTTP status). */
function openSide(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const side = { ws, frames: [], closed: null };
  side.closedP = new Promise((resolve) => ws.once('close', (code, reason) => { side.closed = { code, reason: reason.toString() }; resolve(side.closed); }));
  ws.on('message', (data, isBinary) => side.frames.push({ binary: isBinary, data: Buffer.from(data) }));
  side.opened = new Promise((resolve, reject) => {
    ws.once('open', () => resolve(side));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', (e) => reject(e));
  });
  return side;
}

async function create(data) {
  return engineCall(q, 'engine::channels::create', data);
}

// A raw client for engine::* calls, shared by every test of this file.
before(async () => {
  await ctx.ready;
  q = await connectRaw(ctx.engine.url);
});

test('engine::channels::create returns a writer and a reader ref of one channel', async () => {
  const r = await create({ buffer_size: 16 });
  assert.deepEqual(Object.keys(r).sort(), ['reader', 'writer']);
  assert.match(r.writer.channel_id, UUID_RE);
  assert.match(r.writer.access_key, UUID_RE);
  assert.equal(r.writer.channel_id, r.reader.channel_id);
  assert.equal(r.writer.access_key, r.reader.access_key);
  assert.equal(r.writer.direction, 'write');
  assert.equal(r.reader.direction, 'read');
  for (const data of [{ buffer_size: null }, {}, undefined, { buffer_size: 0 }, { buffer_size: 99999 }]) {
    const c = await create(data);
    assert.match(c.reader.channel_id, UUID_RE);
  }
  const err = await engineCallError(q, 'engine::channels::create', { buffer_size: 'big' });
  assert.equal(err.code, 'deserialization_error');
  assert.match(err.message, /^Failed to deserialize input for engine::channels::create: /);
});

test('engine::channels::create is listed under the engine functions worker', async () => {
  const r = await engineCall(q, 'engine::functions::list', { include_internal: true, prefix: 'engine::channels' });
  const row = r.functions.find((f) => f.function_id === 'engine::channels::create');
  assert.ok(row, JSON.stringify(r));
  assert.equal(row.worker_name, 'iii-engine-functions');
});

test('/ws/channels: wrong key or id → 404 "Channel not found"; bad dir → 400', async () => {
  const c = await create({});
  await assert.rejects(openSide(channelUrl(c.reader, 'read', 'not-the-key')).opened, (e) => e.status === 404 && e.body === 'Channel not found');
  await assert.rejects(openSide(channelUrl({ ...c.reader, channel_id: '00000000-0000-4000-8000-000000000000' })).opened, (e) => e.status === 404);
  await assert.rejects(openSide(channelUrl(c.reader, 'sideways')).opened, (e) => e.status === 400);
  await assert.rejects(openSide(`${ctx.engine.url}/ws/channels/${c.reader.channel_id}?key=${c.reader.access_key}`).opened, (e) => e.status === 400);
  // A plain GET (no upgrade) with a wrong key is a plain 404 too.
  const res = await fetch(`http://127.0.0.1:${ctx.engine.port}/ws/channels/${c.reader.channel_id}?key=x&dir=read`, { signal: AbortSignal.timeout(3000) });
  assert.equal(res.status, 404);
  assert.equal(await res.text(), 'Channel not found');
});

test('items arrive in order with their frame type, then Close after the writer closes', async () => {
  const c = await create({ buffer_size: 4 });
  const writer = await openSide(channelUrl(c.writer)).opened;
  const reader = await openSide(channelUrl(c.reader)).opened;
  const sent = [];
  for (let i = 0; i < 20; i++) {
    if (i % 3 === 0) { writer.ws.send(JSON.stringify({ i }), { binary: false }); sent.push({ binary: false, data: JSON.stringify({ i }) }); }
    else { const b = Buffer.from([i, 255 - i, 0, i]); writer.ws.send(b, { binary: true }); sent.push({ binary: true, data: b.toString('hex') }); }
  }
  writer.ws.close(1000, 'stream_complete');
  await withTimeout(reader.closedP, 5000, 'reader Close after end of stream');
  const got = reader.frames.map((f) => ({ binary: f.binary, data: f.binary ? f.data.toString('hex') : f.data.toString() }));
  assert.deepEqual(got, sent);
  assert.equal(reader.closed.code, 1000);
});

test('the reader may connect first; text-only streams work too', async () => {
  const c = await create({});
  const reader = await openSide(channelUrl(c.reader)).opened;
  await sleep(50);
  const writer = await openSide(channelUrl(c.writer)).opened;
  writer.ws.send('one');
  writer.ws.send('two');
  writer.ws.close();
  await withTimeout(reader.closedP, 5000, 'reader closed');
  assert.deepEqual(reader.frames.map((f) => [f.binary, f.data.toString()]), [[false, 'one'], [false, 'two']]);
});

test('a side already taken: the newcomer is accepted, then closed at once', async () => {
  const c = await create({});
  const first = await openSide(channelUrl(c.reader)).opened;
  const second = openSide(channelUrl(c.reader));
  await second.opened;  // the upgrade succeeds…
  const closed = await withTimeout(second.closedP, 3000, 'second reader closed');  // …and is closed
  assert.notEqual(closed.code, 1000);
  const w1 = await openSide(channelUrl(c.writer)).opened;
  const w2 = openSide(channelUrl(c.writer));
  await w2.opened;
  await withTimeout(w2.closedP, 3000, 'second writer closed');
  w1.ws.send('still works');
  w1.ws.close();
  await withTimeout(first.closedP, 5000, 'first reader done');
  assert.deepEqual(first.frames.map((f) => f.data.toString()), ['still works']);
});

test('backpressure: a slow reader holds a fast writer without losing or reordering data', async () => {
  const c = await create({ buffer_size: 2 });
  const writer = await openSide(channelUrl(c.writer)).opened;
  const total = 200;
  const chunk = Buffer.alloc(32 * 1024, 7);
  for (let i = 0; i < total; i++) { chunk.writeUInt32BE(i, 0); writer.ws.send(Buffer.from(chunk)); }
  writer.ws.close(1000, 'stream_complete');
  await sleep(300);  // the engine buffers at most 2 items; the rest waits in TCP buffers
  const reader = openSide(channelUrl(c.reader));
  await reader.opened;
  await withTimeout(reader.closedP, 15000, 'all frames delivered');
  assert.equal(reader.frames.length, total);
  reader.frames.forEach((f, i) => assert.equal(f.data.readUInt32BE(0), i));
});

test('a reader that leaves stops the writer', async () => {
  const c = await create({ buffer_size: 1 });
  const writer = await openSide(channelUrl(c.writer)).opened;
  const reader = await openSide(channelUrl(c.reader)).opened;
  writer.ws.send('a');
  await waitFor(() => reader.frames.length === 1, 3000, 'first frame');
  reader.ws.terminate();
  await withTimeout(writer.closedP, 5000, 'writer closed after the reader left');
  // The channel is gone for good.
  await assert.rejects(openSide(channelUrl(c.reader)).opened, (e) => e.status === 404);
});

test('SDK: createChannel streams bytes from one worker to another', async () => {
  const A = sdkWorker(ctx.engine.url, 'chan-producer');
  const B = sdkWorker(ctx.engine.url, 'chan-consumer');
  const payload = Buffer.alloc(700_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 13) & 0xff;
  const digest = (b) => createHash('sha256').update(b).digest('hex');
  const messages = [];
  B.registerFunction('chan::consume', async ({ reader, label }) => {
    reader.onMessage((m) => messages.push(m));
    const bytes = await reader.readAll();
    return { label, size: bytes.length, sha: digest(bytes) };
  });
  await sdkSync(B);
  await sdkSync(A);
  const channel = await createChannel(A, 8);
  assert.equal(channel.readerRef.direction, 'read');
  const consumed = A.trigger({ function_id: 'chan::consume', payload: { reader: channel.readerRef, label: 'x' }, timeoutMs: 15000 });
  channel.writer.sendMessage(JSON.stringify({ type: 'meta', parts: 1 }));
  channel.writer.stream.end(payload);
  const result = await withTimeout(consumed, 15000, 'consumer result');
  assert.deepEqual(result, { label: 'x', size: payload.length, sha: digest(payload) });
  assert.deepEqual(messages.map((m) => JSON.parse(m)), [{ type: 'meta', parts: 1 }]);
});
