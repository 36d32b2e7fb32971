/**
 * A virtual host: its exchanges, queues and bindings, routing, and the RabbitMQ rules for declaring and
 * deleting them. Every failure is a BrokerError from the registry; the protocol adapter maps it.
 */
import { brokerError, Errors } from '../errors/errors.js';
import type { QueueStore } from '../storage/stores.js';
import { DirectRouter } from './exchange/direct.js';
import { argumentsKey, Exchange, EXCHANGE_TYPES, type Binding, type Destination, type ExchangeRouter, type RoutingInput } from './exchange/exchange.js';
import { FanoutRouter } from './exchange/fanout.js';
import { HeadersRouter, parseMatchMode } from './exchange/headers.js';
import { TopicRouter } from './exchange/topic.js';
import { DELAYED_EXCHANGE_TYPE, DelayedRouter, delayedInnerType } from './exchange/delayed.js';
import { DelayedStore, type DelayedStorage } from './delayed/delayed-store.js';
import type { FieldTable } from './field-table.js';
import type { Message } from './message.js';
import { ENQUEUED_DURABLE, Queue, REJECTED, type QueueContext } from './queue/queue.js';
import { deadLetter, isDeathCycle, type DeathReason } from './queue/dead-letter.js';
import { editProperties, headerRoutingKeys, PROP_HEADERS } from './properties.js';
import { declaresQuorum, validateQueueArguments } from './queue/settings.js';
import type { BindingDefinition, DefinitionChange, ExchangeDefinition, QueueDefinition } from './definitions.js';
import { PolicyRegistry, validatePolicy, type Policy } from './policy.js';
import { randomBytes } from 'node:crypto';
import type { BrokerStats } from './stats.js';

/** Where a direct reply-to (amq.rabbitmq.reply-to.<token>) message goes: a channel's reply consumer. */
export interface DirectReplyTarget {
  /** false when the target can no longer take replies */
  deliverReply(message: Message): boolean;
}

/** What a vhost needs from the broker around it. */
export interface VhostContext extends DelayedStorage {
  /** a new queue's store (storage/queue-store.ts); `storage` names it in the definitions of a durable queue */
  openQueueStore(vhost: string, name: string, durable: boolean): { store: QueueStore; storage: string };
  /** throws PRECONDITION_FAILED (RabbitMQ's words) when one more queue would pass a queue limit */
  checkQueueLimit(vhost: VirtualHost, name: string): void;
  /**
   * Persist a change of durable definitions: `changes` as journal records, or (without) everything. Throws
   * a BrokerError when the disk refuses it; callers record before applying, or undo when it throws.
   */
  definitionsChanged(changes?: readonly DefinitionChange[]): void;
  /** a queue appended a record: the durability round covering it (see Queue.releaseDurable) */
  queueAppended(queue: Queue): number;
  /** a queue appended a record nobody waits for: the round that will cover it (see Queue.enqueue) */
  queueAppendedUnawaited(queue: Queue): number;
  /** the broker's message statistics */
  readonly stats: BrokerStats;
  /**
   * A confirm-mode publisher's persistent messages wait for their fsync before any consumer gets them
   * (--deliver-after-fsync); false: they are delivered at once, as RabbitMQ's classic queues do.
   */
  readonly deliverAfterFsync: boolean;
  /** a round of the durability scheduler covering every record appended so far (a publish waits for it) */
  requestDurabilityRound(): number;
  /** a stored message whose properties cannot be decoded was dropped instead of delivered: log it */
  undecodableMessageDropped(vhost: string, queue: string, reason: string): void;
}

/** Routing keys on the default exchange that address a direct reply-to consumer (RabbitMQ's). */
export const DIRECT_REPLY_PREFIX = 'amq.rabbitmq.reply-to.';

/** publish(): a copy in a durable queue is answered after its fsync: the outcome's round says which. */
export const PUBLISH_CONFIRM = 1;
/**
 * publish(): the publisher wants unroutable messages back (AMQP `mandatory`): a delayed exchange holds the
 * message only if it would reach a queue now, and `routed` counts the queues it would reach.
 */
export const PUBLISH_MANDATORY = 2;
/** publish(): `routed` counts the queues a delayed exchange would reach now (an HTTP publish's `routed`). */
export const PUBLISH_COUNT_REACH = 4;
/** place(): the message comes out of a delayed exchange: delayed exchanges on its way do not hold it again. */
const PUBLISH_RELEASED = 8;

/** What publish() did with a message. One object per caller, reused: publish() overwrites it. */
export interface PublishOutcome {
  /** destinations reached: queues, a direct reply-to consumer, or a delayed exchange's hold (its reach, or 1) */
  routed: number;
  /** a queue's reject-publish limit refused it: a confirming publisher is nacked (RabbitMQ's rule) */
  rejected: boolean;
  /** the durability round the publisher waits for with PUBLISH_CONFIRM (0: nothing to wait for) */
  round: number;
}

/** A fresh outcome for a caller to reuse. */
export function publishOutcome(): PublishOutcome {
  return { routed: 0, rejected: false, round: 0 };
}

