// iii console: the dashboard and the workers page.
'use strict';

function sparkline(values) {
  const max = Math.max(1, ...values);
  const n = Math.max(values.length - 1, 1);
  const points = values.map((v, i) => `${(i / n) * 100},${28 - (v / max) * 26}`).join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 100 28');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.innerHTML = `<polyline fill="none" stroke="var(--accent)" stroke-width="1.5" vector-effect="non-scaling-stroke" points="${points}"/>`;
  return svg;
}

function card(label, value, extra, isError) {
  return h('div.card', h('div.label', label), h('div.value' + (isError ? '.error' : ''), value), extra);
}

const workerColumns = [
  { key: 'name', label: 'Worker', render: (w) => h('a', { href: '#/workers/' + encodeURIComponent(w.name) }, w.name) },
  { key: 'runtime', label: 'Runtime' },
  { key: 'status', label: 'Status', render: (w) => statusBadge(w.status) },
  { key: 'function_count', label: 'Functions' },
];

const noWorkers = () => emptyState('No worker is connected',
  codeHint('Start one with an SDK and point it at the engine, e.g. ', "registerWorker('ws://127.0.0.1:49134')", '.'));

III.pages.dashboard = {
  title: 'Dashboard',
  render(root) {
    const cards = h('div.cards');
    const workersSlot = h('div');
    const functionsSlot = h('div');
    root.append(h('h1', 'Dashboard'), h('p.subtitle', 'What the engine runs now, updated live.'), cards,
      h('div.grid-2', h('section.panel', h('h2', 'Workers'), workersSlot), h('section.panel', h('h2', 'Functions'), functionsSlot)));
    const state = { workers: null, functions: null, metrics: null, rates: [], last: null };
    const renderCards = () => {
      const m = (state.metrics && state.metrics.engine_metrics) || {};
      const inv = m.invocations || {}, perf = m.performance || {};
      const rate = state.rates.length ? state.rates[state.rates.length - 1] : 0;
      cards.replaceChildren(
        card('Workers', state.workers ? state.workers.length : '–'),
        card('Functions', state.functions ? state.functions.length : '–'),
        card('Calls / s', rate.toFixed(rate < 10 ? 1 : 0), sparkline(state.rates.length ? state.rates : [0])),
        card('Calls', inv.total ?? '–'),
        card('Errors', inv.error ?? '–', null, inv.error > 0),
        h('div.card', h('div.label', 'Latency'), h('div.value.small', `p50 ${fmtMs(perf.p50_duration_ms)}`, h('br'),
          `p95 ${fmtMs(perf.p95_duration_ms)}`, h('br'), `p99 ${fmtMs(perf.p99_duration_ms)}`)));
    };
    renderCards();
    III.live.watch('engine::workers::list', {}, (r) => {
      state.workers = r.workers || [];
      renderCards();
      mount(workersSlot, III.table('dash-workers', { columns: workerColumns, rows: state.workers, empty: noWorkers(), defaultSort: 'name',
        onRow: (w) => { location.hash = '#/workers/' + encodeURIComponent(w.name); } }));
    }, (e) => workersSlot.replaceChildren(errorPanel(e)));
    III.live.watch('engine::functions::list', {}, (r) => {
      state.functions = r.functions || [];
      renderCards();
      mount(functionsSlot, III.table('dash-functions', {
        columns: [
          { key: 'function_id', label: 'Function', render: (f) => h('a.mono', { href: '#/functions/' + encodeURIComponent(f.function_id) }, f.function_id) },
          { key: 'worker_name', label: 'Worker' }],
        rows: state.functions, defaultSort: 'function_id',
        empty: emptyState('No function is registered', 'Functions appear here as soon as a worker registers one.'),
      }));
    }, (e) => functionsSlot.replaceChildren(errorPanel(e)));
    III.live.watch('engine::metrics::list', {}, (r) => {
      const total = ((r.engine_metrics || {}).invocations || {}).total || 0;
      const now = r.timestamp || Date.now();
      if (state.last && now > state.last.time) {
        state.rates.push(Math.max(0, (total - state.last.total) * 1000 / (now - state.last.time)));
        if (state.rates.length > 60) state.rates.shift();
      }
      state.last = { total, time: now };
      state.metrics = r;
      renderCards();
    }, () => { state.metrics = null; renderCards(); });
  },
};

III.pages.workers = {
  title: 'Workers',
  render(root, selected) {
    const listSlot = h('div');
    const detail = h('div');
    root.append(h('h1', 'Workers'), h('p.subtitle', 'Connected workers and the built-ins inside the engine. Pick one to see what it provides.'),
      h('section.panel', listSlot), detail);
    III.live.watch('engine::workers::list', {}, (r) => {
      mount(listSlot, III.table('workers', {
        columns: [...workerColumns,
          { key: 'version', label: 'Version' },
          { key: 'connected_at_ms', label: 'Connected', render: (w) => timeAgo(w.connected_at_ms) },
          { key: 'active_invocations', label: 'Active calls' },
          { key: 'ip_address', label: 'Address' }],
        rows: r.workers || [], empty: noWorkers(), defaultSort: 'name',
        isSelected: (w) => w.name === selected,
        onRow: (w) => { location.hash = '#/workers/' + encodeURIComponent(w.name); },
      }));
    }, (e) => listSlot.replaceChildren(errorPanel(e)));
    if (!selected) {
      detail.append(emptyState('No worker selected', 'Click a worker above to see its functions and trigger types.'));
      return;
    }
    III.live.watch('engine::workers::info', { name: selected }, (info) => {
      const w = info.worker || {};
      detail.replaceChildren(h('section.panel', h('h2', w.name || selected),
        h('dl.kv', ['id', 'runtime', 'version', 'os', 'pid', 'status', 'isolation', 'ip_address'].filter((k) => w[k] !== undefined && w[k] !== '')
          .flatMap((k) => [h('dt', k), h('dd', String(w[k]))]))),
      h('div.grid-2',
        h('section.panel', h('h2', 'Functions'), III.table('worker-functions', {
          columns: [{ key: 'function_id', label: 'Function', render: (f) => h('a.mono', { href: '#/functions/' + encodeURIComponent(f.function_id) }, f.function_id) },
            { key: 'description', label: 'Description' }],
          rows: info.functions || [], empty: emptyState('This worker provides no function'), defaultSort: 'function_id',
        })),
        h('section.panel', h('h2', 'Trigger types'), III.table('worker-trigger-types', {
          columns: [{ key: 'id', label: 'Trigger type', className: 'mono' }, { key: 'description', label: 'Description' }],
          rows: info.trigger_types || [], empty: emptyState('This worker provides no trigger type'), defaultSort: 'id',
        }))),
      h('section.panel', h('h2', 'Triggers it registered'), III.table('worker-bindings', {
        columns: [{ key: 'trigger_type', label: 'Type' }, { key: 'function_id', label: 'Function', className: 'mono' },
          { key: 'config', label: 'Config', value: (b) => JSON.stringify(b.config), className: 'mono wrap' }],
        rows: info.registered_triggers || [], empty: emptyState('No trigger registered by this worker'),
      })));
    }, (e) => detail.replaceChildren(errorPanel(e)));
  },
};
