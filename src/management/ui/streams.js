// The Kafka side: topics (partitions, watermarks, sizes, produce and consume rates, a message browser and a
// test producer) and consumer groups (members, committed offsets, lag over time, resetting offsets).
import { DataTable, badge, bytes, cards, count, facts, h, link, listPage, panel, problem, rate, replace } from './dom.js';
import { LineChart } from './charts.js';
import { WINDOW_MS } from './sampler.js';
import { browseForm, produceForm, resetForm } from './stream-tools.js';

/** series colours of the per-partition lag lines, in order (the total is drawn first, in black) */
const PARTITION_COLORS = ['#2f6fd6', '#2e9d5b', '#d98a0b', '#d2553b', '#7a4fd0', '#1a9aa8', '#b8489b', '#6b7a8f'];
/** partitions charted one by one on a group's lag chart; a group with more shows its total only */
const MAX_LAG_LINES = PARTITION_COLORS.length;
/** samples kept per topic or group (the charts show WINDOW_MS of them) */
const MAX_HISTORY = 400;

/**
 * Rolling histories of what the pages saw, kept while the dashboard is open (a page opened again shows its
 * recent past): topic name → [{ t, in, out, bytesIn, bytesOut }], group id → [{ t, total, p<n> }].
 */
const topicHistory = new Map();
const groupHistory = new Map();

function remember(history, key, sample) {
  let list = history.get(key);
  if (list === undefined) history.set(key, (list = []));
  list.push(sample);
  const cutoff = sample.t - WINDOW_MS;
  while (list.length > MAX_HISTORY || (list.length > 0 && list[0].t < cutoff)) list.shift();
  return list;
}

/** a topic's rates now, with each partition's (the charts show the topic or one partition) */
function topicSample(t, topic) {
  const s = topic.message_stats;
  return {
    t,
    in: statRate(s, 'records_in'),
    out: statRate(s, 'records_out'),
    bytesIn: statRate(s, 'bytes_in'),
    bytesOut: statRate(s, 'bytes_out'),
    parts: (topic.partition_details ?? []).map((p) => ({
      in: statRate(p.message_stats, 'records_in'),
      out: statRate(p.message_stats, 'records_out'),
      bytesIn: statRate(p.message_stats, 'bytes_in'),
      bytesOut: statRate(p.message_stats, 'bytes_out'),
    })),
  };
}

function statRate(stats, name) {
  const n = Number(stats?.[`${name}_details`]?.rate);
  return Number.isFinite(n) ? n : null;
}

/** '7 d', '1.5 h', '30 s', 'forever' for a retention.ms value */
function duration(msText) {
  const ms = Number(msText);
  if (msText === undefined || msText === null || !Number.isFinite(ms)) return '–';
  if (ms < 0) return 'forever';
  const hours = ms / 3_600_000;
  return hours >= 24 && hours % 24 === 0 ? `${hours / 24} d` : hours >= 1 ? `${Math.round(hours * 10) / 10} h` : `${Math.round(ms / 1000)} s`;
}

/** an effective config's value, with "(default)" when the topic does not set it */
function effective(t, name, format = (v) => v) {
  const e = t.effective_configs?.[name];
  if (e === undefined) {
    const set = t.configs?.[name];
    return set === undefined ? '–' : format(set);
  }
  return e.source === 'default'
    ? h('span', { title: 'broker default: the topic does not set it' }, format(e.value), ' ', h('small', { class: 'hint' }, '(default)'))
    : format(e.value);
}

function retentionBytes(v) {
  return Number(v) < 0 ? 'unlimited' : bytes(Number(v));
}

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
      { label: 'In', cell: (t) => rate(statRate(t.message_stats, 'records_in')), sort: (t) => statRate(t.message_stats, 'records_in') ?? 0, numeric: true },
      { label: 'Out', cell: (t) => rate(statRate(t.message_stats, 'records_out')), sort: (t) => statRate(t.message_stats, 'records_out') ?? 0, numeric: true },
      { label: 'Cleanup', cell: (t) => effective(t, 'cleanup.policy') },
      { label: 'Retention', cell: (t) => effective(t, 'retention.ms', duration) },
    ],
  });
  return listPage({
    title: 'Topics',
    table,
    load: async () => {
      const topics = await context.api.get('/api/streams/topics');
      // the topic pages' charts start with what the list saw
      const t = Date.now();
      for (const topic of topics ?? []) remember(topicHistory, topic.name, topicSample(t, topic));
      return topics;
    },
  });
}

