/**
 * A queue keeps positions, not bodies: each queued message is a 13-byte position in a PositionRing (plus
 * optional expiry/delivery-count/size columns); its record lives in the queue's QueueStore (storage/
 * queue-store.ts: a segment log on disk, or memory) and is read back when delivered (the file engine's
 * read-ahead blocks make that one read per many messages).
 *
 * Delivery and durability (enqueue's `awaited`). An awaited persistent message of a durable queue (the
 * delayed store before it acks its held copy; with --deliver-after-fsync also a publisher in confirm mode
 * and an HTTP publish: VirtualHost.place decides) is delivered (or taken) only once the durability round
 * covering its record has completed: until then it waits in `pending` (counted in the queue's length). If
 * the round fails (a write or fsync error, see storage/sync.ts), the storage has dropped the record and the
 * queue drops its position: such a message is never delivered once its publisher got a basic.nack. Every
 * other message (by default a confirm-mode one too, a transaction, a dead-lettered copy, a transient
 * message or queue) is delivered at once, before its fsync, as RabbitMQ's classic queues do; if a later
 * failure rolls its record back, it is lost: dropFailed forgets the queued ones, and an unacked one's ack
 * or requeue finds no record and is ignored (a confirm-mode publisher is nacked for it all the same).
 *
 * Order: the messages ready for delivery are a prefix of the queue. It ends at the first message waiting
 * for its round; a message nobody waits for that comes behind it waits in `pending` too (with round 0,
 * released with the one before it) instead of overtaking it. So a queue never reorders what it was given,
 * whoever published it: one publisher's messages keep their order whatever mix of confirm mode it used,
 * and a non-confirm publisher sharing a queue with a confirm one waits at most one round behind it. With
 * nothing waiting, a message nobody waits for goes straight to a consumer with credit (from memory, no
 * read back) or to the ready rings.
 *
 * Features (settings.ts): message TTL (queue and per message, expired at the head as RabbitMQ does),
 * dead-lettering, length limits with overflow behaviours, priorities (one ring per level), delivery limit
 * with x-delivery-count, native retry backoff, single active consumer, and x-expires.
 */
import type { QueueStore } from '../../storage/stores.js';
import { newPosition, PositionRing, POSITION_REDELIVERED, type Position } from '../../util/position-ring.js';
import type { FieldTable } from '../field-table.js';
import { decodeRecord, parseExpiration, recordIsPersistent, type Message } from '../message.js';
import type { Destination } from '../exchange/exchange.js';
import { editProperties, readExpiration } from '../properties.js';
import type { DeathReason } from './dead-letter.js';
import { resolveSettings, type AppliedPolicy, type QueueSettings } from './settings.js';
import { QueueCounters, type LatencyHistogram } from '../stats.js';
import { timerDelay } from '../../util/timers.js';
import { PendingRecords } from './pending.js';
import {
  ENQUEUED,
  ENQUEUED_DURABLE,
  REJECTED,
  type Consumer,
  type EnqueueResult,
  type QueueContext,
  type QueueOptions,
  type RequeueEntry,
  type Taken,
} from './contracts.js';

/** Deliveries made in one drain call before yielding to the event loop (keeps other sockets served). */
const DRAIN_BATCH = 512;
/** Expired head messages removed per timer run before yielding, so a mass expiry cannot stall the broker. */
const EXPIRE_BATCH = 4096;

// what a queue gives and needs (its consumers, its vhost), in contracts.ts
export { ENQUEUED, ENQUEUED_DURABLE, REJECTED } from './contracts.js';
export type { Consumer, EnqueueResult, QueueContext, QueueOptions, RequeueEntry, Taken } from './contracts.js';

export class Queue implements Destination {
  readonly kind = 'queue' as const;
  readonly name: string;
  readonly vhost: string;
  readonly durable: boolean;
  readonly exclusiveOwner: object | null;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
  readonly consumers: Consumer[] = [];
  /** delivered and not yet acked, across all consumers and basic.get */
  unackedCount = 0;
  /** used by routing to add a queue once per message */
  routeMark = 0;
  /** in the durability gate's list of queues with records waiting for their round (owned by the gate) */
  awaitingRound = false;
  deleted = false;
  /** set once a consumer has subscribed (auto-delete needs it) */
  hadConsumer = false;
  /** the policy that applies to this queue, if any (set by the vhost) */
  policy: AppliedPolicy | null = null;
  /** features resolved from arguments and policy */
  settings: QueueSettings;
  /** message counters (see core/stats.ts); incremented here, rates filled by the broker's sampler */
  readonly counters = new QueueCounters();
  private readonly latency: LatencyHistogram;

