// Queues: the list (with depth and rates) and one queue's page: its counts and depth over time, consumers
// and bindings, and the actions get messages, publish a message and purge.
import { LineChart } from './charts.js';
import { DataTable, badge, cards, count, exchangeName, facts, h, link, panel, plain, problem, rate, replace, yesNo } from './dom.js';
import { bindingLink } from './exchanges.js';
import { field, publishForm } from './forms.js';
import { DEPTH_SERIES, WINDOW_MS, queueKey } from './sampler.js';

/** most messages one "Get messages" asks for */
const MAX_GET_COUNT = 100;

function features(q) {
  const list = [];
  if (q.durable) list.push('D');
  if (q.auto_delete) list.push('AD');
  if (q.exclusive) list.push('Excl');
  if (q.arguments && Object.keys(q.arguments).length > 0) list.push('Args');
  return list.join(' ');
}

function statRate(q, stat) {
  return q.message_stats?.[`${stat}_details`]?.rate;
}

export function queueListPage(context) {
  const { sampler } = context;
  const table = new DataTable({
    label: 'Queues',
    filter: true,
    keyOf: (q) => q.name,
    empty: 'No queues.',
    columns: [
      { label: 'Virtual host', cell: (q) => q.vhost },
      { label: 'Name', cell: (q) => link(['queues', q.vhost, q.name], q.name), sort: (q) => q.name },
      { label: 'Features', cell: features },
      { label: 'State', cell: (q) => (q.state ? badge(q.state, q.state === 'running' ? 'good' : 'warn') : '–'), sort: (q) => q.state ?? '' },
      { label: 'Consumers', cell: (q) => count(q.consumers), sort: (q) => q.consumers ?? 0, numeric: true },
      { label: 'Ready', cell: (q) => count(q.messages_ready), sort: (q) => q.messages_ready ?? 0, numeric: true },
      { label: 'Unacked', cell: (q) => count(q.messages_unacknowledged), sort: (q) => q.messages_unacknowledged ?? 0, numeric: true },
      { label: 'Total', cell: (q) => count(q.messages), sort: (q) => q.messages ?? 0, numeric: true },
      { label: 'Incoming', cell: (q) => rate(statRate(q, 'publish')), sort: (q) => statRate(q, 'publish') ?? 0, numeric: true },
      { label: 'Deliver / get', cell: (q) => rate(statRate(q, 'deliver_get')), sort: (q) => statRate(q, 'deliver_get') ?? 0, numeric: true },
      { label: 'Ack', cell: (q) => rate(statRate(q, 'ack')), sort: (q) => statRate(q, 'ack') ?? 0, numeric: true },
    ],
  });
  const body = h('div', {}, table.element);
  const element = h('div', { class: 'page' }, h('h1', {}, 'Queues'), body);
  const render = () => {
    if (sampler.queues !== null) {
      if (table.element.parentNode !== body) replace(body, table.element);
      table.update(sampler.queues);
    } else if (sampler.queuesError !== null) replace(body, problem(sampler.queuesError));
  };
  const unsubscribe = sampler.subscribe(render);
  render();
  return { title: 'Queues', element, refresh: async () => {}, dispose: unsubscribe };
}