export function topicPage(context, { name }) {
  const { api } = context;
  const summary = h('div', {});
  const records = new LineChart({
    label: `Records per second on ${name}`,
    series: [
      { key: 'in', label: 'Produced', color: '#2f6fd6' },
      { key: 'out', label: 'Consumed', color: '#2e9d5b' },
    ],
    format: (v) => rate(v),
    windowMs: WINDOW_MS,
  });
  const traffic = new LineChart({
    label: `Bytes per second on ${name}`,
    series: [
      { key: 'bytesIn', label: 'In', color: '#7a4fd0' },
      { key: 'bytesOut', label: 'Out', color: '#d98a0b' },
    ],
    format: (v) => `${bytes(Math.round(v))}/s`,
    windowMs: WINDOW_MS,
  });
  const partitions = new DataTable({
    label: 'Partitions',
    empty: 'No partitions.',
    columns: [
      { label: 'Partition', cell: (p) => String(p.partition), sort: (p) => Number(p.partition), numeric: true },
      { label: 'Log start offset', cell: (p) => count(p.log_start_offset), sort: (p) => Number(p.log_start_offset), numeric: true },
      { label: 'High watermark', cell: (p) => count(p.high_watermark), sort: (p) => Number(p.high_watermark), numeric: true },
      { label: 'Messages', cell: (p) => count(messagesIn(p)), sort: (p) => messagesIn(p) ?? 0, numeric: true },
      { label: 'Size', cell: (p) => bytes(p.size_bytes), sort: (p) => Number(p.size_bytes) || 0, numeric: true },
      { label: 'In', cell: (p) => rate(statRate(p.message_stats, 'records_in')), sort: (p) => statRate(p.message_stats, 'records_in') ?? 0, numeric: true },
      { label: 'Out', cell: (p) => rate(statRate(p.message_stats, 'records_out')), sort: (p) => statRate(p.message_stats, 'records_out') ?? 0, numeric: true },
      {
        label: 'Bytes in',
        cell: (p) => `${bytes(Math.round(statRate(p.message_stats, 'bytes_in') ?? 0))}/s`,
        sort: (p) => statRate(p.message_stats, 'bytes_in') ?? 0,
        numeric: true,
      },
      {
        label: 'Bytes out',
        cell: (p) => `${bytes(Math.round(statRate(p.message_stats, 'bytes_out') ?? 0))}/s`,
        sort: (p) => statRate(p.message_stats, 'bytes_out') ?? 0,
        numeric: true,
      },
      { label: 'Segments', cell: (p) => count(p.segments), sort: (p) => Number(p.segments) || 0, numeric: true },
    ],
  });
  /** which rates the charts show: the topic's ('all') or one partition's */
  const chartPartition = h(
    'select',
    { name: 'chart-partition', 'aria-label': 'Charts show', onchange: () => draw() },
    h('option', { value: 'all' }, 'All partitions'),
  );
  function setChartPartitions(n) {
    if (chartPartition.options.length === n + 1) return;
    const chosen = chartPartition.value;
    replace(
      chartPartition,
      h('option', { value: 'all' }, 'All partitions'),
      Array.from({ length: n }, (_, i) => h('option', { value: String(i) }, `Partition ${i}`)),
    );
    if ([...chartPartition.options].some((o) => o.value === chosen)) chartPartition.value = chosen;
  }
  const browser = browseForm(api, name, 0);
  const producer = produceForm(api, name, 0, () => context.refreshNow());
  const partitionsPanel = panel('Partitions', partitions.element);
  const configPanel = panel('Configuration');
  const element = h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, link(['topics'], 'Topics')),
    h('h1', {}, 'Topic ', h('span', { class: 'name' }, name)),
    summary,
    h('p', { class: 'chart-choice' }, h('label', {}, 'Charts show ', chartPartition)),
    h('div', { class: 'grid two' }, panel('Records per second', records.element).element, panel('Bytes per second', traffic.element).element),
    h('div', { class: 'grid wide-left' }, partitionsPanel.element, configPanel.element),
    h('div', { class: 'grid wide-left' }, panel('Messages', browser.element).element, panel('Produce a record', producer.element).element),
  );
  const draw = () => {
    let history = topicHistory.get(name) ?? [];
    if (chartPartition.value !== 'all') {
      const p = Number(chartPartition.value);
      history = history.map((x) => ({
        t: x.t,
        in: x.parts?.[p]?.in ?? null,
        out: x.parts?.[p]?.out ?? null,
        bytesIn: x.parts?.[p]?.bytesIn ?? null,
        bytesOut: x.parts?.[p]?.bytesOut ?? null,
      }));
    }
    records.update(history);
    traffic.update(history);
  };
  draw();

  async function refresh() {
    let topic;
    try {
      topic = await api.get('/api/streams/topics/:name', { name });
    } catch (err) {
      replace(summary, err?.status === 404 ? h('p', { class: 'error', role: 'alert' }, `Topic '${name}' does not exist.`) : problem(err));
      return;
    }
    const s = topic.message_stats;
    remember(topicHistory, name, topicSample(Date.now(), topic));
    setChartPartitions(Number(topic.partitions) || 0);
    draw();
    replace(
      summary,
      cards([
        { label: 'Partitions', value: count(topic.partitions) },
        { label: 'Messages', value: count(topic.messages) },
        { label: 'Size', value: bytes(topic.size_bytes) },
        { label: 'Produced', value: rate(statRate(s, 'records_in')) },
        { label: 'Consumed', value: rate(statRate(s, 'records_out')) },
        { label: 'Retention', value: effective(topic, 'retention.ms', duration) },
        { label: 'Cleanup', value: effective(topic, 'cleanup.policy') },
      ]),
    );
    partitions.update(topic.partition_details ?? []);
    browser.setPartitions(Number(topic.partitions) || 0);
    producer.setPartitions(Number(topic.partitions) || 0);
    const names = Object.keys(topic.effective_configs ?? {})
      .concat(Object.keys(topic.configs ?? {}).filter((k) => !(k in (topic.effective_configs ?? {}))))
      .sort();
    const shown = names.map((k) => {
      const e = topic.effective_configs?.[k];
      const value = e?.value ?? topic.configs?.[k];
      const source = e?.source ?? 'topic';
      const pretty =
        k === 'retention.ms' || k === 'segment.ms' || k === 'delete.retention.ms'
          ? ` (${duration(value)})`
          : k === 'retention.bytes' || k === 'segment.bytes' || k === 'max.message.bytes'
            ? ` (${retentionBytes(value)})`
            : '';
      return [k, h('span', {}, String(value), pretty, ' ', badge(source === 'topic' ? 'topic' : 'default', source === 'topic' ? 'good' : 'muted'))];
    });
    replace(configPanel.body, shown.length === 0 ? h('p', { class: 'hint' }, 'Defaults only.') : facts(shown));
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
  return listPage({
    title: 'Consumer groups',
    table,
    load: async () => {
      const groups = await context.api.get('/api/streams/groups');
      // a group page's lag chart starts with the totals the list saw (its partitions' lines start on the page)
      const t = Date.now();
      for (const g of groups ?? []) remember(groupHistory, g.group_id, { t, total: Number(g.total_lag) || 0 });
      return groups;
    },
  });
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
  const lagPanel = panel('Lag over time');
  const reset = resetForm(api, id, () => context.refreshNow());
  const element = h(
    'div',
    { class: 'page' },
    h('p', { class: 'crumbs' }, link(['groups'], 'Consumer groups')),
    h('h1', {}, 'Consumer group ', h('span', { class: 'name' }, id)),
    summary,
    h('div', { class: 'grid two' }, lagPanel.element, membersPanel.element),
    offsetsPanel.element,
    panel('Reset offsets', reset.element).element,
  );
  /** the lag chart, rebuilt when the group's partitions change */
  let lagChart = null;
  let lagShape = '';

  function drawLag(group) {
    const parts = (group.offsets ?? []).map((o) => ({ key: `p:${o.topic}:${o.partition}`, label: `${o.topic} ${o.partition}`, lag: o.lag }));
    const sample = { t: Date.now(), total: Number(group.total_lag) || 0 };
    for (const p of parts) sample[p.key] = p.lag === null || p.lag === undefined ? null : Number(p.lag);
    const history = remember(groupHistory, id, sample);
    const lines = parts.length <= MAX_LAG_LINES ? parts : [];
    const shape = lines.map((p) => p.key).join('|');
    if (lagChart === null || shape !== lagShape) {
      lagShape = shape;
      lagChart = new LineChart({
        label: `Lag of ${id}`,
        series: [
          { key: 'total', label: 'Total', color: '#1d2433' },
          ...lines.map((p, i) => ({ key: p.key, label: p.label, color: PARTITION_COLORS[i % PARTITION_COLORS.length] })),
        ],
        format: (v) => count(v),
        windowMs: WINDOW_MS,
        whole: true,
      });
      replace(lagPanel.body, lagChart.element, parts.length > MAX_LAG_LINES ? h('p', { class: 'hint' }, `${parts.length} partitions: the total only.`) : null);
    }
    lagChart.update(history);
  }

  async function refresh() {
    let group;
    try {
      group = await api.get('/api/streams/groups/:id', { id });
    } catch (err) {
      replace(summary, err?.status === 404 ? h('p', { class: 'error', role: 'alert' }, `Consumer group '${id}' does not exist.`) : problem(err));
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
    drawLag(group);
    reset.update([...new Set((group.offsets ?? []).map((o) => o.topic))].sort(), group.members?.length ?? 0);
  }

  return { title: `Consumer group ${id}`, element, refresh };
}
