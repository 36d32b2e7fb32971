/**
 * The read-only subcommands: `status`, `queues`, `exchanges`, `bindings`, `topics`, `groups`. Each is one GET
 * of the management API (RabbitMQ's field names, plus Postbox's /api/streams routes for the Kafka side),
 * shown as a table, or passed through unchanged with --json.
 */
import {
  argumentsText,
  exchangeLabel,
  EXIT_OK,
  formatBytes,
  formatRate,
  JSON_FLAG,
  jsonText,
  num,
  VHOST_FLAG,
  vhostFlag,
  type CliCommand,
  type CommandRun,
} from './command.js';
import { renderTable } from './http-client.js';
import { GROUP_ACTIONS, TOPIC_ACTIONS } from './streams-admin.js';
import { BINDING_ACTIONS, EXCHANGE_ACTIONS, QUEUE_ACTIONS } from './topology.js';

// ---------------------------------------------------------------- API shapes (every field may be absent)

interface Rate {
  rate?: number;
}

interface MessageStats {
  publish?: number;
  publish_details?: Rate;
  deliver_get?: number;
  deliver_get_details?: Rate;
  ack?: number;
  ack_details?: Rate;
}

interface Overview {
  product_name?: string;
  product_version?: string;
  node?: string;
  listeners?: { protocol?: string; ip_address?: string; port?: number }[];
  object_totals?: { connections?: number; channels?: number; exchanges?: number; queues?: number; consumers?: number };
  queue_totals?: { messages?: number; messages_ready?: number; messages_unacknowledged?: number };
  message_stats?: MessageStats;
}

interface QueueInfo {
  name?: string;
  vhost?: string;
  type?: string;
  durable?: boolean;
  messages?: number;
  messages_ready?: number;
  messages_unacknowledged?: number;
  consumers?: number;
  message_stats?: MessageStats;
}

interface ExchangeInfo {
  name?: string;
  vhost?: string;
  type?: string;
  durable?: boolean;
  auto_delete?: boolean;
  internal?: boolean;
  arguments?: Record<string, unknown>;
}

interface BindingInfo {
  source?: string;
  vhost?: string;
  destination?: string;
  destination_type?: string;
  routing_key?: string;
  arguments?: Record<string, unknown>;
}

interface PartitionInfo {
  partition?: number;
  log_start_offset?: number | string;
  high_watermark?: number | string;
  size_bytes?: number;
  segments?: number;
}

interface TopicInfo {
  name?: string;
  partitions?: number;
  messages?: number;
  size_bytes?: number;
  partition_details?: PartitionInfo[];
}

interface GroupInfo {
  group_id?: string;
  state?: string;
  protocol_type?: string;
  protocol?: string;
  members?: unknown[];
  offsets?: { topic?: string; partition?: number; committed_offset?: number | string; high_watermark?: number | string; lag?: number | string }[];
  total_lag?: number | string;
}

function list<T>(body: unknown): T[] {
  return Array.isArray(body) ? (body as T[]) : [];
}

/** A cell for a value the API may leave out. */
function cell(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}

function yesNo(value: unknown): string {
  return value === true ? 'yes' : 'no';
}

/** `key  value` lines with the keys padded to one width. */
function keyValues(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n') + '\n';
}

/** GET the whole list, or one vhost's when --vhost was given. */
async function getList(run: CommandRun, resource: string): Promise<unknown> {
  const vhost = vhostFlag(run.flags);
  const { body } = await run.client().request('GET', vhost === undefined ? ['api', resource] : ['api', resource, vhost]);
  return body;
}

// ---------------------------------------------------------------- status

function listenerText(l: { protocol?: string; ip_address?: string; port?: number }): string {
  const ip = cell(l.ip_address);
  return `${cell(l.protocol)} ${ip.includes(':') ? `[${ip}]` : ip}:${cell(l.port)}`;
}

