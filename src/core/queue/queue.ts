/**
 * A queue keeps positions, not bodies: each queued message is 13 bytes in a PositionRing; its record lives
 * in the queue's SegmentLog and is read back when delivered. A message published while a consumer has
 * credit and nothing is queued is handed over from memory (no read) after its record is appended.
 */
import type { SegmentLog } from '../../storage/log.js';
import { PositionRing, POSITION_REDELIVERED } from '../../util/position-ring.js';
import type { FieldTable } from '../field-table.js';
import { decodeRecord, type Message } from '../message.js';
import type { Destination } from '../exchange/exchange.js';
import { resolveSettings, type AppliedPolicy, type QueueSettings } from './settings.js';

/** Deliveries made in one drain call before yielding to the event loop (keeps other sockets served). */
const DRAIN_BATCH = 512;

/** A subscriber of a queue. The AMQP channel implements this; the core never sees the protocol. */
export interface Consumer {
  readonly tag: string;
  readonly noAck: boolean;
  readonly exclusive: boolean;
  /** the connection-level owner, for exclusivity checks */
  readonly owner: object;
  /** consumer priority (AMQP `x-priority`): higher ones get messages first while they have credit */
  readonly priority: number;
  /** true when one more message may be delivered now (prefetch, flow, socket backpressure) */
  hasCredit(): boolean;
  /** hand a message over; the consumer tracks the ack (unless noAck) */
  deliver(queue: Queue, message: Message, segment: number, offset: number, length: number, redelivered: boolean): void;
  /** the broker cancelled this consumer (queue deleted) */
  cancelledByBroker(queue: Queue): void;
}

export interface QueueOptions {
  readonly name: string;
  readonly vhost: string;
  readonly durable: boolean;
  readonly exclusiveOwner: object | null;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
}

/** A message taken out with basic.get */
export interface Taken {
  readonly message: Message;
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
  readonly redelivered: boolean;
}