  private store!: QueueStore;
  /** ready messages, one ring per priority level (index = priority); one ring without priorities */
  private rings: PositionRing[];
  private readyCount = 0;
  private readyBodyBytes = 0;
  /** appended records whose durability round has not completed, in append order (pending.ts) */
  private readonly pending = new PendingRecords();
  /**
   * The round that covers this queue's latest record nobody waits for (delivered or queued before its
   * fsync), 0 once a completed round covers them all: until then a failure may roll some of them back,
   * and dropFailed looks for them.
   */
  private unawaitedRound = 0;
  private nextConsumer = 0;
  private drainScheduled = false;
  private expiryTimer: NodeJS.Timeout | null = null;
  private expiryTimerAt = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** messages waiting out a retry backoff before they are requeued, sorted by due time */
  private retrying: Array<{ due: number; entry: RequeueEntry }> = [];
  private retryTimer: NodeJS.Timeout | null = null;
  /** positions of non-persistent records found at startup, acked once the store is attached */
  private restoredTransient: PositionRing | null = null;
  /**
   * persistent records found at startup that were delivered more often than x-delivery-limit allows
   * (delivered markers left by deliveries a crash cut off): dead-lettered by started()
   */
  private restoredOverLimit: PositionRing | null = null;
  private readonly parts: Buffer[] = [];
  /** scratch for positions taken from the rings or rebuilt from a RequeueEntry */
  private readonly position = newPosition();
  /**
   * scratch for the direct hand-over in enqueue(): enqueue can run inside dead-lettering while a caller
   * still holds `position`, so the two never share one object
   */
  private readonly handoverPosition = newPosition();

  constructor(
    options: QueueOptions,
    private readonly context: QueueContext,
    store: QueueStore | null,
  ) {
    this.name = options.name;
    this.vhost = options.vhost;
    this.durable = options.durable;
    this.exclusiveOwner = options.exclusiveOwner;
    this.autoDelete = options.autoDelete;
    this.arguments = options.arguments;
    this.latency = context.stats.latency;
    this.settings = resolveSettings(options.arguments, null);
    this.rings = [new PositionRing()];
    this.configureRings();
    if (store !== null) this.store = store;
    this.touch();
  }

  private configureRings(): void {
    const levels = this.settings.maxPriority + 1;
    while (this.rings.length < levels) this.rings.push(new PositionRing());
  }

  /** a policy started or stopped applying to this queue, or changed: re-resolve the settings */
  applyPolicy(policy: AppliedPolicy | null): void {
    const sizesTracked = this.settings.maxLengthBytes !== null;
    this.policy = policy;
    this.settings = resolveSettings(this.arguments, policy);
    this.configureRings();
    if (!sizesTracked && this.settings.maxLengthBytes !== null) this.measureReadyBodies();
    this.touch();
    this.enforceLimits();
    this.armExpiry();
  }

  /**
   * A byte limit now applies (a policy brought it) to messages queued while body sizes were not kept
   * (trackedSize): read each ready record once to learn its body size, keeping the order.
   */
  private measureReadyBodies(): void {
    const p = newPosition();
    this.readyBodyBytes = 0;
    for (const ring of this.rings) {
      for (let n = ring.size; n > 0; n--) {
        ring.readHead(p);
        ring.shift();
        const bodySize = decodeRecord(this.store.read(p.segment, p.offset, p.length)).body.length;
        ring.push(p.segment, p.offset, p.length, p.flags, p.expiresAt, p.deliveries, bodySize);
        this.readyBodyBytes += bodySize;
      }
    }
  }

  get messageCount(): number {
    return this.readyCount + this.pending.size;
  }

  /** bytes of RAM the queue's index of ready and not-yet-durable messages takes (bodies stay in the segments) */
  get indexBytes(): number {
    let bytes = this.pending.capacityBytes;
    for (let i = 0; i < this.rings.length; i++) bytes += this.rings[i]!.capacityBytes;
    return bytes;
  }

  /** bytes of the queue's live records (ready, unacked and retrying messages, with their properties) */
  get storedBytes(): number {
    return this.store === undefined ? 0 : this.store.liveBytes;
  }

  // ---------------------------------------------------------------- startup

  /**
   * One live record found while the store is reopened (before attachStore). `deliveries` counts the times it
   * was handed to a consumer that never acked it (the store's delivered markers): such a record comes back
   * redelivered, with its delivery count, as RabbitMQ does after a crash.
   */
  restoreRecord(segment: number, offset: number, length: number, payload: Buffer, deliveries = 0): void {
    if (!recordIsPersistent(payload)) {
      (this.restoredTransient ??= new PositionRing()).push(segment, offset, length, 0);
      return;
    }
    const message = decodeRecord(payload);
    const props = message.properties;
    const expiration = readExpiration(props);
    if (expiration !== undefined) {
      try {
        message.expirationMs = parseExpiration(expiration);
      } catch {
        // kept without a per-message TTL
      }
    }
    const expiresAt = this.expiryFor(message);
    const limit = this.settings.deliveryLimit;
    if (limit !== null && deliveries > limit) {
      (this.restoredOverLimit ??= new PositionRing()).push(segment, offset, length, POSITION_REDELIVERED, expiresAt, deliveries);
      return;
    }
    const flags = deliveries > 0 ? POSITION_REDELIVERED : 0;
    this.pushReady(segment, offset, length, flags, expiresAt, deliveries, this.trackedSize(message.body.length), message.priority);
  }

