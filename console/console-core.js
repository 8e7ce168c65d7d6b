// iii console, core: the API (POST /api/call, /api/invoke), the live socket, small DOM helpers.
// Every page reads the engine through these; see docs/builtins.md §15.
'use strict';

const III = {
  token: localStorage.getItem('iii-console-token') || '',
  session: null,
  pages: {},  // name → {title, render(root, ctx)}
};

class ApiError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

III.headers = function headers() {
  const h = { 'content-type': 'application/json' };
  if (III.token) h.authorization = 'Bearer ' + III.token;
  return h;
};

// Calls `functionId` through the console (a page function, or `invoke` for the invoke form).
// Resolves with the function's result; rejects with an ApiError carrying the function's code.
III.call = async function call(functionId, payload = {}, { invoke = false } = {}) {
  const response = await fetch(invoke ? '/api/invoke' : '/api/call', {
    method: 'POST', headers: III.headers(), body: JSON.stringify({ function_id: functionId, payload }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) { III.showLogin(); throw new ApiError('unauthorized', body.error || 'token required'); }
  if (!response.ok) throw new ApiError('http_' + response.status, body.error || response.statusText);
  if (body.error) throw new ApiError(body.error.code, body.error.message);
  return body.result;
};

// The live socket: watches of page functions whose changed results the engine pushes.
III.live = {
  socket: null, watches: new Map(), nextId: 1, retry: 0,
  connect() {
    if (!III.session || !III.session.live_port) return;
    const url = `ws://${location.hostname}:${III.session.live_port}/` + (III.token ? '?token=' + encodeURIComponent(III.token) : '');
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.retry = 0;
      III.setLiveStatus(true);
      for (const [id, w] of this.watches) this.send({ type: 'watch', id, function_id: w.functionId, payload: w.payload });
    };
    socket.onmessage = (event) => {
      let m; try { m = JSON.parse(event.data); } catch { return; }
      const w = this.watches.get(m.id);
      if (!w) return;
      if (m.type === 'result') w.onResult(m.result);
      else if (m.type === 'error' && w.onError) w.onError(new ApiError(m.error.code, m.error.message));
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      III.setLiveStatus(false);
      this.retry = Math.min(this.retry + 1, 5);
      // The session again first: a reloaded console may listen on another live port.
      setTimeout(() => III.refreshSession().then(() => this.connect(), () => this.connect()), 1000 * this.retry);
    };
  },
  send(message) { if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(message)); },
  // Calls the function now over HTTP (so a page renders at once), then follows it live.
  watch(functionId, payload, onResult, onError) {
    const id = 'w' + this.nextId++;
    const w = { functionId, payload, onResult, onError };
    this.watches.set(id, w);
    III.call(functionId, payload).then((r) => { if (this.watches.get(id) === w) onResult(r); },
      (e) => { if (this.watches.get(id) === w && onError) onError(e); });
    this.send({ type: 'watch', id, function_id: functionId, payload });
    return id;
  },
  unwatch(id) { if (this.watches.delete(id)) this.send({ type: 'unwatch', id }); },
  unwatchAll() { for (const id of [...this.watches.keys()]) this.unwatch(id); },
};

// GET /api/session: the live port, what the invoke form may call. Resolves with the response.
III.refreshSession = async function refreshSession() {
  const response = await fetch('/api/session', { headers: III.headers() });
  if (response.ok) III.session = await response.json();
  return response;
};

III.setLiveStatus = function setLiveStatus(on) {
  const el = document.getElementById('live-status');
  el.textContent = on ? 'live' : 'reconnecting…';
  el.className = 'live-status ' + (on ? 'on' : 'off');
};

// h('div.card', {onclick}, 'text', child…): a small element builder. Strings become text nodes.
function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs !== undefined && attrs !== null && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);  // h('td', 0): a child, not attributes
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && k !== 'list') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// An empty state: what is missing and what to do next.
function emptyState(title, hint) {
  const el = h('div.empty', h('strong', title));
  if (hint) el.append(hint instanceof Node ? hint : h('span', hint));
  return el;
}

function codeHint(before, code, after = '') { return h('span', before, h('code', code), after); }

function pretty(value) { return JSON.stringify(value, null, 2); }

function timeAgo(ms) {
  if (!ms) return '';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 86400) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

function clockTime(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function fmtMs(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  return v >= 100 ? Math.round(v) + ' ms' : (+v).toFixed(v >= 10 ? 1 : 2) + ' ms';
}

function statusBadge(status) {
  const cls = /error|fail|disconnected/i.test(status) ? 'error' : /ok|connected|available|ran|healthy/i.test(status) ? 'ok' : '';
  return h('span.badge' + (cls ? '.' + cls : ''), status || 'unset');
}

III.toast = function toast(message, isError = false) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.className = 'toast' + (isError ? ' error' : '');
  el.hidden = false;
  clearTimeout(III.toastTimer);
  III.toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
};

// A panel that shows an error instead of its content.
function errorPanel(error) {
  return emptyState('Could not load this: ' + (error.code ? error.code + ': ' : '') + error.message,
    'Check that the built-in that provides it runs (see docs/builtins.md), then reload.');
}

III.showLogin = function showLogin() {
  if (III.loginShown) return;
  III.loginShown = true;
  III.live.unwatchAll();
  const input = h('input', { type: 'password', placeholder: 'console token', autocomplete: 'current-password', style: 'width:100%' });
  const form = h('form.panel.login', {
    onsubmit: (e) => {
      e.preventDefault();
      localStorage.setItem('iii-console-token', input.value);
      location.reload();
    },
  }, h('h1', 'Sign in'),
  h('p.subtitle', 'This console requires its token: the iii-console block\'s token, or III_CONSOLE_TOKEN where the engine runs.'),
  input, h('p', h('button.btn', { type: 'submit' }, 'Open the console')));
  document.getElementById('page').replaceChildren(form);
  input.focus();
};
