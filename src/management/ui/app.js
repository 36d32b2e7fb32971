// The dashboard's shell: sign-in, the navigation, hash routing (#/queues/%2F/orders) and the poll loop that
// samples the broker and refreshes the open page. Pages live in their own modules; each is a function
// (context, params) → { title, element, refresh(), dispose?() }.
import { Api, UnauthorisedError, clearCredentials, loadCredentials, saveCredentials } from './api.js';
import { h, replace } from './dom.js';
import { POLL_INTERVAL_MS, Sampler } from './sampler.js';
import { overviewPage } from './overview.js';
import { queueListPage, queuePage } from './queues.js';
import { bindingListPage, bindingPage, exchangeListPage, exchangePage } from './exchanges.js';
import { connectionListPage, connectionPage } from './connections.js';
import { groupListPage, groupPage, topicListPage, topicPage } from './streams.js';
import { alertListPage } from './alerts.js';

/** hash routes: literal segments, or ':name' for a parameter; `section` is the nav entry it belongs to */
const PAGES = [
  { path: [], section: 'overview', page: overviewPage },
  { path: ['queues'], section: 'queues', page: queueListPage },
  { path: ['queues', ':vhost', ':name'], section: 'queues', page: queuePage },
  { path: ['exchanges'], section: 'exchanges', page: exchangeListPage },
  { path: ['exchanges', ':vhost', ':name'], section: 'exchanges', page: exchangePage },
  { path: ['bindings'], section: 'bindings', page: bindingListPage },
  { path: ['bindings', ':vhost', ':source', ':kind', ':destination', ':props'], section: 'bindings', page: bindingPage },
  { path: ['topics'], section: 'topics', page: topicListPage },
  { path: ['topics', ':name'], section: 'topics', page: topicPage },
  { path: ['groups'], section: 'groups', page: groupListPage },
  { path: ['groups', ':id'], section: 'groups', page: groupPage },
  { path: ['connections'], section: 'connections', page: connectionListPage },
  { path: ['connections', ':name'], section: 'connections', page: connectionPage },
  { path: ['alerts'], section: 'alerts', page: alertListPage },
];

const NAV = [
  ['overview', 'Overview', '#/'],
  ['queues', 'Queues', '#/queues'],
  ['exchanges', 'Exchanges', '#/exchanges'],
  ['bindings', 'Bindings', '#/bindings'],
  ['topics', 'Topics', '#/topics'],
  ['groups', 'Consumer groups', '#/groups'],
  ['connections', 'Connections', '#/connections'],
  ['alerts', 'Alerts', '#/alerts'],
];

const root = document.getElementById('app');

/** everything that lives for one signed-in session */
let session = null;

function matchPage(hash) {
  const raw = hash.replace(/^#\/?/, '');
  const parts =
    raw === ''
      ? []
      : raw.split('/').map((p) => {
          try {
            return decodeURIComponent(p);
          } catch {
            return p;
          }
        });
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  for (const entry of PAGES) {
    if (entry.path.length !== parts.length) continue;
    const params = {};
    if (entry.path.every((segment, i) => (segment.startsWith(':') ? ((params[segment.slice(1)] = parts[i]), true) : segment === parts[i])))
      return { entry, params };
  }
  return null;
}

// ---------------------------------------------------------------- sign-in

function showLogin(message) {
  const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, value: 'guest' });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, value: 'guest' });
  const status = h('p', { class: message ? 'error' : 'hint', role: 'status' }, message ?? 'Sign in with a broker user that has a management tag.');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h(
    'form',
    {
      class: 'login',
      'aria-label': 'Log in',
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        status.className = 'hint';
        status.textContent = 'Signing in…';
        const credentials = { username: username.value, password: password.value };
        const api = new Api(credentials);
        try {
          await api.send('GET', '/api/overview');
        } catch (err) {
          button.disabled = false;
          status.className = 'error';
          status.textContent = err instanceof UnauthorisedError ? `Login failed: ${err.message}` : `Could not reach the broker: ${err.message}`;
          return;
        }
        saveCredentials(credentials);
        await startSession(api);
      },
    },
    h('h1', {}, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Postbox'),
    h('label', { for: 'login-username' }, 'Username'),
    username,
    h('label', { for: 'login-password' }, 'Password'),
    password,
    button,
    status,
  );
  document.title = 'Log in · Postbox';
  replace(root, h('main', { class: 'login-page' }, form));
  username.focus();
}