  /** the recovered store: transient records are dropped now (they do not survive a restart, as in RabbitMQ) */
  attachStore(store: QueueStore): number {
    this.store = store;
    const transient = this.restoredTransient;
    this.restoredTransient = null;
    if (transient === null) return 0;
    transient.forEach((segment, offset) => store.ack(segment, offset));
    return transient.size;
  }

  /**
   * After startup, once every queue, exchange and binding is back (dead-lettering routes): dead-letter
   * what is over its delivery limit, apply length limits and arm timers for what was recovered.
   */
  started(): void {
    const overLimit = this.restoredOverLimit;
    this.restoredOverLimit = null;
    if (overLimit !== null) {
      const p = newPosition();
      while (overLimit.size > 0) {
        overLimit.readHead(p);
        overLimit.shift();
        this.dropPosition(p, 'delivery_limit');
      }
    }
    this.enforceLimits();
    this.armExpiry();
  }

  // ---------------------------------------------------------------- publish

  /** when a message published now expires in this queue: 0 = never */
  private expiryFor(message: Message): number {
    const queueTtl = this.settings.messageTtl;
    const messageTtl = message.expirationMs;
    let ttl = -1;
    if (queueTtl !== null) ttl = queueTtl;
    if (messageTtl >= 0 && (ttl < 0 || messageTtl < ttl)) ttl = messageTtl;
    return ttl < 0 ? 0 : message.publishedAt + ttl;
  }

  private overLimit(extraCount: number, extraBytes: number): boolean {
    const s = this.settings;
    return (
      (s.maxLength !== null && this.readyCount + this.pending.size + extraCount > s.maxLength) ||
      (s.maxLengthBytes !== null && this.readyBodyBytes + this.pending.bodyBytes + extraBytes > s.maxLengthBytes)
    );
  }

  /**
   * Store a routed message and deliver it if a consumer can take it now. `awaited`: a persistent message of
   * a durable queue is delivered only after its fsync (see the header; the caller sets it for the delayed
   * store's held copies, and for confirms and HTTP publishes under --deliver-after-fsync).
   * Returns ENQUEUED_DURABLE when the record must be fsynced before a publisher confirm, REJECTED when a
   * reject-publish limit refused it.
   */
  enqueue(message: Message, awaited: boolean): EnqueueResult {
    const s = this.settings;
    const bodySize = message.body.length;
    // as RabbitMQ: the limit is checked before any consumer could take the message, so a queue with
    // x-max-length 0 (or a byte limit below the body) refuses everything even with consumers waiting
    if (s.overflow !== 'drop-head' && this.overLimit(1, bodySize)) {
      if (s.overflow === 'reject-publish-dlx') {
        this.counters.deadLetteredMaxlen++;
        this.context.deadLetter(this, message, 'maxlen');
      }
      return REJECTED;
    }
    this.counters.publish++;
    const result = message.persistent && this.durable ? ENQUEUED_DURABLE : ENQUEUED;
    const parts = this.parts;
    parts[0] = message.recordHeader();
    parts[1] = message.properties;
    parts[2] = message.body;
    const length = parts[0].length + parts[1].length + parts[2].length;
    const offset = this.store.append(parts, length);
    const segment = this.store.lastSegment;
    parts[1] = parts[2] = parts[0] = EMPTY;
    let expiresAt = this.expiryFor(message);
    const waits = awaited && result === ENQUEUED_DURABLE;
    const expired = expiresAt !== 0 && expiresAt <= Date.now();
    // the consumer that can take it at once: only when nothing is queued before it
    let taker: Consumer | null = null;
    if ((expired || !waits) && this.readyCount === 0 && this.pending.size === 0 && this.consumers.length > 0) taker = this.pickConsumer();
    if (expired) {
      // a TTL of 0 (or a past expiry): delivered only if a consumer can take it at once (when its round
      // completes, if it waits for one), else it expires now
      if (taker !== null) {
        expiresAt = 0;
      } else {
        this.counters.deadLetteredExpired++;
        this.store.ack(segment, offset);
        this.context.deadLetter(this, message, 'expired');
        return result;
      }
    }
    const trackedBody = this.trackedSize(bodySize);
    if (waits) {
      this.pending.push(segment, offset, length, expiresAt, message.priority, trackedBody, this.context.appended(this));
      this.enforceLimits();
      return result;
    }
    // nobody waits for it: no round of its own, but the queue hears if a failure rolls it back
    this.unawaitedRound = this.context.appendedUnawaited(this);
    if (this.pending.size > 0) {
      // behind a message waiting for its round: it waits with it, released (or dropped) after it
      this.pending.push(segment, offset, length, expiresAt, message.priority, trackedBody, 0);
      this.enforceLimits();
      return result;
    }
    if (taker !== null) {
      const p = this.handoverPosition;
      p.segment = segment;
      p.offset = offset;
      p.length = length;
      p.flags = 0;
      p.expiresAt = expiresAt;
      p.deliveries = 0;
      p.bodySize = trackedBody;
      this.handOver(taker, message, p);
      return result;
    }
    this.pushReady(segment, offset, length, 0, expiresAt, 0, trackedBody, message.priority);
    this.enforceLimits();
    if (expiresAt !== 0) this.armExpiry();
    return result;
  }

