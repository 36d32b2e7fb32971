/**
 * What a queue gives and needs: its consumers (the AMQP channel implements Consumer), its vhost
 * (QueueContext), and the small records that travel between them (queue.ts re-exports them all).
 */
import type { Position } from '../../util/position-ring.js';
import type { FieldTable } from '../field-table.js';
import type { Message } from '../message.js';
import type { BrokerStats } from '../stats.js';
import type { ConsumerOwnerDetails } from '../clients.js';
import type { DeathReason } from './dead-letter.js';
import type { Queue } from './queue.js';

/** What enqueue() did with a message. */
export const ENQUEUED = 0;
/** stored, and its record must be fsynced before a publisher confirm */
export const ENQUEUED_DURABLE = 1;
/** refused by an x-overflow reject-publish limit: the publisher gets a nack */
export const REJECTED = 2;
export type EnqueueResult = typeof ENQUEUED | typeof ENQUEUED_DURABLE | typeof REJECTED;

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
  /**
   * Hand a message over; the consumer tracks the ack (unless noAck). `position` is reused by the queue:
   * copy what you keep (a RequeueEntry) before returning.
   */
  deliver(queue: Queue, message: Message, position: Readonly<Position>): void;
  /** the broker cancelled this consumer (queue deleted) */
  cancelledByBroker(queue: Queue): void;
  /** who holds it (connection, channel, prefetch), for listing consumers; management only */
  ownerDetails?(): ConsumerOwnerDetails;
}

/** What a queue needs from its vhost. */
export interface QueueContext {
  /** republish a message to the queue's dead-letter exchange (the vhost routes it) */
  deadLetter(queue: Queue, message: Message, reason: DeathReason): void;
  /** x-expires ran out: delete the queue */
  expireQueue(queue: Queue): void;
  /** a message read back could not be decoded (stored before publish-time checking) and was dropped */
  undecodableMessageDropped(queue: Queue, reason: string): void;
  /** the broker's statistics (the latency histogram acks are recorded in) */
  readonly stats: BrokerStats;
  /**
   * `queue` appended a record nobody waits for: returns the round that will cover it (not started for
   * it), and makes sure the queue hears (releaseDurable / dropFailed) when that round completes or fails
   */
  appendedUnawaited(queue: Queue): number;
  /**
   * `queue` appended a record: returns the durability round that covers it, and makes sure the queue
   * hears (releaseDurable / dropFailed) when that round completes or fails
   */
  appended(queue: Queue): number;
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
  readonly position: Position;
}

/** Everything needed to put a delivered message back (a copy of its Position). */
export interface RequeueEntry {
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
  readonly expiresAt: number;
  readonly deliveries: number;
  readonly bodySize: number;
  readonly priority: number;
}
