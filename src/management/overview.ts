/**
 * Broker-wide routes, shaped like RabbitMQ's management API:
 *   GET /api/overview                  product, node, listeners, object and queue totals, message_stats with rates,
 *                                      churn rates, and Postbox's latency histogram and dead-letter totals
 *   GET /api/nodes, /api/nodes/{name}  the one node: memory, file descriptors, disk, uptime (monitoring tag)
 *   GET /api/health/checks/alarms      200 {status:'ok'}, or 503 with the alarm while one is in effect
 *   GET /api/health/checks/local-alarms   the same (one node)
 *   GET /api/health/checks/virtual-hosts  200 {status:'ok'} (every vhost runs while the broker does)
 *   GET /api/aliveness-test/{vhost}    declares, publishes to, gets from and deletes a test queue: {status:'ok'}
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Message } from '../core/message.js';
import {
  B_CHANNEL_CLOSED,
  B_CHANNEL_CREATED,
  B_CONNECTION_CLOSED,
  B_CONNECTION_CREATED,
  B_QUEUE_CREATED,
  B_QUEUE_DECLARED,
  B_QUEUE_DELETED,
  type BrokerCounters,
} from '../core/stats.js';
import { MANAGEMENT_OWNER, visibleVhosts } from './access.js';
import { Errors } from '../errors/errors.js';
import { apiError, MONITORING_TAGS, requireTag, vhostFor, type ApiReply, type ApiRequest, type ManagementContext, type Route } from './router.js';
import { deadLetteredJson, depthJson, overviewMessageStats, rate, visibleConnections } from './shapes.js';

/**
 * The RabbitMQ release whose management API shapes Postbox follows, reported as `rabbitmq_version` (tools
 * read it to pick request formats); Postbox's own version is `product_version`.
 */
export const RABBITMQ_API_VERSION = '3.10.8';

/** The name of the queue the aliveness test uses (RabbitMQ's). */
export const ALIVENESS_QUEUE = 'aliveness-test';

const EXCHANGE_TYPES = [
  { name: 'direct', description: 'AMQP direct exchange, as per the AMQP specification', enabled: true },
  { name: 'fanout', description: 'AMQP fanout exchange, as per the AMQP specification', enabled: true },
  { name: 'headers', description: 'AMQP headers exchange, as per the AMQP specification', enabled: true },
  { name: 'topic', description: 'AMQP topic exchange, as per the AMQP specification', enabled: true },
  { name: 'x-delayed-message', description: 'Delayed message exchange (the rabbitmq_delayed_message_exchange interface)', enabled: true },
];

function churnRates(c: BrokerCounters): Record<string, unknown> {
  const r = c.rates;
  return {
    channel_closed: c.channelClosed,
    channel_closed_details: rate(r[B_CHANNEL_CLOSED]!),
    channel_created: c.channelCreated,
    channel_created_details: rate(r[B_CHANNEL_CREATED]!),
    connection_closed: c.connectionClosed,
    connection_closed_details: rate(r[B_CONNECTION_CLOSED]!),
    connection_created: c.connectionCreated,
    connection_created_details: rate(r[B_CONNECTION_CREATED]!),
    queue_created: c.queueCreated,
    queue_created_details: rate(r[B_QUEUE_CREATED]!),
    queue_declared: c.queueDeclared,
    queue_declared_details: rate(r[B_QUEUE_DECLARED]!),
    queue_deleted: c.queueDeleted,
    queue_deleted_details: rate(r[B_QUEUE_DELETED]!),
  };
}

function overview(req: ApiRequest, ctx: ManagementContext): ApiReply {
  const core = ctx.core;
  const stats = core.stats;
  const vhosts = visibleVhosts(ctx, req.user);
  let queues = 0;
  let exchanges = 0;
  let consumers = 0;
  let ready = 0;
  let unacked = 0;
  for (const v of vhosts) {
    exchanges += v.exchanges.size;
    queues += v.queues.size;
    for (const q of v.queues.values()) {
      consumers += q.consumers.length;
      ready += q.messageCount;
      unacked += q.unackedCount;
    }
  }
  const connections = visibleConnections(ctx, req.user);
  const channels = connections.reduce((n, c) => n + c.details.channels, 0);
  // counts now; rates from the last sample
  const totals = stats.totals(core.allQueues());
  totals.rates.set(stats.queueTotals.rates);
  const latency = stats.latency;
  const cumulative = latency.cumulative();
  return {
    status: 200,
    body: {
      management_version: RABBITMQ_API_VERSION,
      rates_mode: 'basic',
      disable_stats: false,
      enable_queue_totals: false,
      product_name: ctx.productName,
      product_version: ctx.version,
      rabbitmq_version: RABBITMQ_API_VERSION,
      cluster_name: ctx.node,
      node: ctx.node,
      exchange_types: EXCHANGE_TYPES,
      statistics_interval_ms: stats.intervalMs,
      message_stats: overviewMessageStats(stats.counters, totals),
      churn_rates: churnRates(stats.counters),
      queue_totals: depthJson(ready, unacked, stats.queueTotals.rates),
      object_totals: { connections: connections.length, channels, exchanges, queues, consumers },
      statistics_db_event_queue: 0,
      listeners: ctx.listeners().map((l) => ({ node: ctx.node, ...l })),
      contexts: [],
      dead_lettered: deadLetteredJson(totals),
      latency: {
        description: 'publish to ack (no-ack consumers: to delivery), ms',
        count: latency.count,
        sum_ms: latency.sumMs,
        buckets: [...latency.bounds, Infinity].map((le, i) => ({ le: Number.isFinite(le) ? le : '+Inf', count: cumulative[i] })),
      },
      streams: { topics: [...ctx.streams.topics()].length, groups: ctx.groups.listGroups().length },
    },
  };
}

