// The overview: object and message totals, live charts of message rates and queued messages over the last
// few minutes, depth per queue, firing alerts and the node's listeners.
import { BarChart, LineChart } from './charts.js';
import { DataTable, badge, cards, count, h, link, panel, problem, rate, replace } from './dom.js';
import { DEPTH_SERIES, RATE_SERIES, WINDOW_MS } from './sampler.js';

export function overviewPage(context) {
  const { sampler, api } = context;
  const totals = h('div', { class: 'totals' });
  const rates = new LineChart({ label: 'Message rates', series: RATE_SERIES, format: (v) => rate(v), windowMs: WINDOW_MS });
  const queued = new LineChart({ label: 'Queued messages', series: DEPTH_SERIES, format: (v) => count(v), windowMs: WINDOW_MS, whole: true });
  const depths = new BarChart({ label: 'Queue depths', series: DEPTH_SERIES, format: (v) => count(v), empty: 'No queues yet.' });
  const ratesPanel = panel('Message rates', rates.element);
  const queuedPanel = panel('Queued messages', queued.element);
  const depthPanel = panel('Queue depths', depths.element);
  const alertsPanel = panel('Alerts');
  const nodePanel = panel('Node');
  const listeners = new DataTable({
    label: 'Listeners',
    columns: [
      { label: 'Protocol', cell: (l) => l.protocol },
      { label: 'Address', cell: (l) => l.ip_address },
      { label: 'Port', cell: (l) => String(l.port), sort: (l) => l.port, numeric: true },
    ],
    empty: 'No listeners reported.',
  });

  const element = h(
    'div',
    { class: 'page' },
    h('h1', {}, 'Overview'),
    totals,
    h('div', { class: 'grid two' }, ratesPanel.element, queuedPanel.element),
    depthPanel.element,
    h('div', { class: 'grid two' }, alertsPanel.element, nodePanel.element),
  );

  function renderTotals() {
    const overview = sampler.overview;
    if (overview === null) {
      replace(totals, sampler.overviewError ? problem(sampler.overviewError) : h('p', { class: 'hint' }, 'Loading…'));
      return;
    }
    const objects = overview.object_totals ?? {};
    const messages = overview.queue_totals ?? {};
    const queueCount = objects.queues ?? sampler.queues?.length;
    replace(
      totals,
      cards([
        { label: 'Connections', value: count(objects.connections) },
        { label: 'Channels', value: count(objects.channels) },
        { label: 'Exchanges', value: count(objects.exchanges) },
        { label: 'Queues', value: count(queueCount) },
        { label: 'Consumers', value: count(objects.consumers) },
        { label: 'Messages', value: count(messages.messages) },
        { label: 'Ready', value: count(messages.messages_ready) },
        { label: 'Unacked', value: count(messages.messages_unacknowledged) },
      ]),
    );
  }

  function renderCharts() {
    rates.update(sampler.rates);
    queued.update(sampler.totals);
    if (sampler.queues !== null) {
      replace(depthPanel.body, depths.element);
      depths.update(
        sampler.queues.map((q) => ({ name: q.vhost === '/' ? q.name : `${q.vhost} / ${q.name}`, ready: q.messages_ready, unacked: q.messages_unacknowledged })),
      );
    } else if (sampler.queuesError !== null) {
      replace(depthPanel.body, problem(sampler.queuesError));
    }
  }

  function renderNode() {
    const o = sampler.overview;
    if (o === null) return;
    replace(
      nodePanel.body,
      h('p', {}, h('strong', {}, o.product_name ?? 'Postbox'), ' ', o.product_version ?? '', ' on ', h('code', {}, o.node ?? '–')),
      listeners.element,
    );
    listeners.update(o.listeners ?? []);
  }

  async function renderAlerts() {
    let alerts;
    try {
      alerts = await api.get('/api/alerts');
    } catch (err) {
      replace(alertsPanel.body, problem(err));
      return;
    }
    const list = Array.isArray(alerts) ? alerts : [];
    const firing = list.filter((a) => a.state === 'firing');
    if (firing.length === 0) {
      replace(
        alertsPanel.body,
        h('p', { class: 'ok-note' }, list.length === 0 ? 'No alerts firing.' : `No alerts firing (${list.length} pending or just resolved).`),
        link(['alerts'], 'All alerts'),
      );
      return;
    }
    replace(
      alertsPanel.body,
      h(
        'ul',
        { class: 'alert-list' },
        firing.map((a) => h('li', {}, badge('firing', 'bad'), ' ', h('strong', {}, a.name), ' ', a.message ?? '')),
      ),
      link(['alerts'], 'All alerts'),
    );
  }

  const unsubscribe = sampler.subscribe(() => {
    renderTotals();
    renderCharts();
    renderNode();
  });
  // draw what the sampler already has, so a return to the overview shows history at once
  renderTotals();
  renderCharts();
  renderNode();

  return {
    title: 'Overview',
    element,
    refresh: () => renderAlerts(),
    dispose: unsubscribe,
  };
}
