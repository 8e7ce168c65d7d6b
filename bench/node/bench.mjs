// The Node rows of bench/run.sh (issue 14, "the figures users see"): calls/s and latency with the
// official Node iii-sdk on both ends (caller and worker in separate processes, engine between),
// against the official NATS Node client (@nats-io/transport-node) request/reply in the same shape.
//
//   node bench.mjs worker --system iii  --url ws://127.0.0.1:P   # serves the echo until killed
//   node bench.mjs worker --system nats --url 127.0.0.1:P
//   node bench.mjs caller --system iii|nats --url U --inflight N --seconds S [--name node_cN] [--otel 0]
//
// Worker: one connection. iii: registerWorker + registerFunction('bench::node_echo') returning the
// payload it got. NATS: one subscription on bench.node.echo answering each request with the bytes it
// got (no decoding: the peer's cheapest echo). Caller: one connection, N loops each with one call
// in flight (iii: worker.trigger({function_id, payload}); NATS: nc.request(subject, bytes)), the
// 200-byte JSON payload of the C++ rows (iii: that object, which the SDK serialises per call, as a
// user's would be; NATS: its bytes encoded once). Both SDKs with their defaults (iii-sdk: OTel on,
// as users get it; --otel 0 turns it off for a comparison by hand). Warm-up 0.5 s, then S seconds
// measured; every call started in the measurement and answered is counted. Prints one JSON line:
// {"bench":NAME,"system":..,"inflight":N,"calls_per_s":..,"p50_us":..,"p99_us":..}.
import { performance } from 'node:perf_hooks';

const args = Object.fromEntries(
  process.argv.slice(3).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const role = process.argv[2];
const system = args.system ?? 'iii';
const url = args.url;
const inflight = Number(args.inflight ?? 1);
const seconds = Number(args.seconds ?? 5);
const FUNCTION_ID = 'bench::node_echo';
const SUBJECT = 'bench.node.echo';
console.debug = () => {};  // the SDK logs a line per connection

// bench/common.h's make_payload(200): the same 200 bytes as every C++ row.
function makePayload(bytes) {
  const head = '{"id":12345,"user":"bench-user","tags":["a","b","c"],"pad":"';
  const tail = '"}';
  let pad = '';
  for (let i = 0; i < bytes - head.length - tail.length; ++i) pad += String.fromCharCode(97 + (i % 26));
  return head + pad + tail;
}
const PAYLOAD_TEXT = makePayload(200);

async function iiiWorker() {
  const { registerWorker } = await import('iii-sdk');
  const opts = { workerName: `bench-node-${role}` };
  if (args.otel === '0') opts.otel = { enabled: false };
  return registerWorker(url, opts);
}

async function natsConnection() {
  const { connect } = await import('@nats-io/transport-node');
  return connect({ servers: url, timeout: 10_000 });
}

async function serve() {
  if (system === 'iii') {
    const w = await iiiWorker();
    w.registerFunction(FUNCTION_ID, async (payload) => payload);
  } else {
    const nc = await natsConnection();
    nc.subscribe(SUBJECT, { callback: (err, msg) => { if (!err) msg.respond(msg.data); } });
    await nc.flush();
  }
  process.stderr.write(`bench node worker (${system}): serving\n`);
  setInterval(() => {}, 1 << 30);  // until killed
}

async function call() {
  let once;
  if (system === 'iii') {
    const w = await iiiWorker();
    const payload = JSON.parse(PAYLOAD_TEXT);
    once = () => w.trigger({ function_id: FUNCTION_ID, payload });
  } else {
    const nc = await natsConnection();
    const bytes = new TextEncoder().encode(PAYLOAD_TEXT);
    once = () => nc.request(SUBJECT, bytes, { timeout: 10_000 });
  }
  // Until the worker (another process, started just before) answers.
  for (let attempt = 0; ; ++attempt) {
    try {
      await once();
      break;
    } catch (e) {
      if (attempt > 300) throw new Error(`echo not reachable: ${e.message}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  let phase = 0;  // 0 warm-up, 1 measurement, 2 stop
  let calls = 0;
  const lat = [];
  const loop = async () => {
    while (phase !== 2) {
      const p = phase;
      const t0 = performance.now();
      await once();
      if (p === 1) {
        lat.push(performance.now() - t0);
        ++calls;
      }
    }
  };
  const loops = Array.from({ length: inflight }, loop);
  await new Promise((r) => setTimeout(r, 500));
  const start = performance.now();
  phase = 1;
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - start) / 1000;
  phase = 2;
  await Promise.all(loops);
  lat.sort((a, b) => a - b);
  const pct = (q) => (lat.length ? lat[Math.min(lat.length - 1, Math.round(q * (lat.length - 1)))] * 1000 : 0);
  console.log(JSON.stringify({
    bench: args.name ?? `node_c${inflight}`, system: args.label ?? `node-${system}`, inflight, calls, seconds: elapsed,
    calls_per_s: calls / elapsed, p50_us: pct(0.5), p99_us: pct(0.99),
  }));
  process.exit(0);
}

const main = role === 'worker' ? serve : role === 'caller' ? call : null;
if (!main) {
  process.stderr.write('usage: node bench.mjs worker|caller --system iii|nats --url URL [...]\n');
  process.exit(2);
}
main().catch((e) => {
  process.stderr.write(`bench node ${role} (${system}): ${e.stack ?? e}\n`);
  process.exit(1);
});