  /**
   * The durability rounds up to `completed` completed: their records become ready (and are delivered).
   * Returns true while records of later rounds still wait, or records nobody waits for are not covered.
   */
  releaseDurable(completed: number): boolean {
    if (this.unawaitedRound !== 0 && this.unawaitedRound <= completed) this.unawaitedRound = 0;
    const pending = this.pending;
    const released = pending.endRoundsThrough(completed);
    if (released < 0) return pending.waitsForRounds || this.unawaitedRound !== 0;
    const p = this.position;
    for (let n = released; n > 0; n--) {
      pending.shift(p);
      this.pushReady(p.segment, p.offset, p.length, 0, p.expiresAt, 0, p.bodySize, p.deliveries);
    }
    if (this.deleted) return false;
    this.enforceLimits();
    pending.wakeWaiters(false);
    if (this.consumers.length > 0) this.drain();
    else this.armExpiry();
    return pending.waitsForRounds || this.unawaitedRound !== 0;
  }

  /**
   * The durability rounds up to `through` failed: the storage dropped their records (and nacked their
   * publishers), so their positions are forgotten without an ack; so are the records nobody waited for
   * behind them in `pending` (appended later to the same store, so rolled back too). Ready messages nobody
   * waited for that the rollback took are forgotten as well (forgetRolledBack). Returns true while later
   * ones wait.
   */
  dropFailed(through: number): boolean {
    const pending = this.pending;
    const dropped = pending.endRoundsThrough(through);
    const p = this.position;
    for (let n = dropped; n > 0; n--) {
      pending.shift(p);
      this.counters.storageFailed++;
    }
    if (this.unawaitedRound !== 0) {
      // every byte no completed round covered was rolled back (sync.ts), whatever round it was due in
      this.unawaitedRound = 0;
      if (!this.deleted) this.forgetRolledBack();
    }
    if (dropped >= 0) pending.wakeWaiters(this.deleted);
    return pending.waitsForRounds;
  }

  /**
   * After a rollback: ready messages whose records it took (delivered before their fsync and requeued, or
   * never delivered) leave the rings, counted as storageFailed. Unacked ones are left to their consumers:
   * their ack finds no record (ignored), a requeue forgets them (requeue). One pass over the ready
   * messages per failure, never per message.
   */
  private forgetRolledBack(): void {
    const store = this.store;
    const p = this.position;
    for (const ring of this.rings) {
      for (let n = ring.size; n > 0; n--) {
        ring.readHead(p);
        ring.shift();
        if (store.holds(p.segment, p.offset)) {
          ring.push(p.segment, p.offset, p.length, p.flags, p.expiresAt, p.deliveries, p.bodySize);
          continue;
        }
        this.readyCount--;
        this.readyBodyBytes -= p.bodySize;
        this.counters.storageFailed++;
      }
    }
  }

  /**
   * True while records wait for their durability round: a basic.get that finds nothing ready waits for
   * them (afterPending), as a message published before the get on the same channel must be found.
   */
  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /**
   * `callback` runs once every record waiting now has been released or dropped (at once when none
   * waits), so a get that follows sees every message published before it, in priority order.
   */
  afterPending(callback: () => void): void {
    this.pending.afterAll(callback);
  }

  /** body sizes are kept (4 bytes a message) only for queues with a byte limit */
  private trackedSize(bodySize: number): number {
    return this.settings.maxLengthBytes === null ? 0 : bodySize;
  }

  private pushReady(
    segment: number,
    offset: number,
    length: number,
    flags: number,
    expiresAt: number,
    deliveries: number,
    bodySize: number,
    priority: number,
  ): void {
    const level = priority < this.rings.length ? priority : this.rings.length - 1;
    this.rings[level]!.push(segment, offset, length, flags, expiresAt, deliveries, bodySize);
    this.readyCount++;
    this.readyBodyBytes += bodySize;
  }