const CC_KEY = Buffer.from('\x02CC', 'latin1');
const BCC_KEY = Buffer.from('\x03BCC', 'latin1');

/**
 * Sender-selected distribution (RabbitMQ): `CC` and `BCC` headers (a string or an array of strings) route
 * copies by extra routing keys; `BCC` is removed from the message before it is stored. Returns the extra
 * keys, or null (the usual case, decided by a byte search of the property list without decoding it).
 */
function senderSelectedKeys(message: Message): string[] | null {
  const props = message.properties;
  if (props.length < 2 || (props.readUInt16BE(0) & PROP_HEADERS) === 0) return null;
  if (!props.includes(CC_KEY) && !props.includes(BCC_KEY)) return null;
  const headers = message.headers();
  if (headers === undefined || (headers.CC === undefined && headers.BCC === undefined)) return null;
  const keys = [...headerRoutingKeys(headers.CC), ...headerRoutingKeys(headers.BCC)];
  if (headers.BCC !== undefined) {
    const { BCC: _dropped, ...rest } = headers;
    message.setProperties(editProperties(props, rest, false));
  }
  return keys;
}

/** Depth limit for exchange-to-exchange routing chains (cycles are cut by a per-message mark anyway). */
const MAX_ROUTE_DEPTH = 64;

/** Queue arguments whose values must match on re-declare (others are ignored, as RabbitMQ does). */
const EQUIVALENCE_QUEUE_ARGS = [
  'x-expires',
  'x-message-ttl',
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-max-length',
  'x-max-length-bytes',
  'x-max-priority',
  'x-overflow',
  'x-queue-mode',
  'x-queue-type',
  'x-single-active-consumer',
  'x-delivery-limit',
  'x-retry-backoff',
  'x-retry-backoff-max',
];

class DefaultExchangeRouter implements ExchangeRouter {
  constructor(private readonly queues: Map<string, Queue>) {}
  add(): void {}
  remove(): void {}
  route(input: RoutingInput, out: Destination[]): void {
    const q = this.queues.get(input.routingKey);
    if (q !== undefined) out.push(q);
  }
}

function createRouter(type: string, args: FieldTable = {}): ExchangeRouter {
  switch (type) {
    case DELAYED_EXCHANGE_TYPE: {
      const inner = delayedInnerType(args); // 406 when x-delayed-type is missing or not a routing type
      return new DelayedRouter(inner, createRouter(inner));
    }
    case 'direct':
      return new DirectRouter();
    case 'fanout':
      return new FanoutRouter();
    case 'topic':
      return new TopicRouter();
    case 'headers':
      return new HeadersRouter();
    default:
      throw brokerError(Errors.COMMAND_INVALID, `invalid exchange type '${type}'`);
  }
}

export interface ExchangeDeclare {
  readonly name: string;
  readonly type: string;
  readonly passive: boolean;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
}

export interface QueueDeclare {
  readonly name: string;
  readonly passive: boolean;
  readonly durable: boolean;
  readonly exclusive: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
}

export interface QueueDeclared {
  readonly queue: Queue;
  readonly messageCount: number;
  readonly consumerCount: number;
}

export class VirtualHost implements QueueContext {
  readonly exchanges = new Map<string, Exchange>();
  readonly queues = new Map<string, Queue>();
  /** direct reply-to consumers by token */
  readonly directReply = new Map<string, DirectReplyTarget>();
  /** one destination list per exchange-to-exchange depth, reused by every publish */
  private readonly routeScratch: Destination[][] = [];
  /** publish()'s route results, reused by every publish */
  private readonly publishQueues: Queue[] = [];
  private readonly publishHolders: Exchange[] = [];
  /** the outcome of dead-lettering and of releasing delayed messages (nobody outside reads it) */
  private readonly internalOutcome = publishOutcome();
  private routeEpoch = 0;
  /** storage directory of each durable queue */
  private readonly queueStorage = new Map<Queue, string>();
  /** the vhost's policies; change them through setPolicy/clearPolicy so queues follow */
  readonly policies = new PolicyRegistry();
  readonly stats: BrokerStats;

  constructor(
    readonly name: string,
    private readonly context: VhostContext,
  ) {
    this.stats = context.stats;
    this.exchanges.set('', new Exchange('', 'direct', true, false, false, {}, new DefaultExchangeRouter(this.queues)));
    const predeclared: Array<[string, string, boolean]> = [
      ['amq.direct', 'direct', false],
      ['amq.fanout', 'fanout', false],
      ['amq.topic', 'topic', false],
      ['amq.headers', 'headers', false],
      ['amq.match', 'headers', false],
      ['amq.rabbitmq.trace', 'topic', true],
    ];
    for (const [name, type, internal] of predeclared) {
      this.exchanges.set(name, new Exchange(name, type, true, false, internal, {}, createRouter(type)));
    }
  }

  // ---------------------------------------------------------------- routing

