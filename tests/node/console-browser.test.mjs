// docs/builtins.md §15 (iii-console) in a real browser: Debian's chromium, driven by playwright-core,
// against the engine with an official-SDK worker. Every page loads without console errors and shows
// the engine's data; the invoke form shows a result; the state page edits a value; "Fire now" runs a
// cron job; a failing handler's message lands in the DLQ,
// shows on the queues page and is redriven from it; an HTTP request's trace shows its spans in the
// waterfall. A screenshot of each page is written under build/console-screenshots/ for review.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { TriggerAction } from 'iii-sdk';
import { III_BINARY, freePort, lifecycle, sdkSync, sdkWorker, startEngine, tcpConnects, waitFor } from './harness.mjs';

const CHROMIUM = process.env.III_CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(path.dirname(III_BINARY), 'console-screenshots');
const DEADLINE = 10_000;  // every wait in the page

let consolePort, httpPort, streamPort;
const ctx = lifecycle(async () => {
  [consolePort, httpPort, streamPort] = [await freePort(), await freePort(), await freePort()];
  return startEngine({
    config: `workers:
  - name: iii-console
    config: { port: ${consolePort} }
  - name: iii-http
    config: { host: 127.0.0.1, port: ${httpPort} }
  - name: iii-stream
    config: { host: 127.0.0.1, port: ${streamPort} }
  - name: queue
    config:
      queue_configs:
        jobs: { max_retries: 1, backoff_ms: 0 }
  - name: state
  - name: cron
  - name: iii-observability
    config: { exporter: memory, sampling_ratio: 1.0 }
`,
  });
});

let browser, W;
let healed = false;
const healedRuns = [];
const ticks = [];
const consoleErrors = [];
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

before(async () => {
  await ctx.ready;
  assert.ok(existsSync(CHROMIUM), `no chromium at ${CHROMIUM} (scripts/install-deps.sh installs Debian's)`);
  mkdirSync(SHOTS, { recursive: true });
  await waitFor(() => tcpConnects(consolePort), DEADLINE, 'console listening');
  await waitFor(() => tcpConnects(httpPort), DEADLINE, 'iii-http listening');
  // Its port too: a built-in that cannot bind (its free port taken meanwhile) is logged and
  // skipped by the engine, and the calls below would then fail as function_not_found.
  await waitFor(() => tcpConnects(streamPort), DEADLINE, 'iii-stream listening');
  W = sdkWorker(ctx.engine.url, 'shop', { otel: { enabled: true } });
  W.registerFunction('shop::add', async ({ a, b }) => ({ sum: a + b }), { description: 'Adds a and b' });
  W.registerFunction('shop::flaky', async (data) => {
    if (!healed) throw new Error('flaky failed: the payment service is down');
    healedRuns.push(data);
    return { ok: true };
  });
  W.registerFunction('shop::hello', async () => ({ status_code: 200, body: { hello: 'world' } }));
  W.registerFunction('shop::tick', async (data) => { ticks.push(data); return { ticked: ticks.length }; });
  W.registerTrigger({ type: 'http', function_id: 'shop::hello', config: { api_path: '/hello', http_method: 'GET' } });
  W.registerTrigger({ type: 'cron', function_id: 'shop::tick', config: { expression: '0 0 0 1 1 * 2099' } });
  await sdkSync(W);
  await W.trigger({ function_id: 'state::set', payload: { scope: 'carts', key: 'alice', value: { items: 3 } } });
  await W.trigger({ function_id: 'stream::set', payload: { stream_name: 'orders', group_id: 'live', item_id: 'o1', data: { id: 'o1', total: 42 } } });
  await W.trigger({ function_id: 'engine::log::warn', payload: { message: 'console test log line', service_name: 'shop' } });
  await W.trigger({ function_id: 'shop::add', payload: { a: 1, b: 2 } });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
});

after(async () => { if (browser) await browser.close(); });

async function openPage(route, { width = 1280, height = 800, theme = 'dark' } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  await context.addInitScript((t) => localStorage.setItem('iii-console-theme', t), theme);
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`${route}: ${m.text()}`); });
  page.on('pageerror', (e) => consoleErrors.push(`${route}: ${e.message}`));
  page.setDefaultTimeout(DEADLINE);
  await page.goto(`http://127.0.0.1:${consolePort}/${route}`);
  return page;
}

const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });

// Each page, and a text that proves it shows the engine's data.
const PAGES = [
  ['dashboard', '#/', 'shop::add'],
  ['workers', '#/workers/shop', 'shop::flaky'],
  ['functions', '#/functions', 'Adds a and b'],
  ['triggers', '#/triggers', '0 0 0 1 1 * 2099'],
  ['state', '#/state/carts', 'alice'],
  ['streams', '#/streams/orders/live', '"total":42'],
  ['queues', '#/queues', 'jobs'],
  ['traces', '#/traces', 'call shop::add'],
  ['logs', '#/logs', 'console test log line'],
];

