// Shared setup of the RBAC tests (docs/security.md): an engine with four listeners and a trusted
// official-SDK worker on the plain one that provides the auth function, the registration hooks,
// the middleware and the functions the untrusted side tries to reach.
//
//   main   plain listener (the trusted worker connects here)
//   rbac   auth_function_id + the three hooks + expose_functions (globs and a metadata filter)
//   mw     auth_function_id + middleware_function_id, expose_functions api::*
//   broken auth_function_id names a function nobody registers (fail closed)
//   open   no auth function (the permissive default session), a registration hook and a middleware
//          that nobody registers (fail closed)
import { freePort, sdkSync, sdkWorker, sdkWorkerId, sleep, startEngine } from './harness.mjs';

// Tokens the auth function knows (Authorization: Bearer <token>, or ?token=<token>).
export const GRANTS = {
  good: {
    allowed_functions: ['extra::allowed'],
    forbidden_functions: ['api::blocked*'],
    allowed_trigger_types: ['sec-type'],
    context: { user: 'alice' },
  },
  typer: { allow_trigger_type_registration: true, context: { user: 'typer' } },
  readonly: { allow_function_registration: false, context: { user: 'ro' } },
  tenant: { function_registration_prefix: 'acme', allowed_trigger_types: ['sec-type'], context: { user: 'tenant' } },
};

export async function startRbacEngine() {
  const ports = { rbac: await freePort(), mw: await freePort(), broken: await freePort(), open: await freePort() };
  const config = `workers:
  - name: iii-worker-manager
    config: { host: 127.0.0.1 }
  - name: iii-worker-manager
    config:
      port: ${ports.rbac}
      host: 127.0.0.1
      handshake_timeout_ms: 1000
      rbac:
        auth_function_id: sec::auth
        on_function_registration_function_id: sec::on_fn
        on_trigger_registration_function_id: sec::on_trigger
        on_trigger_type_registration_function_id: sec::on_type
        expose_functions:
          - match("api::*")
          - match("engine::functions::list")
          - match("engine::register_trigger")
          - metadata:
              public: true
  - name: iii-worker-manager
    config:
      port: ${ports.mw}
      host: 127.0.0.1
      middleware_function_id: sec::middleware
      rbac:
        auth_function_id: sec::auth
        expose_functions: ['match("api::*")']
  - name: iii-worker-manager
    config:
      port: ${ports.broken}
      host: 127.0.0.1
      rbac: { auth_function_id: sec::missing }
  - name: iii-worker-manager
    config:
      port: ${ports.open}
      host: 127.0.0.1
      middleware_function_id: sec::no-middleware
      rbac:
        on_function_registration_function_id: sec::no-hook
        expose_functions: ['match("api::*")']
`;
  // Hooks that hang meet the engine's invocation deadline (1.5 s) instead of the default 30 s.
  const engine = await startEngine({ config, invocationTimeoutMs: 1500 });
  engine.urls = {
    main: engine.url,
    rbac: `ws://127.0.0.1:${ports.rbac}`,
    mw: `ws://127.0.0.1:${ports.mw}`,
    broken: `ws://127.0.0.1:${ports.broken}`,
    open: `ws://127.0.0.1:${ports.open}`,
  };
  return engine;
}

/** The trusted worker: auth, hooks, middleware and the target functions. Returns what it records. */
export async function startTrustedWorker(engine) {
  const seen = { auth: [], onFn: [], onTrigger: [], onType: [], middleware: [], bindings: [], calls: [] };
  const w = sdkWorker(engine.urls.main, 'trusted');
  w.registerFunction('sec::auth', async (input) => {
    seen.auth.push(input);
    const header = input.headers?.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : input.query_params?.token?.[0];
    if (token === 'expired') throw new Error('token expired');
    if (token === 'weird') return 'yes';
    if (token === 'slow') { await sleep(3000); return {}; }
    const grant = GRANTS[token];
    if (!grant) throw new Error(`unknown token ${JSON.stringify(token ?? null)}`);
    return grant;
  });
  w.registerFunction('sec::on_fn', async (input) => {
    seen.onFn.push(input);
    if (input.function_id.startsWith('deny::') || input.function_id === 'hook::throw') throw new Error('not on my watch');
    if (input.function_id === 'hook::hang') { await sleep(5000); return {}; }
    if (input.function_id === 'rename') return { function_id: 'api::renamed', description: 'renamed by the hook' };
    return {};
  });
  w.registerFunction('sec::on_trigger', async (input) => {
    seen.onTrigger.push(input);
    if (input.config && input.config.deny) throw new Error('trigger refused by the hook');
    return {};
  });
  w.registerFunction('sec::on_type', async (input) => {
    seen.onType.push(input);
    return { description: 'rewritten by the hook' };
  });
  w.registerFunction('sec::middleware', async (input) => {
    seen.middleware.push(input);
    if (input.function_id === 'api::deny-in-middleware') throw new Error('middleware says no');
    return w.trigger({
      function_id: input.function_id,
      payload: { ...input.payload, via: 'middleware', user: input.context?.user ?? null },
    });
  });
  const record = (id) => async ({ _caller_worker_id: caller, ...payload }) => {
    seen.calls.push({ id, payload, caller });
    return { id, payload };
  };
  for (const id of ['api::echo', 'api::blocked-one', 'internal::secret', 'extra::allowed'])
    w.registerFunction(id, record(id));
  w.registerFunction('pub::meta', record('pub::meta'), { metadata: { public: true } });
  w.registerFunction('priv::meta', record('priv::meta'), { metadata: { public: false } });
  for (const type of ['sec-type', 'other-type']) {
    w.registerTriggerType({ id: type, description: type }, {
      async registerTrigger(c) { seen.bindings.push({ type, ...c }); },
      async unregisterTrigger() {},
    });
  }
  await sdkSync(w);
  await sdkWorkerId(w);
  return { worker: w, seen };
}

export const bearer = (token) => ({ authorization: `Bearer ${token}` });
