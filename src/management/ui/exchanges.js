// Exchanges (list and one exchange's page, with its bindings and a publish form), the bindings list and one
// binding's page (its ends, routing key and arguments, and unbinding it).
import { DataTable, count, exchangeName, facts, h, link, listPage, panel, plain, problem, rate, replace, yesNo } from './dom.js';
import { confirmForm, publishForm } from './forms.js';
import { addBindingForm, addExchangeForm, deleteForm } from './manage.js';

function features(x) {
  const list = [];
  if (x.durable) list.push('D');
  if (x.auto_delete) list.push('AD');
  if (x.internal) list.push('I');
  if (x.arguments && Object.keys(x.arguments).length > 0) list.push('Args');
  return list.join(' ');
}

function statRate(x, stat) {
  return x.message_stats?.[`${stat}_details`]?.rate;
}

/** a link to a binding's destination, queue or exchange */
function destination(b, vhost) {
  const kind = b.destination_type === 'exchange' ? 'exchanges' : 'queues';
  return link([kind, b.vhost ?? vhost, b.destination], b.destination);
}

function source(b, vhost) {
  return b.source === '' ? '(default exchange)' : link(['exchanges', b.vhost ?? vhost, b.source], b.source);
}

/** 'q' or 'e': how the management API's binding paths name the destination's kind */
function destinationKind(b) {
  return b.destination_type === 'exchange' ? 'e' : 'q';
}

/** the binding's routing key as a link to its page (`(empty)` for an empty key) */
export function bindingLink(b, vhost) {
  const key = b.routing_key ?? '';
  return link(['bindings', b.vhost ?? vhost, exchangeName(b.source), destinationKind(b), b.destination, b.properties_key ?? key], key === '' ? '(empty)' : key);
}

export function exchangeListPage(context) {
  const table = new DataTable({
    label: 'Exchanges',
    filter: true,
    keyOf: (x) => exchangeName(x.name),
    empty: 'No exchanges.',
    columns: [
      { label: 'Virtual host', cell: (x) => x.vhost },
      { label: 'Name', cell: (x) => link(['exchanges', x.vhost, exchangeName(x.name)], exchangeName(x.name)), sort: (x) => exchangeName(x.name) },
      { label: 'Type', cell: (x) => x.type ?? '–' },
      { label: 'Features', cell: features },
      { label: 'Message rate in', cell: (x) => rate(statRate(x, 'publish_in')), sort: (x) => statRate(x, 'publish_in') ?? 0, numeric: true },
      { label: 'Message rate out', cell: (x) => rate(statRate(x, 'publish_out')), sort: (x) => statRate(x, 'publish_out') ?? 0, numeric: true },
    ],
  });
  const page = listPage({ title: 'Exchanges', table, load: () => context.api.get('/api/exchanges') });
  const addPanel = panel('Add an exchange', addExchangeForm({ api: context.api, onCreated: () => page.refresh() }));
  page.element.append(h('div', { class: 'grid two' }, addPanel.element));
  return page;
}

export function exchangePage(context, { vhost, name }) {
  const { api } = context;
  // the default exchange is '' in the API's lists and 'amq.default' in paths
  const isThis = (x) => exchangeName(x) === name;
  const detailsPanel = panel('Details');
  const bindingColumns = (other) => [
    other,
    { label: 'Routing key', cell: (b) => bindingLink(b, vhost), sort: (b) => b.routing_key ?? '' },
    { label: 'Arguments', cell: (b) => plain(b.arguments) },
  ];
  const outgoing = new DataTable({
    label: 'Bindings from this exchange',
    empty: 'No bindings from this exchange.',
    columns: bindingColumns({ label: 'To', cell: (b) => destination(b, vhost), sort: (b) => b.destination }),
  });
  const incoming = new DataTable({
    label: 'Bindings to this exchange',
    empty: 'No bindings to this exchange.',
    columns: bindingColumns({ label: 'From', cell: (b) => source(b, vhost), sort: (b) => b.source }),
  });
  const outgoingPanel = panel('Bindings from this exchange', outgoing.element);
  const incomingPanel = panel('Bindings to this exchange', incoming.element);
  const publishPanel = panel('Publish message', publishForm({ api, vhost, exchange: name, onPublished: () => context.refreshNow() }));
  // the default exchange and the amq.* ones are the broker's own: nothing binds from the default one, and
  // neither kind is deleted (RabbitMQ refuses both)
  const builtIn = name === 'amq.default' || name.startsWith('amq.');
  const bindPanel = panel(
    'Add binding from this exchange',
    name === 'amq.default'
      ? h('p', { class: 'hint' }, 'Every queue is bound to the default exchange by its name; no other binding can be added to it.')
      : addBindingForm({ api, vhost, from: name, onBound: () => refresh() }),
  );
  const deletePanel = panel(
    'Delete',
    builtIn
      ? h('p', { class: 'hint' }, "The amq.* exchanges are the broker's own and cannot be deleted.")
      : deleteForm({
          label: 'Delete exchange',
          what: `exchange '${name}' in virtual host '${vhost}' and its bindings`,
          run: () => api.call('DELETE', '/api/exchanges/:vhost/:name', { vhost, name }),
          onDeleted: () => {
            location.hash = '#/exchanges';
          },
        }),
  );
  const element = h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, link(['exchanges'], 'Exchanges'), ' › virtual host ', h('code', {}, vhost)),
    h('h1', {}, 'Exchange ', h('span', { class: 'name' }, name)),
    h('div', { class: 'grid two' }, detailsPanel.element, publishPanel.element),
    h('div', { class: 'grid two' }, outgoingPanel.element, incomingPanel.element),
    h('div', { class: 'grid two' }, bindPanel.element, deletePanel.element),
  );

  async function refresh() {
    try {
      const list = await api.get('/api/exchanges/:vhost', { vhost });
      const x = (list ?? []).find((e) => isThis(e.name));
      if (x === undefined) {
        replace(detailsPanel.body, h('p', { class: 'error', role: 'alert' }, `Exchange '${name}' does not exist in virtual host '${vhost}'.`));
      } else {
        replace(
          detailsPanel.body,
          facts([
            ['Virtual host', x.vhost ?? vhost],
            ['Type', x.type ?? '–'],
            ['Durable', yesNo(x.durable)],
            ['Auto-delete', yesNo(x.auto_delete)],
            ['Internal', yesNo(x.internal)],
            ['Policy', x.policy || '–'],
            ['Arguments', plain(x.arguments)],
            ['Messages in', count(x.message_stats?.publish_in)],
            ['Messages out', count(x.message_stats?.publish_out)],
          ]),
        );
      }
    } catch (err) {
      replace(detailsPanel.body, problem(err));
    }
    try {
      const bindings = (await api.get('/api/bindings/:vhost', { vhost })) ?? [];
      replace(outgoingPanel.body, outgoing.element);
      replace(incomingPanel.body, incoming.element);
      outgoing.update(bindings.filter((b) => isThis(b.source)));
      incoming.update(bindings.filter((b) => b.destination_type === 'exchange' && b.destination === name));
    } catch (err) {
      replace(outgoingPanel.body, problem(err));
      replace(incomingPanel.body, problem(err));
    }
  }

  return { title: `Exchange ${name}`, element, refresh };
}

