/**
 * Prometheus metrics at `GET /metrics` (text exposition format 0.0.4), on the management port and without
 * authentication, as RabbitMQ's prometheus plugin serves them. Metric names follow RabbitMQ's
 * (`rabbitmq_queue_messages_ready`, `rabbitmq_connections`, ...) so existing Grafana dashboards work;
 * Postbox's own metrics are prefixed `postbox_`. Every value is read from counters the broker keeps anyway
 * (src/core/stats.ts, the sync scheduler, the stream store): a scrape allocates, the message path does not.
 */
import type { QueueCounters } from '../core/stats.js';
import { SYNC_DURATION_BOUNDS_MS } from '../storage/sync.js';
import type { ManagementContext, Route } from './router.js';

/** The content type Prometheus expects for the text format. */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Builds the exposition text: each metric family once, with HELP and TYPE, then its samples. */
class Exposition {
  private readonly lines: string[] = [];

  family(name: string, help: string, type: 'gauge' | 'counter' | 'histogram' = 'gauge'): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labels: Record<string, string | number> | null, value: number): this {
    this.lines.push(`${name}${labels === null ? '' : formatLabels(labels)} ${formatValue(value)}`);
    return this;
  }

  /** a histogram from per-bucket counts (not cumulative) over ascending upper bounds in ms, reported in seconds */
  histogram(name: string, help: string, boundsMs: ArrayLike<number>, counts: ArrayLike<number>, count: number, sumMs: number): this {
    this.family(name, help, 'histogram');
    let cumulative = 0;
    for (let i = 0; i < boundsMs.length; i++) {
      cumulative += counts[i]!;
      this.sample(`${name}_bucket`, { le: String(boundsMs[i]! / 1000) }, cumulative);
    }
    this.sample(`${name}_bucket`, { le: '+Inf' }, count);
    this.sample(`${name}_sum`, null, sumMs / 1000);
    this.sample(`${name}_count`, null, count);
    return this;
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatLabels(labels: Record<string, string | number>): string {
  return '{' + Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`).join(',') + '}';
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

interface QueueRow {
  labels: { vhost: string; queue: string };
  counters: QueueCounters;
  ready: number;
  unacked: number;
  consumers: number;
}

const DEAD_LETTER_REASONS: ReadonlyArray<[string, (c: QueueCounters) => number]> = [
  ['expired', (c) => c.deadLetteredExpired],
  ['rejected', (c) => c.deadLetteredRejected],
  ['maxlen', (c) => c.deadLetteredMaxlen],
  ['delivery_limit', (c) => c.deadLetteredDeliveryLimit],
];

/** Per-queue counters exported as `postbox_queue_<name>_total`, with their help text. */
const QUEUE_COUNTERS: ReadonlyArray<[string, string, (c: QueueCounters) => number]> = [
  ['delivered', 'Messages delivered to consumers, acknowledging or not', (c) => c.deliver + c.deliverNoAck],
  ['fetched', 'Messages taken with basic.get', (c) => c.get + c.getNoAck],
  ['acknowledged', 'Messages acknowledged', (c) => c.ack],
  ['redelivered', 'Deliveries and gets of messages delivered before', (c) => c.redeliver],
  ['requeued', 'Messages put back for redelivery (nack/reject with requeue, consumer gone)', (c) => c.requeue],
  ['nacked', 'Messages consumers refused with basic.nack or basic.reject, requeued or not', (c) => c.nack],
];

export function renderMetrics(ctx: ManagementContext): string {
  const core = ctx.core;
  const out = new Exposition();
  const queues: QueueRow[] = [];
  let consumers = 0;
  for (const vhost of core.vhosts.values()) {
    for (const q of vhost.queues.values()) {
      const n = q.consumers.length;
      consumers += n;
      queues.push({ labels: { vhost: vhost.name, queue: q.name }, counters: q.counters, ready: q.messageCount, unacked: q.unackedCount, consumers: n });
    }
  }

  // ---- RabbitMQ's names: object counts, queue depths and consumers
  out.family('rabbitmq_connections', 'Open client connections (AMQP and Kafka)').sample('rabbitmq_connections', null, core.clients.size);
  out.family('rabbitmq_channels', 'Open AMQP channels').sample('rabbitmq_channels', null, channelCount(ctx));
  out.family('rabbitmq_queues', 'Queues').sample('rabbitmq_queues', null, queues.length);
  out.family('rabbitmq_consumers', 'Consumers on all queues').sample('rabbitmq_consumers', null, consumers);
  out.family('rabbitmq_queue_messages_ready', 'Messages ready to be delivered to consumers');
  for (const q of queues) out.sample('rabbitmq_queue_messages_ready', q.labels, q.ready);
  out.family('rabbitmq_queue_messages_unacked', 'Messages delivered to consumers but not yet acknowledged');
  for (const q of queues) out.sample('rabbitmq_queue_messages_unacked', q.labels, q.unacked);
  out.family('rabbitmq_queue_messages', 'Messages ready and unacknowledged');
  for (const q of queues) out.sample('rabbitmq_queue_messages', q.labels, q.ready + q.unacked);
  out.family('rabbitmq_queue_consumers', 'Consumers on a queue');
  for (const q of queues) out.sample('rabbitmq_queue_consumers', q.labels, q.consumers);
  out.family('rabbitmq_queue_messages_published_total', 'Messages routed to a queue', 'counter');
  for (const q of queues) out.sample('rabbitmq_queue_messages_published_total', q.labels, q.counters.publish);

  // ---- broker-wide counters (deleted queues included), RabbitMQ's global names
  const totals = core.stats.totals(core.allQueues());
  const broker = core.stats.counters;
  out.family('rabbitmq_global_messages_received_total', 'Messages published by clients', 'counter').sample('rabbitmq_global_messages_received_total', null, broker.publish);
  out.family('rabbitmq_global_messages_routed_total', 'Messages routed to queues', 'counter').sample('rabbitmq_global_messages_routed_total', null, totals.publish);
  out.family('rabbitmq_global_messages_delivered_total', 'Messages delivered to consumers or fetched', 'counter').sample('rabbitmq_global_messages_delivered_total', null, totals.deliverGet);
  out.family('rabbitmq_global_messages_acknowledged_total', 'Messages acknowledged', 'counter').sample('rabbitmq_global_messages_acknowledged_total', null, totals.ack);
  out.family('rabbitmq_global_messages_redelivered_total', 'Messages redelivered', 'counter').sample('rabbitmq_global_messages_redelivered_total', null, totals.redeliver);
  out.family('rabbitmq_global_messages_unroutable_returned_total', 'Unroutable mandatory messages returned', 'counter').sample('rabbitmq_global_messages_unroutable_returned_total', null, broker.returnUnroutable);
  out.family('rabbitmq_global_messages_unroutable_dropped_total', 'Unroutable messages dropped', 'counter').sample('rabbitmq_global_messages_unroutable_dropped_total', null, broker.dropUnroutable);

  // ---- Postbox's own: per-queue rates as counters, dead letters by reason
  for (const [name, help, read] of QUEUE_COUNTERS) {
    const metric = `postbox_queue_messages_${name}_total`;
    out.family(metric, help, 'counter');
    for (const q of queues) out.sample(metric, q.labels, read(q.counters));
  }
  out.family('postbox_queue_messages_dead_lettered_total', 'Messages dead-lettered from a queue, by reason', 'counter');
  for (const q of queues) for (const [reason, read] of DEAD_LETTER_REASONS) out.sample('postbox_queue_messages_dead_lettered_total', { ...q.labels, reason }, read(q.counters));
  out.family('postbox_messages_dead_lettered_total', 'Messages dead-lettered, every queue (deleted ones included), by reason', 'counter');
  for (const [reason, read] of DEAD_LETTER_REASONS) out.sample('postbox_messages_dead_lettered_total', { reason }, read(totals));

  const latency = core.stats.latency;
  out.histogram('postbox_message_latency_seconds', 'Publish to acknowledgement time of acknowledged messages', latency.bounds, latency.counts, latency.count, latency.sumMs);
  const fsync = core.scheduler.durations;
  out.histogram('postbox_fsync_round_seconds', 'Duration of group-commit fsync rounds', SYNC_DURATION_BOUNDS_MS, fsync.counts, fsync.count, fsync.sumMs);

  // ---- storage failures (storage/sync.ts)
  let failures = 0;
  let unrepaired = 0;
  let written = 0;
  for (const s of core.schedulers) {
    failures += s.failureCount;
    unrepaired += s.brokenLogCount;
    written += s.bytesWritten;
  }
  out.family('postbox_storage_failed', '1 while storage has a write or fsync failure it has not recovered from (publishes are nacked), and 10 s after').sample('postbox_storage_failed', null, core.storageFailureReported === null ? 0 : 1);
  out.family('postbox_storage_failures_total', 'Write and fsync failures; each refused everything not yet durable', 'counter').sample('postbox_storage_failures_total', null, failures);
  out.family('postbox_storage_unrepaired_logs', 'Logs that could not start a new segment after a failure yet (the disk still full)').sample('postbox_storage_unrepaired_logs', null, unrepaired);
  out.family('postbox_storage_written_bytes_total', 'Bytes the storage wrote to its logs', 'counter').sample('postbox_storage_written_bytes_total', null, written);

  // ---- resources and alarms
  const alarms = core.alarm;
  out.family('rabbitmq_process_resident_memory_bytes', 'Resident memory of the broker process').sample('rabbitmq_process_resident_memory_bytes', null, process.memoryUsage.rss());
  if (alarms !== null) {
    out.family('rabbitmq_resident_memory_limit_bytes', 'Memory high watermark').sample('rabbitmq_resident_memory_limit_bytes', null, alarms.memory.limit);
    out.family('rabbitmq_alarms_memory_used_watermark', '1 while the memory alarm is on').sample('rabbitmq_alarms_memory_used_watermark', null, alarms.memory.reason === null ? 0 : 1);
    out.family('rabbitmq_alarms_free_disk_space_watermark', '1 while the disk alarm is on').sample('rabbitmq_alarms_free_disk_space_watermark', null, alarms.disk.reason === null ? 0 : 1);
    let free = NaN;
    try {
      free = alarms.disk.freeBytes();
    } catch {
      // reported as NaN: the data directory cannot be stat'ed right now
    }
    out.family('rabbitmq_disk_space_available_bytes', 'Free space on the data directory\'s disk').sample('rabbitmq_disk_space_available_bytes', null, free);
  }

  // ---- Kafka model: partitions and consumer-group lag
  out.family('postbox_kafka_partition_high_watermark', 'Durable end offset of a partition');
  const partitions: Array<{ labels: { topic: string; partition: number }; start: bigint; end: bigint; size: number }> = [];
  for (const topic of ctx.streams.topics()) {
    for (const p of topic.partitions) partitions.push({ labels: { topic: topic.name, partition: p.index }, start: p.log.logStartOffset, end: p.highWatermark, size: p.log.sizeBytes });
  }
  for (const p of partitions) out.sample('postbox_kafka_partition_high_watermark', p.labels, Number(p.end));
  out.family('postbox_kafka_partition_log_start_offset', 'First offset still stored in a partition');
  for (const p of partitions) out.sample('postbox_kafka_partition_log_start_offset', p.labels, Number(p.start));
  out.family('postbox_kafka_partition_size_bytes', 'Bytes of a partition\'s segment files');
  for (const p of partitions) out.sample('postbox_kafka_partition_size_bytes', p.labels, p.size);
  out.family('postbox_kafka_consumergroup_lag', 'High watermark minus the committed offset, per group and partition');
  for (const group of ctx.groups.listGroups()) {
    for (const o of ctx.groups.committedOffsets(group.groupId)) {
      out.sample('postbox_kafka_consumergroup_lag', { group: group.groupId, topic: o.topic, partition: o.partition }, Number(o.lag ?? 0));
    }
  }

  // ---- alerts
  if (ctx.alerts !== undefined) {
    out.family('postbox_alerts_firing', 'Alerts firing, by rule');
    const firing = new Map<string, number>();
    for (const rule of ctx.alerts.listRules()) firing.set(rule.name, 0);
    for (const s of ctx.alerts.states()) if (s.state === 'firing') firing.set(s.rule, (firing.get(s.rule) ?? 0) + 1);
    for (const [rule, n] of firing) out.sample('postbox_alerts_firing', { rule }, n);
  }
  return out.text();
}

function channelCount(ctx: ManagementContext): number {
  let channels = 0;
  for (const c of ctx.core.clients) channels += c.channelDetails().length;
  return channels;
}

export const metricsRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/metrics',
    public: true,
    handler: (_req, ctx) => ({ status: 200, raw: { contentType: CONTENT_TYPE, bytes: Buffer.from(renderMetrics(ctx)) } }),
  },
];
