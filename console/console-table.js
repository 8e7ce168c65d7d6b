// iii console: tables. Every table is sortable (click a header) and filterable (the box above
// it); its sort and filter survive live updates, which re-render only the rows.
'use strict';

III.tables = new Map();

// Puts `node` as the only child of `slot` unless it is already (keeps focus and scroll).
function mount(slot, node) {
  if (slot.childNodes.length !== 1 || slot.firstChild !== node) slot.replaceChildren(node);
}

function cellText(column, row) {
  const v = column.value ? column.value(row) : row[column.key];
  return v === undefined || v === null ? '' : v;
}

// III.table(id, {columns: [{key, label, value?, render?, className?}], rows, empty, onRow?,
// isSelected?, filterPlaceholder?, toolbar?: [nodes]}) → the table's element, the same one for the
// same id while it is on the page.
III.table = function table(id, opts) {
  let t = III.tables.get(id);
  if (!t || !t.root.isConnected && t.mounted) {
    t = { sortKey: opts.defaultSort || null, dir: opts.defaultDir || 1, filter: '', mounted: false };
    t.input = h('input.filter', { type: 'search', placeholder: opts.filterPlaceholder || 'Filter…', 'aria-label': 'Filter',
      oninput: () => { t.filter = t.input.value.toLowerCase(); renderRows(t); } });
    t.tools = h('span.toolbar-extra');
    t.count = h('span.muted');
    t.thead = h('thead');
    t.tbody = h('tbody');
    t.body = h('div.table-wrap', h('table', t.thead, t.tbody));
    t.root = h('div.data-table', { dataset: { table: id } }, h('div.toolbar', t.input, t.count, h('span.spacer'), t.tools), t.body);
    III.tables.set(id, t);
  }
  t.mounted = true;
  t.opts = opts;
  t.tools.replaceChildren(...(opts.toolbar || []));
  renderHead(t);
  renderRows(t);
  return t.root;
};

function renderHead(t) {
  const row = h('tr');
  for (const c of t.opts.columns) {
    const cls = t.sortKey === c.key ? (t.dir > 0 ? 'sorted-asc' : 'sorted-desc') : '';
    row.append(h('th', {
      className: cls, scope: 'col',
      onclick: () => {
        if (t.sortKey === c.key) t.dir = -t.dir; else { t.sortKey = c.key; t.dir = 1; }
        renderHead(t); renderRows(t);
      },
    }, c.label));
  }
  t.thead.replaceChildren(row);
}

function renderRows(t) {
  const { columns, rows = [], empty, onRow, isSelected } = t.opts;
  let shown = rows;
  if (t.filter) {
    shown = rows.filter((r) => columns.some((c) => String(cellText(c, r)).toLowerCase().includes(t.filter)));
  }
  const column = columns.find((c) => c.key === t.sortKey);
  if (column) {
    shown = [...shown].sort((a, b) => {
      const x = cellText(column, a), y = cellText(column, b);
      const cmp = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
      return cmp * t.dir;
    });
  }
  t.count.textContent = rows.length ? (t.filter ? `${shown.length} of ${rows.length}` : `${rows.length}`) : '';
  if (!rows.length) {
    t.body.replaceChildren(empty || emptyState('Nothing here yet'));
    return;
  }
  if (!t.body.querySelector('table')) t.body.replaceChildren(h('table', t.thead, t.tbody));
  if (!shown.length) {
    t.tbody.replaceChildren(h('tr', h('td.muted', { colSpan: columns.length }, 'No row matches “' + t.input.value + '”.')));
    return;
  }
  t.tbody.replaceChildren(...shown.map((r) => {
    const tr = h('tr', { className: (onRow ? 'clickable' : '') + (isSelected && isSelected(r) ? ' selected' : '') },
      columns.map((c) => h('td', { className: c.className || '' }, c.render ? c.render(r) : String(cellText(c, r)))));
    if (onRow) tr.addEventListener('click', (e) => { if (!e.target.closest('button,a,input')) onRow(r); });
    return tr;
  }));
}
