// iii console: traces (a filtered list, the waterfall of one trace) and logs (a live tail).
'use strict';

const spanMs = (ns) => Number(ns) / 1e6;

function flattenTree(roots) {
  const out = [];
  const walk = (node, depth) => {
    out.push({ span: node.span, depth });
    for (const c of (node.children || []).sort((a, b) => Number(a.span.start_time_unix_nano) - Number(b.span.start_time_unix_nano))) walk(c, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  return out;
}

function waterfall(roots) {
  const rows = flattenTree(roots);
  if (!rows.length) return emptyState('This trace has no span', 'It may have been evicted from memory.');
  const start = Math.min(...rows.map((r) => spanMs(r.span.start_time_unix_nano)));
  const end = Math.max(...rows.map((r) => spanMs(r.span.end_time_unix_nano)));
  const total = Math.max(end - start, 0.001);
  return h('div.waterfall', { id: 'waterfall' }, rows.map(({ span, depth }) => {
    const left = ((spanMs(span.start_time_unix_nano) - start) / total) * 100;
    const width = Math.max(((spanMs(span.end_time_unix_nano) - spanMs(span.start_time_unix_nano)) / total) * 100, 0.3);
    return h('div.wf-row.wf-span', { title: `${span.name} (${span.service_name}) ${fmtMs(span.duration_ms)}` },
      h('div.wf-name', { style: `padding-left:${depth * 14}px` }, span.name, h('span.muted', ' · ' + span.service_name)),
      h('div.wf-track', h('div.wf-bar' + (span.status === 'error' ? '.error' : ''), { style: `left:${left}%;width:${width}%` },
        h('span', { className: left + width > 80 ? 'inside' : '' }, fmtMs(span.duration_ms)))));
  }));
}

III.pages.traces = {
  title: 'Traces',
  render(root, traceId) {
    const name = h('input', { type: 'search', placeholder: 'span name contains…', 'aria-label': 'Span name' });
    const service = h('input', { type: 'search', placeholder: 'service', 'aria-label': 'Service' });
    const status = h('select', { 'aria-label': 'Status' }, h('option', { value: '' }, 'any status'), h('option', { value: 'ok' }, 'ok'),
      h('option', { value: 'error' }, 'error'), h('option', { value: 'unset' }, 'unset'));
    const listSlot = h('div');
    const detail = h('div');
    root.append(h('h1', 'Traces'), h('p.subtitle', 'Spans of the engine and of the workers. Pick one to see its whole trace.'),
      detail, h('section.panel', h('form.toolbar', { onsubmit: (e) => { e.preventDefault(); follow(); } }, name, service, status,
        h('button.btn.secondary', { type: 'submit' }, 'Apply')), listSlot));
    let watch = null;
    const follow = () => {
      if (watch) III.live.unwatch(watch);
      const query = { limit: 200 };
      if (name.value) query.name = name.value;
      if (service.value) query.service_name = service.value;
      if (status.value) query.status = status.value;
      watch = III.live.watch('engine::traces::list', query, (r) => {
        mount(listSlot, III.table('spans', {
          columns: [
            { key: 'name', label: 'Span', className: 'mono' },
            { key: 'service_name', label: 'Service' },
            { key: 'status', label: 'Status', render: (s) => statusBadge(s.status) },
            { key: 'duration_ms', label: 'Duration', render: (s) => fmtMs(s.duration_ms) },
            { key: 'start', label: 'Started', value: (s) => Number(s.start_time_unix_nano), render: (s) => clockTime(spanMs(s.start_time_unix_nano)) },
            { key: 'trace_id', label: 'Trace', className: 'mono', render: (s) => s.trace_id.slice(0, 12) + '…' }],
          rows: r.spans || [], defaultSort: 'start', defaultDir: -1,
          isSelected: (s) => s.trace_id === traceId,
          onRow: (s) => { location.hash = '#/traces/' + s.trace_id; },
          empty: emptyState('No span matches', 'Calls routed by the engine are traced; make one (an HTTP request, a function call) and it appears here.'),
        }));
      }, (e) => listSlot.replaceChildren(errorPanel(e)));
    };
    follow();
    if (!traceId) return;
    III.live.watch('engine::traces::tree', { trace_id: traceId }, (r) => {
      detail.replaceChildren(h('section.panel', h('h2', 'Trace ', h('span.mono', traceId)), waterfall(r.roots || [])));
    }, (e) => detail.replaceChildren(errorPanel(e)));
  },
};

const LEVELS = [['TRACE', 1], ['DEBUG', 5], ['INFO', 9], ['WARN', 13], ['ERROR', 17]];

III.pages.logs = {
  title: 'Logs',
  render(root) {
    const level = h('select', { 'aria-label': 'Lowest level' }, LEVELS.map(([n, v]) => h('option', { value: v, selected: n === 'INFO' ? true : undefined }, n + ' and above')));
    const worker = h('select', { 'aria-label': 'Worker' }, h('option', { value: '' }, 'every worker'));
    const trace = h('input', { type: 'search', placeholder: 'trace id', 'aria-label': 'Trace id', className: 'mono' });
    const pause = h('button.btn.secondary', { type: 'button' }, 'Pause');
    const lines = h('div', { id: 'log-lines' });
    root.append(h('h1', 'Logs'), h('p.subtitle', 'A live tail of what the engine and the workers log, newest first.'),
      h('section.panel', h('div.toolbar', level, worker, trace, h('span.spacer'), pause), lines));
    let paused = false, last = [], watch = null;
    const services = new Set();
    const render = () => {
      const w = worker.value;
      const shown = last.filter((l) => !w || l.service_name === w);
      if (!shown.length) {
        lines.replaceChildren(emptyState('No log line yet', codeHint('Workers log through the SDK\'s Logger or ', 'engine::log::info', '; lines appear here as they are written.')));
        return;
      }
      lines.replaceChildren(...shown.map((l) => h('div.log-line',
        h('span.muted.mono', clockTime(spanMs(l.timestamp_unix_nano))),
        h('span.mono.level-' + (l.severity_text || 'INFO').toUpperCase(), l.severity_text || ''),
        h('span.log-service.muted', l.service_name || ''),
        h('span.mono.wrap', typeof l.body === 'string' ? l.body : JSON.stringify(l.body),
          l.trace_id ? h('a.muted', { href: '#/traces/' + l.trace_id, title: 'Open the trace' }, ' ↗') : null))));
    };
    const follow = () => {
      if (watch) III.live.unwatch(watch);
      const query = { limit: 300, severity_min: Number(level.value) };
      if (trace.value.trim()) query.trace_id = trace.value.trim();
      watch = III.live.watch('engine::logs::list', query, (r) => {
        if (paused) return;
        last = r.logs || [];
        for (const l of last) {
          if (l.service_name && !services.has(l.service_name)) {
            services.add(l.service_name);
            worker.append(h('option', { value: l.service_name }, l.service_name));
          }
        }
        render();
      }, (e) => lines.replaceChildren(errorPanel(e)));
    };
    level.addEventListener('change', follow);
    trace.addEventListener('change', follow);
    worker.addEventListener('change', render);
    pause.addEventListener('click', () => { paused = !paused; pause.textContent = paused ? 'Resume' : 'Pause'; });
    follow();
  },
};
