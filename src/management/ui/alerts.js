// Alerts: every rule with its state (firing or ok), since when, the value it saw and its threshold.
import { DataTable, badge, cards, count, h, panel, problem, replace, time } from './dom.js';

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
    empty: 'No alert rules are configured.',
    columns: [
      { label: 'State', cell: (a) => badge(a.state ?? '–', STATE_TONES[a.state] ?? 'muted'), sort: (a) => (STATE_ORDER.includes(a.state) ? STATE_ORDER.indexOf(a.state) : STATE_ORDER.length) },
      { label: 'Name', cell: (a) => a.name ?? a.rule ?? '–' },
      { label: 'Rule', cell: (a) => a.rule ?? a.kind ?? '–' },
      { label: 'Target', cell: target },
      { label: 'Since', cell: (a) => time(a.since), sort: (a) => String(a.since ?? '') },
      { label: 'Value', cell: (a) => (typeof a.value === 'number' ? count(a.value) : String(a.value ?? '–')), sort: (a) => Number(a.value) || 0, numeric: true },
      { label: 'Threshold', cell: (a) => (typeof a.threshold === 'number' ? count(a.threshold) : String(a.threshold ?? '–')), sort: (a) => Number(a.threshold) || 0, numeric: true },
      { label: 'Message', cell: (a) => a.message ?? '' },
    ],
  });
  // firing alerts first until the user picks another order
  table.sortColumn = 0;
  const rules = panel('Rules', table.element);
  const element = h('div', { class: 'page' }, h('h1', {}, 'Alerts'), summary, rules.element);

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
  }

  return { title: 'Alerts', element, refresh };
}