  private unshiftReady(e: RequeueEntry, flags: number): void {
    const level = e.priority < this.rings.length ? e.priority : this.rings.length - 1;
    this.rings[level]!.unshift(e.segment, e.offset, e.length, flags, e.expiresAt, e.deliveries, e.bodySize);
    this.readyCount++;
    this.readyBodyBytes += e.bodySize;
  }

  /** the ring holding the next message to deliver (highest priority first), or null when empty */
  private headRing(): PositionRing | null {
    const rings = this.rings;
    for (let i = rings.length - 1; i >= 0; i--) if (rings[i]!.size > 0) return rings[i]!;
    return null;
  }

  /** remove the head into this.position; expired heads on the way are dead-lettered. null when empty. */
  private shiftHead(): Position | null {
    const now = this.settings.messageTtl !== null || this.anyExpiry() ? Date.now() : 0;
    for (;;) {
      const ring = this.headRing();
      if (ring === null) return null;
      const p = ring.readHead(this.position);
      ring.shift();
      this.readyCount--;
      this.readyBodyBytes -= p.bodySize;
      if (p.expiresAt !== 0 && now !== 0 && p.expiresAt <= now) {
        this.dropPosition(p, 'expired');
        continue;
      }
      return p;
    }
  }

  /**
   * Publish time of the oldest ready message (ms since the epoch), or null when none is ready or its time
   * is unknown. Reads the head record of each priority level from the store: for monitoring (the
   * processing-delay alert), not for the message path.
   */
  oldestReadyPublishedAt(): number | null {
    let oldest: number | null = null;
    const scratch = newPosition();
    for (const ring of this.rings) {
      if (ring.size === 0) continue;
      const p = ring.readHead(scratch);
      let publishedAt = 0;
      try {
        publishedAt = decodeRecord(this.store.read(p.segment, p.offset, p.length)).publishedAt;
      } catch (error) {
        if (!(error instanceof RangeError)) throw error; // a record a failed write took (readReady): not counted
      }
      if (publishedAt > 0 && (oldest === null || publishedAt < oldest)) oldest = publishedAt;
    }
    return oldest;
  }

  private anyExpiry(): boolean {
    const rings = this.rings;
    for (let i = 0; i < rings.length; i++) if (rings[i]!.size > 0 && rings[i]!.headExpiresAt() !== 0) return true;
    return false;
  }

  /** a ready message leaves the queue without delivery: dead-letter it (if configured) and ack its record */
  private dropPosition(p: Position, reason: DeathReason): void {
    const c = this.counters;
    if (reason === 'expired') c.deadLetteredExpired++;
    else if (reason === 'rejected') c.deadLetteredRejected++;
    else if (reason === 'maxlen') c.deadLetteredMaxlen++;
    else c.deadLetteredDeliveryLimit++;
    // copy the position out first: dead-lettering may enqueue into this very queue, which reuses it
    const segment = p.segment;
    const offset = p.offset;
    let message: Message | null = null;
    if (this.settings.deadLetterExchange !== null) {
      try {
        message = decodeRecord(this.store.read(segment, offset, p.length));
      } catch (error) {
        // a record whose write just failed (drop-head over pending ones: its publisher gets a nack with
        // the round), or one nobody waited for that a rollback took: it cannot be read (RangeError)
        if (!(error instanceof RangeError)) throw error;
      }
    }
    this.store.ack(segment, offset);
    if (message === null) return;
    if (message.undecodable !== null) this.context.undecodableMessageDropped(this, message.undecodable);
    else this.context.deadLetter(this, message, reason);
  }

  /** drop-head overflow: remove heads until the limits hold */
  private enforceLimits(): void {
    const s = this.settings;
    if (s.maxLength === null && s.maxLengthBytes === null) return;
    if (s.overflow !== 'drop-head') return;
    let tookPending = false;
    while (this.overLimit(0, 0)) {
      // the oldest message goes first: a ready one, else one still waiting for its round
      const fromPending = this.readyCount === 0;
      const p = fromPending ? this.pending.shiftOldest(this.position) : this.shiftHead();
      if (p === null) break;
      if (fromPending) tookPending = true;
      this.dropPosition(p, 'maxlen');
    }
    if (tookPending) this.releaseUnawaitedHead();
  }

  /**
   * The messages that waited for a round went (drop-head took them): the ones nobody waits for that were
   * queued behind them have nothing left to wait for, and become ready.
   */
  private releaseUnawaitedHead(): void {
    const pending = this.pending;
    const released = pending.endUnawaitedHead();
    if (released < 0) return;
    const p = this.position;
    for (let n = released; n > 0; n--) {
      pending.shift(p);
      this.pushReady(p.segment, p.offset, p.length, 0, p.expiresAt, 0, p.bodySize, p.deliveries);
    }
    pending.wakeWaiters(this.deleted);
    if (this.consumers.length > 0) this.scheduleDrain();
    else this.armExpiry();
  }

