/**
 * The families RabbitMQ's Prometheus plugin exposes that are not per queue: node identity and build, node
 * resources (memory, disk, file descriptors, uptime), the global counters with their `protocol` label,
 * churn counters, the message size histogram, and per-channel and per-connection families. Names, labels
 * and `le` bounds are RabbitMQ's (deps/rabbitmq_prometheus, rabbit_global_counters.erl,
 * rabbit_msg_size_metrics.erl), so its Grafana dashboards read them; what Postbox cannot mean the same
 * way is left out rather than faked (docs/management.md, "Prometheus metrics").
 */
import { createHash } from 'node:crypto';
import type { ChannelDetails, ConnectionDetails } from '../core/clients.js';
import type { QueueCounters } from '../core/stats.js';
import { fileDescriptors, RABBITMQ_API_VERSION } from './overview.js';
import { escapeLabel, family, formatLabels, histogramSamples, perRow, ROWS_PER_YIELD, sample, single, type Row } from './metrics-format.js';
import type { ManagementContext } from './router.js';

/**
 * Which exposition is being written, as RabbitMQ's `rabbitmq_identity_info{rabbitmq_endpoint}` names it:
 * dashboards select one endpoint (their hidden `endpoint` variable takes the first value in alphabetical
 * order) so a node scraped at two paths is not counted twice. `/metrics` is 'aggregated', the name of
 * RabbitMQ's default endpoint, although Postbox's carries per-queue series too: a dashboard that sums them
 * gets the same figures, and with RabbitMQ's example scrape setup (/metrics and /metrics/detailed) the
 * dashboards pick it, not the detailed one ('per-object' would sort after 'detailed').
 */
export type MetricsEndpoint = 'aggregated' | 'per-object' | 'detailed';

/** The `protocol` label of AMQP 0-9-1 series in rabbitmq_global_* (rabbit_global_counters). */
export const AMQP_PROTOCOL_LABEL = '{protocol="amqp091"}';

/**
 * RabbitMQ's `le` labels for rabbitmq_message_size_bytes, as its Prometheus client formats them (Erlang
 * floats: "100.0", then "1e+06" from a million), one per MESSAGE_SIZE_BUCKET_BOUNDS (core/stats.ts); the
 * Overview dashboard selects buckets by these strings.
 */
const MESSAGE_SIZE_LE: readonly string[] = ['100.0', '1000.0', '10000.0', '100000.0', '1e+06', '1e+07', '5e+07', '1e+08'];

/**
 * A stable identifier for this node's "cluster" (RabbitMQ's rabbitmq_cluster_permanent_id): derived from the
 * node name and the data directory, so it stays the same across restarts of the same broker.
 */
export function clusterPermanentId(node: string, dataDir: string): string {
  const digest = createHash('sha256').update(`${node}\0${dataDir}`).digest('base64url');
  return `postbox-cluster-id-${digest.slice(0, 22)}`;
}

/** rabbitmq_build_info and rabbitmq_identity_info: every dashboard query joins on the second. */
export function identityFamilies(ctx: ManagementContext, endpoint: MetricsEndpoint): string {
  const build = formatLabels({
    rabbitmq_version: RABBITMQ_API_VERSION,
    product_name: ctx.productName,
    product_version: ctx.version,
    nodejs_version: process.versions.node,
  });
  const identity = formatLabels({
    rabbitmq_node: ctx.node,
    rabbitmq_cluster: ctx.node,
    rabbitmq_cluster_permanent_id: ctx.clusterPermanentId ?? clusterPermanentId(ctx.node, ''),
    rabbitmq_endpoint: endpoint,
  });
  return (
    family('rabbitmq_build_info', "RabbitMQ-compatible version info: the RabbitMQ release whose API Postbox follows, and Postbox's own", 'untyped') +
    sample('rabbitmq_build_info', build, 1) +
    family('rabbitmq_identity_info', 'Node and cluster identity info (one node: the cluster is named after it)', 'untyped') +
    sample('rabbitmq_identity_info', identity, 1)
  );
}

/**
 * Node resources under RabbitMQ's names (node_coarse_metrics, node_metrics) and the standard `process_*`
 * names, read at the scrape: /proc for file descriptors (Linux; 0 elsewhere), the alarms for the limits.
 */
