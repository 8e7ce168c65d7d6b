// RBAC after authentication (docs/security.md): every call is checked in order (forbidden,
// allowed, infrastructure, expose_functions, else FORBIDDEN), registrations go through the hooks,
// a prefix and the session's grants, the middleware sees every non-engine call with the
// session's context, and introspection shows only what the session may call.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  connectRaw, engineCall, lifecycle, sdkCallError, sdkSync, sdkWorker, sdkWorkerId, sleep, UUID_RE, waitFor,
} from './harness.mjs';
import { bearer, startRbacEngine, startTrustedWorker } from './rbac-support.mjs';

const ctx = lifecycle(startRbacEngine);
let trusted; let good; let q;

before(async () => {
  await ctx.ready;
  trusted = await startTrustedWorker(ctx.engine);
  q = await connectRaw(ctx.engine.urls.main);  // a plain, trusted client for checks
  good = await connectRaw(ctx.engine.urls.rbac, { wsOptions: { headers: bearer('good') } });
});

const countLines = (pattern) => ctx.engine.logs().split('\n').filter((l) => pattern.test(l)).length;

test('exposed by glob, by metadata, by allowed_functions and the infrastructure ids: allowed', async () => {
  for (const id of ['api::echo', 'pub::meta', 'extra::allowed']) {
    const r = await good.call(id, { n: 1 });
    assert.equal(r.error, undefined, `${id}: ${JSON.stringify(r.error)}`);
    assert.equal(r.result.id, id);
  }
  const channel = await good.call('engine::channels::create', {});
  assert.equal(channel.error, undefined, 'engine::channels::create is in the carve-out');
  assert.match(channel.result.writer.channel_id, UUID_RE);
});

test('not exposed: FORBIDDEN, nothing reaches the function, and the denial is logged once with its rule', async () => {
  const before = trusted.seen.calls.length;
  const r = await good.call('internal::secret', {});
  assert.equal(r.error.code, 'FORBIDDEN');
  assert.equal(r.error.message, "function 'internal::secret' not allowed (add to rbac.expose_functions)");
  const meta = await good.call('priv::meta', {});
  assert.equal(meta.error.code, 'FORBIDDEN', 'a metadata filter that does not match does not expose');
  assert.equal(trusted.seen.calls.length, before, 'the function never ran');
  await waitFor(() => countLines(/call to internal::secret denied/) === 1, 2000, 'one log line');
  await sleep(200);
  assert.equal(countLines(/call to internal::secret denied/), 1, 'logged once');
  assert.match(ctx.engine.logs(), new RegExp(`rbac 127\\.0\\.0\\.1:\\d+: worker ${good.workerId}: call to internal::secret denied: no allowed_functions or expose_functions entry matches`));
});

test('a forbidden_functions glob beats expose_functions', async () => {
  const r = await good.call('api::blocked-one', {});
  assert.equal(r.error.code, 'FORBIDDEN');
  assert.equal(r.error.message, "function 'api::blocked-one' not allowed (remove from rbac.forbidden_functions)");
  await waitFor(() => countLines(/call to api::blocked-one denied: forbidden_functions entry "api::blocked\*"/) === 1, 2000, 'log');
});

test('a denied void call is still answered with an invocationresult (a made-up id)', async () => {
  const since = good.mark();
  good.send({ type: 'invokefunction', function_id: 'internal::secret', data: {}, action: { type: 'void' } });
  const r = await good.waitFrame((m) => m.type === 'invocationresult', 3000, { since });
  assert.equal(r.error.code, 'FORBIDDEN');
  assert.match(r.invocation_id, UUID_RE);
  const enqueue = await good.call('internal::secret', {}, { extra: { action: { type: 'enqueue', queue: 'q' } } });
  assert.equal(enqueue.error.code, 'FORBIDDEN', 'an enqueue to a denied function is denied before the queue');
});