export function queuePage(context, { vhost, name }) {
  const { api, sampler } = context;
  const params = { vhost, name };
  const summary = h('div', {});
  const depth = new LineChart({ label: `Depth of ${name}`, series: DEPTH_SERIES, format: (v) => count(v), windowMs: WINDOW_MS, whole: true });
  const detailsPanel = panel('Details');
  const depthPanel = panel('Queued messages', depth.element);
  const consumers = new DataTable({
    label: 'Consumers',
    empty: 'No consumers.',
    columns: [
      { label: 'Consumer tag', cell: (c) => c.consumer_tag ?? '–' },
      { label: 'Channel', cell: (c) => c.channel_details?.name ?? '–' },
      { label: 'Ack required', cell: (c) => yesNo(c.ack_required) },
      { label: 'Exclusive', cell: (c) => yesNo(c.exclusive) },
      { label: 'Prefetch', cell: (c) => count(c.prefetch_count), numeric: true },
      { label: 'Active', cell: (c) => yesNo(c.active) },
    ],
  });
  const bindings = new DataTable({
    label: 'Bindings',
    empty: 'No bindings.',
    columns: [
      { label: 'From', cell: (b) => (b.source === '' ? '(default exchange)' : link(['exchanges', b.vhost ?? vhost, b.source], b.source)), sort: (b) => b.source },
      { label: 'Routing key', cell: (b) => bindingLink(b, vhost), sort: (b) => b.routing_key ?? '' },
      { label: 'Arguments', cell: (b) => plain(b.arguments) },
    ],
  });
  const consumersPanel = panel('Consumers', consumers.element);
  const bindingsPanel = panel('Bindings', bindings.element);
  const getPanel = panel('Get messages', getMessagesForm(api, params, () => context.refreshNow()));
  const publishPanel = panel('Publish message', publishForm({ api, vhost, exchange: 'amq.default', routingKey: name, onPublished: () => context.refreshNow() }));
  const purgePanel = panel('Purge', purgeForm(api, params, () => context.refreshNow()));

  const element = h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, link(['queues'], 'Queues'), ' › virtual host ', h('code', {}, vhost)),
    h('h1', {}, 'Queue ', h('span', { class: 'name' }, name)),
    summary,
    h('div', { class: 'grid two' }, detailsPanel.element, depthPanel.element),
    h('div', { class: 'grid two' }, consumersPanel.element, bindingsPanel.element),
    h('div', { class: 'grid three' }, getPanel.element, publishPanel.element, purgePanel.element),
  );

  const drawDepth = () => depth.update(sampler.queueHistory.get(queueKey(vhost, name)) ?? []);
  const unsubscribe = sampler.subscribe(drawDepth);
  drawDepth();

  async function refresh() {
    let q;
    try {
      q = await api.get('/api/queues/:vhost/:name', params);
    } catch (err) {
      replace(summary, err?.status === 404 ? h('p', { class: 'error', role: 'alert' }, `Queue '${name}' does not exist in virtual host '${vhost}'.`) : problem(err));
      return;
    }
    replace(
      summary,
      cards([
        { label: 'Ready', value: count(q.messages_ready) },
        { label: 'Unacked', value: count(q.messages_unacknowledged) },
        { label: 'Total', value: count(q.messages) },
        { label: 'Consumers', value: count(q.consumers) },
        { label: 'Incoming', value: rate(statRate(q, 'publish')) },
        { label: 'Deliver / get', value: rate(statRate(q, 'deliver_get')) },
        { label: 'Ack', value: rate(statRate(q, 'ack')) },
      ]),
    );
    replace(
      detailsPanel.body,
      facts([
        ['Virtual host', q.vhost ?? vhost],
        ['Type', q.type ?? 'classic'],
        ['State', q.state ?? '–'],
        ['Durable', yesNo(q.durable)],
        ['Auto-delete', yesNo(q.auto_delete)],
        ['Exclusive', yesNo(q.exclusive)],
        ['Policy', q.policy || '–'],
        ['Arguments', plain(q.arguments)],
        q.memory !== undefined ? ['Memory', `${count(q.memory)} bytes`] : null,
        ['Published', count(q.message_stats?.publish)],
        ['Delivered / got', count(q.message_stats?.deliver_get)],
        ['Acked', count(q.message_stats?.ack)],
      ]),
    );
    await Promise.all([refreshConsumers(q), refreshBindings()]);
  }

  async function refreshConsumers(q) {
    if (Array.isArray(q.consumer_details)) {
      consumers.update(q.consumer_details);
      return;
    }
    try {
      const all = await api.get('/api/consumers');
      replace(consumersPanel.body, consumers.element);
      consumers.update((all ?? []).filter((c) => c.queue?.name === name && (c.queue?.vhost ?? vhost) === vhost));
    } catch (err) {
      replace(consumersPanel.body, problem(err));
    }
  }

  async function refreshBindings() {
    try {
      const all = await api.get('/api/bindings/:vhost', { vhost });
      replace(bindingsPanel.body, bindings.element);
      bindings.update((all ?? []).filter((b) => b.destination === name && b.destination_type === 'queue'));
    } catch (err) {
      replace(bindingsPanel.body, problem(err));
    }
  }

  return { title: `Queue ${name}`, element, refresh, dispose: unsubscribe };
}

