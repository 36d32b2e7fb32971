/**
 * Prometheus metrics at `GET /metrics` (text exposition format 0.0.4), on the management port and without
 * authentication, as RabbitMQ's prometheus plugin serves them. Metric names follow RabbitMQ's
 * (`rabbitmq_queue_messages_ready`, `rabbitmq_connections`, ...) so existing Grafana dashboards work;
 * Postbox's own metrics are prefixed `postbox_`. Every value is read from counters the broker keeps anyway
 * (src/core/stats.ts, the sync scheduler, the stream store): a scrape allocates, the message path does not.
 */
import type { QueueCounters } from '../core/stats.js';
import type { Queue } from '../core/queue/queue.js';
import type { Partition } from '../core/stream/topics.js';
import { SYNC_DURATION_BOUNDS_MS } from '../storage/sync.js';
import type { ManagementContext, Route } from './router.js';

/** The content type Prometheus expects for the text format. */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Rows drawn between two empty pieces while a long loop only gathers (the writer looks at its clock at each
 * piece it is given, so a loop that yields nothing would hold the event loop for all 100,000 queues).
 */
const ROWS_PER_YIELD = 256;

/** The lines of the exposition: each metric family once, with HELP and TYPE, then its samples. */
function family(name: string, help: string, type: 'gauge' | 'counter' | 'histogram' = 'gauge'): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
}

/** One sample line; `labels` is already formatted (`{a="b"}`) or ''. */
function sample(name: string, labels: string, value: number): string {
  return `${name}${labels} ${formatValue(value)}\n`;
}

