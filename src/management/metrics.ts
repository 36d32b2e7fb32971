/**
 * Prometheus metrics (text exposition format 0.0.4), as RabbitMQ's prometheus plugin serves them: `GET
 * /metrics` and `/metrics/per-object` (the same exposition: every queue, channel and connection has its own
 * series) and `/metrics/detailed` (the families asked for), on the management port and on the Prometheus
 * port (--prometheus-port, 15692), without authentication unless --metrics-require-auth. Names follow
 * RabbitMQ's (`rabbitmq_queue_messages_ready`, `rabbitmq_identity_info`, ...) so its Grafana dashboards
 * work, the Kafka model follows kafka_exporter's (metrics-kafka.ts); Postbox's own metrics are prefixed
 * `postbox_`. Every value is read from counters the broker keeps anyway (src/core/stats.ts, the sync
 * scheduler, the stream store): a scrape allocates, the message path does not.
 */
import type { ConnectionDetails } from '../core/clients.js';
import type { QueueCounters } from '../core/stats.js';
import type { Queue } from '../core/queue/queue.js';
import { Errors } from '../errors/errors.js';
import { apiError, type ApiRequest, type ManagementContext, type Route } from './router.js';
import { CONTENT_TYPE, escapeLabel, family, formatLabels, histogram, perRow, ROWS_PER_YIELD, sample, type Row } from './metrics-format.js';
import { kafkaFamilies } from './metrics-kafka.js';
import {
  alarmFamilies,
  churnFamilies,
  clientFamilies,
  gatherClients,
  globalFamilies,
  identityFamilies,
  messageSizeFamily,
  nodeFamilies,
  processFamilies,
  type ChannelRow,
  type MetricsEndpoint,
} from './metrics-rabbitmq.js';

