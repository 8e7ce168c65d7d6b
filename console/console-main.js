// iii console: the router (#/page/param… or a path such as /workers), the theme and the start.
'use strict';

function currentRoute() {
  let route = location.hash.replace(/^#\/?/, '');
  if (!route) route = location.pathname.replace(/^\/+/, '');
  const [page, ...params] = route.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: III.pages[page] ? page : 'dashboard', params };
}

function renderRoute() {
  if (III.loginShown) return;
  const { page, params } = currentRoute();
  III.live.unwatchAll();
  III.tables.clear();
  for (const a of document.querySelectorAll('.sidebar a')) a.classList.toggle('active', a.dataset.page === page);
  document.getElementById('sidebar').classList.remove('open');
  document.title = III.pages[page].title + ' · iii console';
  const root = document.getElementById('page');
  root.replaceChildren();
  root.dataset.page = page;
  III.pages[page].render(root, ...params);
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem('iii-console-theme', theme);
}

async function start() {
  document.getElementById('theme-toggle').addEventListener('click', () =>
    applyTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark'));
  document.getElementById('menu-toggle').addEventListener('click', () =>
    document.getElementById('sidebar').classList.toggle('open'));
  window.addEventListener('hashchange', renderRoute);
  try {
    const response = await III.refreshSession();
    if (response.status === 401) return III.showLogin();
  } catch (e) {
    document.getElementById('page').replaceChildren(emptyState('The engine does not answer', 'Is it still running? Reload once it is back.'));
    return;
  }
  document.getElementById('version').textContent = 'engine ' + III.session.version;
  renderRoute();
  III.live.connect();
}

start();