  /**
   * Publishes a message arriving from a client (AMQP basic.publish, the HTTP API's publish): a direct
   * reply-to key goes to its consumer; a delayed exchange (the one published to, or one reached through
   * exchange-to-exchange bindings) holds it; otherwise a copy goes into every queue it routes to. Counts it in
   * the broker's and the exchange's publish statistics. `flags`: PUBLISH_CONFIRM, PUBLISH_MANDATORY,
   * PUBLISH_COUNT_REACH. The outcome is written into `out` (and returned); nothing here allocates per
   * message. An unroutable mandatory message is the caller's to return (basic.return): it is counted here.
   */
  publish(exchange: Exchange, message: Message, flags: number, out: PublishOutcome): PublishOutcome {
    const counters = this.stats.counters;
    counters.publish++;
    this.stats.messageSizes.observe(message.body.length);
    exchange.counters.publishIn++;
    const mandatory = (flags & PUBLISH_MANDATORY) !== 0;
    let routed = 0;
    let rejected = false;
    let needsSync = false;
    if (exchange.name === '' && message.routingKey.startsWith(DIRECT_REPLY_PREFIX)) {
      const target = this.directReply.get(message.routingKey.slice(DIRECT_REPLY_PREFIX.length));
      if (target !== undefined && target.deliverReply(message)) routed = 1;
    } else {
      // a delayed exchange (this one, or one reached through exchange-to-exchange bindings) holds it; the
      // reach of a held message is judged by the bindings at publish time
      needsSync = this.place(exchange, message, flags, null, out);
      routed = out.routed;
      rejected = out.rejected;
    }
    if (routed === 0) {
      if (mandatory) counters.returnUnroutable++;
      else counters.dropUnroutable++;
    } else {
      exchange.counters.publishOut++;
    }
    out.routed = routed;
    out.rejected = rejected;
    out.round = (flags & PUBLISH_CONFIRM) !== 0 && needsSync ? this.context.requestDurabilityRound() : 0;
    return out;
  }

  /**
   * The one way a message goes into queues: routes it from `exchange` and enqueues a copy in every queue
   * reached (with PUBLISH_CONFIRM a durable copy is awaited: queue.ts), and a delayed exchange reached
   * through exchange-to-exchange bindings holds it, unless PUBLISH_RELEASED says it comes out of one.
   * `deaths` (dead-lettering) skips the queues that would close a death cycle. Writes `routed` and `rejected`
   * into `out`; returns true when a copy or a hold needs an fsync (the caller asks for a round, or not).
   */
  private place(exchange: Exchange, message: Message, flags: number, deaths: readonly FieldTable[] | null, out: PublishOutcome): boolean {
    const confirm = (flags & PUBLISH_CONFIRM) !== 0;
    // a copy someone is told about waits for its fsync before delivery (queue.ts) when the broker promises
    // never to deliver what may be nacked, and always for a released delayed message (see publishReleased);
    // otherwise it goes to consumers at once and only the confirm waits for the round
    const awaited = confirm && (this.context.deliverAfterFsync || (flags & PUBLISH_RELEASED) !== 0);
    const mandatory = (flags & PUBLISH_MANDATORY) !== 0;
    const countReach = mandatory || (flags & PUBLISH_COUNT_REACH) !== 0;
    const queues = this.publishQueues;
    const holders = this.publishHolders;
    this.route(exchange, message, queues, (flags & PUBLISH_RELEASED) !== 0 ? null : holders);
    let routed = 0;
    let rejected = false;
    let needsSync = false;
    for (let i = 0; i < queues.length; i++) {
      const queue = queues[i]!;
      if (deaths !== null && isDeathCycle(deaths, queue.name)) continue;
      routed++;
      const result = queue.enqueue(message, awaited);
      if (result === ENQUEUED_DURABLE) needsSync = true;
      else if (result === REJECTED) rejected = true;
    }
    // a delayed exchange behind an exchange-to-exchange binding holds it: with `mandatory` only if it
    // would reach a queue now
    for (let i = 0; i < holders.length; i++) {
      const delayed = holders[i]!.delayed!;
      const reach = countReach ? delayed.routableNow(message) : 1;
      if ((reach > 0 || !mandatory) && delayed.hold(message)) needsSync = true;
      routed += reach;
    }
    queues.length = 0;
    holders.length = 0;
    out.routed = routed;
    out.rejected = rejected;
    return needsSync;
  }

  /**
   * A message a delayed exchange held is due: routed from that exchange (delayed exchanges on the way do not
   * hold it again) into its queues, each copy awaited (the held record is acked once the copies' round
   * completes, and routed again if it fails, so a copy delivered before its fsync could be delivered
   * twice). True when a copy needs an fsync. Not counted as a publish: it was counted when published.
   */
  publishReleased(exchange: Exchange, message: Message): boolean {
    return this.place(exchange, message, PUBLISH_CONFIRM | PUBLISH_RELEASED, null, this.internalOutcome);
  }