export interface RequeueEntry {
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
}

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
  deleted = false;
  /** set once a consumer has subscribed (auto-delete needs it) */
  hadConsumer = false;
  /** the policy that applies to this queue, if any (set by the vhost) */
  policy: AppliedPolicy | null = null;
  /** features resolved from arguments and policy */
  settings: QueueSettings;

  private readonly log: SegmentLog;
  private readonly ready: PositionRing;
  private nextConsumer = 0;
  private drainScheduled = false;
  private readonly parts: Buffer[] = [];

  /** `ready`: positions recovered at startup, in order */
  constructor(options: QueueOptions, log: SegmentLog, ready: PositionRing = new PositionRing()) {
    this.ready = ready;
    this.settings = resolveSettings(options.arguments, null);
    this.name = options.name;
    this.vhost = options.vhost;
    this.durable = options.durable;
    this.exclusiveOwner = options.exclusiveOwner;
    this.autoDelete = options.autoDelete;
    this.arguments = options.arguments;
    this.log = log;
  }

  /** a policy started or stopped applying to this queue, or changed: re-resolve the settings */
  applyPolicy(policy: AppliedPolicy | null): void {
    this.policy = policy;
    this.settings = resolveSettings(this.arguments, policy);
  }

  get messageCount(): number {
    return this.ready.size;
  }

  /**
   * Store a routed message and deliver it if a consumer can take it now.
   * Returns true when the record must be fsynced before a publisher confirm.
   */
  enqueue(message: Message): boolean {
    const parts = this.parts;
    parts[0] = message.recordHeader();
    parts[1] = message.properties;
    parts[2] = message.body;
    const length = parts[0].length + parts[1].length + parts[2].length;
    const offset = this.log.append(parts, length);
    const segment = this.log.lastSegment;
    parts[1] = parts[2] = parts[0] = EMPTY;
    if (this.ready.size === 0 && this.consumers.length > 0) {
      const consumer = this.pickConsumer();
      if (consumer !== null) {
        this.handOver(consumer, message, segment, offset, length, false);
        return message.persistent && this.durable;
      }
    }
    this.ready.push(segment, offset, length, 0);
    return message.persistent && this.durable;
  }

  /** Deliver queued messages while consumers have credit. */
  drain(): void {
    if (this.deleted) return;
    let delivered = 0;
    while (this.ready.size > 0 && this.consumers.length > 0) {
      const consumer = this.pickConsumer();
      if (consumer === null) return;
      if (delivered === DRAIN_BATCH) {
        this.scheduleDrain();
        return;
      }
      const segment = this.ready.headSegment();
      const offset = this.ready.headOffset();
      const length = this.ready.headLength();
      const redelivered = (this.ready.headFlags() & POSITION_REDELIVERED) !== 0;
      this.ready.shift();
      const message = decodeRecord(this.log.read(segment, offset, length));
      this.handOver(consumer, message, segment, offset, length, redelivered);
      delivered++;
    }
  }

  scheduleDrain(): void {
    if (this.drainScheduled || this.deleted) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  /** basic.get: take the head message, or null when empty */
  take(): Taken | null {
    if (this.ready.size === 0) return null;
    const segment = this.ready.headSegment();
    const offset = this.ready.headOffset();
    const length = this.ready.headLength();
    const redelivered = (this.ready.headFlags() & POSITION_REDELIVERED) !== 0;
    this.ready.shift();
    const message = decodeRecord(this.log.read(segment, offset, length));
    return { message, segment, offset, length, redelivered };
  }

  /** the consumer (or basic.get with no-ack=false) now holds one more unacked message */
  trackUnacked(): void {
    this.unackedCount++;
  }

  /** an unacked message was acked (or rejected without requeue) */
  settle(segment: number, offset: number): void {
    if (this.unackedCount > 0) this.unackedCount--;
    if (!this.deleted) this.log.ack(segment, offset);
  }

  /** drop a message that was taken with no-ack */
  discard(segment: number, offset: number): void {
    if (!this.deleted) this.log.ack(segment, offset);
  }

  /**
   * Put unacked messages back at the head, marked redelivered, in their original (log) order.
   * Entries may arrive in any order; they are sorted by position.
   */
  requeue(entries: RequeueEntry[]): void {
    if (entries.length > 1) entries.sort((a, b) => a.segment - b.segment || a.offset - b.offset);
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      if (this.unackedCount > 0) this.unackedCount--;
      if (!this.deleted) this.ready.unshift(e.segment, e.offset, e.length, POSITION_REDELIVERED);
    }
    this.scheduleDrain();
  }

  addConsumer(consumer: Consumer): void {
    // kept sorted by priority, highest first; equal priorities in subscription order
    let at = this.consumers.length;
    while (at > 0 && this.consumers[at - 1]!.priority < consumer.priority) at--;
    this.consumers.splice(at, 0, consumer);
    if (this.nextConsumer > at) this.nextConsumer++;
    this.hadConsumer = true;
    this.scheduleDrain();
  }

  /** returns true when the queue should now be auto-deleted */
  removeConsumer(consumer: Consumer): boolean {
    const i = this.consumers.indexOf(consumer);
    if (i < 0) return false;
    this.consumers.splice(i, 1);
    if (this.nextConsumer > i) this.nextConsumer--;
    return this.autoDelete && this.consumers.length === 0 && this.hadConsumer;
  }

  hasExclusiveConsumer(): boolean {
    return this.consumers.length === 1 && this.consumers[0]!.exclusive;
  }

  /** remove all ready messages; returns how many */
  purge(): number {
    const n = this.ready.size;
    const log = this.log;
    this.ready.forEach((segment, offset) => log.ack(segment, offset));
    this.ready.clear();
    return n;
  }

  /** delete the queue and its storage; consumers are told */
  destroy(): number {
    const n = this.ready.size;
    this.deleted = true;
    this.ready.clear();
    const consumers = this.consumers.splice(0);
    for (const c of consumers) c.cancelledByBroker(this);
    this.log.destroy();
    return n;
  }

  close(): void {
    this.log.close();
  }

  /** round-robin within the highest priority group that has a consumer with credit */
  private pickConsumer(): Consumer | null {
    const list = this.consumers;
    const n = list.length;
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

  private handOver(consumer: Consumer, message: Message, segment: number, offset: number, length: number, redelivered: boolean): void {
    if (!consumer.noAck) this.unackedCount++;
    consumer.deliver(this, message, segment, offset, length, redelivered);
    if (consumer.noAck) this.log.ack(segment, offset);
  }
}

const EMPTY = Buffer.alloc(0);
