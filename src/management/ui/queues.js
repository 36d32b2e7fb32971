// Queues: the list (with depth and rates) and one queue's page: its counts and depth over time, consumers
// and bindings, and the actions get messages, publish a message and purge.
import { LineChart } from './charts.js';
import { DataTable, badge, bytes, cards, count, exchangeName, facts, h, link, panel, plain, problem, rate, replace, yesNo } from './dom.js';
import { bindingLink } from './exchanges.js';
import { confirmForm, field, publishForm } from './forms.js';
import { addBindingForm, addQueueForm, deleteForm } from './manage.js';
import { DEPTH_SERIES, RATE_SERIES, WINDOW_MS, queueKey } from './sampler.js';

/**
 * The limits a queue runs with, from its arguments and its policy, resolved as the broker resolves them
 * (core/queue/settings.ts): numeric limits take the lower of the two, the others prefer the argument.
 * [label, argument, policy key, 'lower' | 'argument', unit]
 */
const LIMITS = [
  ['Max length', 'x-max-length', 'max-length', 'lower', 'messages'],
  ['Max length bytes', 'x-max-length-bytes', 'max-length-bytes', 'lower', 'bytes'],
  ['Overflow', 'x-overflow', 'overflow', 'argument', ''],
  ['Message TTL', 'x-message-ttl', 'message-ttl', 'lower', 'ms'],
  ['Auto expire', 'x-expires', 'expires', 'lower', 'ms'],
  ['Delivery limit', 'x-delivery-limit', 'delivery-limit', 'lower', ''],
  ['Dead letter exchange', 'x-dead-letter-exchange', 'dead-letter-exchange', 'argument', ''],
  ['Dead letter routing key', 'x-dead-letter-routing-key', 'dead-letter-routing-key', 'argument', ''],
  ['Max priority', 'x-max-priority', null, 'argument', ''],
  ['Single active consumer', 'x-single-active-consumer', null, 'argument', ''],
];

/** [[label, 'value (from argument|policy)'], ...] for the limits that are set */
export function effectiveLimits(q) {
  const args = q.arguments ?? {};
  const policy = q.effective_policy_definition ?? {};
  const out = [];
  for (const [label, argKey, policyKey, rule, unit] of LIMITS) {
    const a = args[argKey];
    const p = policyKey === null ? undefined : policy[policyKey];
    if (a === undefined && p === undefined) continue;
    let value;
    let from;
    if (rule === 'lower' && a !== undefined && p !== undefined) {
      value = Math.min(Number(a), Number(p));
      from = 'lower of argument and policy';
    } else if (a !== undefined) {
      value = a;
      from = 'argument';
    } else {
      value = p;
      from = 'policy';
    }
    const shown = typeof value === 'number' ? `${count(value)}${unit ? '\u00a0' + unit : ''}` : String(value);
    out.push([label, `${shown} (${from})`]);
  }
  return out;
}

