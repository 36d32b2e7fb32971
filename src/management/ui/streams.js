// The Kafka side: topics (partitions, watermarks, sizes) and consumer groups (members, committed offsets, lag).
import { DataTable, badge, bytes, cards, count, facts, h, link, listPage, panel, problem, replace } from './dom.js';

function messagesIn(p) {
  const n = Number(p.high_watermark) - Number(p.log_start_offset);
  return Number.isFinite(n) ? n : null;
}

function assignmentText(assignments) {
  if (!Array.isArray(assignments) || assignments.length === 0) return '–';
  return assignments.map((a) => `${a.topic}: ${(a.partitions ?? []).join(', ')}`).join('; ');
}

function groupStateTone(state) {
  if (state === 'Stable') return 'good';
  if (state === 'Dead' || state === 'Empty') return 'muted';
  return 'warn';
}

export function topicListPage(context) {
  const table = new DataTable({
    label: 'Topics',
    filter: true,
    keyOf: (t) => t.name,
    empty: 'No topics.',
    columns: [
      { label: 'Name', cell: (t) => link(['topics', t.name], t.name), sort: (t) => t.name },
      { label: 'Partitions', cell: (t) => count(t.partitions), sort: (t) => Number(t.partitions) || 0, numeric: true },
      { label: 'Messages', cell: (t) => count(t.messages), sort: (t) => Number(t.messages) || 0, numeric: true },
      { label: 'Size', cell: (t) => bytes(t.size_bytes), sort: (t) => Number(t.size_bytes) || 0, numeric: true },
      { label: 'Cleanup', cell: (t) => t.configs?.['cleanup.policy'] ?? '–' },
      { label: 'Retention', cell: (t) => retention(t.configs) },
    ],
  });
  return listPage({ title: 'Topics', table, load: () => context.api.get('/api/streams/topics') });
}

function retention(configs) {
  const ms = Number(configs?.['retention.ms']);
  if (configs?.['retention.ms'] === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 0) return 'forever';
  const hours = ms / 3_600_000;
  return hours >= 24 && hours % 24 === 0 ? `${hours / 24} d` : hours >= 1 ? `${Math.round(hours * 10) / 10} h` : `${Math.round(ms / 1000)} s`;
}

export function topicPage(context, { name }) {
  const { api } = context;
  const summary = h('div', {});
  const partitions = new DataTable({
    label: 'Partitions',
    empty: 'No partitions.',
    columns: [
      { label: 'Partition', cell: (p) => String(p.partition), sort: (p) => Number(p.partition), numeric: true },
      { label: 'Log start offset', cell: (p) => count(p.log_start_offset), sort: (p) => Number(p.log_start_offset), numeric: true },
      { label: 'High watermark', cell: (p) => count(p.high_watermark), sort: (p) => Number(p.high_watermark), numeric: true },
      { label: 'Messages', cell: (p) => count(messagesIn(p)), sort: (p) => messagesIn(p) ?? 0, numeric: true },
      { label: 'Size', cell: (p) => bytes(p.size_bytes), sort: (p) => Number(p.size_bytes) || 0, numeric: true },
      { label: 'Segments', cell: (p) => count(p.segments), sort: (p) => Number(p.segments) || 0, numeric: true },
    ],
  });
  const partitionsPanel = panel('Partitions', partitions.element);
  const configPanel = panel('Configuration');
  const element = h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, link(['topics'], 'Topics')),
    h('h1', {}, 'Topic ', h('span', { class: 'name' }, name)),
    summary,
    h('div', { class: 'grid wide-left' }, partitionsPanel.element, configPanel.element),
  );

  async function refresh() {
    let topic;
    try {
      topic = ((await api.get('/api/streams/topics')) ?? []).find((t) => t.name === name);
    } catch (err) {
      replace(summary, problem(err));
      return;
    }
    if (topic === undefined) {
      replace(summary, h('p', { class: 'error', role: 'alert' }, `Topic '${name}' does not exist.`));
      return;
    }
    replace(
      summary,
      cards([
        { label: 'Partitions', value: count(topic.partitions) },
        { label: 'Messages', value: count(topic.messages) },
        { label: 'Size', value: bytes(topic.size_bytes) },
      ]),
    );
    partitions.update(topic.partition_details ?? []);
    const configs = Object.entries(topic.configs ?? {}).sort(([a], [b]) => a.localeCompare(b));
    replace(configPanel.body, configs.length === 0 ? h('p', { class: 'hint' }, 'Defaults only.') : facts(configs.map(([k, v]) => [k, String(v)])));
  }

  return { title: `Topic ${name}`, element, refresh };
}