function endSession(message) {
  if (session !== null) {
    clearTimeout(session.timer);
    session.page?.dispose?.();
    window.removeEventListener('hashchange', session.onHashChange);
    session = null;
  }
  clearCredentials();
  showLogin(message);
}

// ---------------------------------------------------------------- the signed-in shell

async function startSession(api) {
  api.onUnauthorised = (reason) => {
    // the credentials stopped working (password changed, user deleted): back to the sign-in form
    queueMicrotask(() => endSession(`Signed out: ${reason}`));
  };
  try {
    await api.loadRoutes();
  } catch {
    return; // unauthorised: endSession already ran
  }
  const navLinks = new Map();
  const alertCount = h('span', { class: 'nav-count', hidden: true });
  const nav = h(
    'nav',
    { 'aria-label': 'Main' },
    h(
      'ul',
      {},
      NAV.map(([section, label, href]) => {
        const a = h('a', { href }, label, section === 'alerts' ? alertCount : null);
        navLinks.set(section, a);
        return h('li', {}, a);
      }),
    ),
  );
  const updated = h('span', { class: 'updated', role: 'status', 'aria-live': 'off' }, 'Loading…');
  const banner = h('div', { class: 'banner', role: 'alert', hidden: true });
  const main = h('main', { id: 'main' });
  const header = h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '#/' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Postbox'),
    nav,
    h(
      'div',
      { class: 'user' },
      updated,
      h('span', { class: 'who' }, api.credentials.username),
      h('button', { type: 'button', class: 'link', onclick: () => endSession('Logged out.') }, 'Log out'),
    ),
  );
  replace(root, header, banner, main);

  session = {
    api,
    sampler: new Sampler(api),
    page: null,
    timer: 0,
    ticking: null,
    onHashChange: () => navigate(),
  };
  const current = session;
  const context = {
    api,
    sampler: current.sampler,
    /** poll now (after an action) instead of waiting for the next tick */
    refreshNow: () => tick(current),
  };

  function navigate() {
    if (session !== current) return;
    const found = matchPage(location.hash);
    current.page?.dispose?.();
    for (const [section, a] of navLinks) {
      if (found?.entry.section === section) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (found === null) {
      current.page = null;
      document.title = 'Not found · Postbox';
      replace(
        main,
        h('h1', {}, 'Page not found'),
        h('p', {}, 'No dashboard page at ', h('code', {}, location.hash), '. ', h('a', { href: '#/' }, 'Back to the overview'), '.'),
      );
      return;
    }
    const page = found.entry.page(context, found.params);
    current.page = page;
    document.title = `${page.title} · Postbox`;
    replace(main, page.element);
    refreshPage(current, page);
  }

  async function tick(s) {
    if (session !== s) return;
    if (s.ticking !== null) return s.ticking;
    clearTimeout(s.timer);
    s.ticking = (async () => {
      try {
        await s.sampler.sample();
        banner.hidden = true;
        updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      } catch (err) {
        if (err instanceof UnauthorisedError) return;
        banner.hidden = false;
        banner.textContent = `Cannot reach the broker: ${err.message}. Retrying every ${POLL_INTERVAL_MS / 1000} s.`;
      }
      await Promise.all([refreshPage(s, s.page), refreshAlertCount(s)]);
    })();
    try {
      await s.ticking;
    } finally {
      s.ticking = null;
      if (session === s) s.timer = setTimeout(() => tick(s), POLL_INTERVAL_MS);
    }
  }

  async function refreshAlertCount(s) {
    if (!s.api.has('GET', '/api/alerts')) return;
    try {
      const alerts = await s.api.get('/api/alerts');
      const firing = Array.isArray(alerts) ? alerts.filter((a) => a.state === 'firing').length : 0;
      alertCount.hidden = firing === 0;
      alertCount.textContent = String(firing);
      alertCount.setAttribute('aria-label', `${firing} firing`);
    } catch {
      alertCount.hidden = true;
    }
  }

  window.addEventListener('hashchange', current.onHashChange);
  navigate();
  await tick(current);
}

async function refreshPage(s, page) {
  if (page === null || session !== s) return;
  try {
    await page.refresh();
  } catch (err) {
    if (err instanceof UnauthorisedError) return;
    // pages show their own errors per panel; anything reaching here is a bug worth showing rather than hiding
    page.element.querySelector(':scope > .page-error')?.remove();
    page.element.prepend(h('p', { class: 'error page-error', role: 'alert' }, `This page failed to refresh: ${err.message}`));
  }
}

// ---------------------------------------------------------------- start

const saved = loadCredentials();
if (saved === null) showLogin();
else startSession(new Api(saved));