test('every page loads without console errors and shows the engine\'s data', async () => {
  for (const [name, route, text] of PAGES) {
    const page = await openPage(route);
    await page.locator(`main[data-page="${name}"]`).getByText(text).first().waitFor();
    await page.locator('#live-status.on').waitFor();
    await shot(page, name);
    await page.context().close();
  }
  const light = await openPage('#/', { theme: 'light' });
  await light.getByText('shop::add').first().waitFor();
  for (const label of ['Workers', 'Functions', 'Calls', 'Errors']) {
    const value = light.locator('.card').filter({ has: light.locator('.label', { hasText: new RegExp(`^${label}$`, 'i') }) }).locator('.value');
    assert.match(await value.textContent(), /^\d+$/, `the ${label} card shows a count`);
  }
  assert.equal(await light.evaluate(() => document.documentElement.dataset.theme), 'light');
  await shot(light, 'dashboard-light');
  await light.context().close();
  const phone = await openPage('#/functions', { width: 390, height: 844 });
  await phone.getByText('shop::add').first().waitFor();
  assert.equal(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), true, 'no sideways scroll on a phone');
  await shot(phone, 'functions-phone');
  await phone.context().close();
  assert.deepEqual(consoleErrors, []);
});

test('the invoke form calls a worker function and shows its result, or its error', async () => {
  const page = await openPage('#/functions/shop::add');
  await page.locator('#invoke-payload').fill('{"a": 2, "b": 3}');
  await page.locator('#invoke-button').click();
  await page.locator('.invoke-ok').getByText('"sum": 5').waitFor();
  await shot(page, 'functions-invoked');
  await page.locator('#invoke-function').fill('shop::flaky');
  await page.locator('#invoke-button').click();
  await page.locator('.invoke-error').getByText('flaky failed').waitFor();
  await page.context().close();
  assert.deepEqual(consoleErrors, []);
});

test('the state page edits a value', async () => {
  const page = await openPage('#/state/carts');
  await page.locator('[data-table="state-keys"] tbody tr').filter({ hasText: 'alice' }).click();
  const editor = page.locator('main textarea');
  await page.waitForFunction(() => document.querySelector('main textarea')?.value.includes('"items": 3'));
  await editor.fill('{"items": 4}');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved.').waitFor();
  assert.deepEqual(await W.trigger({ function_id: 'state::get', payload: { scope: 'carts', key: 'alice' } }), { items: 4 });
  await page.context().close();
  assert.deepEqual(consoleErrors, []);
});

test('"Fire now" on the triggers page runs a cron job outside its schedule', async () => {
  const page = await openPage('#/triggers');
  const row = page.locator('[data-table="bindings"] tbody tr').filter({ hasText: 'shop::tick' });
  await row.getByRole('button', { name: 'Fire now' }).click();
  await page.locator('#toast').getByText('shop::tick: ran').waitFor();
  assert.equal(ticks.length, 1);
  assert.equal(ticks[0].trigger, 'cron');
  await page.context().close();
  assert.deepEqual(consoleErrors, []);
});

test('a failing handler\'s message lands in the DLQ, shows on the queues page and is redriven from it', async () => {
  healed = false;
  await W.trigger({ function_id: 'shop::flaky', payload: { order: 7 }, action: TriggerAction.Enqueue({ queue: 'jobs' }) });
  const page = await openPage('#/queues/jobs');
  const row = page.locator('[data-table="dlq-messages"] tbody tr').filter({ hasText: 'payment service is down' });
  await row.waitFor();
  await shot(page, 'queues-dlq');
  healed = true;
  await row.locator('button.redrive').click();
  await waitFor(() => healedRuns.some((d) => d.order === 7), DEADLINE, 'the redriven message delivered');
  await page.locator('[data-table="dlq-messages"]').getByText('No dead letter left in jobs').waitFor();
  await page.context().close();
  assert.deepEqual(consoleErrors, []);
});

test('the trace of an HTTP request shows its spans in the waterfall', async () => {
  const status = await new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${httpPort}/hello`, { headers: { traceparent: `00-${TRACE_ID}-b7ad6b7169203331-01` } },
      (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
  });
  assert.equal(status, 200);
  const page = await openPage(`#/traces/${TRACE_ID}`);
  await page.locator('#waterfall .wf-span').filter({ hasText: 'call shop::hello' }).waitFor();
  await page.locator('#waterfall .wf-span').filter({ hasText: 'execute shop::hello' }).waitFor();
  await shot(page, 'traces-waterfall');
  await page.context().close();
  assert.deepEqual(consoleErrors, []);
});
