/**
 * The JSON shapes of the management API's objects, with RabbitMQ's field names: queues, exchanges,
 * bindings, connections, channels, consumers, message_stats. Every builder reads live state; nothing here
 * is cached. Postbox-only fields are named so (`dead_lettered`, `reject`, `requeue`).
 */
import { createHash } from 'node:crypto';
import type { UserConfig } from '../config/config.js';
import type { ChannelDetails, ClientConnection, ConnectionDetails } from '../core/clients.js';
import type { Binding, Exchange } from '../core/exchange/exchange.js';
import type { Queue } from '../core/queue/queue.js';
import {
  B_DROP_UNROUTABLE,
  B_PUBLISH,
  B_RETURN_UNROUTABLE,
  Q_ACK,
  Q_DEAD_LETTERED_DELIVERY_LIMIT,
  Q_DEAD_LETTERED_EXPIRED,
  Q_DEAD_LETTERED_MAXLEN,
  Q_DEAD_LETTERED_REJECTED,
  Q_DELIVER,
  Q_DELIVER_NO_ACK,
  Q_GET,
  Q_GET_EMPTY,
  Q_GET_NO_ACK,
  Q_PUBLISH,
  Q_READY,
  Q_REDELIVER,
  Q_REQUEUE,
  Q_UNACKED,
  X_PUBLISH_IN,
  X_PUBLISH_OUT,
  type BrokerCounters,
  type QueueCounters,
} from '../core/stats.js';
import type { VirtualHost } from '../core/vhost.js';
import { fieldTableToJson } from './message-json.js';
import { hasTag, MONITORING_TAGS, type ManagementContext } from './router.js';

/** The name the API uses for the default exchange in paths (its real name is ''). */
export const DEFAULT_EXCHANGE_PATH_NAME = 'amq.default';

export function rate(value: number): { rate: number } {
  // rates are shown rounded to 0.1 per second, as RabbitMQ's management UI does
  return { rate: Math.round(value * 10) / 10 };
}

/** A queue's (or a sum of queues') message_stats, RabbitMQ's fields plus Postbox's reject and requeue. */
export function queueMessageStats(c: QueueCounters): Record<string, unknown> {
  const r = c.rates;
  return {
    publish: c.publish,
    publish_details: rate(r[Q_PUBLISH]!),
    deliver: c.deliver,
    deliver_details: rate(r[Q_DELIVER]!),
    deliver_no_ack: c.deliverNoAck,
    deliver_no_ack_details: rate(r[Q_DELIVER_NO_ACK]!),
    get: c.get,
    get_details: rate(r[Q_GET]!),
    get_no_ack: c.getNoAck,
    get_no_ack_details: rate(r[Q_GET_NO_ACK]!),
    get_empty: c.getEmpty,
    get_empty_details: rate(r[Q_GET_EMPTY]!),
    deliver_get: c.deliverGet,
    deliver_get_details: rate(c.deliverGetRate),
    redeliver: c.redeliver,
    redeliver_details: rate(r[Q_REDELIVER]!),
    ack: c.ack,
    ack_details: rate(r[Q_ACK]!),
    reject: c.deadLetteredRejected,
    reject_details: rate(r[Q_DEAD_LETTERED_REJECTED]!),
    requeue: c.requeue,
    requeue_details: rate(r[Q_REQUEUE]!),
  };
}

/** Messages that left a queue undelivered, by reason (Postbox). */
export function deadLetteredJson(c: QueueCounters): Record<string, unknown> {
  const r = c.rates;
  return {
    expired: c.deadLetteredExpired,
    expired_details: rate(r[Q_DEAD_LETTERED_EXPIRED]!),
    rejected: c.deadLetteredRejected,
    rejected_details: rate(r[Q_DEAD_LETTERED_REJECTED]!),
    maxlen: c.deadLetteredMaxlen,
    maxlen_details: rate(r[Q_DEAD_LETTERED_MAXLEN]!),
    delivery_limit: c.deadLetteredDeliveryLimit,
    delivery_limit_details: rate(r[Q_DEAD_LETTERED_DELIVERY_LIMIT]!),
  };
}

/** The overview's message_stats: client publishes and unroutables (broker counters) plus queue totals. */
export function overviewMessageStats(broker: BrokerCounters, totals: QueueCounters): Record<string, unknown> {
  const b = broker.rates;
  return {
    ...queueMessageStats(totals),
    publish: broker.publish,
    publish_details: rate(b[B_PUBLISH]!),
    return_unroutable: broker.returnUnroutable,
    return_unroutable_details: rate(b[B_RETURN_UNROUTABLE]!),
    drop_unroutable: broker.dropUnroutable,
    drop_unroutable_details: rate(b[B_DROP_UNROUTABLE]!),
  };
}