  /**
   * Route a message from an exchange to the set of queues it reaches (each once), following
   * exchange-to-exchange bindings and alternate exchanges. `out` is cleared first.
   *
   * With `holders` (publishing and dead-lettering; not the would-it-route checks), a delayed exchange the
   * message enters with a positive x-delay, `exchange` itself or one reached through exchange-to-exchange
   * bindings, is where the route stops: it goes into `holders` (cleared first) for the caller to hold the
   * message there, as the plugin's exchange delays whatever enters it. A held message is not unroutable.
   */
  route(exchange: Exchange, message: Message, out: Queue[], holders: Exchange[] | null = null): void {
    out.length = 0;
    if (holders !== null) {
      holders.length = 0;
      if (exchange.delayed !== null && exchange.delayed.delays(message)) {
        holders.push(exchange);
        return;
      }
    }
    const epoch = ++this.routeEpoch;
    const holding = holders === null ? null : message;
    this.routeFrom(exchange, message, out, epoch, 0, holding, holders);
    const extra = senderSelectedKeys(message);
    if (extra !== null) {
      for (const key of extra) this.routeFrom(exchange, { routingKey: key, headers: () => message.headers() }, out, epoch, 0, holding, holders);
    }
    let current = exchange;
    let hops = 0;
    while (out.length === 0 && (holders === null || holders.length === 0) && current.alternateExchange !== undefined && hops < MAX_ROUTE_DEPTH) {
      const ae = this.exchanges.get(current.alternateExchange);
      if (ae === undefined || ae.routeMark === epoch) break;
      this.routeFrom(ae, message, out, epoch, 0, holding, holders);
      current = ae;
      hops++;
    }
  }

  private routeFrom(
    exchange: Exchange,
    message: RoutingInput,
    out: Queue[],
    epoch: number,
    depth: number,
    holding: Message | null,
    holders: Exchange[] | null,
  ): void {
    exchange.routeMark = epoch;
    const destinations = (this.routeScratch[depth] ??= []);
    destinations.length = 0;
    exchange.router.route(message, destinations);
    for (let i = 0; i < destinations.length; i++) {
      const d = destinations[i]!;
      if (d.kind === 'queue') {
        const q = d as Queue;
        if (q.routeMark !== epoch) {
          q.routeMark = epoch;
          out.push(q);
        }
      } else if (depth < MAX_ROUTE_DEPTH) {
        const e = d as Exchange;
        if (e.routeMark === epoch) continue;
        if (holding !== null && e.delayed !== null && e.delayed.delays(holding)) {
          e.routeMark = epoch;
          holders!.push(e);
        } else {
          this.routeFrom(e, message, out, epoch, depth + 1, holding, holders);
        }
      }
    }
  }

  // ---------------------------------------------------------------- exchanges

  exchangeOrThrow(name: string): Exchange {
    const e = this.exchanges.get(name);
    if (e === undefined) throw brokerError(Errors.NOT_FOUND, `no exchange '${name}' in vhost '${this.name}'`);
    return e;
  }

  declareExchange(d: ExchangeDeclare): Exchange {
    if (d.name === '') throw brokerError(Errors.ACCESS_REFUSED, 'operation not permitted on the default exchange');
    if (d.passive) return this.exchangeOrThrow(d.name);
    if (!(EXCHANGE_TYPES as readonly string[]).includes(d.type) && d.type !== DELAYED_EXCHANGE_TYPE) {
      throw brokerError(Errors.COMMAND_INVALID, `invalid exchange type '${d.type}'`);
    }
    // an equivalent re-declare of an existing exchange is fine, amq.* included (as RabbitMQ)
    const existing = this.exchanges.get(d.name);
    if (existing !== undefined) {
      this.assertExchangeEquivalent(existing, d);
      return existing;
    }
    if (d.name.startsWith('amq.')) {
      throw brokerError(Errors.ACCESS_REFUSED, `exchange name '${d.name}' contains reserved prefix 'amq.*'`);
    }
    const ae = d.arguments['alternate-exchange'];
    if (ae !== undefined && typeof ae !== 'string' && !Buffer.isBuffer(ae)) {
      throw brokerError(Errors.PRECONDITION_FAILED, `invalid arg 'alternate-exchange' for exchange '${d.name}' in vhost '${this.name}': expected a string`);
    }
    const args = Buffer.isBuffer(ae) ? { ...d.arguments, 'alternate-exchange': ae.toString('utf8') } : d.arguments;
    const exchange = new Exchange(d.name, d.type, d.durable, d.autoDelete, d.internal, args, createRouter(d.type, args));
    if (d.type === DELAYED_EXCHANGE_TYPE) exchange.delayed = new DelayedStore(this.context, this, exchange, false);
    if (exchange.durable) {
      const value: ExchangeDefinition = { vhost: this.name, name: d.name, type: d.type, autoDelete: d.autoDelete, internal: d.internal, arguments: args };
      try {
        this.context.definitionsChanged([{ put: 'exchange', value }]);
      } catch (err) {
        exchange.delayed?.destroy();
        throw err;
      }
    }
    this.exchanges.set(d.name, exchange);
    return exchange;
  }

  /** RabbitMQ's 406 for a re-declare whose properties differ from the existing resource */
  private inequivalent(kind: 'exchange' | 'queue', name: string, field: string, received: unknown, current: unknown): never {
    throw brokerError(
      Errors.PRECONDITION_FAILED,
      `inequivalent arg '${field}' for ${kind} '${name}' in vhost '${this.name}': received '${String(received)}' but current is '${String(current)}'`,
    );
  }