export function groupListPage(context) {
  const table = new DataTable({
    label: 'Consumer groups',
    filter: true,
    keyOf: (g) => g.group_id,
    empty: 'No consumer groups.',
    columns: [
      { label: 'Group', cell: (g) => link(['groups', g.group_id], g.group_id), sort: (g) => g.group_id },
      { label: 'State', cell: (g) => badge(g.state ?? '–', groupStateTone(g.state)), sort: (g) => g.state ?? '' },
      { label: 'Protocol type', cell: (g) => g.protocol_type || '–' },
      { label: 'Assignor', cell: (g) => g.protocol || '–' },
      { label: 'Members', cell: (g) => count(g.members?.length ?? 0), sort: (g) => g.members?.length ?? 0, numeric: true },
      { label: 'Lag', cell: (g) => count(g.total_lag), sort: (g) => Number(g.total_lag) || 0, numeric: true },
    ],
  });
  return listPage({ title: 'Consumer groups', table, load: () => context.api.get('/api/streams/groups') });
}

export function groupPage(context, { id }) {
  const { api } = context;
  const summary = h('div', {});
  const members = new DataTable({
    label: 'Members',
    empty: 'No members.',
    columns: [
      { label: 'Member', cell: (m) => h('code', {}, m.member_id ?? '–'), sort: (m) => m.member_id ?? '' },
      { label: 'Client id', cell: (m) => m.client_id ?? '–' },
      { label: 'Host', cell: (m) => m.client_host ?? '–' },
      { label: 'Assigned partitions', cell: (m) => assignmentText(m.assignments) },
    ],
  });
  const offsets = new DataTable({
    label: 'Committed offsets',
    empty: 'No committed offsets.',
    columns: [
      { label: 'Topic', cell: (o) => link(['topics', o.topic], o.topic), sort: (o) => o.topic },
      { label: 'Partition', cell: (o) => String(o.partition), sort: (o) => Number(o.partition), numeric: true },
      { label: 'Committed offset', cell: (o) => count(o.committed_offset), sort: (o) => Number(o.committed_offset), numeric: true },
      { label: 'High watermark', cell: (o) => count(o.high_watermark), sort: (o) => Number(o.high_watermark), numeric: true },
      { label: 'Lag', cell: (o) => count(o.lag), sort: (o) => Number(o.lag) || 0, numeric: true },
    ],
  });
  const membersPanel = panel('Members', members.element);
  const offsetsPanel = panel('Committed offsets and lag', offsets.element);
  const element = h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, link(['groups'], 'Consumer groups')),
    h('h1', {}, 'Consumer group ', h('span', { class: 'name' }, id)),
    summary,
    membersPanel.element,
    offsetsPanel.element,
  );

  async function refresh() {
    let group;
    try {
      group = ((await api.get('/api/streams/groups')) ?? []).find((g) => g.group_id === id);
    } catch (err) {
      replace(summary, problem(err));
      return;
    }
    if (group === undefined) {
      replace(summary, h('p', { class: 'error', role: 'alert' }, `Consumer group '${id}' does not exist.`));
      return;
    }
    replace(
      summary,
      cards([
        { label: 'State', value: group.state ?? '–' },
        { label: 'Members', value: count(group.members?.length ?? 0) },
        { label: 'Total lag', value: count(group.total_lag), tone: Number(group.total_lag) > 0 ? 'warn' : undefined },
        { label: 'Protocol type', value: group.protocol_type || '–' },
        { label: 'Assignor', value: group.protocol || '–' },
      ]),
    );
    members.update(group.members ?? []);
    offsets.update(group.offsets ?? []);
  }

  return { title: `Consumer group ${id}`, element, refresh };
}