test('engine::register_trigger and engine::queue-style indirection cannot reach a denied function', async () => {
  const r = await good.call('engine::register_trigger', { trigger_type: 'sec-type', function_id: 'internal::secret', config: {} });
  assert.equal(r.error.code, 'FORBIDDEN');
  const ok = await good.call('engine::register_trigger', { trigger_type: 'sec-type', function_id: 'api::echo', config: {} });
  assert.equal(ok.error, undefined, JSON.stringify(ok.error));
});

test('the official SDK sees a denial as a rejected trigger() with code FORBIDDEN', async () => {
  const w = sdkWorker(ctx.engine.urls.rbac, 'rbac-sdk-caller', { headers: bearer('good') });
  await sdkWorkerId(w);
  const e = await sdkCallError(w, { function_id: 'internal::secret', payload: {} });
  assert.equal(e.code, 'FORBIDDEN');
  assert.deepEqual(await w.trigger({ function_id: 'api::echo', payload: { x: 1 } }), { id: 'api::echo', payload: { x: 1 } });
});

test('registration hook: the hook sees id, metadata and context; a throw denies; a rewrite renames', async () => {
  const w = sdkWorker(ctx.engine.urls.rbac, 'rbac-registrar', { headers: bearer('good') });
  w.registerFunction('api::mine', async () => 'mine', { metadata: { team: 'x' } });
  w.registerFunction('deny::me', async () => 'no');
  w.registerFunction('rename', async () => 'renamed');
  await sdkWorkerId(w);
  await sdkSync(w);
  await waitFor(() => trusted.seen.onFn.some((i) => i.function_id === 'rename'), 3000, 'hook calls');
  const mine = trusted.seen.onFn.find((i) => i.function_id === 'api::mine');
  assert.deepEqual(mine.metadata, { team: 'x' });
  assert.deepEqual(mine.context, { user: 'alice' }, 'the auth context reaches the hook');
  await waitFor(async () => (await q.call('api::renamed', {})).result === 'renamed', 3000, 'api::renamed registered');
  assert.equal((await q.call('api::mine', {})).result, 'mine');
  assert.equal((await q.call('deny::me', {})).error.code, 'function_not_found', 'denied by the hook: never registered');
  assert.equal((await q.call('rename', {})).error.code, 'function_not_found', 'registered under the new id only');
  await waitFor(() => countLines(/registration of function deny::me denied: hook sec::on_fn failed/) === 1, 2000, 'log');
});

test('registration hook that throws or never answers denies (fail closed)', async () => {
  const w = sdkWorker(ctx.engine.urls.rbac, 'rbac-hook-fail', { headers: bearer('good') });
  w.registerFunction('hook::throw', async () => 'x');
  w.registerFunction('hook::hang', async () => 'x');
  await sdkWorkerId(w);
  await waitFor(() => countLines(/registration of function hook::hang denied: hook sec::on_fn failed: timeout/) === 1,
    5000, 'the hang meets the invocation deadline');
  await waitFor(() => countLines(/registration of function hook::throw denied/) === 1, 2000, 'log');
  assert.equal((await q.call('hook::throw', {})).error.code, 'function_not_found');
  assert.equal((await q.call('hook::hang', {})).error.code, 'function_not_found');
});

test('a worker behind RBAC cannot take over an id another worker registered, nor an engine:: id', async () => {
  const w = sdkWorker(ctx.engine.urls.rbac, 'rbac-hijacker', { headers: bearer('good') });
  w.registerFunction('api::echo', async () => 'hijacked');
  w.registerFunction('engine::functions::list', async () => 'hijacked');
  await sdkWorkerId(w);
  await waitFor(() => countLines(/registration of function api::echo denied: the id is registered by worker/) === 1, 3000, 'log');
  await waitFor(() => countLines(/registration of function engine::functions::list denied: engine:: ids are reserved/) === 1, 3000, 'log');
  assert.equal((await q.call('api::echo', { k: 1 })).result.id, 'api::echo', 'still the trusted worker');
});

test('allow_function_registration false: nothing the session registers lands', async () => {
  const w = sdkWorker(ctx.engine.urls.rbac, 'rbac-readonly', { headers: bearer('readonly') });
  w.registerFunction('api::ro-fn', async () => 'ro');
  await sdkWorkerId(w);
  await sdkSync(w);
  await waitFor(() => countLines(/registration of function api::ro-fn denied: the auth result sets allow_function_registration: false/) === 1, 3000, 'log');
  assert.equal((await q.call('api::ro-fn', {})).error.code, 'function_not_found');
});