/** "Get messages": POST /api/queues/:vhost/:name/get and show what came back */
function getMessagesForm(api, params, onDone) {
  const howMany = h('input', { name: 'count', type: 'number', min: 1, max: MAX_GET_COUNT, value: '1', required: true });
  const ackmode = h(
    'select',
    { name: 'ackmode' },
    h('option', { value: 'ack_requeue_true', selected: true }, 'Nack, requeue true'),
    h('option', { value: 'ack_requeue_false' }, 'Ack, remove them'),
  );
  const status = h('p', { class: 'form-status', role: 'status' });
  const results = h('div', { class: 'messages', 'aria-label': 'Messages got' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Get messages');
  return h(
    'form',
    {
      class: 'action-form',
      'aria-label': 'Get messages',
      onsubmit: async (event) => {
        event.preventDefault();
        button.disabled = true;
        status.className = 'form-status';
        status.textContent = 'Getting…';
        try {
          const wanted = Math.min(Math.max(Number(howMany.value) || 1, 1), MAX_GET_COUNT);
          const messages = await api.call('POST', '/api/queues/:vhost/:name/get', params, { count: wanted, ackmode: ackmode.value, encoding: 'auto' });
          const list = Array.isArray(messages) ? messages : [];
          status.textContent = list.length === 0 ? 'Queue is empty.' : `${list.length} ${list.length === 1 ? 'message' : 'messages'}.`;
          replace(results, list.map((m, i) => messageView(m, i + 1)));
          onDone?.();
        } catch (err) {
          status.className = 'form-status error';
          status.textContent = `Get failed: ${err.message}`;
        } finally {
          button.disabled = false;
        }
      },
    },
    h('div', { class: 'field-row' }, field('Messages', howMany), field('Ack mode', ackmode)),
    h('div', { class: 'actions' }, button),
    status,
    results,
  );
}

function messageView(m, position) {
  const payload = String(m.payload ?? '');
  return h(
    'article',
    { class: 'message', 'aria-label': `Message ${position}` },
    h('h3', {}, `Message ${position}`, m.redelivered ? badge('redelivered', 'warn') : null),
    facts([
      ['Exchange', exchangeName(m.exchange)],
      ['Routing key', m.routing_key ?? ''],
      ['Redelivered', yesNo(m.redelivered)],
      ['Remaining in queue', count(m.message_count)],
      ['Properties', plain(m.properties)],
      ['Payload', h('span', {}, `${payload.length} ${m.payload_encoding === 'base64' ? 'base64 characters' : 'characters'}`, m.payload_encoding ? ` · encoding ${m.payload_encoding}` : '')],
    ]),
    h('pre', { class: 'payload' }, payload),
  );
}

/** "Purge": DELETE /api/queues/:vhost/:name/contents after an in-page confirmation */
function purgeForm(api, params, onDone) {
  const status = h('p', { class: 'form-status', role: 'status' });
  const confirmBox = h('div', { class: 'confirm', hidden: true });
  const start = h('button', { type: 'button', class: 'danger' }, 'Purge messages');
  const yes = h('button', { type: 'button', class: 'danger' }, 'Yes, purge');
  const no = h('button', { type: 'button' }, 'Cancel');
  replace(confirmBox, h('p', {}, `Delete every ready message in '${params.name}'? This cannot be undone.`), h('div', { class: 'actions' }, yes, no));
  start.addEventListener('click', () => {
    confirmBox.hidden = false;
    start.hidden = true;
    status.textContent = '';
    no.focus();
  });
  no.addEventListener('click', () => {
    confirmBox.hidden = true;
    start.hidden = false;
  });
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    try {
      await api.call('DELETE', '/api/queues/:vhost/:name/contents', params);
      status.className = 'form-status ok';
      status.textContent = 'Queue purged.';
      onDone?.();
    } catch (err) {
      status.className = 'form-status error';
      status.textContent = `Purge failed: ${err.message}`;
    } finally {
      yes.disabled = false;
      confirmBox.hidden = true;
      start.hidden = false;
    }
  });
  return h('div', { class: 'action-form' }, h('p', { class: 'hint' }, 'Removes the messages waiting in the queue; unacknowledged ones stay.'), h('div', { class: 'actions' }, start), confirmBox, status);
}
