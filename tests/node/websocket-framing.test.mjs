// The engine frames WebSocket traffic by hand (src/net/ws_codec.*, worker_session.*): these tests
// hold it to RFC 6455 where clients can tell — handshake answers, control frames, fragmentation,
// close codes, limits, bytes that arrive together with the upgrade request.
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { connectRaw, engineLifecycle, withTimeout } from './harness.mjs';

const MAX_FRAME = 65536;
const ctx = engineLifecycle({ maxFrameBytes: MAX_FRAME });

/** A masked client frame (FIN set unless told otherwise). */
function clientFrame(opcode, payload, { fin = true, mask = true } = {}) {
  const data = Buffer.from(payload);
  const len = data.length;
  const head = [(fin ? 0x80 : 0) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (len < 126) head.push(maskBit | len);
  else if (len < 65536) head.push(maskBit | 126, len >> 8, len & 0xff);
  else throw new Error('test frames stay under 64 KiB');
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(data.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/** Decodes the unmasked server frames in `buf`; returns {frames, rest}. */
function serverFrames(buf) {
  const frames = [];
  let off = 0;
  while (buf.length - off >= 2) {
    const opcode = buf[off] & 0x0f;
    assert.equal(buf[off + 1] & 0x80, 0, 'server frames are never masked');
    let len = buf[off + 1] & 0x7f;
    let head = 2;
    if (len === 126) { if (buf.length - off < 4) break; len = buf.readUInt16BE(off + 2); head = 4; }
    if (len === 127) { if (buf.length - off < 10) break; len = Number(buf.readBigUInt64BE(off + 2)); head = 10; }
    if (buf.length - off < head + len) break;
    frames.push({ opcode, payload: buf.subarray(off + head, off + head + len) });
    off += head + len;
  }
  return { frames, rest: buf.subarray(off) };
}

/** A TCP socket speaking the upgrade by hand; `first` bytes go out in the same write as the request. */
function rawUpgrade(port, { headers = {}, first = Buffer.alloc(0) } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    const all = { Host: `127.0.0.1:${port}`, Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13', ...headers };
    const lines = Object.entries(all).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}`);
    let data = Buffer.alloc(0);
    const state = { socket, key, status: 0, headers: '', frames: [], closed: false };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (!state.status) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        state.headers = data.subarray(0, end).toString();
        state.status = Number(state.headers.split(' ')[1]);
        data = data.subarray(end + 4);
        resolve(state);
      }
      const { frames, rest } = serverFrames(data);
      state.frames.push(...frames);
      data = rest;
    });
    socket.on('close', () => { state.closed = true; });
    socket.on('error', reject);
    socket.write(Buffer.concat([Buffer.from(`GET / HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`), first]));
  });
}

async function waitUntil(fn, ms, label) {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('101 carries the RFC 6455 accept key; frames sent along with the upgrade request are served', async () => {
  const ping = clientFrame(1, JSON.stringify({ type: 'ping' }));
  const s = await rawUpgrade(ctx.engine.port, { first: Buffer.concat([ping, ping]) });
  assert.equal(s.status, 101);
  const expected = crypto.createHash('sha1').update(`${s.key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  assert.match(s.headers, new RegExp(`Sec-WebSocket-Accept: ${expected.replace(/[+/]/g, '\\$&')}`, 'i'));
  const pongs = () => s.frames.filter((f) => f.opcode === 1 && JSON.parse(f.payload).type === 'pong').length;
  await waitUntil(() => pongs() === 2, 3000, 'two JSON pongs');
  s.socket.destroy();
});

test('a wrong version gets 426 with Sec-WebSocket-Version: 13; a missing key gets 400', async () => {
  const v = await rawUpgrade(ctx.engine.port, { headers: { 'Sec-WebSocket-Version': '8' } });
  assert.equal(v.status, 426);
  assert.match(v.headers, /Sec-WebSocket-Version: 13/i);
  v.socket.destroy();
  const k = await rawUpgrade(ctx.engine.port, { headers: { 'Sec-WebSocket-Key': null } });
  assert.equal(k.status, 400);
  k.socket.destroy();
});

test('a WebSocket ping is answered with a pong carrying the same payload', async () => {
  const c = await connectRaw(ctx.engine.url);
  const got = await c.wsPing(Buffer.from('hello-ping'));
  assert.equal(got.toString(), 'hello-ping');
  await c.close();
});

test('a fragmented message with a ping between its fragments is reassembled', async () => {
  const s = await rawUpgrade(ctx.engine.port);
  const text = JSON.stringify({ type: 'ping', padding: 'x'.repeat(300) });
  s.socket.write(Buffer.concat([
    clientFrame(1, text.slice(0, 10), { fin: false }),
    clientFrame(9, 'mid'),
    clientFrame(0, text.slice(10, 200), { fin: false }),
    clientFrame(0, text.slice(200), { fin: true }),
  ]));
  await waitUntil(() => s.frames.some((f) => f.opcode === 1 && JSON.parse(f.payload).type === 'pong'), 3000, 'JSON pong');
  const pong = s.frames.find((f) => f.opcode === 10);
  assert.equal(pong?.payload.toString(), 'mid');
  s.socket.destroy();
});

test('a close frame is echoed with its code and the socket is closed', async () => {
  const c = await connectRaw(ctx.engine.url);
  c.ws.close(4001, 'bye');
  const info = await withTimeout(c.closed, 3000, 'close');
  assert.equal(info.code, 4001);
});

test('an unmasked client frame closes the connection with 1002', async () => {
  const s = await rawUpgrade(ctx.engine.port);
  s.socket.write(clientFrame(1, JSON.stringify({ type: 'ping' }), { mask: false }));
  await waitUntil(() => s.frames.some((f) => f.opcode === 8), 3000, 'close frame');
  const close = s.frames.find((f) => f.opcode === 8);
  assert.equal(close.payload.readUInt16BE(0), 1002);
  assert.ok(!s.frames.some((f) => f.opcode === 1 && JSON.parse(f.payload).type === 'pong'), 'the unmasked frame was not served');
  await waitUntil(() => s.closed, 3000, 'socket close');
});

test('a message over --max-frame-bytes closes that connection with 1009; others keep working', async () => {
  const big = await connectRaw(ctx.engine.url);
  const other = await connectRaw(ctx.engine.url);
  big.sendText(JSON.stringify({ type: 'ping', blob: 'z'.repeat(MAX_FRAME + 10) }));
  const info = await withTimeout(big.closed, 3000, 'close of the oversized sender');
  assert.equal(info.code, 1009);
  await other.jsonPing();
  await other.close();
});

test('hundreds of frames written back to back all get answers', async () => {
  const c = await connectRaw(ctx.engine.url);
  const since = c.mark();
  for (let i = 0; i < 500; i++) c.send({ type: 'ping' });
  await waitUntil(() => c.messages(since).filter((m) => m.type === 'pong').length === 500, 5000, '500 pongs');
  await c.close();
});

test('a worker that stops reading for a while gets every frame, intact and in order, once it reads again', async () => {
  const slow = await connectRaw(ctx.engine.url);
  const caller = await connectRaw(ctx.engine.url);
  const got = [];
  slow.serve('slow::sink', (m) => { got.push(m.data); return null; });
  await slow.sync();
  slow.ws._socket.pause();  // the kernel buffers fill: the engine's direct sends go partial, then queue
  const blob = 'b'.repeat(40_000);
  const N = 120;  // ~4.8 MB, well past the loopback socket buffers
  for (let i = 0; i < N; i++) {
    caller.send({ type: 'invokefunction', function_id: 'slow::sink', data: { i, blob }, action: { type: 'void' } });
  }
  await caller.jsonPing();  // the engine has routed them all by now
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(got.length < N, 'the pause held frames back');
  slow.ws._socket.resume();
  await waitUntil(() => got.length === N, 10_000, `${N} invocations`);
  got.forEach((d, i) => {
    assert.equal(d.i, i, 'in order');
    assert.equal(d.blob, blob, 'intact');
  });
  assert.ok(slow.isOpen, 'below the send-queue bound the worker stays connected');
  await slow.close();
  await caller.close();
});