test('a registration prefix: registered as <prefix>::<id>, called back by the id the worker knows', async () => {
  const w = sdkWorker(ctx.engine.urls.rbac, 'rbac-tenant', { headers: bearer('tenant') });
  w.registerFunction('job', async ({ _caller_worker_id: caller, ...p }) => ({ ran: 'job', p }));
  await sdkWorkerId(w);
  await sdkSync(w);
  await waitFor(async () => !(await q.call('acme::job', { a: 1 })).error, 3000, 'acme::job registered');
  assert.deepEqual((await q.call('acme::job', { a: 1 })).result, { ran: 'job', p: { a: 1 } });
  assert.equal((await q.call('job', {})).error.code, 'function_not_found', 'not under the bare id');
  // The worker calls its own function by the id it registered.
  assert.deepEqual(await w.trigger({ function_id: 'job', payload: { b: 2 } }), { ran: 'job', p: { b: 2 } });
});

test('trigger types: denied by default, registered (through the hook) when the grant allows it', async () => {
  const plain = sdkWorker(ctx.engine.urls.rbac, 'rbac-type-denied', { headers: bearer('good') });
  plain.registerTriggerType({ id: 'evil-type', description: 'x' }, { async registerTrigger() {}, async unregisterTrigger() {} });
  const typer = sdkWorker(ctx.engine.urls.rbac, 'rbac-typer', { headers: bearer('typer') });
  typer.registerTriggerType({ id: 'typer-type', description: 'original' }, { async registerTrigger() {}, async unregisterTrigger() {} });
  await Promise.all([sdkWorkerId(plain), sdkWorkerId(typer)]);
  await waitFor(async () => (await engineCall(q, 'engine::triggers::list', {})).triggers.some((t) => t.id === 'typer-type'), 3000, 'typer-type');
  const types = (await engineCall(q, 'engine::triggers::list', {})).triggers;
  assert.equal(types.find((t) => t.id === 'typer-type').description, 'rewritten by the hook');
  assert.ok(!types.some((t) => t.id === 'evil-type'), 'evil-type was not registered');
  await waitFor(() => countLines(/registration of trigger type evil-type denied: the auth result does not set allow_trigger_type_registration: true/) === 1, 2000, 'log');
  assert.deepEqual(trusted.seen.onType.find((i) => i.trigger_type_id === 'typer-type').context, { user: 'typer' });
});

test('triggers: type outside allowed_trigger_types, a hook denial and a denied target are answered REGISTRATION_DENIED', async () => {
  const c = await connectRaw(ctx.engine.urls.rbac, { wsOptions: { headers: bearer('good') } });
  c.serve('api::own-target', () => ({ result: 'own' }));
  await c.sync();
  const register = async (id, type, fn, config = {}) => {
    const since = c.mark();
    c.send({ type: 'registertrigger', id, trigger_type: type, function_id: fn, config });
    return c.waitFrame((m) => m.type === 'triggerregistrationresult' && m.id === id, 1500, { since }).catch(() => null);
  };
  const wrongType = await register('t-type', 'other-type', 'api::own-target');
  assert.equal(wrongType.error.code, 'REGISTRATION_DENIED');
  assert.match(wrongType.error.message, /trigger type 'other-type' not allowed/);
  const hookDenied = await register('t-hook', 'sec-type', 'api::own-target', { deny: true });
  assert.equal(hookDenied.error.code, 'REGISTRATION_DENIED');
  const target = await register('t-target', 'sec-type', 'internal::secret');
  assert.equal(target.error.code, 'REGISTRATION_DENIED');
  assert.equal(target.error.message, "function 'internal::secret' not allowed (add to rbac.expose_functions)");
  const ok = await register('t-ok', 'sec-type', 'api::own-target', { every: 'minute' });
  assert.equal(ok, null, 'an accepted binding is not answered');
  await waitFor(() => trusted.seen.bindings.some((b) => b.id === 't-ok'), 3000, 'the provider got the binding');
  assert.ok(!trusted.seen.bindings.some((b) => ['t-type', 't-hook', 't-target'].includes(b.id)), 'no denied binding reached the provider');
  const hookInput = trusted.seen.onTrigger.find((i) => i.trigger_id === 't-ok');
  assert.deepEqual(hookInput.config, { every: 'minute' });
  assert.deepEqual(hookInput.context, { user: 'alice' });
});