function statusText(o: Overview): string {
  const objects = o.object_totals ?? {};
  const queued = o.queue_totals ?? {};
  const stats = o.message_stats ?? {};
  const rows: [string, string][] = [
    ['product', `${cell(o.product_name)} ${cell(o.product_version)}`.trim()],
    ['node', cell(o.node)],
    ['listeners', (o.listeners ?? []).map(listenerText).join(', ')],
    ['connections', String(num(objects.connections))],
    ['channels', String(num(objects.channels))],
    ['exchanges', String(num(objects.exchanges))],
    ['queues', String(num(objects.queues))],
    ['consumers', String(num(objects.consumers))],
    ['messages', `${num(queued.messages)} (ready ${num(queued.messages_ready)}, unacked ${num(queued.messages_unacknowledged)})`],
    ['published', `${num(stats.publish)} (${formatRate(stats.publish_details?.rate)}/s)`],
    ['delivered', `${num(stats.deliver_get)} (${formatRate(stats.deliver_get_details?.rate)}/s)`],
    ['acked', `${num(stats.ack)} (${formatRate(stats.ack_details?.rate)}/s)`],
  ];
  return keyValues(rows);
}

const status: CliCommand = {
  name: 'status',
  summary: 'version, node, listeners, object and message totals, message rates',
  usage: ['postbox status [--json]'],
  description: `Shows the broker's overview (GET /api/overview). Exits 1 with one line on stderr when the broker
cannot be reached, so it also serves as a liveness check in scripts.`,
  flags: [JSON_FLAG],
  async run(run) {
    const { body } = await run.client().request('GET', ['api', 'overview']);
    run.stdout.write(run.json ? jsonText(body) : statusText((body ?? {}) as Overview));
    return EXIT_OK;
  },
};

// ---------------------------------------------------------------- queues, exchanges, bindings

const queues: CliCommand = {
  name: 'queues',
  summary: 'queues with message counts, consumers and rates',
  usage: ['postbox queues [list] [--vhost <vhost>] [--json]'],
  subcommands: QUEUE_ACTIONS,
  description: 'Lists queues (GET /api/queues) of every vhost, or of one with --vhost.',
  flags: [{ ...VHOST_FLAG, doc: 'only this virtual host (default: every vhost)' }, JSON_FLAG],
  async run(run) {
    const body = await getList(run, 'queues');
    if (run.json) {
      run.stdout.write(jsonText(body));
      return EXIT_OK;
    }
    const rows = list<QueueInfo>(body).map((q) => [
      cell(q.vhost),
      cell(q.name),
      cell(q.type),
      yesNo(q.durable),
      String(num(q.messages)),
      String(num(q.messages_ready)),
      String(num(q.messages_unacknowledged)),
      String(num(q.consumers)),
      formatRate(q.message_stats?.publish_details?.rate),
      formatRate(q.message_stats?.deliver_get_details?.rate),
    ]);
    run.stdout.write(renderTable(['vhost', 'name', 'type', 'durable', 'messages', 'ready', 'unacked', 'consumers', 'publish/s', 'deliver/s'], rows));
    return EXIT_OK;
  },
};

const exchanges: CliCommand = {
  name: 'exchanges',
  summary: 'exchanges with type and flags',
  usage: ['postbox exchanges [list] [--vhost <vhost>] [--json]'],
  subcommands: EXCHANGE_ACTIONS,
  description: `Lists exchanges (GET /api/exchanges) of every vhost, or of one with --vhost. The default exchange,
whose name is empty, is shown as ${exchangeLabel('')}.`,
  flags: [{ ...VHOST_FLAG, doc: 'only this virtual host (default: every vhost)' }, JSON_FLAG],
  async run(run) {
    const body = await getList(run, 'exchanges');
    if (run.json) {
      run.stdout.write(jsonText(body));
      return EXIT_OK;
    }
    const rows = list<ExchangeInfo>(body).map((e) => [
      cell(e.vhost),
      exchangeLabel(e.name),
      cell(e.type),
      yesNo(e.durable),
      yesNo(e.auto_delete),
      yesNo(e.internal),
      argumentsText(e.arguments),
    ]);
    run.stdout.write(renderTable(['vhost', 'name', 'type', 'durable', 'auto_delete', 'internal', 'arguments'], rows));
    return EXIT_OK;
  },
};