/** messages / messages_ready / messages_unacknowledged with their rates of change */
export function depthJson(ready: number, unacked: number, rates: Float64Array): Record<string, unknown> {
  return {
    messages: ready + unacked,
    messages_details: rate(rates[Q_READY]! + rates[Q_UNACKED]!),
    messages_ready: ready,
    messages_ready_details: rate(rates[Q_READY]!),
    messages_unacknowledged: unacked,
    messages_unacknowledged_details: rate(rates[Q_UNACKED]!),
  };
}

/**
 * RabbitMQ's consumer_capacity (and its older name consumer_utilisation): how much of the time the queue
 * can hand a message to a consumer at once, 0..1; null without consumers. Postbox reads it at the moment of
 * the request rather than averaging it over time: 1 when no message waits (the consumers keep up), else the
 * share of consumers with prefetch room.
 */
function consumerCapacity(q: Queue): { consumer_capacity: number | null; consumer_utilisation: number | null } {
  const consumers = q.consumers;
  if (consumers.length === 0) return { consumer_capacity: null, consumer_utilisation: null };
  let value = 1;
  if (q.messageCount > 0) {
    let withRoom = 0;
    for (const c of consumers) if (c.hasCredit()) withRoom++;
    value = withRoom / consumers.length;
  }
  return { consumer_capacity: value, consumer_utilisation: value };
}

export function queueJson(q: Queue, ctx: ManagementContext, withConsumers: boolean): Record<string, unknown> {
  const s = q.settings;
  const consumers = q.consumers;
  const out: Record<string, unknown> = {
    name: q.name,
    vhost: q.vhost,
    durable: q.durable,
    auto_delete: q.autoDelete,
    exclusive: q.exclusiveOwner !== null,
    arguments: fieldTableToJson(q.arguments),
    type: s.queueType,
    state: 'running',
    node: ctx.node,
    policy: q.policy?.name ?? null,
    operator_policy: null,
    effective_policy_definition: q.policy !== null ? fieldTableToJson(q.policy.definition as Record<string, never>) : {},
    consumers: consumers.length,
    exclusive_consumer_tag: q.hasExclusiveConsumer() ? consumers[0]!.tag : null,
    single_active_consumer_tag: s.singleActiveConsumer && consumers.length > 0 ? consumers[0]!.tag : null,
    ...depthJson(q.messageCount, q.unackedCount, q.counters.rates),
    message_bytes: q.storedBytes,
    // RabbitMQ's is the queue process's memory; a Postbox queue's is its index in typed arrays (bodies are on disk)
    memory: q.indexBytes,
    ...consumerCapacity(q),
    head_message_timestamp: null,
    message_stats: queueMessageStats(q.counters),
    dead_lettered: deadLetteredJson(q.counters),
  };
  if (withConsumers) {
    out.consumer_details = consumers.map((c) => consumerJson(q, c, ctx));
    out.incoming = [];
    out.deliveries = [];
  }
  return out;
}

export function exchangeJson(e: Exchange, vhost: string): Record<string, unknown> {
  return {
    name: e.name,
    vhost,
    type: e.type,
    durable: e.durable,
    auto_delete: e.autoDelete,
    internal: e.internal,
    arguments: fieldTableToJson(e.arguments_),
    message_stats: {
      publish_in: e.counters.publishIn,
      publish_in_details: rate(e.counters.rates[X_PUBLISH_IN]!),
      publish_out: e.counters.publishOut,
      publish_out_details: rate(e.counters.rates[X_PUBLISH_OUT]!),
    },
  };
}

/**
 * A binding's identity in paths (RabbitMQ's properties_key): the routing key alone when there are no
 * arguments ('~' for an empty key), else the key, '~' and a short hash of the arguments.
 */
export function propertiesKey(routingKey: string, argumentsKey: string): string {
  if (argumentsKey === '') return routingKey === '' ? '~' : encodeURIComponent(routingKey);
  const hash = createHash('sha256').update(argumentsKey).digest('base64url').slice(0, 8);
  return `${encodeURIComponent(routingKey)}~${hash}`;
}

export function bindingJson(vhost: string, b: Binding): Record<string, unknown> {
  return {
    source: b.source,
    vhost,
    destination: b.destination.name,
    destination_type: b.destination.kind,
    routing_key: b.routingKey,
    arguments: fieldTableToJson(b.arguments),
    properties_key: propertiesKey(b.routingKey, b.argumentsKey),
  };
}

/** The default exchange's implicit binding of a queue (listed as RabbitMQ lists it; it cannot be removed). */
export function defaultBindingJson(q: Queue): Record<string, unknown> {
  return {
    source: '',
    vhost: q.vhost,
    destination: q.name,
    destination_type: 'queue',
    routing_key: q.name,
    arguments: {},
    properties_key: propertiesKey(q.name, ''),
  };
}