export function nodeFamilies(ctx: ManagementContext, prefix = 'rabbitmq_'): string {
  const rss = process.memoryUsage.rss();
  const fds = fileDescriptors();
  const uptime = process.uptime();
  let text =
    single(`${prefix}process_resident_memory_bytes`, 'Resident memory of the broker process', rss) +
    single(`${prefix}process_open_fds`, 'Open file descriptors', fds.used) +
    single(`${prefix}process_max_fds`, 'Open file descriptors limit', fds.total) +
    single(`${prefix}erlang_uptime_seconds`, "Node uptime (RabbitMQ's name; Postbox runs on Node.js, not Erlang)", uptime);
  const alarms = ctx.core.alarm;
  if (alarms !== null) {
    let free = NaN;
    try {
      free = alarms.disk.freeBytes();
    } catch {
      // reported as NaN: the data directory cannot be stat'ed right now
    }
    text +=
      single(`${prefix}resident_memory_limit_bytes`, 'Memory high watermark', alarms.memory.limit) +
      single(`${prefix}disk_space_available_bytes`, "Free space on the data directory's disk", free) +
      single(`${prefix}disk_space_available_limit_bytes`, 'Free disk space low watermark', alarms.disk.limit);
  }
  return text;
}

/** The standard Prometheus process families (as RabbitMQ's process collector and most exporters write them). */
export function processFamilies(): string {
  const fds = fileDescriptors();
  const cpu = process.cpuUsage();
  return (
    single('process_resident_memory_bytes', 'Resident memory size in bytes', process.memoryUsage.rss()) +
    single('process_open_fds', 'Number of open file descriptors', fds.used) +
    single('process_max_fds', 'Maximum number of open file descriptors', fds.total) +
    single('process_start_time_seconds', 'Start time of the process since the Unix epoch, seconds', Math.round(Date.now() / 1000 - process.uptime())) +
    single('process_cpu_seconds_total', 'Total user and system CPU time spent, seconds', (cpu.user + cpu.system) / 1e6, 'counter')
  );
}

/** The alarms as RabbitMQ's alarm collector writes them. */
export function alarmFamilies(ctx: ManagementContext): string {
  const alarms = ctx.core.alarm;
  if (alarms === null) return '';
  return (
    single('rabbitmq_alarms_memory_used_watermark', '1 while the memory alarm is on', alarms.memory.reason === null ? 0 : 1) +
    single('rabbitmq_alarms_free_disk_space_watermark', '1 while the disk alarm is on', alarms.disk.reason === null ? 0 : 1)
  );
}

/** connection, channel and queue churn (RabbitMQ's connection_churn_metrics), every vhost */
export function churnFamilies(ctx: ManagementContext, prefix = 'rabbitmq_'): string {
  const c = ctx.core.stats.counters;
  return (
    single(`${prefix}connections_opened_total`, 'Total number of connections opened (AMQP and Kafka)', ctx.core.clients.opened, 'counter') +
    single(`${prefix}connections_closed_total`, 'Total number of connections closed or terminated (AMQP and Kafka)', ctx.core.clients.closed, 'counter') +
    single(`${prefix}channels_opened_total`, 'Total number of channels opened', c.channelCreated, 'counter') +
    single(`${prefix}channels_closed_total`, 'Total number of channels closed', c.channelClosed, 'counter') +
    single(`${prefix}queues_declared_total`, 'Total number of queues declared', c.queueDeclared, 'counter') +
    single(`${prefix}queues_created_total`, 'Total number of queues created', c.queueCreated, 'counter') +
    single(`${prefix}queues_deleted_total`, 'Total number of queues deleted', c.queueDeleted, 'counter')
  );
}

/**
 * rabbitmq_global_*: RabbitMQ's global counters, labelled protocol="amqp091" (Postbox's queues are fed and
 * drained over AMQP 0-9-1 and the management API; Kafka traffic has its own families, metrics-kafka.ts).
 * `totals` are the queue counters summed over every queue, deleted ones included.
 */
export function globalFamilies(ctx: ManagementContext, totals: QueueCounters, consumers: number, publishers: number): string {
  const b = ctx.core.stats.counters;
  const l = AMQP_PROTOCOL_LABEL;
  const counter = (name: string, help: string, value: number): string =>
    family(`rabbitmq_global_${name}`, help, 'counter') + sample(`rabbitmq_global_${name}`, l, value);
  const gauge = (name: string, help: string, value: number): string => family(`rabbitmq_global_${name}`, help) + sample(`rabbitmq_global_${name}`, l, value);
  return (
    counter('messages_received_total', 'Total number of messages received from publishers', b.publish) +
    counter('messages_received_confirm_total', 'Total number of messages received from publishers expecting confirmations', b.publishConfirm) +
    counter('messages_routed_total', 'Total number of messages routed to queues (one per queue reached)', totals.publish) +
    counter(
      'messages_unroutable_dropped_total',
      'Total number of messages published as non-mandatory into an exchange and dropped as unroutable',
      b.dropUnroutable,
    ) +
    counter(
      'messages_unroutable_returned_total',
      'Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable',
      b.returnUnroutable,
    ) +
    counter('messages_confirmed_total', 'Total number of messages confirmed to publishers', b.confirmed) +
    gauge('publishers', 'Current number of publishers (channels that have published)', publishers) +
    gauge('consumers', 'Current number of consumers', consumers) +
    counter('messages_delivered_total', 'Total number of messages delivered to consumers (consume and get)', totals.deliverGet) +
    counter(
      'messages_delivered_consume_manual_ack_total',
      'Total number of messages delivered to consumers using basic.consume with manual acknowledgment',
      totals.deliver,
    ) +
    counter(
      'messages_delivered_consume_auto_ack_total',
      'Total number of messages delivered to consumers using basic.consume with automatic acknowledgment',
      totals.deliverNoAck,
    ) +
    counter(
      'messages_delivered_get_manual_ack_total',
      'Total number of messages delivered to consumers using basic.get with manual acknowledgment',
      totals.get,
    ) +
    counter(
      'messages_delivered_get_auto_ack_total',
      'Total number of messages delivered to consumers using basic.get with automatic acknowledgment',
      totals.getNoAck,
    ) +
    counter('messages_get_empty_total', 'Total number of times basic.get operations fetched no message', totals.getEmpty) +
    counter('messages_redelivered_total', 'Total number of messages redelivered to consumers', totals.redeliver) +
    counter('messages_acknowledged_total', 'Total number of messages acknowledged by consumers', totals.ack)
  );
}

