// docs/observability.md through the official SDK with its OTel exporter on: one trace tree across
// worker → engine → worker, HTTP traceparent continued, a queued job's retries in one trace, worker
// logs listed with their trace id and printed on the engine's console, the `log` and `trace`
// triggers (and that they do not feed themselves), the query functions, and the bounds.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { before, test } from 'node:test';
import { TriggerAction } from 'iii-sdk';
import { Logger } from '@iii-dev/helpers/observability';
import {
  connectRaw, engineCall, freePort, lifecycle, sdkSync, sdkWorker, sleep, startEngine, tcpConnects, waitFor,
} from './harness.mjs';

let httpPort;
const ctx = lifecycle(async () => {
  httpPort = await freePort();
  return startEngine({
    config: `workers:
  - name: iii-http
    config: { host: 127.0.0.1, port: ${httpPort} }
  - name: queue
    config:
      queue_configs:
        flaky: { max_retries: 4, backoff_ms: 100 }
  - name: iii-observability
    config:
      exporter: memory
      sampling_ratio: 1.0
      logs_console_output: true
      logs_max_count: 500
      trace_storage: { enabled: false }
`,
  });
});

let W; // hosts the functions, OTel on: its spans and logs reach /otel
let C; // a raw client that calls
const logger = new Logger();

before(async () => {
  await ctx.ready;
  await waitFor(() => tcpConnects(httpPort), 10_000, 'iii-http listening');
  W = sdkWorker(ctx.engine.url, 'obs-worker', { otel: { enabled: true } });
  C = await connectRaw(ctx.engine.url);
});

const call = (fn, data = {}) => engineCall(C, fn, data);

async function traceOf(predicate, label) {
  let found;
  await waitFor(async () => {
    const r = await call('engine::traces::list', { limit: 1000 });
    found = r.spans.find(predicate);
    return !!found;
  }, 8000, label);
  return found;
}

async function treeOf(traceId, wantSpans, label) {
  let tree;
  await waitFor(async () => {
    tree = await call('engine::traces::tree', { trace_id: traceId });
    const count = (nodes) => nodes.reduce((n, x) => n + 1 + count(x.children), 0);
    return count(tree.roots) >= wantSpans;
  }, 8000, label);
  return tree;
}

test('a call chain worker → engine → worker is one trace tree with the SDK spans and the engine spans', async () => {
  W.registerFunction('obs::inner', async (p) => ({ v: p.v + 1 }));
  W.registerFunction('obs::outer', async (p) => W.trigger({ function_id: 'obs::inner', payload: { v: p.v * 10 } }));
  await sdkSync(W);
  assert.deepEqual(await call('obs::outer', { v: 4 }), { v: 41 });
  const root = await traceOf((s) => s.name === 'call obs::outer', 'engine span of obs::outer');
  assert.equal(root.parent_span_id, null, 'a top-level call starts the trace');
  assert.equal(root.status, 'ok');
  assert.equal(root.attributes['iii.function.id'], 'obs::outer');
  assert.equal(root.attributes['iii.trigger.type'], 'call');
  assert.equal(root.service_name, 'iii');
  // engine call obs::outer → SDK execute obs::outer → engine call obs::inner → SDK execute obs::inner
  const tree = await treeOf(root.trace_id, 4, 'the four spans of the chain');
  assert.equal(tree.roots.length, 1);
  const [engineOuter] = tree.roots;
  assert.equal(engineOuter.span.name, 'call obs::outer');
  const sdkOuter = engineOuter.children.find((n) => n.span.name === 'execute obs::outer');
  assert.ok(sdkOuter, `SDK span under the engine span: ${JSON.stringify(engineOuter.children.map((c) => c.span.name))}`);
  assert.equal(sdkOuter.span.service_name, 'iii-node');
  const engineInner = sdkOuter.children.find((n) => n.span.name === 'call obs::inner');
  assert.ok(engineInner, 'the nested call is under the SDK span that made it');
  assert.ok(engineInner.children.find((n) => n.span.name === 'execute obs::inner'));
});