/** a histogram from per-bucket counts (not cumulative) over ascending upper bounds in ms, reported in seconds */
function histogram(name: string, help: string, boundsMs: ArrayLike<number>, counts: ArrayLike<number>, count: number, sumMs: number): string {
  let text = family(name, help, 'histogram');
  let cumulative = 0;
  for (let i = 0; i < boundsMs.length; i++) {
    cumulative += counts[i]!;
    text += sample(`${name}_bucket`, formatLabels({ le: String(boundsMs[i]! / 1000) }), cumulative);
  }
  text += sample(`${name}_bucket`, '{le="+Inf"}', count);
  text += sample(`${name}_sum`, '', sumMs / 1000);
  text += sample(`${name}_count`, '', count);
  return text;
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

/** A queue seen by a scrape: its labels formatted once, its values read as each family is written. */
interface QueueRow {
  /** `{vhost="...",queue="..."}` */
  readonly labels: string;
  readonly queue: Queue;
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

/**
 * The exposition, made as it is iterated: per-queue and per-partition families are written from rows
 * gathered once (labels formatted once per object), and an empty piece is yielded every ROWS_PER_YIELD rows
 * of a loop that writes nothing, so with 100,000 queues no piece of the work holds the event loop for more
 * than the writer's slice (http.ts). Values are read as each family is written: a scrape is not a snapshot
 * (Prometheus's are not either), but every series of a family comes from one pass.
 */
export function* metricLines(ctx: ManagementContext): Generator<string> {
  const core = ctx.core;
  const queues: QueueRow[] = [];
  let consumers = 0;
  for (const vhost of core.vhosts.values()) {
    for (const q of vhost.queues.values()) {
      consumers += q.consumers.length;
      queues.push({ labels: `{vhost="${escapeLabel(vhost.name)}",queue="${escapeLabel(q.name)}"}`, queue: q });
      if (queues.length % ROWS_PER_YIELD === 0) yield '';
    }
  }
  function* perQueue(name: string, read: (q: Queue) => number): Generator<string> {
    let text = '';
    for (let i = 0; i < queues.length; i++) {
      const row = queues[i]!;
      text += sample(name, row.labels, read(row.queue));
      if (i % ROWS_PER_YIELD === ROWS_PER_YIELD - 1) {
        yield text;
        text = '';
      }
    }
    yield text;
  }

  // ---- RabbitMQ's names: object counts, queue depths and consumers
  yield family('rabbitmq_connections', 'Open client connections (AMQP and Kafka)') + sample('rabbitmq_connections', '', core.clients.size);
  yield family('rabbitmq_channels', 'Open AMQP channels') + sample('rabbitmq_channels', '', channelCount(ctx));
  yield family('rabbitmq_queues', 'Queues') + sample('rabbitmq_queues', '', queues.length);
  yield family('rabbitmq_consumers', 'Consumers on all queues') + sample('rabbitmq_consumers', '', consumers);
  yield family('rabbitmq_queue_messages_ready', 'Messages ready to be delivered to consumers');
  yield* perQueue('rabbitmq_queue_messages_ready', (q) => q.messageCount);
  yield family('rabbitmq_queue_messages_unacked', 'Messages delivered to consumers but not yet acknowledged');
  yield* perQueue('rabbitmq_queue_messages_unacked', (q) => q.unackedCount);
  yield family('rabbitmq_queue_messages', 'Messages ready and unacknowledged');
  yield* perQueue('rabbitmq_queue_messages', (q) => q.messageCount + q.unackedCount);
  yield family('rabbitmq_queue_consumers', 'Consumers on a queue');
  yield* perQueue('rabbitmq_queue_consumers', (q) => q.consumers.length);
  yield family('rabbitmq_queue_messages_published_total', 'Messages routed to a queue', 'counter');
  yield* perQueue('rabbitmq_queue_messages_published_total', (q) => q.counters.publish);

  // ---- broker-wide counters (deleted queues included), RabbitMQ's global names
  // the retired queues' counts, then every live queue's, added here so the loop can yield
  const totals = core.stats.totals([]);
  for (let i = 0; i < queues.length; i++) {
    totals.add(queues[i]!.queue.counters);
    if (i % ROWS_PER_YIELD === ROWS_PER_YIELD - 1) yield '';
  }
  const broker = core.stats.counters;
  yield family('rabbitmq_global_messages_received_total', 'Messages published by clients', 'counter') + sample('rabbitmq_global_messages_received_total', '', broker.publish);
  yield family('rabbitmq_global_messages_routed_total', 'Messages routed to queues', 'counter') + sample('rabbitmq_global_messages_routed_total', '', totals.publish);
  yield family('rabbitmq_global_messages_delivered_total', 'Messages delivered to consumers or fetched', 'counter') + sample('rabbitmq_global_messages_delivered_total', '', totals.deliverGet);
  yield family('rabbitmq_global_messages_acknowledged_total', 'Messages acknowledged', 'counter') + sample('rabbitmq_global_messages_acknowledged_total', '', totals.ack);
  yield family('rabbitmq_global_messages_redelivered_total', 'Messages redelivered', 'counter') + sample('rabbitmq_global_messages_redelivered_total', '', totals.redeliver);
  yield family('rabbitmq_global_messages_unroutable_returned_total', 'Unroutable mandatory messages returned', 'counter') + sample('rabbitmq_global_messages_unroutable_returned_total', '', broker.returnUnroutable);
  yield family('rabbitmq_global_messages_unroutable_dropped_total', 'Unroutable messages dropped', 'counter') + sample('rabbitmq_global_messages_unroutable_dropped_total', '', broker.dropUnroutable);

  // ---- Postbox's own: per-queue rates as counters, dead letters by reason
  for (const [name, help, read] of QUEUE_COUNTERS) {
    const metric = `postbox_queue_messages_${name}_total`;
    yield family(metric, help, 'counter');
    yield* perQueue(metric, (q) => read(q.counters));
  }
  yield family('postbox_queue_messages_dead_lettered_total', 'Messages dead-lettered from a queue, by reason', 'counter');
  {
    let text = '';
    for (let i = 0; i < queues.length; i++) {
      const row = queues[i]!;
      const prefix = row.labels.slice(0, -1); // without the closing brace: the reason label follows
      for (const [reason, read] of DEAD_LETTER_REASONS) text += sample('postbox_queue_messages_dead_lettered_total', `${prefix},reason="${reason}"}`, read(row.queue.counters));
      if (i % ROWS_PER_YIELD === ROWS_PER_YIELD - 1) {
        yield text;
        text = '';
      }
    }
    yield text;
  }
  let deadLettered = family('postbox_messages_dead_lettered_total', 'Messages dead-lettered, every queue (deleted ones included), by reason', 'counter');
  for (const [reason, read] of DEAD_LETTER_REASONS) deadLettered += sample('postbox_messages_dead_lettered_total', `{reason="${reason}"}`, read(totals));
  yield deadLettered;

  const latency = core.stats.latency;
  yield histogram('postbox_message_latency_seconds', 'Publish to acknowledgement time of acknowledged messages', latency.bounds, latency.counts, latency.count, latency.sumMs);
  const fsync = core.scheduler.durations;
  yield histogram('postbox_fsync_round_seconds', 'Duration of group-commit fsync rounds', SYNC_DURATION_BOUNDS_MS, fsync.counts, fsync.count, fsync.sumMs);

  // ---- storage failures (storage/sync.ts)
  let failures = 0;
  let unrepaired = 0;
  let written = 0;
  for (const s of core.schedulers) {
    failures += s.failureCount;
    unrepaired += s.brokenLogCount;
    written += s.bytesWritten;
  }
  yield family('postbox_storage_failed', '1 while storage has a write or fsync failure it has not recovered from (publishes are nacked), and 10 s after') + sample('postbox_storage_failed', '', core.storageFailureReported === null ? 0 : 1);
  yield family('postbox_storage_failures_total', 'Write and fsync failures; each refused everything not yet durable', 'counter') + sample('postbox_storage_failures_total', '', failures);
  yield family('postbox_storage_unrepaired_logs', 'Logs that could not start a new segment after a failure yet (the disk still full)') + sample('postbox_storage_unrepaired_logs', '', unrepaired);
  yield family('postbox_storage_written_bytes_total', 'Bytes the storage wrote to its logs', 'counter') + sample('postbox_storage_written_bytes_total', '', written);

  // ---- failed logins (core/login-guard.ts)
  const logins = core.logins.stats;
  yield family('postbox_login_failures_total', 'Failed logins, every protocol (refused or refused unchecked)', 'counter') + sample('postbox_login_failures_total', '', logins.failures);
  yield family('postbox_login_delayed_total', 'Login answers delayed because their source failed often', 'counter') + sample('postbox_login_delayed_total', '', logins.delayed);
  yield family('postbox_login_refused_unchecked_total', 'Logins refused at once, unchecked, while an answer to their source was held', 'counter') + sample('postbox_login_refused_unchecked_total', '', logins.busy);
  yield family('postbox_login_sources', 'Sources with failed logins remembered (bounded)') + sample('postbox_login_sources', '', core.logins.size);

  // ---- resources and alarms
  const alarms = core.alarm;
  yield family('rabbitmq_process_resident_memory_bytes', 'Resident memory of the broker process') + sample('rabbitmq_process_resident_memory_bytes', '', process.memoryUsage.rss());
  if (alarms !== null) {
    yield family('rabbitmq_resident_memory_limit_bytes', 'Memory high watermark') + sample('rabbitmq_resident_memory_limit_bytes', '', alarms.memory.limit);
    yield family('rabbitmq_alarms_memory_used_watermark', '1 while the memory alarm is on') + sample('rabbitmq_alarms_memory_used_watermark', '', alarms.memory.reason === null ? 0 : 1);
    yield family('rabbitmq_alarms_free_disk_space_watermark', '1 while the disk alarm is on') + sample('rabbitmq_alarms_free_disk_space_watermark', '', alarms.disk.reason === null ? 0 : 1);
    let free = NaN;
    try {
      free = alarms.disk.freeBytes();
    } catch {
      // reported as NaN: the data directory cannot be stat'ed right now
    }
    yield family('rabbitmq_disk_space_available_bytes', 'Free space on the data directory\'s disk') + sample('rabbitmq_disk_space_available_bytes', '', free);
  }

  // ---- Kafka model: partitions and consumer-group lag
  const partitions: Array<{ labels: string; partition: Partition }> = [];
  for (const topic of ctx.streams.topics()) {
    const name = escapeLabel(topic.name);
    for (const p of topic.partitions) {
      partitions.push({ labels: `{topic="${name}",partition="${p.index}"}`, partition: p });
      if (partitions.length % ROWS_PER_YIELD === 0) yield '';
    }
  }
  function* perPartition(name: string, help: string, read: (p: Partition) => number): Generator<string> {
    let text = family(name, help);
    for (let i = 0; i < partitions.length; i++) {
      const row = partitions[i]!;
      text += sample(name, row.labels, read(row.partition));
      if (i % ROWS_PER_YIELD === ROWS_PER_YIELD - 1) {
        yield text;
        text = '';
      }
    }
    yield text;
  }
  yield* perPartition('postbox_kafka_partition_high_watermark', 'Durable end offset of a partition', (p) => Number(p.highWatermark));
  yield* perPartition('postbox_kafka_partition_log_start_offset', 'First offset still stored in a partition', (p) => Number(p.log.logStartOffset));
  yield* perPartition('postbox_kafka_partition_size_bytes', 'Bytes of a partition\'s segment files', (p) => p.log.sizeBytes);
  yield family('postbox_kafka_consumergroup_lag', 'High watermark minus the committed offset, per group and partition');
  for (const group of ctx.groups.listGroups()) {
    const name = escapeLabel(group.groupId);
    let text = '';
    for (const o of ctx.groups.committedOffsets(group.groupId)) {
      text += sample('postbox_kafka_consumergroup_lag', `{group="${name}",topic="${escapeLabel(o.topic)}",partition="${o.partition}"}`, Number(o.lag ?? 0));
    }
    yield text;
  }

  // ---- alerts
  if (ctx.alerts !== undefined) {
    let text = family('postbox_alerts_firing', 'Alerts firing, by rule');
    const firing = new Map<string, number>();
    for (const rule of ctx.alerts.listRules()) firing.set(rule.name, 0);
    for (const s of ctx.alerts.states()) if (s.state === 'firing') firing.set(s.rule, (firing.get(s.rule) ?? 0) + 1);
    for (const [rule, n] of firing) text += sample('postbox_alerts_firing', formatLabels({ rule }), n);
    text += family('postbox_alert_evaluations_total', 'Alert evaluations that went over every queue', 'counter') + sample('postbox_alert_evaluations_total', '', ctx.alerts.evaluations);
    yield text;
  }
}

/** The whole exposition as one string (tests, the CLI); the HTTP route streams metricLines instead. */
export function renderMetrics(ctx: ManagementContext): string {
  let text = '';
  for (const piece of metricLines(ctx)) text += piece;
  return text;
}

function channelCount(ctx: ManagementContext): number {
  let channels = 0;
  for (const c of ctx.core.clients) channels += c.details().channels; // a count, not a row per channel
  return channels;
}

export const metricsRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/metrics',
    public: true,
    handler: (_req, ctx) => ({ status: 200, text: { contentType: CONTENT_TYPE, pieces: metricLines(ctx) } }),
  },
];