/** rabbitmq_message_size_bytes{protocol="amqp091"}: body sizes of published messages, RabbitMQ's buckets */
export function messageSizeFamily(ctx: ManagementContext): string {
  const h = ctx.core.stats.messageSizes;
  return (
    family('rabbitmq_message_size_bytes', 'Size of messages received from publishers', 'histogram') +
    histogramSamples('rabbitmq_message_size_bytes', MESSAGE_SIZE_LE, h.counts, h.count, h.sum, 'protocol="amqp091"')
  );
}

/** A channel seen by a scrape, with its connection. */
export interface ChannelRow {
  readonly connection: ConnectionDetails;
  readonly channel: ChannelDetails;
}

/** the client connections and their channels, labels formatted once (`connection`, `channel` as the management API names them) */
export function* gatherClients(ctx: ManagementContext, connections: Row<ConnectionDetails>[], channels: Row<ChannelRow>[]): Generator<string> {
  let n = 0;
  for (const client of ctx.core.clients) {
    const details = client.details();
    const name = escapeLabel(details.name);
    connections.push({ labels: `{connection="${name}"}`, item: details });
    for (const ch of client.channelDetails()) {
      channels.push({ labels: `{channel="${escapeLabel(`${details.name} (${ch.number})`)}"}`, item: { connection: details, channel: ch } });
    }
    if (++n % ROWS_PER_YIELD === 0) yield '';
  }
}

/** RabbitMQ's channel_metrics, channel_exchange_metrics (published) and connection families, one series per object */
export function* clientFamilies(
  prefix: string,
  connections: readonly Row<ConnectionDetails>[],
  channels: readonly Row<ChannelRow>[],
  families: ReadonlySet<string> | null,
): Generator<string> {
  const wanted = (f: string): boolean => families === null || families.has(f);
  if (wanted('channel_metrics')) {
    const gauges: ReadonlyArray<[string, string, (c: ChannelDetails) => number]> = [
      ['channel_consumers', 'Consumers on a channel', (c) => c.consumerCount],
      ['channel_messages_unacked', 'Delivered but not yet acknowledged messages', (c) => c.unacked],
      ['channel_messages_unconfirmed', 'Published but not yet confirmed messages', (c) => c.unconfirmed],
      ['consumer_prefetch', 'Limit of unacknowledged messages for each consumer', (c) => c.prefetchCount],
      ['channel_prefetch', "Limit of unacknowledged messages shared by a channel's consumers (global prefetch)", (c) => c.globalPrefetchCount],
    ];
    for (const [name, help, read] of gauges) {
      yield family(prefix + name, help);
      yield* perRow(prefix + name, channels, (r) => read(r.channel));
    }
  }
  if (wanted('channel_exchange_metrics')) {
    yield family(`${prefix}channel_messages_published_total`, 'Total number of messages published on a channel', 'counter');
    yield* perRow(`${prefix}channel_messages_published_total`, channels, (r) => r.channel.publish);
  }
  if (wanted('connection_coarse_metrics')) {
    yield family(`${prefix}connection_incoming_bytes_total`, 'Total number of bytes received on a connection', 'counter');
    yield* perRow(`${prefix}connection_incoming_bytes_total`, connections, (c) => c.recvBytes);
    yield family(`${prefix}connection_outgoing_bytes_total`, 'Total number of bytes sent on a connection', 'counter');
    yield* perRow(`${prefix}connection_outgoing_bytes_total`, connections, (c) => c.sendBytes);
  }
  if (wanted('connection_metrics')) {
    yield family(`${prefix}connection_channels`, 'Channels on a connection');
    yield* perRow(`${prefix}connection_channels`, connections, (c) => c.channels);
  }
}