  // ---------------------------------------------------------------- TTL

  /** arm one timer for the earliest head expiry (only heads expire, as in RabbitMQ) */
  private armExpiry(): void {
    if (this.deleted) return;
    let earliest = 0;
    for (const ring of this.rings) {
      if (ring.size === 0) continue;
      const at = ring.headExpiresAt();
      if (at !== 0 && (earliest === 0 || at < earliest)) earliest = at;
    }
    if (earliest === 0) return;
    if (this.expiryTimer !== null && this.expiryTimerAt <= earliest) return;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.expiryTimerAt = earliest;
    // a head due past setTimeout's limit: the timer fires early, expires nothing and arms again
    this.expiryTimer = setTimeout(() => this.expireHeads(), timerDelay(earliest - Date.now() + 1));
    this.expiryTimer.unref();
  }

  private expireHeads(): void {
    this.expiryTimer = null;
    if (this.deleted) return;
    const now = Date.now();
    let n = 0;
    for (let level = this.rings.length - 1; level >= 0; level--) {
      const ring = this.rings[level]!;
      while (ring.size > 0 && n < EXPIRE_BATCH) {
        const at = ring.headExpiresAt();
        if (at === 0 || at > now) break;
        const p = ring.readHead(this.position);
        ring.shift();
        this.readyCount--;
        this.readyBodyBytes -= p.bodySize;
        this.dropPosition(p, 'expired');
        n++;
      }
    }
    if (n === EXPIRE_BATCH) {
      this.expiryTimer = setTimeout(() => this.expireHeads(), 0);
      this.expiryTimerAt = now;
      return;
    }
    this.armExpiry();
  }

  // ---------------------------------------------------------------- x-expires

