// iii console: state (browse and edit), streams (live items of a group) and queues (depths, the
// dead-letter queue with redrive and discard).
'use strict';

function jsonPreview(value, max = 140) {
  const text = JSON.stringify(value);
  return text === undefined ? '' : text.length > max ? text.slice(0, max) + '…' : text;
}

III.pages.state = {
  title: 'State',
  render(root, scope) {
    const scopesSlot = h('div');
    const keysSlot = h('div');
    const editor = h('div');
    root.append(h('h1', 'State'), h('p.subtitle', 'The key-value state of iii-state: pick a scope, then a key, to read or change its value.'),
      h('div.grid-2', h('section.panel', h('h2', 'Scopes'), scopesSlot), h('section.panel', h('h2', scope ? 'Keys of ' + scope : 'Keys'), keysSlot)), editor);
    const edit = async (key, isNew) => {
      const keyInput = h('input.mono', { value: key || '', placeholder: 'key', disabled: !isNew });
      const value = h('textarea', { spellcheck: false, 'aria-label': 'Value (JSON)' });
      const status = h('span.muted');
      const save = h('button.btn', { type: 'submit' }, 'Save');
      editor.replaceChildren(h('section.panel', h('h2', isNew ? 'New key in ' + scope : scope + ' › ' + key),
        h('form', {
          onsubmit: async (e) => {
            e.preventDefault();
            let parsed;
            try { parsed = JSON.parse(value.value); } catch (err) { status.textContent = 'Not JSON: ' + err.message; return; }
            save.disabled = true;
            try {
              await III.call('state::set', { scope, key: keyInput.value, value: parsed });
              status.textContent = 'Saved.';
              if (isNew) edit(keyInput.value, false);
            } catch (err) { status.textContent = err.code + ': ' + err.message; }
            finally { save.disabled = false; }
          },
        }, isNew ? h('div.toolbar', keyInput) : null, value, h('div.toolbar', save, status))));
      if (!isNew) {
        try { value.value = pretty(await III.call('state::get', { scope, key })); } catch (err) { status.textContent = err.message; }
      } else { value.value = '{}'; keyInput.focus(); }
    };
    III.live.watch('state::list_groups', {}, (r) => {
      mount(scopesSlot, III.table('state-scopes', {
        columns: [{ key: 'scope', label: 'Scope', className: 'mono' }],
        rows: (r.groups || []).map((g) => ({ scope: g })), defaultSort: 'scope',
        isSelected: (s) => s.scope === scope,
        onRow: (s) => { location.hash = '#/state/' + encodeURIComponent(s.scope); },
        empty: emptyState('State is empty', codeHint('Workers write it with ', "iii.trigger('state::set', {scope, key, value})", '.')),
      }));
    }, (e) => scopesSlot.replaceChildren(errorPanel(e)));
    if (!scope) { keysSlot.append(emptyState('No scope selected', 'Pick a scope on the left to list its keys.')); return; }
    let selectedKey = null;
    III.live.watch('state::list_keys', { scope }, (r) => {
      mount(keysSlot, III.table('state-keys', {
        columns: [{ key: 'key', label: 'Key', className: 'mono' }],
        rows: (r.keys || []).map((k) => ({ key: k })), defaultSort: 'key',
        toolbar: [h('button.btn.small.secondary', { onclick: () => edit('', true) }, 'New key')],
        isSelected: (k) => k.key === selectedKey,
        onRow: (k) => { selectedKey = k.key; edit(k.key, false); },
        empty: emptyState('This scope has no key left', 'Add one with “New key”.'),
      }));
    }, (e) => keysSlot.replaceChildren(errorPanel(e)));
  },
};

III.pages.streams = {
  title: 'Streams',
  render(root, streamName, groupId) {
    const groupsSlot = h('div');
    const itemsSlot = h('div');
    root.append(h('h1', 'Streams'), h('p.subtitle', 'Live data of iii-stream: pick a group to follow its items as they change.'),
      h('section.panel', h('h2', 'Groups'), groupsSlot),
      h('section.panel', h('h2', groupId ? `Items of ${streamName} › ${groupId}` : 'Items'), itemsSlot));
    III.live.watch('stream::list_all', {}, (r) => {
      const rows = (r.stream || []).flatMap((s) => (s.groups || []).map((g) => ({ stream: s.id, group: g })));
      mount(groupsSlot, III.table('stream-groups', {
        columns: [{ key: 'stream', label: 'Stream', className: 'mono' }, { key: 'group', label: 'Group', className: 'mono' }],
        rows, defaultSort: 'stream',
        isSelected: (g) => g.stream === streamName && g.group === groupId,
        onRow: (g) => { location.hash = `#/streams/${encodeURIComponent(g.stream)}/${encodeURIComponent(g.group)}`; },
        empty: emptyState('No stream has items', codeHint('Workers write items with ', "iii.trigger('stream::set', {stream_name, group_id, item_id, data})", '.')),
      }));
    }, (e) => groupsSlot.replaceChildren(errorPanel(e)));
    if (!groupId) { itemsSlot.append(emptyState('No group selected', 'Pick a group above to follow its items live.')); return; }
    III.live.watch('stream::list', { stream_name: streamName, group_id: groupId }, (items) => {
      mount(itemsSlot, III.table('stream-items', {
        columns: [{ key: 'id', label: 'Id', value: (it) => (it && typeof it === 'object' && it.id) || '', className: 'mono' },
          { key: 'data', label: 'Item', value: (it) => jsonPreview(it, 400), className: 'mono wrap' }],
        rows: Array.isArray(items) ? items : [],
        empty: emptyState('This group is empty now', 'Items appear here as soon as a worker sets one.'),
      }));
    }, (e) => itemsSlot.replaceChildren(errorPanel(e)));
  },
};