test('a failing call records an error span with its code', async () => {
  W.registerFunction('obs::fails', async () => { throw new Error('nope'); });
  await sdkSync(W);
  const r = await C.call('obs::fails', {});
  assert.ok(r.error);
  const span = await traceOf((s) => s.name === 'call obs::fails', 'error span');
  assert.equal(span.status, 'error');
  assert.ok(span.attributes['iii.error.code']);
  const errors = await call('engine::traces::list', { status: 'error', limit: 1000 });
  assert.ok(errors.spans.every((s) => s.status === 'error'));
  assert.ok(errors.spans.some((s) => s.name === 'call obs::fails'));
});

test('an HTTP request with a traceparent continues its trace', async () => {
  W.registerFunction('obs::http', async () => ({ status_code: 200, body: { ok: true } }));
  W.registerTrigger({ type: 'http', function_id: 'obs::http', config: { api_path: '/obs', http_method: 'GET' } });
  await sdkSync(W);
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const parent = 'b7ad6b7169203331';
  await waitFor(async () => (await fetch(`http://127.0.0.1:${httpPort}/obs`)).status === 200, 5000, 'route');
  // node:http, not fetch: the SDK's OTel instruments the global fetch and would send its own
  // traceparent (a client span of this process) instead of ours.
  const status = await new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${httpPort}/obs`, {
      headers: { traceparent: `00-${traceId}-${parent}-01`, baggage: 'tenant=acme' },
    }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
  });
  assert.equal(status, 200);
  const span = await traceOf((s) => s.trace_id === traceId && s.name === 'call obs::http', 'the HTTP span');
  assert.equal(span.parent_span_id, parent);
  assert.equal(span.attributes['iii.trigger.type'], 'http');
  const tree = await treeOf(traceId, 2, 'the worker span under the HTTP span');
  const engineSpan = tree.roots.find((n) => n.span.span_id === span.span_id);
  assert.ok(engineSpan.children.some((n) => n.span.name === 'execute obs::http'));
});

test("a queued job's retries all continue the enqueuer's trace", async () => {
  let attempts = 0;
  W.registerFunction('obs::flaky', async () => {
    attempts += 1;
    if (attempts < 3) throw new Error(`attempt ${attempts} fails`);
    return { ok: true };
  });
  await sdkSync(W);
  await W.trigger({ function_id: 'obs::flaky', payload: { n: 1 }, action: TriggerAction.Enqueue({ queue: 'flaky' }) });
  await waitFor(() => attempts === 3, 8000, 'three attempts');
  let deliveries = [];
  await waitFor(async () => {
    const r = await call('engine::traces::list', { name: 'call obs::flaky', limit: 1000 });
    deliveries = r.spans;
    return deliveries.length === 3;
  }, 8000, 'three delivery spans');
  assert.equal(new Set(deliveries.map((s) => s.trace_id)).size, 1, 'every retry in one trace');
  assert.ok(deliveries.every((s) => s.attributes['iii.trigger.type'] === 'queue'));
  assert.deepEqual(deliveries.map((s) => s.status).sort(), ['error', 'error', 'ok']);
  const all = await call('engine::traces::list', { trace_id: deliveries[0].trace_id, include_internal: true, limit: 100 });
  assert.ok(all.spans.some((s) => s.name === 'call engine::queue::enqueue'), 'the enqueue is in the same trace');
});

test("a worker's log line is listed with its trace id and printed on the engine's console", async () => {
  const marker = `obs-log-${Date.now()}`;
  W.registerFunction('obs::logs', async () => { logger.info(marker, { k: 1 }); return {}; });
  await sdkSync(W);
  await call('obs::logs');
  const span = await traceOf((s) => s.name === 'call obs::logs', 'span of obs::logs');
  let entry;
  await waitFor(async () => {
    const r = await call('engine::logs::list', { limit: 500 });
    entry = r.logs.find((l) => l.body === marker);
    return !!entry;
  }, 8000, 'the log line in engine::logs::list');
  assert.equal(entry.severity_text, 'INFO');
  assert.equal(entry.trace_id, span.trace_id, 'the log carries the trace of the call');
  assert.deepEqual(entry.attributes['log.data'], { k: 1 });
  const byTrace = await call('engine::logs::list', { trace_id: span.trace_id });
  assert.ok(byTrace.logs.some((l) => l.body === marker));
  await waitFor(() => ctx.engine.logs().includes(marker), 3000, 'the line on the engine console');
});

test('the log trigger fires for its level, and a handler that logs does not fire it again', async () => {
  const got = [];
  W.registerFunction('obs::on-warn', async (entry) => {
    got.push(entry);
    await W.trigger({ function_id: 'engine::log::warn', payload: { message: 'written by the handler' } });
    return {};
  });
  W.registerTrigger({ type: 'log', function_id: 'obs::on-warn', config: { level: 'warn' } });
  await sdkSync(W);
  await sleep(200);
  await call('engine::log::info', { message: 'not a warning' });
  await call('engine::log::warn', { message: 'disk almost full', data: { pct: 97 } });
  await waitFor(() => got.length >= 1, 5000, 'the log trigger');
  await sleep(800);
  assert.equal(got.length, 1, `fired ${got.length} times: ${JSON.stringify(got.map((g) => g.body))}`);
  assert.equal(got[0].body, 'disk almost full');
  assert.equal(got[0].severity_text, 'WARN');
  assert.equal(got[0].severity_number, 13);
  assert.deepEqual(got[0].attributes.data, { pct: 97 });
  for (const k of ['timestamp_unix_nano', 'observed_timestamp_unix_nano', 'trace_id', 'span_id', 'resource', 'service_name'])
    assert.ok(k in got[0], k);
  const bad = await C.call('engine::register_trigger', { trigger_type: 'log', function_id: 'obs::on-warn', config: { level: 'loud' } });
  assert.ok(JSON.stringify(bad).includes('level'), JSON.stringify(bad));
});

test('the trace trigger ticks with the affected trace ids, not for its own deliveries', async () => {
  const ticks = [];
  W.registerFunction('obs::on-traces', async (p) => { ticks.push(p); return {}; });
  W.registerFunction('obs::traced', async () => ({}));
  W.registerTrigger({ type: 'trace', function_id: 'obs::on-traces', config: { status: 'ok' } });
  await sdkSync(W);
  await call('obs::traced');
  const span = await traceOf((s) => s.name === 'call obs::traced', 'the span');
  await waitFor(() => ticks.some((t) => t.trace_ids.includes(span.trace_id)), 5000, 'a tick naming the trace');
  const seen = ticks.length;
  await sleep(1200);
  assert.equal(ticks.length, seen, 'its own delivery spans made it tick again');
});

test('metrics, health, sampling rules and baggage answer', async () => {
  const m = await call('engine::metrics::list');
  assert.ok(m.engine_metrics.invocations.total >= 5);
  assert.ok(m.engine_metrics.invocations.error >= 1);
  assert.ok(m.engine_metrics.invocations.deferred >= 1);
  assert.ok(m.engine_metrics.invocations.by_function['obs::outer'].success >= 1);
  assert.ok(m.engine_metrics.workers.active >= 2);
  assert.ok(m.engine_metrics.performance.p99_duration_ms >= m.engine_metrics.performance.p50_duration_ms);
  const h = await call('engine::health::check');
  assert.equal(h.status, 'healthy');
  for (const c of ['otel', 'metrics', 'logs', 'spans']) assert.ok(h.components[c], c);
  const s = await call('engine::sampling::rules');
  assert.equal(s.traces.default_ratio, 1);
  assert.equal(s.logs.sampling_ratio, 1);
  const r = await C.call('engine::baggage::get', { key: 'tenant' }, { extra: { baggage: 'tenant=acme,x=1' } });
  assert.deepEqual(r.result, { value: 'acme' });
  const all = await C.call('engine::baggage::get_all', {}, { extra: { baggage: 'tenant=acme,x=1' } });
  assert.deepEqual(all.result, { baggage: { tenant: 'acme', x: '1' } });
  const cleared = await call('engine::logs::clear');
  assert.equal(cleared.success, true);
  assert.equal((await call('engine::logs::list')).total, 0);
});

test('bounds: the oldest logs and spans are evicted first', async () => {
  const engine = await startEngine({
    config: `workers:
  - name: iii-observability
    config: { logs_max_count: 3, memory_max_spans: 4, logs_console_output: false, trace_storage: { enabled: false } }
`,
  });
  try {
    const c = await connectRaw(engine.url);
    for (let i = 0; i < 6; i++) await engineCall(c, 'engine::log::info', { message: `m${i}` });
    const logs = await engineCall(c, 'engine::logs::list', {});
    assert.deepEqual(logs.logs.map((l) => l.body), ['m5', 'm4', 'm3']);
    await sleep(300);
    const spans = await engineCall(c, 'engine::traces::list', { include_internal: true, sort_order: 'asc', limit: 100 });
    assert.ok(spans.total <= 4, `kept ${spans.total} spans`);
    assert.ok(spans.storage.evicted_spans >= 2);
    await c.terminate();
  } finally {
    await engine.stop();
  }
});

test('without an iii-observability entry it runs on its defaults; enabled: false records nothing', async () => {
  const off = await startEngine({ config: 'workers:\n  - name: iii-observability\n    config: { enabled: false }\n' });
  try {
    const c = await connectRaw(off.url);
    await engineCall(c, 'engine::health::check', {});
    await sleep(300);
    assert.equal((await engineCall(c, 'engine::traces::list', { include_internal: true })).total, 0);
    assert.equal((await engineCall(c, 'engine::metrics::list', {})).engine_metrics.invocations.total, 0);
    await c.terminate();
  } finally {
    await off.stop();
  }
  // ctx's engine lists it; the harness default (`workers: []`) gets it implicitly:
  const bare = await startEngine();
  try {
    const c = await connectRaw(bare.url);
    const h = await engineCall(c, 'engine::health::check', {});
    assert.equal(h.status, 'healthy');
    await c.terminate();
  } finally {
    await bare.stop();
  }
});

test("the block's level and format set the engine's console; --log-level pins the level; a reload applies them", async () => {
  const block = (cfg) => `workers:\n  - name: iii-observability\n    config: ${cfg}\n`;
  const lines = (e) => e.logs().split('\n').filter((l) => l.startsWith('{'));
  const e = await startEngine({ config: block('{ level: warn, format: json, trace_storage: { enabled: false } }') });
  try {
    await sleep(300);
    // Warn: the info lines after the block started are not printed.
    assert.doesNotMatch(e.logs(), /listening for workers/);
    // Info again, still JSON: the lines of the reload are printed as JSON objects.
    writeFileSync(path.join(e.cwd, 'config.yaml'), block('{ level: info, format: json, trace_storage: { enabled: false } }'));
    await waitFor(() => lines(e).some((l) => JSON.parse(l).message.includes('started')), 8000, 'a JSON line after the reload');
    for (const l of lines(e)) {
      const o = JSON.parse(l);
      assert.equal(typeof o.timestamp, 'string');
      assert.match(o.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);
      assert.ok(['info', 'warning', 'error'].includes(o.level), l);
      assert.equal(o.target, 'iii');
    }
  } finally {
    await e.stop();
  }
  const pinned = await startEngine({ config: block('{ level: error, trace_storage: { enabled: false } }'), args: ['--log-level', 'info'] });
  try {
    await waitFor(() => /listening for workers/.test(pinned.logs()), 5000, 'info lines with --log-level info');
    assert.doesNotMatch(pinned.logs(), /^\{"timestamp"/m);  // format: default
  } finally {
    await pinned.stop();
  }
});