export function bindingListPage(context) {
  const table = new DataTable({
    label: 'Bindings',
    filter: true,
    keyOf: (b) => `${b.source} ${b.destination} ${b.routing_key}`,
    empty: 'No bindings.',
    columns: [
      { label: 'Virtual host', cell: (b) => b.vhost },
      { label: 'Source', cell: (b) => source(b, b.vhost), sort: (b) => b.source },
      { label: 'Destination', cell: (b) => destination(b, b.vhost), sort: (b) => b.destination },
      { label: 'Type', cell: (b) => b.destination_type ?? '–' },
      { label: 'Routing key', cell: (b) => bindingLink(b, b.vhost), sort: (b) => b.routing_key ?? '' },
      { label: 'Arguments', cell: (b) => plain(b.arguments) },
    ],
  });
  return listPage({ title: 'Bindings', table, load: () => context.api.get('/api/bindings') });
}

/**
 * One binding: GET /api/bindings/:vhost/e/:source/(q|e)/:destination/:props, and unbinding it (DELETE on the
 * same path) after an in-page confirmation. Bindings from the default exchange are implicit and stay.
 */
export function bindingPage(context, params) {
  const { api } = context;
  const { vhost, source: sourceName, kind, destination: destinationName } = params;
  const template = `/api/bindings/:vhost/e/:source/${kind === 'e' ? 'e' : 'q'}/:destination/:props`;
  const detailsPanel = panel('Details');
  const unbindPanel = panel('Unbind');
  const element = h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, link(['bindings'], 'Bindings'), ' › virtual host ', h('code', {}, vhost)),
    h('h1', {}, 'Binding ', h('span', { class: 'name' }, `${sourceName} → ${destinationName}`)),
    h('div', { class: 'grid two' }, detailsPanel.element, unbindPanel.element),
  );
  let unbindShown = false;

  async function refresh() {
    let b;
    try {
      b = await api.call('GET', template, params);
    } catch (err) {
      const gone = err?.status === 404;
      replace(
        detailsPanel.body,
        gone ? h('p', { class: 'error', role: 'alert' }, `This binding does not exist (any more) in virtual host '${vhost}'.`) : problem(err),
      );
      if (gone) replace(unbindPanel.body, h('p', { class: 'hint' }, 'Nothing to unbind.'));
      unbindShown = false;
      return;
    }
    replace(
      detailsPanel.body,
      facts([
        ['Virtual host', b.vhost ?? vhost],
        ['Source', source(b, vhost)],
        ['Destination', destination(b, vhost)],
        ['Destination type', b.destination_type ?? '–'],
        ['Routing key', b.routing_key === '' ? '(empty)' : b.routing_key],
        ['Arguments', plain(b.arguments)],
        ['Properties key', h('code', {}, b.properties_key ?? '–')],
      ]),
    );
    if (!unbindShown) {
      unbindShown = true;
      replace(
        unbindPanel.body,
        b.source === ''
          ? h('p', { class: 'hint' }, 'Every queue is bound to the default exchange by its name; that binding cannot be removed.')
          : unbindForm(api, template, params),
      );
    }
  }

  return { title: `Binding ${sourceName} → ${destinationName}`, element, refresh };
}

/** "Unbind": DELETE on the binding's path after an in-page confirmation, then back to the bindings list */
function unbindForm(api, template, params) {
  return confirmForm({
    label: 'Unbind',
    yes: 'unbind',
    question: `Remove this binding? Messages from '${params.source}' stop reaching '${params.destination}' through it.`,
    hint: 'Removes the binding; the exchange and the destination stay.',
    run: () => api.call('DELETE', template, params),
    failed: 'Unbind failed',
    after: () => {
      location.hash = '#/bindings';
    },
  });
}