  private assertExchangeEquivalent(e: Exchange, d: ExchangeDeclare): void {
    const mismatch = (field: string, received: unknown, current: unknown): never => this.inequivalent('exchange', e.name, field, received, current);
    if (e.type !== d.type) mismatch('type', d.type, e.type);
    if (e.durable !== d.durable) mismatch('durable', d.durable, e.durable);
    if (e.autoDelete !== d.autoDelete) mismatch('auto_delete', d.autoDelete, e.autoDelete);
    if (e.internal !== d.internal) mismatch('internal', d.internal, e.internal);
    const requested = d.arguments['alternate-exchange'];
    const requestedAe = Buffer.isBuffer(requested) ? requested.toString('utf8') : requested;
    if ((requestedAe ?? undefined) !== e.alternateExchange) mismatch('alternate-exchange', requestedAe ?? 'none', e.alternateExchange ?? 'none');
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    if (name === '') throw brokerError(Errors.ACCESS_REFUSED, 'operation not permitted on the default exchange');
    if (name.startsWith('amq.')) throw brokerError(Errors.ACCESS_REFUSED, `exchange name '${name}' contains reserved prefix 'amq.*'`);
    const e = this.exchanges.get(name);
    if (e === undefined) return; // idempotent, as RabbitMQ
    if (ifUnused && e.bindings.length > 0) throw brokerError(Errors.PRECONDITION_FAILED, `exchange '${name}' in vhost '${this.name}' in use`);
    this.removeExchange(e);
  }

  private removeExchange(e: Exchange): void {
    // recorded first (the exchange, its bindings either way): if the disk refuses, nothing changes
    const changes: DefinitionChange[] = [];
    if (e.durable) {
      for (const b of e.bindings) if ((b.destination as Queue | Exchange).durable) changes.push({ del: 'binding', value: this.bindingDefinition(b) });
      for (const source of this.exchanges.values()) {
        if (!source.durable || source === e) continue;
        for (const b of source.bindings) if (b.destination === e) changes.push({ del: 'binding', value: this.bindingDefinition(b) });
      }
      changes.push({ del: 'exchange', vhost: this.name, name: e.name });
      this.context.definitionsChanged(changes);
    }
    this.exchanges.delete(e.name);
    e.delayed?.destroy(); // held messages go with a delayed exchange
    // bindings where it is the destination
    for (const source of [...this.exchanges.values()]) {
      for (let i = source.bindings.length - 1; i >= 0; i--) {
        if (source.bindings[i]!.destination === e) {
          source.removeBindingAt(i);
          this.maybeAutoDeleteExchangeQuietly(source);
        }
      }
    }
  }

  private bindingDefinition(b: Binding): BindingDefinition {
    return {
      vhost: this.name,
      source: b.source,
      destination: b.destination.name,
      destinationType: b.destination.kind,
      routingKey: b.routingKey,
      arguments: b.arguments,
    };
  }

  /** An auto-delete cascade after a change already made: a failure to record it leaves the exchange in place. */
  private maybeAutoDeleteExchangeQuietly(e: Exchange): void {
    try {
      this.maybeAutoDeleteExchange(e);
    } catch {
      // definitionsChanged logged it; the exchange stays, on disk and in memory alike
    }
  }

  private maybeAutoDeleteExchange(e: Exchange): void {
    if (e.autoDelete && e.bindings.length === 0 && this.exchanges.get(e.name) === e) this.removeExchange(e);
  }

  // ---------------------------------------------------------------- queues

  queueOrThrow(name: string, owner: object | null): Queue {
    const q = this.queues.get(name);
    if (q === undefined) throw brokerError(Errors.NOT_FOUND, `no queue '${name}' in vhost '${this.name}'`);
    this.checkExclusiveAccess(q, owner);
    return q;
  }

  checkExclusiveAccess(q: Queue, owner: object | null): void {
    if (q.exclusiveOwner !== null && q.exclusiveOwner !== owner) {
      throw brokerError(
        Errors.RESOURCE_LOCKED,
        `cannot obtain exclusive access to locked queue '${q.name}' in vhost '${this.name}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`,
      );
    }
  }

