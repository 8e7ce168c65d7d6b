// iii console: functions (with the invoke form) and triggers (with "fire now" for cron).
'use strict';

III.pages.functions = {
  title: 'Functions',
  render(root, selected) {
    const listSlot = h('div');
    const idInput = h('input.mono', { id: 'invoke-function', list: 'function-ids', placeholder: 'service::name', value: selected || '', style: 'flex:1;min-width:180px' });
    const ids = h('datalist', { id: 'function-ids' });
    const payload = h('textarea', { id: 'invoke-payload', spellcheck: false, 'aria-label': 'Payload (JSON)' }, '{}');
    const result = h('div', { id: 'invoke-result' });
    const schema = h('div');
    const button = h('button.btn', { id: 'invoke-button', type: 'submit' }, 'Invoke');
    const allowed = (III.session && III.session.invocable) || [];
    const form = h('form', {
      onsubmit: async (e) => {
        e.preventDefault();
        let data;
        try { data = JSON.parse(payload.value || 'null'); } catch (err) {
          result.replaceChildren(h('pre.result-error', 'The payload is not JSON: ' + err.message));
          return;
        }
        button.disabled = true;
        const started = performance.now();
        try {
          const r = await III.call(idInput.value.trim(), data, { invoke: true });
          result.replaceChildren(h('p.muted', `Result in ${fmtMs(performance.now() - started)}`), h('pre.result-ok', { className: 'result-ok invoke-ok' }, pretty(r)));
        } catch (err) {
          result.replaceChildren(h('p.muted', 'Error'), h('pre', { className: 'result-error invoke-error' }, (err.code ? err.code + ': ' : '') + err.message));
        } finally { button.disabled = false; }
      },
    }, h('div.toolbar', idInput, ids, button), payload);
    const formPanel = h('section.panel.first-on-phone', h('h2', 'Invoke a function'),
      allowed.length ? form : emptyState('Invoking is turned off', codeHint('Add function ids to ', 'invocable', ' in the iii-console block to allow it.')),
      schema, result);
    root.append(h('h1', 'Functions'), h('p.subtitle', 'Every function the engine can route to. Pick one to invoke it with a JSON payload.'),
      h('div.grid-2', h('section.panel', listSlot), formPanel));
    const showSchema = async (id) => {
      schema.replaceChildren();
      if (!id) return;
      try {
        const info = await III.call('engine::functions::info', { function_id: id });
        const parts = [];
        if (info.description) parts.push(h('p', info.description));
        if (info.request_schema) parts.push(h('details', h('summary', 'Request schema'), h('pre', pretty(info.request_schema))));
        if (info.response_schema) parts.push(h('details', h('summary', 'Response schema'), h('pre', pretty(info.response_schema))));
        schema.replaceChildren(...parts);
      } catch { /* an unknown id: the invoke answers it */ }
    };
    idInput.addEventListener('change', () => showSchema(idInput.value.trim()));
    if (selected) showSchema(selected);
    III.live.watch('engine::functions::list', {}, (r) => {
      const functions = r.functions || [];
      ids.replaceChildren(...functions.map((f) => h('option', { value: f.function_id })));
      mount(listSlot, III.table('functions', {
        columns: [
          { key: 'function_id', label: 'Function', className: 'mono' },
          { key: 'worker_name', label: 'Worker' },
          { key: 'description', label: 'Description' }],
        rows: functions, defaultSort: 'function_id',
        empty: emptyState('No function is registered', 'Connect a worker that registers one; it shows up here at once.'),
        isSelected: (f) => f.function_id === idInput.value.trim(),
        onRow: (f) => { idInput.value = f.function_id; showSchema(f.function_id); III.table('functions', III.tables.get('functions').opts); },
      }));
    }, (e) => listSlot.replaceChildren(errorPanel(e)));
  },
};

III.pages.triggers = {
  title: 'Triggers',
  render(root) {
    const typesSlot = h('div');
    const bindingsSlot = h('div');
    root.append(h('h1', 'Triggers'), h('p.subtitle', 'Trigger types (what can make a function run) and the triggers bound to functions.'),
      h('section.panel', h('h2', 'Triggers'), bindingsSlot), h('section.panel', h('h2', 'Trigger types'), typesSlot));
    const fire = async (b, button) => {
      button.disabled = true;
      try {
        const r = await III.call('iii::cron::fire', { id: b.id });
        III.toast(`${b.function_id}: ${r.status}` + (r.result !== null && r.result !== undefined ? ' → ' + JSON.stringify(r.result).slice(0, 120) : ''));
      } catch (e) { III.toast(`${b.function_id}: ${e.code}: ${e.message}`, true); }
      finally { button.disabled = false; }
    };
    III.live.watch('engine::registered-triggers::list', {}, (r) => {
      mount(bindingsSlot, III.table('bindings', {
        columns: [
          { key: 'trigger_type', label: 'Type', render: (b) => h('span.badge', b.trigger_type) },
          { key: 'function_id', label: 'Function', render: (b) => h('a.mono', { href: '#/functions/' + encodeURIComponent(b.function_id) }, b.function_id) },
          { key: 'config_summary', label: 'Config', className: 'mono wrap' },
          { key: 'worker_name', label: 'Registered by' },
          { key: 'id', label: '', render: (b) => b.trigger_type === 'cron'
            ? h('button.btn.small.secondary', { onclick: (e) => fire(b, e.currentTarget), title: 'Run the job now, outside its schedule' }, 'Fire now') : '' }],
        rows: r.registered_triggers || [], defaultSort: 'trigger_type',
        empty: emptyState('No trigger is registered', codeHint('Bind a function from a worker, e.g. ', "registerTrigger({type: 'cron', function_id, config: {expression: '0 * * * * *'}})", '.')),
      }));
    }, (e) => bindingsSlot.replaceChildren(errorPanel(e)));
    III.live.watch('engine::triggers::list', {}, (r) => {
      mount(typesSlot, III.table('trigger-types', {
        columns: [{ key: 'id', label: 'Trigger type', className: 'mono' }, { key: 'worker_name', label: 'Provided by' }, { key: 'description', label: 'Description' }],
        rows: r.triggers || [], defaultSort: 'id',
        empty: emptyState('No trigger type is provided', codeHint('Add a built-in such as ', '- name: iii-cron', ' to config.yaml.')),
      }));
    }, (e) => typesSlot.replaceChildren(errorPanel(e)));
  },
};
