// docs/observability.md, the parts that leave the engine: GET /metrics (checked by a real
// `prometheus` server that scrapes it and answers a query), /healthz and /readyz, OTLP/HTTP export
// to a collector that checks the JSON field by field (and a collector that is down), and the
// durable trace archive read back after a restart.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test, after } from 'node:test';
import {
  connectRaw, engineCall, freePort, sleep, startEngine, tcpConnects, waitFor,
} from './harness.mjs';

const get = (url) => new Promise((resolve, reject) => {
  http.get(url, (res) => {
    let body = '';
    res.on('data', (c) => { body += c; });
    res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
  }).on('error', reject);
});

const children = [];
after(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

test('GET /metrics, /healthz and /readyz; a real Prometheus scrapes the engine and answers a query', async () => {
  const metricsPort = await freePort();
  const engine = await startEngine({
    config: `workers:
  - name: queue
    config: { queue_configs: { jobs: { max_retries: 1 } } }
  - name: iii-observability
    config: { prometheus: { host: 127.0.0.1, port: ${metricsPort} }, trace_storage: { enabled: false } }
`,
  });
  const promDir = mkdtempSync(path.join(os.tmpdir(), 'iii-prom-'));
  try {
    await waitFor(() => tcpConnects(metricsPort), 10_000, '/metrics listening');
    const c = await connectRaw(engine.url);
    await engineCall(c, 'engine::log::info', { message: 'count me' });
    await engineCall(c, 'engine::log::info', { message: 'and me' });
    const page = await get(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    assert.match(page.body, /# TYPE iii_invocations_total counter/);
    assert.match(page.body, /iii_invocations_total\{function="engine::log::info",status="success"\} [2-9]/);
    assert.match(page.body, /iii_invocation_duration_seconds_bucket\{function="engine::log::info",le="\+Inf"\} [2-9]/);
    assert.match(page.body, /iii_workers_connected 1\n/);
    assert.match(page.body, /iii_queue_depth\{queue="jobs"\} 0/);
    assert.match(page.body, /iii_telemetry_dropped_total\{kind="spans",reason="pending_full"\} 0/);
    const health = await get(`http://127.0.0.1:${metricsPort}/healthz`);
    assert.equal(health.status, 200);
    const ready = await get(`http://127.0.0.1:${metricsPort}/readyz`);
    assert.equal(ready.status, 200, ready.body);
    assert.deepEqual(JSON.parse(ready.body).not_running, []);
    assert.equal((await get(`http://127.0.0.1:${metricsPort}/nope`)).status, 404);

    // A real Prometheus scrapes it every second; its HTTP API then has the series.
    const promPort = await freePort();
    writeFileSync(path.join(promDir, 'prometheus.yml'), `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: iii
    static_configs: [{ targets: ['127.0.0.1:${metricsPort}'] }]
`);
    const prom = spawn('prometheus', [
      `--config.file=${path.join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(prom);
    let promLog = '';
    prom.stderr.on('data', (d) => { promLog = (promLog + d).slice(-4000); });
    let series;
    await waitFor(async () => {
      try {
        const r = await get(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent('iii_invocations_total{function="engine::log::info",status="success"}')}`);
        if (r.status !== 200) return false;
        series = JSON.parse(r.body).data.result;
        return series.length === 1;
      } catch { return false; }
    }, 30_000, 'prometheus has the series').catch((e) => { throw new Error(`${e.message}\n${promLog}`); });
    assert.ok(Number(series[0].value[1]) >= 2);
    assert.equal(series[0].metric.job, 'iii');
    prom.kill('SIGTERM');
    await c.terminate();
  } finally {
    await engine.stop();
    rmSync(promDir, { recursive: true, force: true });
  }
});

// A collector on loopback that records every OTLP/HTTP request.
async function collector() {
  const got = { '/v1/traces': [], '/v1/logs': [], '/v1/metrics': [] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (req.method === 'POST' && got[req.url] && req.headers['content-type'] === 'application/json') got[req.url].push(JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { got, port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}

test('OTLP/HTTP export: spans, logs and metrics reach a collector in OTLP JSON', async () => {
  const col = await collector();
  const engine = await startEngine({
    config: `workers:
  - name: iii-observability
    config:
      exporter: both
      logs_exporter: both
      metrics_exporter: otlp
      endpoint: http://127.0.0.1:${col.port}
      logs_flush_interval_ms: 200
      trace_storage: { enabled: false }
      service_name: iii-under-test
`,
  });
  try {
    const c = await connectRaw(engine.url);
    c.serve('exp::child', () => ({ result: { ok: true } }));
    c.serve('exp::parent', async () => ({ result: (await c.call('exp::child', {})).result }));
    await c.sync();
    const traceId = 'aaaabbbbccccddddeeeeffff00001111';
    await c.call('exp::parent', {}, { extra: { traceparent: `00-${traceId}-1234567812345678-01` } });
    await engineCall(c, 'engine::log::error', { message: 'exported line' });
    await waitFor(() => col.got['/v1/traces'].flatMap((r) => r.resourceSpans).flatMap((rs) => rs.scopeSpans)
      .flatMap((ss) => ss.spans).filter((s) => s.traceId === traceId).length >= 1, 8000, 'spans at the collector');
    const request = col.got['/v1/traces'].find((r) => JSON.stringify(r).includes(traceId));
    const rs = request.resourceSpans[0];
    const attr = (list, key) => list.find((a) => a.key === key)?.value;
    assert.equal(attr(rs.resource.attributes, 'service.name').stringValue, 'iii-under-test');
    const spans = request.resourceSpans.flatMap((r) => r.scopeSpans).flatMap((s) => s.spans);
    const parent = spans.find((s) => s.name === 'call exp::parent');
    assert.ok(parent, JSON.stringify(spans.map((s) => s.name)));
    assert.equal(parent.traceId, traceId);
    assert.equal(parent.parentSpanId, '1234567812345678');
    assert.match(parent.spanId, /^[0-9a-f]{16}$/);
    assert.match(parent.startTimeUnixNano, /^\d+$/);
    assert.ok(BigInt(parent.endTimeUnixNano) >= BigInt(parent.startTimeUnixNano));
    assert.equal(parent.status.code, 1);
    assert.equal(attr(parent.attributes, 'iii.function.id').stringValue, 'exp::parent');
    await waitFor(() => JSON.stringify(col.got['/v1/logs']).includes('exported line'), 8000, 'logs at the collector');
    const log = col.got['/v1/logs'].flatMap((r) => r.resourceLogs).flatMap((r) => r.scopeLogs).flatMap((s) => s.logRecords)
      .find((l) => l.body.stringValue === 'exported line');
    assert.equal(log.severityNumber, 17);
    assert.match(log.timeUnixNano, /^\d+$/);
    // Both: the spans are also queryable in the engine.
    const listed = await engineCall(c, 'engine::traces::list', { trace_id: traceId });
    assert.ok(listed.spans.some((s) => s.name === 'call exp::parent'));
    await waitFor(() => JSON.stringify(col.got['/v1/metrics']).includes('iii.invocations.total'), 15_000, 'engine metrics');
    await c.terminate();
  } finally {
    await engine.stop();
    await col.close();
  }
});

test('a collector that is down: calls still work, the export drops and counts', async () => {
  const deadPort = await freePort();
  const metricsPort = await freePort();
  const engine = await startEngine({
    config: `workers:
  - name: iii-observability
    config:
      exporter: otlp
      endpoint: http://127.0.0.1:${deadPort}
      logs_flush_interval_ms: 100
      trace_storage: { enabled: false }
      prometheus: { port: ${metricsPort} }
`,
  });
  try {
    const c = await connectRaw(engine.url);
    for (let i = 0; i < 50; i++) await engineCall(c, 'engine::log::info', { message: `m${i}` });
    await waitFor(async () => {
      const page = (await get(`http://127.0.0.1:${metricsPort}/metrics`)).body;
      const m = page.match(/iii_telemetry_dropped_total\{kind="spans",reason="export_failed"\} (\d+)/);
      return m && Number(m[1]) > 0;
    }, 10_000, 'dropped spans counted');
    const h = await engineCall(c, 'engine::health::check', {});
    assert.equal(h.components.otlp_exporter.status, 'degraded');
    assert.equal((await engineCall(c, 'engine::traces::list', {})).total, 0, 'otlp only: nothing kept in memory');
    await c.terminate();
  } finally {
    await engine.stop();
  }
});

test('durable traces: spans are read back after a restart', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iii-obs-archive-'));
  const config = `workers:
  - name: iii-observability
    config: { trace_storage: { enabled: true, directory: ./traces } }
`;
  try {
    let engine = await startEngine({ cwd: dir, config });
    let c = await connectRaw(engine.url);
    c.serve('arch::fn', () => ({ result: { ok: 1 } }));
    await c.sync();
    await c.call('arch::fn', {});
    let traceId;
    await waitFor(async () => {
      const r = await engineCall(c, 'engine::traces::list', { name: 'call arch::fn' });
      traceId = r.spans[0]?.trace_id;
      return !!traceId;
    }, 5000, 'the span');
    await c.terminate();
    await sleep(500); // the archive writes every 200 ms; stop() flushes too
    await engine.stop();
    engine = await startEngine({ cwd: dir, config });
    c = await connectRaw(engine.url);
    const r = await engineCall(c, 'engine::traces::list', { trace_id: traceId });
    assert.ok(r.spans.some((s) => s.name === 'call arch::fn'), JSON.stringify(r));
    const tree = await engineCall(c, 'engine::traces::tree', { trace_id: traceId });
    assert.equal(tree.roots[0].span.name, 'call arch::fn');
    assert.ok(r.storage.archive.segments >= 1);
    await c.terminate();
    await engine.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('alerts: a rule over the error count fires its function and its webhook, then waits for its cooldown', async () => {
  const hooks = [];
  const hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { hooks.push({ method: req.method, url: req.url, body: JSON.parse(body) }); res.end('{}'); });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  const engine = await startEngine({
    config: `workers:
  - name: iii-observability
    config:
      trace_storage: { enabled: false }
      alerts:
        - { name: errors-fn, metric: iii.invocations.error, threshold: 1, operator: ">=", window_seconds: 60,
            cooldown_seconds: 600, action: { type: function, path: "ops::page" } }
        - { name: errors-hook, metric: iii.invocations.error, threshold: 1, operator: greaterthanorequal,
            action: { type: webhook, url: "http://127.0.0.1:${hook.address().port}/alerts" } }
        - { name: quiet, metric: iii.invocations.error, threshold: 100, operator: ">" }
`,
  });
  try {
    const c = await connectRaw(engine.url);
    const paged = [];
    c.serve('ops::page', (m) => { paged.push(m.data); return { result: null }; });
    c.serve('obs::broken', () => ({ error: { code: 'boom', message: 'broken' } }));
    await c.sync();
    let listed = await engineCall(c, 'engine::alerts::list', {});
    assert.deepEqual(listed.alerts.map((a) => a.name), ['errors-fn', 'errors-hook', 'quiet']);
    assert.equal(listed.alerts[0].operator, 'greaterthanorequal');
    assert.equal(listed.alerts[1].action.url, `http://127.0.0.1:${hook.address().port}/alerts`);
    let r = await engineCall(c, 'engine::alerts::evaluate', {});
    assert.deepEqual(r.fired, [], 'nothing failed yet');
    await c.call('obs::broken', {});
    r = await engineCall(c, 'engine::alerts::evaluate', {});
    assert.deepEqual(r.fired.sort(), ['errors-fn', 'errors-hook']);
    await waitFor(() => paged.length === 1 && hooks.length === 1, 5000, 'the function and the webhook');
    assert.equal(paged[0].name, 'errors-fn');
    assert.equal(paged[0].firing, true);
    assert.ok(paged[0].last_value >= 1);
    assert.equal(hooks[0].method, 'POST');
    assert.equal(hooks[0].url, '/alerts');
    assert.equal(hooks[0].body.name, 'errors-hook');
    // errors-fn is in its cooldown; errors-hook has the default 60 s one.
    r = await engineCall(c, 'engine::alerts::evaluate', {});
    assert.deepEqual(r.fired, []);
    listed = await engineCall(c, 'engine::alerts::list', {});
    assert.equal(listed.alerts.find((a) => a.name === 'quiet').firing, false);
    assert.equal(listed.alerts.find((a) => a.name === 'errors-fn').fire_count, 1);
    const logs = await engineCall(c, 'engine::logs::list', { severity_text: 'warn' });
    assert.ok(logs.logs.some((l) => l.body.includes('alert errors-fn')), 'an alert is also a WARN log entry');
    await c.terminate();
  } finally {
    await engine.stop();
    await new Promise((r) => hook.close(r));
  }
});
