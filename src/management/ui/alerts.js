// Alerts: what is pending, firing or just resolved (since when, the value seen, the threshold), and the rules
// themselves, the built-in defaults marked, each of which an operator can change or delete.
import { DataTable, badge, cards, count, h, panel, problem, replace, time } from './dom.js';
import { field } from './forms.js';
import { deleteForm } from './manage.js';

/** what a rule watches, in words */
function ruleTarget(r) {
  if (r.kind === 'resource_alarm') return 'the node';
  if (r.kind === 'consumer_lag') return r.group ? `groups ~ ${r.group}` : 'every consumer group';
  const queues = r.queue ? `queues ~ ${r.queue}` : 'every queue';
  return r.vhost ? `${queues} in ${r.vhost}` : queues;
}

function duration(ms) {
  if (typeof ms !== 'number') return '–';
  if (ms === 0) return 'at once';
  if (ms % 60000 === 0) return `${ms / 60000} min`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

const STATE_TONES = { firing: 'bad', pending: 'warn', ok: 'good' };
/** firing first, then pending, then ok, then anything else */
const STATE_ORDER = ['firing', 'pending', 'ok'];

/** what the alert watches: `target` as given, else its vhost and queue */
function target(a) {
  if (a.target !== undefined && a.target !== null) return String(a.target);
  if (a.queue !== undefined) return a.vhost === undefined ? a.queue : `${a.vhost} ${a.queue}`;
  return '–';
}

export function alertListPage(context) {
  const summary = h('div', {});
  const table = new DataTable({
    label: 'Alerts',
    filter: true,
    keyOf: (a) => `${a.name ?? a.rule ?? ''} ${target(a)}`,
    empty: 'Nothing is pending or firing.',
    columns: [
      {
        label: 'State',
        cell: (a) => badge(a.state ?? '–', STATE_TONES[a.state] ?? 'muted'),
        sort: (a) => (STATE_ORDER.includes(a.state) ? STATE_ORDER.indexOf(a.state) : STATE_ORDER.length),
      },
      { label: 'Name', cell: (a) => a.name ?? a.rule ?? '–' },
      { label: 'Rule', cell: (a) => a.rule ?? a.kind ?? '–' },
      { label: 'Target', cell: target },
      { label: 'Since', cell: (a) => time(a.since), sort: (a) => String(a.since ?? '') },
      {
        label: 'Value',
        cell: (a) => (typeof a.value === 'number' ? count(a.value) : String(a.value ?? '–')),
        sort: (a) => Number(a.value) || 0,
        numeric: true,
      },
      {
        label: 'Threshold',
        cell: (a) => (typeof a.threshold === 'number' ? count(a.threshold) : String(a.threshold ?? '–')),
        sort: (a) => Number(a.threshold) || 0,
        numeric: true,
      },
      { label: 'Message', cell: (a) => a.message ?? '' },
    ],
  });
  // firing alerts first until the user picks another order
  table.sortColumn = 0;
  const rules = panel('Alerts', table.element);
  const ruleTable = new DataTable({
    label: 'Alert rules',
    keyOf: (r) => r.name,
    filter: true,
    empty: 'No alert rules.',
    columns: [
      { label: 'Name', cell: (r) => h('span', {}, r.name, r.default ? [' ', badge('default', 'muted')] : null), sort: (r) => r.name },
      { label: 'Kind', cell: (r) => r.kind },
      { label: 'Watches', cell: ruleTarget },
      {
        label: 'Threshold',
        cell: (r) => (r.kind === 'no_consumers' || r.kind === 'resource_alarm' ? '–' : count(r.threshold)),
        sort: (r) => r.threshold ?? 0,
        numeric: true,
      },
      { label: 'For / window', cell: (r) => duration(r.for_ms), sort: (r) => r.for_ms ?? 0, numeric: true },
      { label: 'Actions', cell: (r) => h('button', { type: 'button', class: 'link-button', onclick: () => edit(r) }, 'Edit') },
    ],
  });
  const editor = h('div', {});
  const rulesPanel = panel(
    'Rules',
    h(
      'p',
      { class: 'hint' },
      'Rules marked default ship with the broker. Change or delete one here (or with PUT/DELETE /api/alert-rules/{name}); the change survives restarts. --alert-default-rules=false starts without them.',
    ),
    ruleTable.element,
    editor,
  );
  const element = h('div', { class: 'page' }, h('h1', {}, 'Alerts'), summary, rules.element, rulesPanel.element);

  /** the edit form for one rule: threshold and for_ms (the same kind and target), or delete it */
  function edit(rule) {
    const threshold = h('input', { type: 'number', min: 0, name: 'threshold', value: String(rule.threshold ?? 0) });
    const forMs = h('input', { type: 'number', min: 0, name: 'for_ms', value: String(rule.for_ms ?? 0) });
    const status = h('p', { class: 'form-status', role: 'status' });
    const save = h('button', { type: 'submit', class: 'primary' }, 'Save rule');
    const form = h(
      'form',
      {
        class: 'action-form',
        'aria-label': `Edit alert rule ${rule.name}`,
        onsubmit: async (event) => {
          event.preventDefault();
          save.disabled = true;
          try {
            const body = { kind: rule.kind, queue: rule.queue, vhost: rule.vhost, threshold: Number(threshold.value), for_ms: Number(forMs.value) };
            if (rule.kind === 'consumer_lag') body.group = rule.group ?? '';
            await context.api.call('PUT', '/api/alert-rules/:name', { name: rule.name }, body);
            status.className = 'form-status ok';
            status.textContent = 'Rule saved.';
            await refresh();
          } catch (err) {
            status.className = 'form-status error';
            status.textContent = `Save failed: ${err.message}`;
          } finally {
            save.disabled = false;
          }
        },
      },
      h('h3', {}, `Rule ${rule.name}`),
      h('div', { class: 'field-row' }, field('Threshold', threshold), field('For / window (ms)', forMs)),
      h('div', { class: 'actions' }, save),
      status,
    );
    replace(
      editor,
      form,
      deleteForm({
        label: 'Delete rule',
        what: `alert rule '${rule.name}'`,
        warning: rule.default ? 'It is a default rule: it stays deleted after a restart (PUT it again to bring it back).' : undefined,
        run: () => context.api.call('DELETE', '/api/alert-rules/:name', { name: rule.name }),
        onDeleted: () => {
          replace(editor);
          refresh();
        },
      }),
    );
  }

  async function refresh() {
    let alerts;
    try {
      alerts = await context.api.get('/api/alerts');
    } catch (err) {
      replace(summary);
      replace(rules.body, problem(err));
      return;
    }
    const list = Array.isArray(alerts) ? alerts : [];
    const firing = list.filter((a) => a.state === 'firing').length;
    replace(
      summary,
      cards([
        { label: 'Firing', value: count(firing), tone: firing > 0 ? 'bad' : undefined },
        { label: 'OK', value: count(list.length - firing) },
      ]),
    );
    if (table.element.parentNode !== rules.body) replace(rules.body, table.element);
    table.update(list);
    if (!context.api.has('GET', '/api/alert-rules')) return;
    try {
      ruleTable.update((await context.api.get('/api/alert-rules')) ?? []);
    } catch {
      // the states above are what matters; the rule list shows again at the next refresh
    }
  }

  return { title: 'Alerts', element, refresh };
}
