/**
 * What a channel keeps per consumer and per unacknowledged delivery: the queue's view of a consumer (credit,
 * delivery, cancellation, owner details for the API) and the copy of a delivered position that an ack,
 * reject or requeue settles.
 */
import type { Message } from '../../core/message.js';
import type { Consumer, Queue, RequeueEntry } from '../../core/queue/queue.js';
import type { Position } from '../../util/position-ring.js';
import { brokerError, Errors } from '../../errors/errors.js';
import type { FieldTable } from '../../core/field-table.js';
import type { ConsumerOwnerDetails } from '../../core/clients.js';
import type { Channel } from './channel.js';

/** a delivery waiting for its ack: a copy of the queue position (what requeue and dead-lettering need) */
export class Unacked implements RequeueEntry {
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
  readonly expiresAt: number;
  readonly deliveries: number;
  readonly bodySize: number;
  constructor(
    readonly queue: Queue,
    p: Readonly<Position>,
    readonly priority: number,
    readonly consumer: ChannelConsumer | null,
    /** when the message was published, ms since the epoch (publish → ack latency) */
    readonly publishedAt: number,
  ) {
    this.segment = p.segment;
    this.offset = p.offset;
    this.length = p.length;
    this.expiresAt = p.expiresAt;
    this.deliveries = p.deliveries;
    this.bodySize = p.bodySize;
  }
}

export class ChannelConsumer implements Consumer {
  readonly tagBuffer: Buffer;
  unacked = 0;
  constructor(
    readonly channel: Channel,
    readonly queue: Queue,
    readonly tag: string,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    readonly prefetch: number,
    readonly owner: object,
    readonly priority: number,
  ) {
    this.tagBuffer = Buffer.from(tag, 'utf8');
  }

  hasCredit(): boolean {
    const ch = this.channel;
    return (
      ch.flowActive &&
      !ch.holdingReplies &&
      ch.connection.writable &&
      (this.prefetch === 0 || this.unacked < this.prefetch) &&
      (ch.globalPrefetch === 0 || ch.unackedTotal < ch.globalPrefetch)
    );
  }

  deliver(queue: Queue, message: Message, position: Readonly<Position>): void {
    this.channel.deliver(this, queue, message, position);
  }

  cancelledByBroker(_queue: Queue): void {
    this.channel.consumerCancelledByBroker(this);
  }

  ownerDetails(): ConsumerOwnerDetails {
    return {
      connection: this.channel.connection,
      channelNumber: this.channel.id,
      prefetchCount: this.prefetch,
      arguments: this.priority !== 0 ? { 'x-priority': this.priority } : {},
    };
  }
}

/** the `x-priority` consume argument (RabbitMQ: an integer, default 0) */
export function consumerPriority(args: FieldTable): number {
  const p = args['x-priority'];
  if (p === undefined) return 0;
  if (typeof p === 'number' && Number.isInteger(p)) return p;
  if (typeof p === 'bigint') return Number(p);
  throw brokerError(Errors.PRECONDITION_FAILED, `invalid arg 'x-priority' for consumer: expected an integer, got ${String(p)}`);
}