/** 0..1 as a percentage, '–' when unknown */
function percent(value) {
  if (value === undefined || value === null || !Number.isFinite(Number(value))) return '–';
  return `${Math.round(Number(value) * 100)}%`;
}

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
  const addPanel = panel('Add a queue', addQueueForm({ api: context.api, onCreated: () => context.refreshNow() }));
  const element = h('div', { class: 'page' }, h('h1', {}, 'Queues'), body, h('div', { class: 'grid two' }, addPanel.element));
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
  const rates = new LineChart({ label: `Message rates of ${name}`, series: RATE_SERIES, format: (v) => rate(v), windowMs: WINDOW_MS });
  const detailsPanel = panel('Details');
  const ratesPanel = panel('Message rates', rates.element);
  const depthPanel = panel('Queued messages', depth.element);
  const consumers = new DataTable({
    label: 'Consumers',
    empty: 'No consumers.',
    columns: [
      { label: 'Consumer tag', cell: (c) => c.consumer_tag ?? '–' },
      {
        label: 'Channel',
        cell: (c) => (c.channel_details?.number === undefined ? '–' : String(c.channel_details.number)),
        sort: (c) => c.channel_details?.number ?? 0,
        numeric: true,
      },
      {
        label: 'Connection',
        cell: (c) => (c.channel_details?.connection_name ? link(['connections', c.channel_details.connection_name], c.channel_details.connection_name) : '–'),
        sort: (c) => c.channel_details?.connection_name ?? '',
      },
      { label: 'User', cell: (c) => c.channel_details?.user || '–' },
      { label: 'Ack mode', cell: (c) => (c.ack_required === undefined ? '–' : c.ack_required ? 'manual' : 'auto'), sort: (c) => String(c.ack_required) },
      { label: 'Prefetch', cell: (c) => (c.prefetch_count === 0 ? 'unlimited' : count(c.prefetch_count)), sort: (c) => c.prefetch_count ?? 0, numeric: true },
      { label: 'Exclusive', cell: (c) => yesNo(c.exclusive) },
      {
        label: 'Active',
        cell: (c) => (c.activity_status ? badge(c.activity_status, c.activity_status === 'up' ? 'good' : 'muted') : yesNo(c.active)),
        sort: (c) => c.activity_status ?? '',
      },
      { label: 'Priority', cell: (c) => count(c.priority), sort: (c) => c.priority ?? 0, numeric: true },
      { label: 'Arguments', cell: (c) => plain(c.arguments) },
    ],
  });
  const bindings = new DataTable({
    label: 'Bindings',
    empty: 'No bindings.',
    columns: [
      {
        label: 'From',
        cell: (b) => (b.source === '' ? '(default exchange)' : link(['exchanges', b.vhost ?? vhost, b.source], b.source)),
        sort: (b) => b.source,
      },
      { label: 'Routing key', cell: (b) => bindingLink(b, vhost), sort: (b) => b.routing_key ?? '' },
      { label: 'Arguments', cell: (b) => plain(b.arguments) },
    ],
  });
  const consumersPanel = panel('Consumers', consumers.element);
  const bindingsTable = h('div', {}, bindings.element);
  const bindingsPanel = panel(
    'Bindings',
    bindingsTable,
    h('h3', {}, 'Add binding to this queue'),
    addBindingForm({ api, vhost, to: name, onBound: () => context.refreshNow() }),
  );
  const getPanel = panel(
    'Get messages',
    getMessagesForm(api, params, () => context.refreshNow()),
  );
  const publishPanel = panel(
    'Publish message',
    publishForm({ api, vhost, exchange: 'amq.default', routingKey: name, onPublished: () => context.refreshNow() }),
  );
  const purgePanel = panel(
    'Purge',
    purgeForm(api, params, () => context.refreshNow()),
  );
  const deletePanel = panel(
    'Delete',
    h('p', { class: 'hint' }, 'Deletes the queue, its messages and its bindings.'),
    deleteForm({
      label: 'Delete queue',
      what: `queue '${name}' in virtual host '${vhost}' with every message in it`,
      run: () => api.call('DELETE', '/api/queues/:vhost/:name', params),
      onDeleted: () => {
        location.hash = '#/queues';
      },
    }),
  );

  const element = h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, link(['queues'], 'Queues'), ' › virtual host ', h('code', {}, vhost)),
    h('h1', {}, 'Queue ', h('span', { class: 'name' }, name)),
    summary,
    h('div', { class: 'grid two' }, ratesPanel.element, depthPanel.element),
    h('div', { class: 'grid two' }, detailsPanel.element, bindingsPanel.element),
    consumersPanel.element,
    h('div', { class: 'grid three' }, getPanel.element, publishPanel.element, purgePanel.element),
    h('div', { class: 'grid three' }, deletePanel.element),
  );

  // the cards and both charts are drawn from the same sample (one GET /api/queues), so they always agree
  let missing = false;
  const drawSample = () => {
    const history = sampler.queueHistory.get(queueKey(vhost, name)) ?? [];
    depth.update(history);
    rates.update(history);
    const q = sampler.queue(vhost, name);
    if (q === null) {
      if (sampler.queuesError !== null) replace(summary, problem(sampler.queuesError));
      return;
    }
    if (missing) return;
    replace(
      summary,
      cards([
        { label: 'Ready', value: count(q.messages_ready) },
        { label: 'Unacked', value: count(q.messages_unacknowledged) },
        { label: 'Total', value: count(q.messages) },
        { label: 'Consumers', value: count(q.consumers) },
        { label: 'Consumer utilisation', value: percent(q.consumer_utilisation) },
        { label: 'Incoming', value: rate(statRate(q, 'publish')) },
        { label: 'Deliver / get', value: rate(statRate(q, 'deliver_get')) },
        { label: 'Ack', value: rate(statRate(q, 'ack')) },
        { label: 'Message bytes', value: bytes(q.message_bytes) },
      ]),
    );
  };
  const unsubscribe = sampler.subscribe(drawSample);
  drawSample();

  async function refresh() {
    let q;
    try {
      q = await api.get('/api/queues/:vhost/:name', params);
      missing = false;
    } catch (err) {
      missing = err?.status === 404;
      replace(summary, missing ? h('p', { class: 'error', role: 'alert' }, `Queue '${name}' does not exist in virtual host '${vhost}'.`) : problem(err));
      return;
    }
    if (summary.childElementCount === 0) drawSample();
    replace(
      detailsPanel.body,
      facts([
        ['Virtual host', q.vhost ?? vhost],
        ['Type', q.type ?? 'classic'],
        ['State', q.state ?? '–'],
        ['Durable', yesNo(q.durable)],
        ['Auto-delete', yesNo(q.auto_delete)],
        ['Exclusive', yesNo(q.exclusive)],
        ['Arguments', plain(q.arguments)],
        ['Policy', q.policy || '–'],
        ['Effective policy definition', plain(q.effective_policy_definition)],
        ...effectiveLimits(q).map(([label, value]) => [`Effective ${label.toLowerCase()}`, value]),
        ['Consumers', count(q.consumers)],
        ['Consumer utilisation', percent(q.consumer_utilisation)],
        ['Messages ready', count(q.messages_ready)],
        ['Messages unacknowledged', count(q.messages_unacknowledged)],
        ['Message bytes', bytes(q.message_bytes)],
        q.memory !== undefined ? ['Memory', bytes(q.memory)] : null,
        ['Published', count(q.message_stats?.publish)],
        ['Delivered / got', count(q.message_stats?.deliver_get)],
        ['Acked', count(q.message_stats?.ack)],
        ['Dead-lettered', count(deadLettered(q))],
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
      replace(bindingsTable, bindings.element);
      bindings.update((all ?? []).filter((b) => b.destination === name && b.destination_type === 'queue'));
    } catch (err) {
      replace(bindingsTable, problem(err));
    }
  }

  return { title: `Queue ${name}`, element, refresh, dispose: unsubscribe };
}

/** messages dead-lettered (or dropped) from the queue, every reason; undefined when the API does not say */
function deadLettered(q) {
  const d = q.dead_lettered;
  if (d === undefined || d === null) return undefined;
  return ['expired', 'rejected', 'maxlen', 'delivery_limit'].reduce((n, k) => n + (Number(d[k]) || 0), 0);
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
          replace(
            results,
            list.map((m, i) => messageView(m, i + 1)),
          );
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
      [
        'Payload',
        h(
          'span',
          {},
          `${payload.length} ${m.payload_encoding === 'base64' ? 'base64 characters' : 'characters'}`,
          m.payload_encoding ? ` · encoding ${m.payload_encoding}` : '',
        ),
      ],
    ]),
    h('pre', { class: 'payload' }, payload),
  );
}

/** "Purge": DELETE /api/queues/:vhost/:name/contents after an in-page confirmation */
function purgeForm(api, params, onDone) {
  return confirmForm({
    label: 'Purge messages',
    yes: 'purge',
    question: `Delete every ready message in '${params.name}'? This cannot be undone.`,
    hint: 'Removes the messages waiting in the queue; unacknowledged ones stay.',
    run: () => api.call('DELETE', '/api/queues/:vhost/:name/contents', params),
    succeeded: 'Queue purged.',
    failed: 'Purge failed',
    after: onDone,
  });
}
