// §2.5–§2.9, §3.9: worker-provided trigger types, bindings from other workers, parking.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { TriggerAction } from 'iii-sdk';
import {
  connectRaw, engineCall, engineLifecycle, sdkSync, sdkWorker, shutdownSdk, UUID_RE, waitFor,
} from './harness.mjs';

const ctx = engineLifecycle();
let B; let q;
const targetCalls = [];

/** A TriggerHandler that records what the engine asked of it. */
function recordingHandler(rejectIf = () => false) {
  const h = {
    registered: [],
    unregistered: [],
    async registerTrigger(cfg) {
      h.registered.push(cfg);
      if (rejectIf(cfg)) throw new Error('bad config');
    },
    async unregisterTrigger(cfg) { h.unregistered.push(cfg); },
  };
  return h;
}

async function liveTriggers(filter) {
  const r = await engineCall(q, 'engine::registered-triggers::list', filter);
  assert.ok(Array.isArray(r.registered_triggers), `bad list result ${JSON.stringify(r)}`);
  return r.registered_triggers;
}

// The binder worker B (serving hooks::target) and a raw query client, shared by every test.
before(async () => {
  await ctx.ready;
  B = sdkWorker(ctx.engine.url, 'trig-binder');
  B.registerFunction('hooks::target', async (data, metadata) => { targetCalls.push({ data, metadata }); return null; });
  q = await connectRaw(ctx.engine.url);
  await sdkSync(B);
});

/**
 * A provider worker registers trigger type `typeId` (a recording handler), then B binds
 * hooks::target to it with config {path:'/x'} and metadata {tag:1}; waits until the provider got
 * that binding. Each test uses its own type id, so no test depends on another's bindings.
 * Returns {provider (the SDK worker), handler, trigger (B's binding), id (the binding id)}.
 */
async function providerAndBinding(typeId, providerName) {
  const handler = recordingHandler();
  const provider = sdkWorker(ctx.engine.url, providerName);
  provider.registerTriggerType({ id: typeId, description: 'Webhook trigger' }, handler);
  await sdkSync(provider);
  const trigger = B.registerTrigger({ type: typeId, function_id: 'hooks::target', config: { path: '/x' }, metadata: { tag: 1 } });
  await waitFor(() => handler.registered.length === 1, 3000, 'provider got registerTrigger');
  return { provider, handler, trigger, id: handler.registered[0].id };
}

test('provider first: A registers type "webhook", B binds → A receives the binding with config', async () => {
  const { handler: webhook, id: webhookId } = await providerAndBinding('webhook', 'trig-provider');
  const b = webhook.registered[0];
  assert.match(b.id, UUID_RE);
  assert.equal(b.function_id, 'hooks::target');
  assert.deepEqual(b.config, { path: '/x' });
  assert.deepEqual(b.metadata, { tag: 1 });

  const live = await liveTriggers({ trigger_type: 'webhook' });
  const row = live.find((t) => t.id === webhookId);
  assert.ok(row, `binding not listed: ${JSON.stringify(live)}`);
  assert.equal(row.trigger_type, 'webhook');
  assert.equal(row.function_id, 'hooks::target');
  assert.deepEqual(row.config, { path: '/x' });
});

test('the provider fires by calling the bound function with an ordinary invocation', async () => {
  const { provider: A } = await providerAndBinding('webhook-fire', 'trig-provider-fire');
  targetCalls.length = 0;
  await A.trigger({ function_id: 'hooks::target', payload: { event: 'push' }, action: TriggerAction.Void(), metadata: { tag: 1 } });
  await waitFor(() => targetCalls.length === 1, 3000, 'bound function invoked');
  assert.equal(targetCalls[0].data.event, 'push');
  assert.deepEqual(targetCalls[0].metadata, { tag: 1 });
});

test('E→W registertrigger / unregistertrigger frames have the spec shape (raw provider, raw binder)', async () => {
  const provider = await connectRaw(ctx.engine.url);
  provider.send({ type: 'registertriggertype', id: 'rawtype', description: 'Raw type' });
  await provider.sync();
  const binder = await connectRaw(ctx.engine.url);
  const id = crypto.randomUUID();
  // config omitted on purpose: the engine must treat it as null and still send the key.
  binder.send({ type: 'registertrigger', id, trigger_type: 'rawtype', function_id: 'raw::bound', message_type: 'registertrigger' });
  const reg = await provider.waitFrame((m) => m && m.type === 'registertrigger' && m.id === id, 3000, { label: 'registertrigger to provider' });
  assert.equal(reg.trigger_type, 'rawtype');
  assert.equal(reg.function_id, 'raw::bound');
  assert.ok('config' in reg, 'config key must always be present');
  assert.equal(reg.config, null);
  assert.equal('metadata' in reg, false, 'metadata omitted when absent');
  provider.send({ type: 'triggerregistrationresult', id, trigger_type: 'rawtype', function_id: 'raw::bound' });

  const mark = provider.mark();
  binder.send({ type: 'unregistertrigger', id, trigger_type: 'rawtype' });
  const unreg = await provider.waitFrame((m) => m && m.type === 'unregistertrigger' && m.id === id, 3000, { since: mark, label: 'unregistertrigger' });
  assert.equal(unreg.trigger_type, 'rawtype', 'trigger_type is required on E→W unregistertrigger');
  // Success acks are never forwarded to the binder.
  assert.ok(await binder.noFrame((m) => m && m.type === 'triggerregistrationresult', 200, 0));
  await binder.close();
  await provider.close();
});