  declareQueue(d: QueueDeclare, owner: object): QueueDeclared {
    let name = d.name;
    if (d.passive) {
      const q = this.queueOrThrow(name, owner);
      return { queue: q, messageCount: q.messageCount, consumerCount: q.consumers.length };
    }
    validateQueueArguments(d.arguments);
    this.stats.counters.queueDeclared++;
    if (name === '') name = `amq.gen-${randomBytes(16).toString('base64url').slice(0, 22)}`;
    else if (name.startsWith('amq.')) throw brokerError(Errors.ACCESS_REFUSED, `queue name '${name}' contains reserved prefix 'amq.*'`);
    const existing = this.queues.get(name);
    if (existing !== undefined) {
      this.checkExclusiveAccess(existing, owner);
      this.assertQueueEquivalent(existing, d);
      existing.touch();
      return { queue: existing, messageCount: existing.messageCount, consumerCount: existing.consumers.length };
    }
    if (declaresQuorum(d.arguments)) {
      // RabbitMQ's checks for a new quorum queue, in its order and words
      const property = d.autoDelete ? 'auto-delete' : d.exclusive ? 'exclusive-owner' : !d.durable ? 'non-durable' : null;
      if (property !== null) throw brokerError(Errors.PRECONDITION_FAILED, `invalid property '${property}' for queue '${name}' in vhost '${this.name}'`);
    }
    // exclusive queues end with their connection, so even a durable one is never persisted (as RabbitMQ)
    this.context.checkQueueLimit(this, name);
    const persisted = d.durable && !d.exclusive;
    const { store, storage } = this.context.openQueueStore(this.name, name, persisted);
    if (persisted) {
      try {
        this.context.definitionsChanged([{ put: 'queue', value: { vhost: this.name, name, autoDelete: d.autoDelete, arguments: d.arguments, storage } }]);
      } catch (err) {
        store.destroy(); // never a queue that exists only in memory
        throw err;
      }
    }
    const queue = new Queue(
      { name, vhost: this.name, durable: d.durable, exclusiveOwner: d.exclusive ? owner : null, autoDelete: d.autoDelete, arguments: d.arguments },
      this,
      store,
    );
    this.queues.set(name, queue);
    this.stats.counters.queueCreated++;
    queue.applyPolicy(this.policies.forQueue(name, queue.settings.queueType));
    if (persisted) this.queueStorage.set(queue, storage);
    // every queue is bound to the default exchange implicitly (the default router looks queues up by name)
    return { queue, messageCount: 0, consumerCount: 0 };
  }

  private assertQueueEquivalent(q: Queue, d: QueueDeclare): void {
    const mismatch = (field: string, received: unknown, current: unknown): never => this.inequivalent('queue', q.name, field, received, current);
    if (q.durable !== d.durable) mismatch('durable', d.durable, q.durable);
    if ((q.exclusiveOwner !== null) !== d.exclusive) mismatch('exclusive', d.exclusive, q.exclusiveOwner !== null);
    if (q.autoDelete !== d.autoDelete) mismatch('auto_delete', d.autoDelete, q.autoDelete);
    for (const key of EQUIVALENCE_QUEUE_ARGS) {
      const a = q.arguments[key];
      const b = d.arguments[key];
      if (argumentsKey({ v: a ?? null }) !== argumentsKey({ v: b ?? null }) && !(a === undefined && b === undefined)) {
        mismatch(key, b ?? 'none', a ?? 'none');
      }
    }
  }

  /** Restore a durable queue at startup; the caller recovers its store into it (restoreRecord, attachStore). */
  restoreQueue(def: QueueDefinition): Queue {
    const queue = new Queue(
      { name: def.name, vhost: this.name, durable: true, exclusiveOwner: null, autoDelete: def.autoDelete, arguments: def.arguments },
      this,
      null,
    );
    this.queues.set(def.name, queue);
    this.queueStorage.set(queue, def.storage);
    queue.applyPolicy(this.policies.forQueue(def.name, queue.settings.queueType));
    return queue;
  }

  restoreExchange(def: ExchangeDefinition): void {
    if (this.exchanges.has(def.name)) return;
    const exchange = new Exchange(def.name, def.type, true, def.autoDelete, def.internal, def.arguments, createRouter(def.type, def.arguments));
    if (def.type === DELAYED_EXCHANGE_TYPE) exchange.delayed = new DelayedStore(this.context, this, exchange, true);
    this.exchanges.set(def.name, exchange);
  }

  restoreBinding(def: BindingDefinition): void {
    const source = this.exchanges.get(def.source);
    const destination = def.destinationType === 'queue' ? this.queues.get(def.destination) : this.exchanges.get(def.destination);
    if (source === undefined || destination === undefined) return;
    source.addBinding(this.makeBinding(def.source, destination as Destination, def.routingKey, def.arguments));
  }