  /** the queue was used (declared, consumed from, got from): restart its x-expires clock */
  touch(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.settings.expires === null || this.deleted) return;
    this.armIdle(Date.now() + this.settings.expires);
  }

  /** the x-expires timer, for a queue unused until `expiresAt`; past setTimeout's limit it waits in steps */
  private armIdle(expiresAt: number): void {
    this.idleTimer = setTimeout(
      () => {
        this.idleTimer = null;
        if (this.consumers.length > 0) this.touch();
        else if (Date.now() < expiresAt) this.armIdle(expiresAt);
        else this.context.expireQueue(this);
      },
      timerDelay(expiresAt - Date.now()),
    );
    this.idleTimer.unref();
  }

  // ---------------------------------------------------------------- delivery

  /** Deliver queued messages while consumers have credit. */
  drain(): void {
    if (this.deleted) return;
    let delivered = 0;
    while (this.readyCount > 0 && this.consumers.length > 0) {
      const consumer = this.pickConsumer();
      if (consumer === null) break; // every consumer at its prefetch: the heads still expire on time
      if (delivered === DRAIN_BATCH) {
        this.scheduleDrain();
        return;
      }
      const p = this.shiftHead();
      if (p === null) break;
      const message = this.readReady(p);
      if (message === null) continue;
      if (message.undecodable !== null) {
        this.dropUndecodable(p, message.undecodable);
        continue;
      }
      this.handOver(consumer, message, p);
      delivered++;
    }
    this.armExpiry();
  }

  /**
   * Reads a ready record back (readMessage); null when a failed write, or the rollback after it, took the
   * record: a message nobody waited for, queued or requeued before its fsync. It is lost (nobody was
   * promised it), counted as storageFailed; the rollback removes its bytes, so nothing is acked.
   */
  private readReady(p: Position): Message | null {
    try {
      return this.readMessage(p);
    } catch (error) {
      const store = this.store;
      if (!(error instanceof RangeError) || (store.holds(p.segment, p.offset) && !store.writeFailing)) throw error;
      this.counters.storageFailed++;
      return null;
    }
  }

  /** read a record back; a redelivered message of a queue that counts deliveries gets x-delivery-count */
  private readMessage(p: Position): Message {
    const message = decodeRecord(this.store.read(p.segment, p.offset, p.length));
    if (p.deliveries > 0 && message.undecodable === null && this.countsDeliveries()) {
      message.properties = editProperties(message.properties, { ...(message.headers() ?? {}), 'x-delivery-count': p.deliveries }, false);
    }
    return message;
  }

  private countsDeliveries(): boolean {
    return this.settings.queueType === 'quorum' || this.settings.deliveryLimit !== null;
  }

  scheduleDrain(): void {
    if (this.drainScheduled || this.deleted) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  /**
   * A message read back whose property list cannot be decoded (only a record stored before publish-time
   * checking can be one): delivering it would kill the consumer's client, and dead-lettering must decode the
   * headers to add x-death, so it is dropped, with one error line.
   */
  private dropUndecodable(p: Position, reason: string): void {
    this.store.ack(p.segment, p.offset);
    this.context.undecodableMessageDropped(this, reason);
  }

  /** basic.get: take the head message, or null when empty */
  take(): Taken | null {
    this.touch();
    for (;;) {
      const p = this.shiftHead();
      if (p === null) {
        this.armExpiry();
        this.counters.getEmpty++;
        return null;
      }
      const message = this.readReady(p);
      if (message === null) continue;
      if (message.undecodable !== null) {
        this.dropUndecodable(p, message.undecodable);
        continue;
      }
      this.armExpiry();
      if ((p.flags & POSITION_REDELIVERED) !== 0) this.counters.redeliver++;
      return { message, position: { ...p } };
    }
  }

  /** basic.get with no-ack=false (or the management API's get) now holds the taken message unacked */
  trackUnacked(taken: Taken): void {
    this.unackedCount++;
    this.counters.get++;
    this.markDelivered(taken.message, taken.position);
  }

  /**
   * A persistent message of a durable queue went to a consumer that owes an ack: a delivered marker in
   * the store, so that if the broker dies before the ack, the message comes back redelivered with this
   * delivery counted (storage/format.ts draws the marker).
   */
  private markDelivered(message: Message, p: Position): void {
    if (message.persistent && this.durable) this.store.markDelivered(p.segment, p.offset);
  }

  /**
   * An unacked message was acked. `publishedAt` (ms since the epoch, 0 when unknown) feeds the broker's
   * publish → ack latency histogram.
   */
  settle(segment: number, offset: number, publishedAt = 0): void {
    if (this.unackedCount > 0) this.unackedCount--;
    this.counters.ack++;
    if (publishedAt > 0) this.latency.recordSince(publishedAt);
    if (!this.deleted) this.store.ack(segment, offset);
  }

  /** drop a message that was taken with no-ack */
  discard(segment: number, offset: number): void {
    this.counters.getNoAck++;
    if (!this.deleted) this.store.ack(segment, offset);
  }

  /** reject / nack without requeue: dead-letter with reason `rejected` (if configured) */
  reject(entry: RequeueEntry): void {
    if (this.unackedCount > 0) this.unackedCount--;
    if (this.deleted) return;
    this.dropPosition(this.toPosition(entry), 'rejected');
  }

  private toPosition(e: RequeueEntry): Position {
    const p = this.position;
    p.segment = e.segment;
    p.offset = e.offset;
    p.length = e.length;
    p.flags = POSITION_REDELIVERED;
    p.expiresAt = e.expiresAt;
    p.deliveries = e.deliveries;
    p.bodySize = e.bodySize;
    return p;
  }

  /**
   * Put unacked messages back, marked redelivered, in their original (log) order. Each return counts as
   * a delivery: past x-delivery-limit a message is dead-lettered (delivery_limit); with x-retry-backoff it
   * waits out an exponential delay before it is ready again.
   */
  requeue(entries: RequeueEntry[]): void {
    if (entries.length > 1) entries.sort((a, b) => a.segment - b.segment || a.offset - b.offset);
    const s = this.settings;
    const now = Date.now();
    for (let i = entries.length - 1; i >= 0; i--) {
      const old = entries[i]!;
      if (this.unackedCount > 0) this.unackedCount--;
      if (this.deleted) continue;
      if (!this.store.holds(old.segment, old.offset)) {
        // delivered before its fsync, and a failure rolled its record back: lost (see the header)
        this.counters.storageFailed++;
        continue;
      }
      this.counters.requeue++;
      const e: RequeueEntry = { ...old, deliveries: old.deliveries + 1 };
      if (s.deliveryLimit !== null && e.deliveries > s.deliveryLimit) {
        this.dropPosition(this.toPosition(e), 'delivery_limit');
      } else if (s.retryBackoff !== null && s.retryBackoff > 0) {
        const delay = Math.min(s.retryBackoff * 2 ** Math.min(e.deliveries - 1, 30), s.retryBackoffMax ?? Infinity);
        this.holdForRetry(now + delay, e);
      } else {
        this.unshiftReady(e, POSITION_REDELIVERED);
      }
    }
    this.scheduleDrain();
  }

  private holdForRetry(due: number, entry: RequeueEntry): void {
    const list = this.retrying;
    let at = list.length;
    while (at > 0 && list[at - 1]!.due > due) at--;
    list.splice(at, 0, { due, entry });
    if (at === 0) this.armRetry();
  }

  private armRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.retrying.length === 0 || this.deleted) return;
    this.retryTimer = setTimeout(() => this.releaseRetries(), timerDelay(this.retrying[0]!.due - Date.now() + 1));
    this.retryTimer.unref();
  }

  private releaseRetries(): void {
    this.retryTimer = null;
    const now = Date.now();
    const due: RequeueEntry[] = [];
    while (this.retrying.length > 0 && this.retrying[0]!.due <= now) due.push(this.retrying.shift()!.entry);
    due.sort((a, b) => a.segment - b.segment || a.offset - b.offset);
    for (let i = due.length - 1; i >= 0; i--) this.unshiftReady(due[i]!, POSITION_REDELIVERED);
    this.armRetry();
    this.drain();
  }

  addConsumer(consumer: Consumer): void {
    // kept sorted by priority, highest first; equal priorities in subscription order. With a single active
    // consumer, subscription order alone (a classic queue in RabbitMQ ignores x-priority there): the active
    // one, the first, keeps the queue until it goes away, however high a newcomer's priority
    let at = this.consumers.length;
    if (!this.settings.singleActiveConsumer) while (at > 0 && this.consumers[at - 1]!.priority < consumer.priority) at--;
    this.consumers.splice(at, 0, consumer);
    if (this.nextConsumer > at) this.nextConsumer++;
    this.hadConsumer = true;
    this.touch();
    this.scheduleDrain();
  }

  /** returns true when the queue should now be auto-deleted */
  removeConsumer(consumer: Consumer): boolean {
    const i = this.consumers.indexOf(consumer);
    if (i < 0) return false;
    this.consumers.splice(i, 1);
    if (this.nextConsumer > i) this.nextConsumer--;
    this.touch();
    // with a single active consumer, the next one takes over
    if (this.consumers.length > 0) this.scheduleDrain();
    return this.autoDelete && this.consumers.length === 0 && this.hadConsumer;
  }

  hasExclusiveConsumer(): boolean {
    return this.consumers.length === 1 && this.consumers[0]!.exclusive;
  }

  /** remove all ready messages (not unacked ones, not those waiting out a retry); returns how many */
  purge(): number {
    const n = this.readyCount + this.pending.size;
    const store = this.store;
    for (const ring of this.rings) {
      ring.forEach((segment, offset) => store.ack(segment, offset));
      ring.clear();
    }
    // records still waiting for their round: acked now (their positions are dropped when it ends)
    this.pending.forEach((segment, offset) => store.ack(segment, offset));
    this.pending.clear();
    this.readyCount = 0;
    this.readyBodyBytes = 0;
    return n;
  }

  /** delete the queue and its storage; consumers are told */
  destroy(): number {
    const n = this.readyCount + this.pending.size;
    this.deleted = true;
    this.stopTimers();
    for (const ring of this.rings) ring.clear();
    this.pending.clear();
    this.pending.wakeWaiters(true);
    this.readyCount = 0;
    this.readyBodyBytes = 0;
    this.retrying = [];
    const consumers = this.consumers.splice(0);
    for (const c of consumers) c.cancelledByBroker(this);
    this.store.destroy();
    return n;
  }

  close(): void {
    this.stopTimers();
    this.store.close();
  }

  private stopTimers(): void {
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.expiryTimer = this.idleTimer = this.retryTimer = null;
  }

  /** round-robin within the highest priority group that has a consumer with credit */
  private pickConsumer(): Consumer | null {
    const list = this.consumers;
    const n = list.length;
    if (this.settings.singleActiveConsumer) return n > 0 && list[0]!.hasCredit() ? list[0]! : null;
    let start = 0;
    while (start < n) {
      const priority = list[start]!.priority;
      let end = start + 1;
      while (end < n && list[end]!.priority === priority) end++;
      const size = end - start;
      const from = this.nextConsumer >= start && this.nextConsumer < end ? this.nextConsumer - start : 0;
      for (let k = 0; k < size; k++) {
        const i = start + ((from + k) % size);
        const c = list[i]!;
        if (c.hasCredit()) {
          this.nextConsumer = i + 1 < end ? i + 1 : start;
          return c;
        }
      }
      start = end;
    }
    return null;
  }

  private handOver(consumer: Consumer, message: Message, p: Position): void {
    const c = this.counters;
    if ((p.flags & POSITION_REDELIVERED) !== 0) c.redeliver++;
    if (!consumer.noAck) {
      this.unackedCount++;
      c.deliver++;
      this.markDelivered(message, p);
    }
    consumer.deliver(this, message, p);
    if (consumer.noAck) {
      c.deliverNoAck++;
      // no ack will come: for latency, delivery is the end of the message's trip
      this.latency.recordSince(message.publishedAt);
      this.store.ack(p.segment, p.offset);
    }
  }
}

const EMPTY = Buffer.alloc(0);