III.pages.queues = {
  title: 'Queues',
  render(root, selectedTopic) {
    const queuesSlot = h('div');
    const dlqSlot = h('div');
    const messagesSlot = h('div');
    root.append(h('h1', 'Queues'), h('p.subtitle', 'Durable queues of iii-queue: depth, deliveries in flight, and dead-lettered messages to redrive or discard.'),
      h('section.panel', h('h2', 'Queues and topics'), queuesSlot),
      h('div.grid-1-2', h('section.panel', h('h2', 'Dead-letter queues'), dlqSlot),
        h('section.panel', h('h2', selectedTopic ? 'Dead letters of ' + selectedTopic : 'Dead letters'), messagesSlot)));
    const stats = new Map();
    let topics = [];
    const renderQueues = () => mount(queuesSlot, III.table('queues', {
      columns: [
        { key: 'name', label: 'Name', className: 'mono' }, { key: 'broker_type', label: 'Kind' },
        { key: 'depth', label: 'Depth', value: (q) => (stats.get(q.name) || {}).depth ?? '' },
        { key: 'in_flight', label: 'In flight', value: (q) => (stats.get(q.name) || {}).in_flight ?? '' },
        { key: 'consumers', label: 'Consumers', value: (q) => (stats.get(q.name) || {}).consumer_count ?? q.subscriber_count },
        { key: 'dlq', label: 'Dead letters', value: (q) => (stats.get(q.name) || {}).dlq_depth ?? '',
          render: (q) => { const n = (stats.get(q.name) || {}).dlq_depth; return n ? h('a', { href: '#/queues/' + encodeURIComponent(q.name) }, h('span.badge.error', String(n))) : String(n ?? ''); } }],
      rows: topics, defaultSort: 'name',
      empty: emptyState('No queue is configured', codeHint('Add ', '- name: iii-queue', ' with queue_configs to config.yaml, or bind a durable:subscriber.')),
    }));
    const statWatches = new Map();
    III.live.watch('engine::queue::list_topics', {}, (r) => {
      topics = Array.isArray(r) ? r : [];
      for (const t of topics) {
        if (statWatches.has(t.name)) continue;
        statWatches.set(t.name, III.live.watch('engine::queue::topic_stats', { topic: t.name }, (s) => { stats.set(t.name, s); renderQueues(); }));
      }
      renderQueues();
    }, (e) => queuesSlot.replaceChildren(errorPanel(e)));
    III.live.watch('engine::queue::dlq_topics', {}, (r) => {
      mount(dlqSlot, III.table('dlq-topics', {
        columns: [{ key: 'topic', label: 'Queue or topic', className: 'mono' }, { key: 'message_count', label: 'Messages' }],
        rows: Array.isArray(r) ? r : [], defaultSort: 'topic',
        isSelected: (t) => t.topic === selectedTopic,
        onRow: (t) => { location.hash = '#/queues/' + encodeURIComponent(t.topic); },
        empty: emptyState('No dead letters', 'A message lands here when its last delivery attempt fails.'),
      }));
    }, (e) => dlqSlot.replaceChildren(errorPanel(e)));
    if (!selectedTopic) { messagesSlot.append(emptyState('No queue selected', 'Pick a dead-letter queue on the left to see its messages.')); return; }
    const act = async (fn, payload, what, button) => {
      button.disabled = true;
      try { await III.call(fn, payload); III.toast(what); } catch (e) { III.toast(`${e.code}: ${e.message}`, true); button.disabled = false; }
    };
    III.live.watch('engine::queue::dlq_messages', { topic: selectedTopic, limit: 200 }, (r) => {
      const messages = Array.isArray(r) ? r : [];
      mount(messagesSlot, III.table('dlq-messages', {
        columns: [
          { key: 'id', label: 'Message', className: 'mono', render: (m) => h('span', { title: m.id }, String(m.id).slice(0, 8) + '…') },
          { key: 'error', label: 'Error', value: (m) => typeof m.error === 'string' ? m.error : jsonPreview(m.error), className: 'wrap' },
          { key: 'retries', label: 'Attempts' },
          { key: 'failed_at', label: 'Failed', render: (m) => timeAgo(m.failed_at * 1000) },
          { key: 'payload', label: 'Payload', value: (m) => jsonPreview(m.payload), className: 'mono wrap' },
          { key: 'actions', label: '', value: () => '', render: (m) => h('span', { style: 'white-space:nowrap' },
            h('button.btn.small', { className: 'btn small redrive', onclick: (e) => act('iii::queue::redrive_message', { queue: selectedTopic, message_id: m.id }, 'Redriven: ' + m.id, e.currentTarget) }, 'Redrive'), ' ',
            h('button.btn.small.danger', { onclick: (e) => confirm('Discard this message for good?') && act('iii::queue::discard_message', { queue: selectedTopic, message_id: m.id }, 'Discarded: ' + m.id, e.currentTarget) }, 'Discard')) }],
        rows: messages,
        toolbar: messages.length ? [h('button.btn.small.secondary', { onclick: (e) => act('iii::queue::redrive', { queue: selectedTopic }, 'Redrove every message of ' + selectedTopic, e.currentTarget) }, 'Redrive all')] : [],
        empty: emptyState('No dead letter left in ' + selectedTopic, 'Redriven messages go back to the queue with a full attempt budget.'),
      }));
    }, (e) => messagesSlot.replaceChildren(errorPanel(e)));
  },
};
