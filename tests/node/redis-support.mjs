// Helpers for tests that run engines on a real redis-server (docs/redis.md): a server on a free
// loopback port (killed when the test file ends), raw RESP commands, and a body run against two
// engines sharing it.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, sdkWorker, shutdownSdk, startEngine, tcpConnects, waitFor } from './harness.mjs';

const children = [];
after(() => { for (const c of children) c.kill('SIGKILL'); });

// Starts redis-server. `options.dir` + `options.appendonly` ('everysec' | 'always') keep an
// append-only file there, so that a restart (`restart()`) on the same port finds the data again.
export async function startRedis(options = {}) {
  const port = options.port ?? (await freePort());
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', ''];
  if (options.appendonly) args.push('--appendonly', 'yes', '--appendfsync', options.appendonly, '--dir', options.dir);
  else args.push('--appendonly', 'no');
  const proc = spawn('redis-server', args, { stdio: 'ignore' });
  children.push(proc);
  await waitFor(() => tcpConnects(port), 5000, 'redis-server listening');
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    proc,
    async stop(signal = 'SIGTERM') { proc.kill(signal); await exited; },
    restart: () => startRedis({ ...options, port }),
  };
}

// A raw RESP command to the server; resolves with its reply's bytes once complete (a simple reply
// line, or a bulk string with its length).
export async function redisCommand(port, ...args) {
  const complete = (d) => {
    if (!d.endsWith('\r\n')) return false;
    if (!d.startsWith('$') || d.startsWith('$-1')) return true;
    const len = Number(d.slice(1, d.indexOf('\r\n')));
    return Buffer.byteLength(d) >= d.indexOf('\r\n') + 2 + len + 2;
  };
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d) => { data += d; if (complete(data)) { s.end(); resolve(data); } });
    s.on('error', reject);
    s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

// Two engines on a redis-server (config made from its URL), an SDK worker on each; the body gets
// {redis, a, b, wa, wb}; everything is stopped afterwards. A server of its own unless `redis` is
// given (then left running).
export async function onTwoEngines(configOf, names, body, redis = null) {
  const own = !redis;
  if (own) redis = await startRedis();
  const a = await startEngine({ config: configOf(redis.url) });
  const b = await startEngine({ config: configOf(redis.url) });
  const wa = sdkWorker(a.url, names[0]);
  const wb = sdkWorker(b.url, names[1]);
  try {
    await body({ redis, a, b, wa, wb });
  } finally {
    await shutdownSdk(wa);
    await shutdownSdk(wb);
    await a.stop();
    await b.stop();
    if (own) await redis.stop();
  }
}

// An engine whose config (made by `configOf` from a URL) names a redis_url that is not one
// refuses to start, naming the key.
export async function assertBadRedisUrlRefused(configOf) {
  const port = await freePort();
  await assert.rejects(
    startEngine({ port, config: configOf('http://127.0.0.1:1') }),
    /adapter\.config\.redis_url.*the scheme must be redis/s,
  );
}