/** open file descriptors and their limit, from /proc (Linux); 0 where it cannot be read */
export function fileDescriptors(): { used: number; total: number } {
  let used = 0;
  let total = 0;
  try {
    used = readdirSync('/proc/self/fd').length;
  } catch {
    // not Linux: unknown
  }
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft !== undefined && /^\d+$/.test(soft)) total = Number(soft);
  } catch {
    // not Linux: unknown
  }
  return { used, total };
}

function nodeJson(ctx: ManagementContext): Record<string, unknown> {
  const alarm = ctx.core.alarm;
  let diskFree = 0;
  try {
    diskFree = alarm?.disk.freeBytes() ?? 0;
  } catch {
    // the data directory cannot be statted: reported as 0 (the disk alarm logs why)
  }
  const fds = fileDescriptors();
  const c = ctx.core.stats.counters;
  return {
    name: ctx.node,
    type: 'disc',
    running: true,
    os_pid: String(process.pid),
    uptime: Math.round(process.uptime() * 1000),
    processors: availableParallelism(),
    run_queue: 0,
    rates_mode: 'basic',
    mem_used: process.memoryUsage.rss(),
    mem_limit: alarm?.memory.limit ?? 0,
    mem_alarm: (alarm?.memory.reason ?? null) !== null,
    disk_free: diskFree,
    disk_free_limit: ctx.diskFreeLimitBytes ?? 0,
    disk_free_alarm: (alarm?.disk.reason ?? null) !== null,
    fd_used: fds.used,
    fd_total: fds.total,
    sockets_used: ctx.core.clients.size,
    sockets_total: fds.total,
    exchange_types: EXCHANGE_TYPES,
    partitions: [],
    ...churnRates(c),
    node_version: process.version,
  };
}

/**
 * The alarms health check: 503 while a resource alarm is in effect, or while storage has failed (a write
 * or fsync error it has not recovered from: publishes are being nacked), listed as resource 'storage'.
 */
function alarms(_req: ApiRequest, ctx: ManagementContext): ApiReply {
  const alarm = ctx.core.alarm;
  const reason = alarm?.reason ?? null;
  const storage = ctx.core.storageFailureReported;
  if (reason === null && storage === null) return { status: 200, body: { status: 'ok' } };
  const active: Array<{ node: string; resource: string; reason: string }> = alarm === null ? [] : alarm.active().map((a) => ({ node: ctx.node, ...a }));
  const reasons: string[] = [];
  if (reason !== null) reasons.push(`resource alarm in effect: ${reason}`);
  if (storage !== null) {
    reasons.push(`storage failed: ${storage.message}`);
    active.push({ node: ctx.node, resource: 'storage', reason: storage.message });
  }
  return { status: 503, body: { status: 'failed', reason: reasons.join('; '), alarms: active } };
}

/** Every virtual host runs while the broker does, unless storage has failed (its messages cannot be stored). */
function virtualHosts(_req: ApiRequest, ctx: ManagementContext): ApiReply {
  const storage = ctx.core.storageFailureReported;
  if (storage === null) return { status: 200, body: { status: 'ok' } };
  return { status: 503, body: { status: 'failed', reason: `storage failed, no virtual host can store messages: ${storage.message}` } };
}

/** RabbitMQ's aliveness test: a message through a test queue in the vhost, then the queue goes again */
async function aliveness(req: ApiRequest, ctx: ManagementContext): Promise<ApiReply> {
  const vhost = vhostFor(ctx, req.user, req.params.vhost!);
  const existed = vhost.queues.has(ALIVENESS_QUEUE);
  const { queue } = vhost.declareQueue(
    { name: ALIVENESS_QUEUE, passive: false, durable: false, exclusive: false, autoDelete: false, arguments: {} },
    MANAGEMENT_OWNER,
  );
  const body = Buffer.from('test_message');
  const sent = new Message('', ALIVENESS_QUEUE, Buffer.from([0, 0]), body, false);
  queue.enqueue(sent, false);
  // nobody waits for a transient message: it is ready at once, and take() reads it back, which writes it
  // first; a failed write loses it (take finds nothing: 503)
  if (queue.hasPending) await new Promise<void>((resolve) => queue.afterPending(resolve));
  // the queue is the test's own (RabbitMQ's name): what comes back first is taken as the answer
  const taken = queue.take();
  if (taken !== null) queue.discard(taken.position.segment, taken.position.offset);
  if (!existed) vhost.removeQueue(queue);
  if (taken === null) return { status: 503, body: { status: 'failed', reason: `the test message did not come back from queue '${ALIVENESS_QUEUE}'` } };
  return { status: 200, body: { status: 'ok' } };
}

export const overviewRoutes: readonly Route[] = [
  { method: 'GET', path: '/api/overview', handler: overview },
  {
    method: 'GET',
    path: '/api/nodes',
    handler: (req, ctx) => {
      requireTag(req.user, MONITORING_TAGS, 'read node statistics');
      return { status: 200, body: [nodeJson(ctx)] };
    },
  },
  {
    method: 'GET',
    path: '/api/nodes/:name',
    handler: (req, ctx) => {
      requireTag(req.user, MONITORING_TAGS, 'read node statistics');
      if (req.params.name !== ctx.node) throw apiError(Errors.NOT_FOUND, `no node '${req.params.name}'`);
      return { status: 200, body: nodeJson(ctx) };
    },
  },
  { method: 'GET', path: '/api/health/checks/alarms', handler: alarms },
  { method: 'GET', path: '/api/health/checks/local-alarms', handler: alarms },
  { method: 'GET', path: '/api/health/checks/virtual-hosts', handler: virtualHosts },
  { method: 'GET', path: '/api/aliveness-test/:vhost', handler: aliveness },
];