/** A queue seen by a scrape: its labels formatted once, its values read as each family is written. */
type QueueRow = Row<Queue>;

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
 * The exposition of /metrics and /metrics/per-object, the same but for rabbitmq_identity_info's
 * `rabbitmq_endpoint` (Postbox's /metrics has always had per-queue series, as RabbitMQ's does with
 * `prometheus.return_per_object_metrics = true`), made as it is iterated: per-queue and per-partition
 * families are written from rows gathered once (labels formatted once per object), and an empty piece is
 * yielded every ROWS_PER_YIELD rows of a loop that writes nothing, so with 100,000 queues no piece of the
 * work holds the event loop for more than the writer's slice (http.ts). Values are read as each family is
 * written: a scrape is not a snapshot (Prometheus's are not either), but every series of a family comes
 * from one pass.
 */
export function* metricLines(ctx: ManagementContext, endpoint: MetricsEndpoint = 'aggregated'): Generator<string> {
  const core = ctx.core;
  const queues = yield* gatherQueues(ctx, null);
  let consumers = 0;
  for (let i = 0; i < queues.length; i++) consumers += queues[i]!.item.consumers.length;
  const connections: Row<ConnectionDetails>[] = [];
  const channels: Row<ChannelRow>[] = [];
  yield* gatherClients(ctx, connections, channels);
  const perQueue = (name: string, read: (q: Queue) => number): Generator<string> => perRow(name, queues, read);

  yield identityFamilies(ctx, endpoint);
  // ---- RabbitMQ's names: object counts, queue depths and consumers
  yield family('rabbitmq_connections', 'Open client connections (AMQP and Kafka)') + sample('rabbitmq_connections', '', core.clients.size);
  yield family('rabbitmq_channels', 'Open AMQP channels') + sample('rabbitmq_channels', '', channels.length);
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
  yield* queueInfo('rabbitmq_queue_info', queues);

  // ---- broker-wide counters (deleted queues included), RabbitMQ's global names
  // the retired queues' counts, then every live queue's, added here so the loop can yield
  const totals = core.stats.totals([]);
  for (let i = 0; i < queues.length; i++) {
    totals.add(queues[i]!.item.counters);
    if (i % ROWS_PER_YIELD === ROWS_PER_YIELD - 1) yield '';
  }
  let publishers = 0;
  for (let i = 0; i < channels.length; i++) if (channels[i]!.item.channel.publish > 0) publishers++;
  yield globalFamilies(ctx, totals, consumers, publishers);
  yield churnFamilies(ctx);
  yield messageSizeFamily(ctx);

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
      for (const [reason, read] of DEAD_LETTER_REASONS)
        text += sample('postbox_queue_messages_dead_lettered_total', `${prefix},reason="${reason}"}`, read(row.item.counters));
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
  yield histogram(
    'postbox_message_latency_seconds',
    'Publish to acknowledgement time of acknowledged messages',
    latency.bounds,
    latency.counts,
    latency.count,
    latency.sumMs,
  );
  const fsync = core.scheduler.durations;
  yield histogram('postbox_fsync_round_seconds', 'Duration of group-commit fsync rounds', fsync.boundsMs, fsync.counts, fsync.count, fsync.sumMs);

  // ---- storage failures (storage/sync.ts)
  const { failures, unrepairedStores: unrepaired, bytesWritten: written } = core.engine.storageCounters();
  yield (
    family('postbox_storage_failed', '1 while storage has a write or fsync failure it has not recovered from (publishes are nacked), and 10 s after') +
    sample('postbox_storage_failed', '', core.storageFailureReported === null ? 0 : 1)
  );
  yield (
    family('postbox_storage_failures_total', 'Write and fsync failures; each refused everything not yet durable', 'counter') +
    sample('postbox_storage_failures_total', '', failures)
  );
  yield (
    family('postbox_storage_unrepaired_logs', 'Logs that could not start a new segment after a failure yet (the disk still full)') +
    sample('postbox_storage_unrepaired_logs', '', unrepaired)
  );
  yield (
    family('postbox_storage_written_bytes_total', 'Bytes the storage wrote to its logs', 'counter') + sample('postbox_storage_written_bytes_total', '', written)
  );

  // ---- failed logins (core/login-guard.ts)
  const logins = core.logins.stats;
  yield (
    family('postbox_login_failures_total', 'Failed logins, every protocol (refused or refused unchecked)', 'counter') +
    sample('postbox_login_failures_total', '', logins.failures)
  );
  yield (
    family('postbox_login_delayed_total', 'Login answers delayed because their source failed often', 'counter') +
    sample('postbox_login_delayed_total', '', logins.delayed)
  );
  yield (
    family('postbox_login_refused_unchecked_total', 'Logins refused at once, unchecked, while an answer to their source was held', 'counter') +
    sample('postbox_login_refused_unchecked_total', '', logins.busy)
  );
  yield family('postbox_login_sources', 'Sources with failed logins remembered (bounded)') + sample('postbox_login_sources', '', core.logins.size);

  // ---- resources and alarms
  yield nodeFamilies(ctx);
  yield alarmFamilies(ctx);
  yield processFamilies();

  // ---- channels and connections, one series each
  yield* clientFamilies('rabbitmq_', connections, channels, null);

  // ---- Kafka model: partitions and consumer-group lag, Postbox's and kafka_exporter's names
  yield* kafkaFamilies(ctx);

  // ---- alerts
  if (ctx.alerts !== undefined) {
    let text = family('postbox_alerts_firing', 'Alerts firing, by rule');
    const firing = new Map<string, number>();
    for (const rule of ctx.alerts.listRules()) firing.set(rule.name, 0);
    for (const s of ctx.alerts.states()) if (s.state === 'firing') firing.set(s.rule, (firing.get(s.rule) ?? 0) + 1);
    for (const [rule, n] of firing) text += sample('postbox_alerts_firing', formatLabels({ rule }), n);
    text +=
      family('postbox_alert_evaluations_total', 'Alert evaluations that went over every queue', 'counter') +
      sample('postbox_alert_evaluations_total', '', ctx.alerts.evaluations);
    yield text;
  }
}

/** The whole exposition as one string (tests, the CLI); the HTTP route streams metricLines instead. */
export function renderMetrics(ctx: ManagementContext): string {
  let text = '';
  for (const piece of metricLines(ctx)) text += piece;
  return text;
}

/** the live queues (of the vhosts in `vhosts`, every vhost when null), labels formatted once */
function* gatherQueues(ctx: ManagementContext, vhosts: ReadonlySet<string> | null): Generator<string, QueueRow[]> {
  const queues: QueueRow[] = [];
  for (const vhost of ctx.core.vhosts.values()) {
    if (vhosts !== null && !vhosts.has(vhost.name)) continue;
    for (const q of vhost.queues.values()) {
      queues.push({ labels: `{vhost="${escapeLabel(vhost.name)}",queue="${escapeLabel(q.name)}"}`, item: q });
      if (queues.length % ROWS_PER_YIELD === 0) yield '';
    }
  }
  return queues;
}

/**
 * RabbitMQ's queue_info: a constant 1 whose labels say what each queue is (`queue_type` as RabbitMQ names its
 * queue type modules; one node, so every queue's member here is its leader).
 */
function* queueInfo(name: string, queues: readonly QueueRow[]): Generator<string> {
  yield family(name, "A metric with a constant '1' value and labels that provide some queue details");
  let text = '';
  for (let i = 0; i < queues.length; i++) {
    const row = queues[i]!;
    const type = row.item.settings.queueType === 'quorum' ? 'rabbit_quorum_queue' : 'rabbit_classic_queue';
    text += sample(name, `${row.labels.slice(0, -1)},queue_type="${type}",membership="leader"}`, 1);
    if (i % ROWS_PER_YIELD === ROWS_PER_YIELD - 1) {
      yield text;
      text = '';
    }
  }
  yield text;
}

/** RabbitMQ's metric family names /metrics/detailed knows (its `family` parameter); others are ignored, as RabbitMQ does */
export const DETAILED_FAMILIES: readonly string[] = [
  'queue_coarse_metrics',
  'queue_consumer_count',
  'queue_metrics',
  'queue_delivery_metrics',
  'exchange_metrics',
  'channel_metrics',
  'channel_exchange_metrics',
  'connection_coarse_metrics',
  'connection_metrics',
  'connection_churn_metrics',
  'node_coarse_metrics',
  'node_metrics',
  'vhost_status',
  'exchange_bindings',
  'exchange_names',
];

/** Per-queue delivery counters of /metrics/detailed's queue_delivery_metrics, RabbitMQ's names. */
const QUEUE_DELIVERY: ReadonlyArray<[string, string, (c: QueueCounters) => number]> = [
  ['queue_get_ack_total', 'Total number of messages fetched from a queue with basic.get in manual acknowledgement mode', (c) => c.get],
  ['queue_get_total', 'Total number of messages fetched from a queue with basic.get in automatic acknowledgement mode', (c) => c.getNoAck],
  ['queue_messages_delivered_ack_total', 'Total number of messages delivered from a queue to consumers in manual acknowledgement mode', (c) => c.deliver],
  ['queue_messages_delivered_total', 'Total number of messages delivered from a queue to consumers in automatic acknowledgement mode', (c) => c.deliverNoAck],
  ['queue_messages_redelivered_total', 'Total number of messages redelivered from a queue to consumers', (c) => c.redeliver],
  ['queue_messages_acked_total', 'Total number of messages acknowledged by consumers on a queue', (c) => c.ack],
  ['queue_get_empty_total', 'Total number of times basic.get operations fetched no message on a queue', (c) => c.getEmpty],
];

/**
 * /metrics/detailed: only the metric families named by `family` parameters (RabbitMQ's names, above), with
 * the `rabbitmq_detailed_` prefix (`rabbitmq_cluster_` for vhost_status, exchange_bindings, exchange_names),
 * queue and exchange families limited to the vhosts named by `vhost` parameters (every vhost without one;
 * a vhost that does not exist is ignored). Without `family`, only the identity families.
 */
export function* detailedLines(ctx: ManagementContext, families: ReadonlySet<string>, vhostFilter: ReadonlySet<string> | null): Generator<string> {
  const p = 'rabbitmq_detailed_';
  const has = (f: string): boolean => families.has(f);
  if (has('queue_coarse_metrics') || has('queue_consumer_count') || has('queue_metrics') || has('queue_delivery_metrics')) {
    const queues = yield* gatherQueues(ctx, vhostFilter);
    if (has('queue_coarse_metrics')) {
      yield family(`${p}queue_messages_ready`, 'Messages ready to be delivered to consumers');
      yield* perRow(`${p}queue_messages_ready`, queues, (q) => q.messageCount);
      yield family(`${p}queue_messages_unacked`, 'Messages delivered to consumers but not yet acknowledged');
      yield* perRow(`${p}queue_messages_unacked`, queues, (q) => q.unackedCount);
      yield family(`${p}queue_messages`, 'Sum of ready and unacknowledged messages - total queue depth');
      yield* perRow(`${p}queue_messages`, queues, (q) => q.messageCount + q.unackedCount);
    }
    yield* queueInfo(`${p}queue_info`, queues);
    if (has('queue_consumer_count') || has('queue_metrics')) {
      yield family(`${p}queue_consumers`, 'Consumers on a queue');
      yield* perRow(`${p}queue_consumers`, queues, (q) => q.consumers.length);
    }
    if (has('queue_delivery_metrics')) {
      for (const [name, help, read] of QUEUE_DELIVERY) {
        yield family(p + name, help, 'counter');
        yield* perRow(p + name, queues, (q) => read(q.counters));
      }
    }
  }
  if (has('exchange_metrics') || has('exchange_bindings') || has('exchange_names')) {
    const exchanges: Array<Row<{ publishIn: number; bindings: number }>> = [];
    for (const vhost of ctx.core.vhosts.values()) {
      if (vhostFilter !== null && !vhostFilter.has(vhost.name)) continue;
      for (const e of vhost.exchanges.values()) {
        if (e.name === '') continue; // the default exchange, as RabbitMQ leaves it out
        exchanges.push({
          labels: `{vhost="${escapeLabel(vhost.name)}",exchange="${escapeLabel(e.name)}",type="${escapeLabel(e.type)}"}`,
          item: { publishIn: e.counters.publishIn, bindings: e.bindings.length },
        });
        if (exchanges.length % ROWS_PER_YIELD === 0) yield '';
      }
    }
    if (has('exchange_metrics')) {
      yield family(`${p}exchange_messages_published_total`, 'Total number of messages published into an exchange', 'counter');
      yield* perRow(`${p}exchange_messages_published_total`, exchanges, (e) => e.publishIn);
    }
    if (has('exchange_bindings')) {
      yield family('rabbitmq_cluster_exchange_bindings', 'Number of bindings for an exchange');
      yield* perRow('rabbitmq_cluster_exchange_bindings', exchanges, (e) => e.bindings);
    }
    if (has('exchange_names')) {
      yield family('rabbitmq_cluster_exchange_name', 'Enumerates exchanges without any additional info');
      yield* perRow('rabbitmq_cluster_exchange_name', exchanges, () => 1);
    }
  }
  if (has('vhost_status')) {
    let text = family('rabbitmq_cluster_vhost_status', 'Whether a given vhost is running');
    for (const vhost of ctx.core.vhosts.values()) text += sample('rabbitmq_cluster_vhost_status', `{vhost="${escapeLabel(vhost.name)}"}`, 1);
    yield text;
  }
  if (has('channel_metrics') || has('channel_exchange_metrics') || has('connection_coarse_metrics') || has('connection_metrics')) {
    const connections: Row<ConnectionDetails>[] = [];
    const channels: Row<ChannelRow>[] = [];
    yield* gatherClients(ctx, connections, channels);
    yield* clientFamilies(p, connections, channels, families);
  }
  if (has('connection_churn_metrics')) yield churnFamilies(ctx, p);
  if (has('node_coarse_metrics') || has('node_metrics')) yield nodeFamilies(ctx, p);
  yield identityFamilies(ctx, 'detailed');
}

/** the `family` and `vhost` parameters of /metrics/detailed */
function detailedRequest(req: ApiRequest, ctx: ManagementContext): { families: Set<string>; vhosts: Set<string> | null } {
  const families = new Set(req.query.getAll('family').filter((f) => DETAILED_FAMILIES.includes(f)));
  const named = req.query.getAll('vhost');
  const vhosts = named.length === 0 ? null : new Set(named.filter((v) => ctx.core.vhosts.has(v)));
  return { families, vhosts };
}

/** The paths the metrics are served at, on the management port and on the Prometheus port (--prometheus-port). */
export const METRICS_PATHS: readonly string[] = ['/metrics', '/metrics/per-object', '/metrics/detailed'];

export const metricsRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/metrics',
    public: true,
    handler: (_req, ctx) => ({ status: 200, text: { contentType: CONTENT_TYPE, pieces: metricLines(ctx) } }),
  },
  {
    method: 'GET',
    path: '/metrics/per-object',
    public: true,
    handler: (_req, ctx) => ({ status: 200, text: { contentType: CONTENT_TYPE, pieces: metricLines(ctx, 'per-object') } }),
  },
  {
    method: 'GET',
    path: '/metrics/detailed',
    public: true,
    handler: (req, ctx) => {
      if (req.query.getAll('queue').some((q) => q !== ''))
        throw apiError(Errors.INVALID_ARGUMENT, "the 'queue' filter of /metrics/detailed is not supported (use 'vhost' and 'family')");
      const { families, vhosts } = detailedRequest(req, ctx);
      return { status: 200, text: { contentType: CONTENT_TYPE, pieces: detailedLines(ctx, families, vhosts) } };
    },
  },
];