/** Every binding of a vhost: implicit default-exchange ones first, then explicit ones. */
/** every binding of a vhost as rows, made lazily (a listing builds them inside its time slices) */
export function* vhostBindings(v: VirtualHost): Generator<Record<string, unknown>> {
  for (const q of v.queues.values()) yield defaultBindingJson(q);
  for (const e of v.exchanges.values()) for (const b of e.bindings) yield bindingJson(v.name, b);
}

/** true when `user` may see `connection` (its own, or every one for monitoring/administrator) */
export function canSeeConnection(user: UserConfig, details: ConnectionDetails): boolean {
  return details.user === user.name || hasTag(user, MONITORING_TAGS);
}

export function connectionJson(d: ConnectionDetails, ctx: ManagementContext): Record<string, unknown> {
  return {
    name: d.name,
    node: ctx.node,
    type: 'network',
    protocol: d.protocol,
    auth_mechanism: d.authMechanism,
    user: d.user,
    user_who_performed_action: d.user,
    vhost: d.vhost,
    host: d.host,
    port: d.port,
    peer_host: d.peerHost,
    peer_port: d.peerPort,
    ssl: d.tls != null,
    ssl_protocol: d.tls?.protocol ?? null,
    ssl_key_exchange: null,
    ssl_cipher: d.tls?.cipher ?? null,
    ssl_hash: null,
    peer_cert_subject: d.tls?.peerCertSubject || null,
    peer_cert_issuer: d.tls?.peerCertIssuer || null,
    peer_cert_validity: d.tls?.peerCertValidity || null,
    state: d.state,
    channels: d.channels,
    channel_max: d.channelMax,
    frame_max: d.frameMax,
    timeout: d.heartbeatSeconds,
    connected_at: d.connectedAt,
    client_properties: fieldTableToJson(d.clientProperties),
    recv_oct: d.recvBytes,
    recv_oct_details: rate(d.recvRate),
    send_oct: d.sendBytes,
    send_oct_details: rate(d.sendRate),
  };
}

export function channelName(connectionName: string, number: number): string {
  return `${connectionName} (${number})`;
}

export function channelJson(d: ConnectionDetails, ch: ChannelDetails, ctx: ManagementContext): Record<string, unknown> {
  return {
    name: channelName(d.name, ch.number),
    node: ctx.node,
    number: ch.number,
    user: d.user,
    user_who_performed_action: d.user,
    vhost: d.vhost,
    connection_details: { name: d.name, peer_host: d.peerHost, peer_port: d.peerPort },
    consumer_count: ch.consumerCount,
    messages_unacknowledged: ch.unacked,
    messages_unconfirmed: ch.unconfirmed,
    messages_uncommitted: 0,
    acks_uncommitted: 0,
    prefetch_count: ch.prefetchCount,
    global_prefetch_count: ch.globalPrefetchCount,
    confirm: ch.confirm,
    transactional: ch.transactional,
    state: ch.state,
    message_stats: { publish: ch.publish },
  };
}

export function consumerJson(q: Queue, c: Queue['consumers'][number], ctx: ManagementContext): Record<string, unknown> {
  const owner = c.ownerDetails?.();
  const conn = owner?.connection.details();
  // with single active consumer only the first consumer receives; the others wait (RabbitMQ's 'waiting')
  const active = !q.settings.singleActiveConsumer || q.consumers[0] === c;
  return {
    consumer_tag: c.tag,
    queue: { name: q.name, vhost: q.vhost },
    channel_details:
      conn === undefined
        ? {}
        : {
            name: channelName(conn.name, owner!.channelNumber),
            number: owner!.channelNumber,
            connection_name: conn.name,
            peer_host: conn.peerHost,
            peer_port: conn.peerPort,
            user: conn.user,
            node: ctx.node,
          },
    ack_required: !c.noAck,
    exclusive: c.exclusive,
    prefetch_count: owner?.prefetchCount ?? 0,
    arguments: owner !== undefined ? fieldTableToJson(owner.arguments) : {},
    active,
    activity_status: active ? 'up' : 'waiting',
    priority: c.priority,
  };
}

/** the connections a user may see, with their details read once */
export function visibleConnections(ctx: ManagementContext, user: UserConfig): Array<{ connection: ClientConnection; details: ConnectionDetails }> {
  const out: Array<{ connection: ClientConnection; details: ConnectionDetails }> = [];
  for (const connection of ctx.core.clients) {
    const details = connection.details();
    if (canSeeConnection(user, details)) out.push({ connection, details });
  }
  return out;
}