const bindings: CliCommand = {
  name: 'bindings',
  summary: 'bindings from exchanges to queues and exchanges',
  usage: ['postbox bindings [list] [--vhost <vhost>] [--json]'],
  subcommands: BINDING_ACTIONS,
  description: `Lists bindings (GET /api/bindings) of every vhost, or of one with --vhost, including the default
exchange's implicit binding to every queue.`,
  flags: [{ ...VHOST_FLAG, doc: 'only this virtual host (default: every vhost)' }, JSON_FLAG],
  async run(run) {
    const body = await getList(run, 'bindings');
    if (run.json) {
      run.stdout.write(jsonText(body));
      return EXIT_OK;
    }
    const rows = list<BindingInfo>(body).map((b) => [
      cell(b.vhost),
      exchangeLabel(b.source),
      cell(b.destination),
      cell(b.destination_type),
      cell(b.routing_key),
      argumentsText(b.arguments),
    ]);
    run.stdout.write(renderTable(['vhost', 'source', 'destination', 'destination_type', 'routing_key', 'arguments'], rows));
    return EXIT_OK;
  },
};

// ---------------------------------------------------------------- Kafka topics and consumer groups

const topics: CliCommand = {
  name: 'topics',
  summary: 'Kafka topics with partitions, messages and size',
  usage: ['postbox topics [list] [--partitions] [--json]'],
  subcommands: TOPIC_ACTIONS,
  description: `Lists Kafka topics (GET /api/streams/topics). With --partitions, also one row per partition with its
log start offset, high watermark, size and segment count.`,
  flags: [{ name: 'partitions', type: 'boolean', doc: 'also list every partition' }, JSON_FLAG],
  async run(run) {
    const { body } = await run.client().request('GET', ['api', 'streams', 'topics']);
    if (run.json) {
      run.stdout.write(jsonText(body));
      return EXIT_OK;
    }
    const all = list<TopicInfo>(body);
    const rows = all.map((t) => [cell(t.name), String(num(t.partitions)), String(num(t.messages)), formatBytes(t.size_bytes)]);
    let text = renderTable(['topic', 'partitions', 'messages', 'size'], rows);
    if (run.flags.partitions === true) {
      const partitionRows = all.flatMap((t) =>
        (t.partition_details ?? []).map((p) => [
          cell(t.name),
          cell(p.partition),
          cell(p.log_start_offset),
          cell(p.high_watermark),
          formatBytes(p.size_bytes),
          cell(p.segments),
        ]),
      );
      text += '\n' + renderTable(['topic', 'partition', 'log_start_offset', 'high_watermark', 'size', 'segments'], partitionRows);
    }
    run.stdout.write(text);
    return EXIT_OK;
  },
};

const groups: CliCommand = {
  name: 'groups',
  summary: 'Kafka consumer groups with members, committed offsets and lag',
  usage: ['postbox groups [list] [--json]'],
  subcommands: GROUP_ACTIONS,
  description: `Lists Kafka consumer groups (GET /api/streams/groups): one row per group with its state, members and
total lag, then one row per committed partition with its committed offset, high watermark and lag.`,
  flags: [JSON_FLAG],
  async run(run) {
    const { body } = await run.client().request('GET', ['api', 'streams', 'groups']);
    if (run.json) {
      run.stdout.write(jsonText(body));
      return EXIT_OK;
    }
    const all = list<GroupInfo>(body);
    const rows = all.map((g) => [cell(g.group_id), cell(g.state), cell(g.protocol), String((g.members ?? []).length), cell(g.total_lag ?? 0)]);
    const offsetRows = all.flatMap((g) =>
      (g.offsets ?? []).map((o) => [cell(g.group_id), cell(o.topic), cell(o.partition), cell(o.committed_offset), cell(o.high_watermark), cell(o.lag)]),
    );
    let text = renderTable(['group', 'state', 'protocol', 'members', 'lag'], rows);
    if (offsetRows.length > 0) text += '\n' + renderTable(['group', 'topic', 'partition', 'committed', 'high_watermark', 'lag'], offsetRows);
    run.stdout.write(text);
    return EXIT_OK;
  },
};

export const INSPECT_COMMANDS: readonly CliCommand[] = [status, queues, exchanges, bindings, topics, groups];