test('unregistertrigger from a session removes only its own bindings', async () => {
  const binding = await engineCall(q, 'engine::register_trigger', { trigger_type: 'sec-type', function_id: 'api::echo', config: {} });
  const c = await connectRaw(ctx.engine.urls.rbac, { wsOptions: { headers: bearer('good') } });
  c.send({ type: 'unregistertrigger', id: binding.id, trigger_type: 'sec-type' });
  await c.sync();
  const live = (await engineCall(q, 'engine::registered-triggers::list', {})).registered_triggers;
  assert.ok(live.some((t) => t.id === binding.id), 'the trusted binding survives');
});

test('introspection from an RBAC session lists only what the session may call (and its own)', async () => {
  const c = await connectRaw(ctx.engine.urls.rbac, { wsOptions: { headers: bearer('good') } });
  c.serve('api::introspect-own', () => ({ result: 1 }));
  await waitFor(async () => !(await q.call('api::introspect-own', {})).error, 3000, 'registered through the hook');
  const ids = (await engineCall(c, 'engine::functions::list', { include_internal: true })).functions.map((f) => f.function_id);
  for (const id of ['api::echo', 'pub::meta', 'extra::allowed', 'api::introspect-own', 'engine::functions::list', 'engine::channels::create'])
    assert.ok(ids.includes(id), `${id} listed: ${ids}`);
  for (const id of ['internal::secret', 'priv::meta', 'api::blocked-one', 'sec::auth', 'engine::workers::list'])
    assert.ok(!ids.includes(id), `${id} hidden: ${ids}`);
  const all = (await engineCall(q, 'engine::functions::list', {})).functions.map((f) => f.function_id);
  assert.ok(all.includes('internal::secret'), 'the plain listener still sees everything');
});

test('middleware: every non-engine call goes through it with the session context; engine:: calls bypass it', async () => {
  const c = await connectRaw(ctx.engine.urls.mw, { wsOptions: { headers: bearer('good') } });
  const before = trusted.seen.middleware.length;
  const r = await c.call('api::echo', { a: 1 });
  assert.equal(r.error, undefined, JSON.stringify(r.error));
  assert.deepEqual(r.result, { id: 'api::echo', payload: { a: 1, via: 'middleware', user: 'alice' } });
  const seen = trusted.seen.middleware.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].function_id, 'api::echo');
  assert.deepEqual(seen[0].payload, { a: 1 });
  assert.deepEqual(seen[0].context, { user: 'alice' });
  assert.equal(seen[0].action, undefined, 'a synchronous call has no action');
  const denied = await c.call('api::deny-in-middleware', {});
  assert.equal(denied.error.code, 'invocation_failed');
  assert.match(denied.error.message, /middleware says no/);
  const chan = await c.call('engine::channels::create', {});
  assert.equal(chan.error, undefined);
  assert.equal(trusted.seen.middleware.length, before + 2, 'engine::channels::create did not go through the middleware');
  // A void call reaches the middleware with its action.
  c.send({ type: 'invokefunction', function_id: 'api::echo', data: { v: 1 }, action: { type: 'void' } });
  await waitFor(() => trusted.seen.middleware.length === before + 3, 3000, 'void call through the middleware');
  assert.deepEqual(trusted.seen.middleware.at(-1).action, { type: 'void' });
  // The middleware does not widen access: a denied function is refused before it.
  const forbidden = await c.call('internal::secret', {});
  assert.equal(forbidden.error.code, 'FORBIDDEN');
  await sleep(100);
  assert.equal(trusted.seen.middleware.length, before + 3);
});