test('bind first, provider later: the binding is parked (not listed, no error) and delivered when the type appears', async () => {
  const rawBinder = await connectRaw(ctx.engine.url);
  const rawId = crypto.randomUUID();
  rawBinder.send({ type: 'registertrigger', id: rawId, trigger_type: 'late-hook', function_id: 'hooks::late_raw', config: { n: 2 } });
  B.registerTrigger({ type: 'late-hook', function_id: 'hooks::target', config: { late: true } });
  await sdkSync(B);
  await rawBinder.sync();
  assert.ok(await rawBinder.noFrame((m) => m && m.type === 'triggerregistrationresult', 300, 0), 'no error for a binding to an unknown type');
  assert.deepEqual((await liveTriggers({ trigger_type: 'late-hook' })).map((t) => t.id), [], 'pending bindings are not live');

  const late = recordingHandler();
  const P = sdkWorker(ctx.engine.url, 'trig-late-provider');
  P.registerTriggerType({ id: 'late-hook', description: 'Late hook' }, late);
  await waitFor(() => late.registered.length === 2, 3000, `both parked bindings delivered (got ${JSON.stringify(late.registered)})`);
  const sdkBinding = late.registered.find((r) => r.function_id === 'hooks::target');
  assert.deepEqual(sdkBinding.config, { late: true });
  const rawBinding = late.registered.find((r) => r.id === rawId);
  assert.deepEqual(rawBinding.config, { n: 2 });
  await waitFor(async () => (await liveTriggers({ trigger_type: 'late-hook' })).length === 2, 3000, 'both bindings live');
  await rawBinder.close();
});

test('provider rejects → binder gets triggerregistrationresult error and the binding is not active', async () => {
  const picky = recordingHandler((cfg) => cfg.config && cfg.config.bad);
  const P = sdkWorker(ctx.engine.url, 'trig-picky');
  P.registerTriggerType({ id: 'picky', description: 'Rejects bad configs' }, picky);
  await sdkSync(P);
  const binder = await connectRaw(ctx.engine.url);
  binder.serve('picky::fn', () => ({ result: null }));
  const bad = crypto.randomUUID(); const good = crypto.randomUUID();
  binder.send({ type: 'registertrigger', id: bad, trigger_type: 'picky', function_id: 'picky::fn', config: { bad: true }, message_type: 'registertrigger' });
  binder.send({ type: 'registertrigger', id: good, trigger_type: 'picky', function_id: 'picky::fn', config: { bad: false } });
  const err = await binder.waitFrame((m) => m && m.type === 'triggerregistrationresult' && m.id === bad, 3000,
    { label: 'error forwarded to binder' });
  assert.equal(err.trigger_type, 'picky');
  assert.equal(err.function_id, 'picky::fn');
  assert.deepEqual(err.error, { code: 'trigger_registration_failed', message: 'bad config' });

  await waitFor(async () => {
    const ids = (await liveTriggers({ trigger_type: 'picky' })).map((t) => t.id);
    return !ids.includes(bad) && ids.includes(good);
  }, 3000, 'rejected binding inactive, accepted one live');
  assert.ok(await binder.noFrame((m) => m && m.type === 'triggerregistrationresult' && m.id === good, 300, 0),
    'success is not forwarded');

  // Binder disconnects → the provider is told to unregister its live binding.
  await binder.close();
  await waitFor(() => picky.unregistered.some((u) => u.id === good), 3000, 'provider got unregisterTrigger on binder disconnect');
  await waitFor(async () => (await liveTriggers({ trigger_type: 'picky' })).length === 0, 3000, 'binder\'s bindings removed');
});

