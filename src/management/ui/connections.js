// Connections: the list (AMQP and Kafka clients) and one connection's page with its channels.
import { DataTable, bytes, count, facts, h, link, listPage, panel, plain, problem, replace, time, yesNo } from './dom.js';

function peer(c) {
  if (c.peer_host === undefined) return '–';
  return c.peer_port === undefined ? c.peer_host : `${c.peer_host}:${c.peer_port}`;
}

/** the client's product and version (AMQP), else its client id (Kafka), else its connection_name */
function client(c) {
  const p = c.client_properties ?? {};
  const product = [p.product, p.version].filter((x) => typeof x === 'string' && x !== '').join(' ');
  if (product !== '') return product;
  if (typeof p.client_id === 'string' && p.client_id !== '') return p.client_id;
  return typeof p.connection_name === 'string' && p.connection_name !== '' ? p.connection_name : '–';
}

function byteRate(value) {
  return value === undefined || value === null ? '–' : `${bytes(Math.round(Number(value)))}/s`;
}

export function connectionListPage(context) {
  const table = new DataTable({
    label: 'Connections',
    filter: true,
    keyOf: (c) => c.name,
    empty: 'No connections.',
    columns: [
      { label: 'Name', cell: (c) => link(['connections', c.name], c.name), sort: (c) => c.name },
      { label: 'User', cell: (c) => c.user || '–' },
      { label: 'Virtual host', cell: (c) => c.vhost || '–' },
      { label: 'Protocol', cell: (c) => c.protocol ?? '–' },
      { label: 'Client', cell: client },
      { label: 'Channels', cell: (c) => count(c.channels), sort: (c) => c.channels ?? 0, numeric: true },
      { label: 'State', cell: (c) => c.state ?? '–' },
      { label: 'From client', cell: (c) => byteRate(c.recv_oct_details?.rate), sort: (c) => c.recv_oct_details?.rate ?? 0, numeric: true },
      { label: 'To client', cell: (c) => byteRate(c.send_oct_details?.rate), sort: (c) => c.send_oct_details?.rate ?? 0, numeric: true },
    ],
  });
  return listPage({ title: 'Connections', table, load: () => context.api.get('/api/connections') });
}

export function connectionPage(context, { name }) {
  const { api } = context;
  const detailsPanel = panel('Details');
  const channels = new DataTable({
    label: 'Channels',
    empty: 'No channels.',
    columns: [
      { label: 'Channel', cell: (ch) => String(ch.number ?? ch.name ?? '–'), sort: (ch) => ch.number ?? 0 },
      { label: 'Consumers', cell: (ch) => count(ch.consumer_count), numeric: true },
      { label: 'Prefetch', cell: (ch) => count(ch.prefetch_count), numeric: true },
      { label: 'Unacked', cell: (ch) => count(ch.messages_unacknowledged), numeric: true },
      { label: 'Confirm', cell: (ch) => yesNo(ch.confirm) },
      { label: 'Transactional', cell: (ch) => yesNo(ch.transactional) },
      { label: 'State', cell: (ch) => ch.state ?? '–' },
    ],
  });
  const channelsPanel = panel('Channels', channels.element);
  const element = h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, link(['connections'], 'Connections')),
    h('h1', {}, 'Connection ', h('span', { class: 'name' }, name)),
    h('div', { class: 'grid two' }, detailsPanel.element, channelsPanel.element),
  );

  async function refresh() {
    try {
      const c = ((await api.get('/api/connections')) ?? []).find((x) => x.name === name);
      if (c === undefined) {
        replace(detailsPanel.body, h('p', { class: 'error', role: 'alert' }, 'This connection is closed.'));
      } else {
        replace(
          detailsPanel.body,
          facts([
            ['User', c.user || '–'],
            ['Virtual host', c.vhost || '–'],
            ['Protocol', c.protocol ?? '–'],
            ['Client', client(c)],
            ['Client host', peer(c)],
            ['Broker address', c.host === undefined ? '–' : `${c.host}:${c.port ?? ''}`],
            ['State', c.state ?? '–'],
            ['Connected at', time(c.connected_at)],
            ['Channels', count(c.channels)],
            ['Channel max', count(c.channel_max)],
            ['Frame max', count(c.frame_max)],
            ['Heartbeat', c.timeout === undefined ? '–' : `${c.timeout} s`],
            ['Received', bytes(c.recv_oct)],
            ['Receive rate', byteRate(c.recv_oct_details?.rate)],
            ['Sent', bytes(c.send_oct)],
            ['Send rate', byteRate(c.send_oct_details?.rate)],
            ['Client properties', plain(Object.fromEntries(Object.entries(c.client_properties ?? {}).filter(([key]) => key !== 'capabilities')))],
          ]),
        );
      }
    } catch (err) {
      replace(detailsPanel.body, problem(err));
    }
    try {
      const all = (await api.get('/api/channels')) ?? [];
      replace(channelsPanel.body, channels.element);
      channels.update(all.filter((ch) => ch.connection_details?.name === name));
    } catch (err) {
      replace(channelsPanel.body, problem(err));
    }
  }

  return { title: `Connection ${name}`, element, refresh };
}