  /** returns the number of ready messages the queue had */
  deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean, owner: object | null): number {
    const q = this.queues.get(name);
    if (q === undefined) return 0; // idempotent, as RabbitMQ
    this.checkExclusiveAccess(q, owner);
    if (ifUnused && q.consumers.length > 0) throw brokerError(Errors.PRECONDITION_FAILED, `queue '${name}' in vhost '${this.name}' in use`);
    if (ifEmpty && q.messageCount > 0) throw brokerError(Errors.PRECONDITION_FAILED, `queue '${name}' in vhost '${this.name}' not empty`);
    return this.removeQueue(q);
  }

  /** remove a queue: unbind it everywhere, cancel its consumers, delete its storage */
  removeQueue(q: Queue): number {
    if (this.queues.get(q.name) !== q) return 0;
    if (q.durable) {
      // recorded first: if the disk refuses, the queue stays (on disk and in memory alike)
      const changes: DefinitionChange[] = [];
      for (const source of this.exchanges.values()) {
        if (!source.durable) continue;
        for (const b of source.bindings) if (b.destination === q) changes.push({ del: 'binding', value: this.bindingDefinition(b) });
      }
      if (this.queueStorage.has(q)) changes.push({ del: 'queue', vhost: this.name, name: q.name });
      if (changes.length > 0) this.context.definitionsChanged(changes);
    }
    this.queues.delete(q.name);
    for (const source of [...this.exchanges.values()]) {
      for (let i = source.bindings.length - 1; i >= 0; i--) {
        if (source.bindings[i]!.destination === q) {
          source.removeBindingAt(i);
          this.maybeAutoDeleteExchangeQuietly(source);
        }
      }
    }
    this.queueStorage.delete(q);
    this.stats.queueDeleted(q.counters);
    return q.destroy();
  }

  purgeQueue(name: string, owner: object | null): number {
    return this.queueOrThrow(name, owner).purge();
  }

  /** the vhost is deleted: every queue goes with its messages, and every delayed exchange's held messages */
  destroy(): void {
    for (const q of [...this.queues.values()]) this.removeQueue(q);
    for (const e of this.exchanges.values()) e.delayed?.destroy();
    this.exchanges.clear();
  }

  /** a connection closed: its exclusive queues go */
  ownerGone(owner: object): void {
    for (const q of [...this.queues.values()]) if (q.exclusiveOwner === owner) this.removeQueue(q);
  }

  // ---------------------------------------------------------------- bindings

  private makeBinding(source: string, destination: Destination, routingKey: string, args: FieldTable): Binding {
    return { source, destination, routingKey, arguments: args, argumentsKey: argumentsKey(args) };
  }

  private checkBindable(source: Exchange, args: FieldTable): void {
    if (source.name === '') throw brokerError(Errors.ACCESS_REFUSED, 'operation not permitted on the default exchange');
    const rules = source.router instanceof DelayedRouter ? source.router.innerType : source.type;
    if (rules === 'headers' && parseMatchMode(args) === undefined) {
      throw brokerError(Errors.PRECONDITION_FAILED, `invalid arg 'x-match' for binding: expected all, any, all-with-x or any-with-x`);
    }
  }

  bindQueue(queueName: string, exchangeName: string, routingKey: string, args: FieldTable, owner: object | null): void {
    if (exchangeName === '') throw brokerError(Errors.ACCESS_REFUSED, 'operation not permitted on the default exchange');
    const q = this.queueOrThrow(queueName, owner);
    const e = this.exchangeOrThrow(exchangeName);
    this.checkBindable(e, args);
    const binding = this.makeBinding(e.name, q, routingKey, args);
    if (e.findBinding(q, routingKey, binding.argumentsKey) >= 0) return;
    if (e.durable && q.durable) this.context.definitionsChanged([{ put: 'binding', value: this.bindingDefinition(binding) }]);
    e.addBinding(binding);
  }

  unbindQueue(queueName: string, exchangeName: string, routingKey: string, args: FieldTable, owner: object | null): void {
    if (exchangeName === '') throw brokerError(Errors.ACCESS_REFUSED, 'operation not permitted on the default exchange');
    const q = this.queueOrThrow(queueName, owner);
    const e = this.exchangeOrThrow(exchangeName);
    const i = e.findBinding(q, routingKey, argumentsKey(args));
    if (i < 0) return;
    if (e.durable && q.durable) this.context.definitionsChanged([{ del: 'binding', value: this.bindingDefinition(e.bindings[i]!) }]);
    e.removeBindingAt(i);
    this.maybeAutoDeleteExchangeQuietly(e);
  }

  bindExchange(destinationName: string, sourceName: string, routingKey: string, args: FieldTable): void {
    if (destinationName === '' || sourceName === '') throw brokerError(Errors.ACCESS_REFUSED, 'operation not permitted on the default exchange');
    const destination = this.exchangeOrThrow(destinationName);
    const source = this.exchangeOrThrow(sourceName);
    this.checkBindable(source, args);
    const binding = this.makeBinding(source.name, destination, routingKey, args);
    if (source.findBinding(destination, routingKey, binding.argumentsKey) >= 0) return;
    if (source.durable && destination.durable) this.context.definitionsChanged([{ put: 'binding', value: this.bindingDefinition(binding) }]);
    source.addBinding(binding);
  }

  unbindExchange(destinationName: string, sourceName: string, routingKey: string, args: FieldTable): void {
    if (destinationName === '' || sourceName === '') throw brokerError(Errors.ACCESS_REFUSED, 'operation not permitted on the default exchange');
    const destination = this.exchangeOrThrow(destinationName);
    const source = this.exchangeOrThrow(sourceName);
    const i = source.findBinding(destination, routingKey, argumentsKey(args));
    if (i < 0) return;
    if (source.durable && destination.durable) this.context.definitionsChanged([{ del: 'binding', value: this.bindingDefinition(source.bindings[i]!) }]);
    source.removeBindingAt(i);
    this.maybeAutoDeleteExchangeQuietly(source);
  }

  // ---------------------------------------------------------------- policies

  /**
   * Create or replace a policy (validated here; PRECONDITION_FAILED names what is wrong), re-apply policies
   * to every queue and persist. Returns true when the policy is new.
   */
  setPolicy(input: { name: unknown; pattern: unknown; applyTo?: unknown; priority?: unknown; definition: unknown }): boolean {
    const policy = validatePolicy({ ...input, vhost: this.name });
    const previous = this.policies.get(policy.name);
    const created = this.policies.set(policy);
    try {
      this.context.definitionsChanged([{ set: 'policies' }]);
    } catch (err) {
      if (previous === undefined) this.policies.delete(policy.name);
      else this.policies.set(previous);
      throw err;
    }
    this.reapplyPolicies();
    return created;
  }

  /** Remove a policy; NOT_FOUND when there is none of that name. */
  clearPolicy(name: string): void {
    const previous = this.policies.get(name);
    if (previous === undefined || !this.policies.delete(name)) throw brokerError(Errors.NOT_FOUND, `no policy '${name}' in vhost '${this.name}'`);
    try {
      this.context.definitionsChanged([{ set: 'policies' }]);
    } catch (err) {
      this.policies.set(previous);
      throw err;
    }
    this.reapplyPolicies();
  }

  listPolicies(): Policy[] {
    return this.policies.list();
  }

  /** Restore a policy at startup, before queues are restored (they pick it up in restoreQueue). */
  restorePolicy(def: Policy): void {
    this.policies.set(validatePolicy({ ...def, vhost: this.name }));
  }

  /** hand each queue the policy that now applies to it, touching only queues whose policy changed */
  private reapplyPolicies(): void {
    for (const q of this.queues.values()) {
      const policy = this.policies.forQueue(q.name, q.settings.queueType);
      if (policy !== q.policy) q.applyPolicy(policy);
    }
  }

  // ---------------------------------------------------------------- QueueContext

  /**
   * Republish a message that left `queue` (rejected, expired, over a length limit, past its delivery
   * limit) to the queue's dead-letter exchange. A missing exchange drops it, as in RabbitMQ; so does a
   * cycle without a rejection (isDeathCycle). Dead-lettering does not wait for an fsync.
   */
  deadLetter(queue: Queue, message: Message, reason: DeathReason): void {
    const s = queue.settings;
    if (s.deadLetterExchange === null) return;
    const dlx = this.exchanges.get(s.deadLetterExchange);
    if (dlx === undefined) return;
    const { message: dead, deaths } = deadLetter(message, queue.name, reason, dlx.name, s.deadLetterRoutingKey, new Date());
    // nobody waits for it: delivered before its fsync (at most once, as RabbitMQ's classic queues); a
    // delayed exchange on the way (the dead-letter exchange itself, say) holds it: with the plugin,
    // dead-lettering routes through the delayed exchange like any publish
    this.place(dlx, dead, 0, deaths, this.internalOutcome);
  }

  expireQueue(queue: Queue): void {
    this.removeQueueQuietly(queue);
  }

  /**
   * Removes a queue the broker itself retires (expired, auto-deleted when its last consumer went). If the
   * disk refuses to record it the queue stays, in memory and on disk alike (the failure was logged), and
   * whoever caused it (a timer, a consumer leaving) is not failed for it.
   */
  removeQueueQuietly(queue: Queue): void {
    try {
      this.removeQueue(queue);
    } catch {
      // definitionsChanged logged it
    }
  }

  undecodableMessageDropped(queue: Queue, reason: string): void {
    this.context.undecodableMessageDropped(this.name, queue.name, reason);
  }

  appended(queue: Queue): number {
    return this.context.queueAppended(queue);
  }

  appendedUnawaited(queue: Queue): number {
    return this.context.queueAppendedUnawaited(queue);
  }

  // ---------------------------------------------------------------- persistence

  durableDefinitions(): { exchanges: ExchangeDefinition[]; queues: QueueDefinition[]; bindings: BindingDefinition[]; policies: Policy[] } {
    const exchanges: ExchangeDefinition[] = [];
    const bindings: BindingDefinition[] = [];
    for (const e of this.exchanges.values()) {
      if (!e.durable || e.name === '') continue;
      if (!e.name.startsWith('amq.')) {
        exchanges.push({ vhost: this.name, name: e.name, type: e.type, autoDelete: e.autoDelete, internal: e.internal, arguments: e.arguments_ });
      }
      for (const b of e.bindings) {
        const dest = b.destination as Queue | Exchange;
        if (!dest.durable) continue;
        bindings.push({
          vhost: this.name,
          source: e.name,
          destination: b.destination.name,
          destinationType: b.destination.kind,
          routingKey: b.routingKey,
          arguments: b.arguments,
        });
      }
    }
    const queues: QueueDefinition[] = [];
    for (const q of this.queues.values()) {
      const storage = this.queueStorage.get(q);
      if (q.durable && storage !== undefined) queues.push({ vhost: this.name, name: q.name, autoDelete: q.autoDelete, arguments: q.arguments, storage });
    }
    return { exchanges, queues, bindings, policies: this.policies.list() };
  }
}