test('provider disconnects → binding parked, re-delivered to a new provider with the same id', async () => {
  const first = recordingHandler();
  const P1 = sdkWorker(ctx.engine.url, 'relay-provider-1');
  P1.registerTriggerType({ id: 'relay-hook', description: 'Relay' }, first);
  await sdkSync(P1);
  B.registerTrigger({ type: 'relay-hook', function_id: 'hooks::target', config: { relay: 1 }, metadata: { m: 'x' } });
  await waitFor(() => first.registered.length === 1, 3000, 'first provider got binding');
  const id = first.registered[0].id;

  await shutdownSdk(P1);
  await waitFor(async () => !(await liveTriggers({ trigger_type: 'relay-hook' })).some((t) => t.id === id), 3000,
    'binding no longer live after the provider left');
  const types = await engineCall(q, 'engine::triggers::list', {});
  assert.ok(!types.triggers.some((t) => t.id === 'relay-hook'), 'trigger type removed with its provider');

  const second = recordingHandler();
  const P2 = sdkWorker(ctx.engine.url, 'relay-provider-2');
  P2.registerTriggerType({ id: 'relay-hook', description: 'Relay' }, second);
  await waitFor(() => second.registered.length === 1, 3000, 'binding re-delivered to the new provider');
  assert.equal(second.registered[0].id, id);
  assert.equal(second.registered[0].function_id, 'hooks::target');
  assert.deepEqual(second.registered[0].config, { relay: 1 });
  assert.deepEqual(second.registered[0].metadata, { m: 'x' });
  await waitFor(async () => (await liveTriggers({ trigger_type: 'relay-hook' })).some((t) => t.id === id), 3000, 'live again');
  assert.equal(first.unregistered.length, 0);
});

test('a second provider of the same type replaces the first and receives the existing bindings', async () => {
  const first = recordingHandler();
  const P1 = sdkWorker(ctx.engine.url, 'swap-provider-1');
  P1.registerTriggerType({ id: 'swap-hook', description: 'Swap' }, first);
  await sdkSync(P1);
  B.registerTrigger({ type: 'swap-hook', function_id: 'hooks::target', config: { swap: 1 } });
  await waitFor(() => first.registered.length === 1, 3000, 'first provider got binding');
  const second = recordingHandler();
  const P2 = sdkWorker(ctx.engine.url, 'swap-provider-2');
  P2.registerTriggerType({ id: 'swap-hook', description: 'Swap v2' }, second);
  await waitFor(() => second.registered.length === 1, 3000, 'existing binding re-sent to the new provider');
  assert.equal(second.registered[0].id, first.registered[0].id);
  assert.deepEqual(second.registered[0].config, { swap: 1 });
  const d = await engineCall(q, 'engine::triggers::info', { id: 'swap-hook' });
  assert.equal(d.worker_name, 'swap-provider-2');
  assert.equal(d.description, 'Swap v2');
  // The old provider leaving must not remove the type now owned by P2 (ownership-aware cleanup).
  await shutdownSdk(P1);
  await new Promise((r) => setTimeout(r, 300)); // let the engine process P1's disconnect
  const after = await engineCall(q, 'engine::triggers::info', { id: 'swap-hook' });
  assert.equal(after.worker_name, 'swap-provider-2');
  assert.ok((await liveTriggers({ trigger_type: 'swap-hook' })).some((t) => t.id === first.registered[0].id), 'binding still live');
});

test('B unregisters → A\'s unregisterTrigger is called and the binding disappears', async () => {
  const { handler: webhook, trigger: webhookTrigger, id: webhookId } = await providerAndBinding('webhook-unreg', 'trig-provider-unreg');
  assert.ok(webhookTrigger, 'B got a trigger handle for its binding');
  webhookTrigger.unregister();
  await waitFor(() => webhook.unregistered.length === 1, 3000, 'provider got unregisterTrigger');
  assert.equal(webhook.unregistered[0].id, webhookId);
  await waitFor(async () => !(await liveTriggers({ trigger_type: 'webhook-unreg' })).some((t) => t.id === webhookId), 3000,
    'binding removed');
});

test('B disconnects → providers are told to unregister all of B\'s bindings', async () => {
  const { handler: webhook, id: bId } = await providerAndBinding('webhook-disc', 'trig-provider-disc');
  const binder = sdkWorker(ctx.engine.url, 'trig-binder-2');
  binder.registerTrigger({ type: 'webhook-disc', function_id: 'hooks::target', config: { who: 2 } });
  await waitFor(() => webhook.registered.length === 2, 3000, 'second webhook binding delivered');
  const id = webhook.registered[1].id;
  await shutdownSdk(binder);
  await waitFor(() => webhook.unregistered.some((u) => u.id === id), 3000, 'unregisterTrigger after binder left');
  assert.ok(!webhook.unregistered.some((u) => u.id === bId), 'the binding of B, which stays connected, was unregistered');
  ctx.engine.assertAlive();
});
