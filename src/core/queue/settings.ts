/**
 * A queue's feature settings, resolved from its declare arguments (`x-…`) and the policy that applies
 * to it (RabbitMQ's policy keys, without the `x-` prefix). As in RabbitMQ, an argument wins over the policy,
 * except for the numeric limits (TTLs, expiry, length limits, delivery limit) where the lower value wins.
 */
import { brokerError, Errors } from '../../errors/errors.js';
import type { FieldTable, FieldValue } from '../field-table.js';
import { MAX_EXPIRATION_MS } from '../message.js';

export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';
export type QueueType = 'classic' | 'quorum';

export interface QueueSettings {
  /** per-queue message TTL, ms */
  readonly messageTtl: number | null;
  /** delete the queue after it has been unused this long, ms */
  readonly expires: number | null;
  readonly deadLetterExchange: string | null;
  readonly deadLetterRoutingKey: string | null;
  readonly maxLength: number | null;
  readonly maxLengthBytes: number | null;
  readonly overflow: Overflow;
  /** redeliveries allowed before a message is dead-lettered with reason delivery_limit */
  readonly deliveryLimit: number | null;
  /** 0 = no priorities; else 1..255 */
  readonly maxPriority: number;
  readonly singleActiveConsumer: boolean;
  readonly queueType: QueueType;
  /** native retry: first requeue delay, ms (Postbox extension) */
  readonly retryBackoff: number | null;
  /** native retry: the longest requeue delay, ms (Postbox extension) */
  readonly retryBackoffMax: number | null;
}

export interface AppliedPolicy {
  readonly name: string;
  readonly definition: Readonly<Record<string, FieldValue>>;
}

/** the longest requeue delay when x-retry-backoff is set and x-retry-backoff-max is not, ms */
export const DEFAULT_RETRY_BACKOFF_MAX_MS = 60_000;
/**
 * The longest TTL, queue expiry or retry delay, ms: RabbitMQ's MAX_EXPIRY_TIMER (2^32 − 1, about 49.7 days),
 * the same bound as a message's expiration. Larger values are refused with 406 (value_too_large).
 */
export const MAX_EXPIRY_MS = MAX_EXPIRATION_MS;

function num(v: FieldValue | undefined): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  return null;
}

function str(v: FieldValue | undefined): string | null {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return null;
}

function lower(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

function invalid(key: string, why: string): never {
  throw brokerError(Errors.PRECONDITION_FAILED, `invalid arg '${key}' for queue: ${why}`);
}

/** Refuse arguments RabbitMQ refuses (406 PRECONDITION_FAILED), before a queue is created. */
export function validateQueueArguments(args: FieldTable): void {
  const nonNegative = (key: string, max = Number.MAX_SAFE_INTEGER): void => {
    const v = args[key];
    if (v === undefined) return;
    const n = num(v);
    if (n === null || !Number.isInteger(n) || n < 0) invalid(key, `expected a non-negative integer, got ${String(v)}`);
    if (n > max) invalid(key, `value_too_large: ${n} is more than ${max} ms`);
  };
  nonNegative('x-message-ttl', MAX_EXPIRY_MS);
  nonNegative('x-max-length');
  nonNegative('x-max-length-bytes');
  nonNegative('x-delivery-limit');
  nonNegative('x-retry-backoff', MAX_EXPIRY_MS);
  nonNegative('x-retry-backoff-max', MAX_EXPIRY_MS);
  if (args['x-expires'] !== undefined) {
    const n = num(args['x-expires']);
    if (n === null || !Number.isInteger(n) || n <= 0) invalid('x-expires', `expected a positive integer, got ${String(args['x-expires'])}`);
    if (n > MAX_EXPIRY_MS) invalid('x-expires', `value_too_large: ${n} is more than ${MAX_EXPIRY_MS} ms`);
  }
  if (args['x-dead-letter-routing-key'] !== undefined && args['x-dead-letter-exchange'] === undefined) {
    // RabbitMQ checks the arguments alone (a dead-letter exchange from a policy does not count)
    invalid('x-dead-letter-routing-key', 'routing_key_but_no_dlx_defined');
  }
  if (args['x-max-priority'] !== undefined) {
    const n = num(args['x-max-priority']);
    if (n === null || !Number.isInteger(n) || n < 0 || n > 255) invalid('x-max-priority', `expected an integer 0..255, got ${String(args['x-max-priority'])}`);
  }
  if (args['x-overflow'] !== undefined) {
    const o = str(args['x-overflow']);
    if (o !== 'drop-head' && o !== 'reject-publish' && o !== 'reject-publish-dlx')
      invalid('x-overflow', `expected drop-head, reject-publish or reject-publish-dlx, got ${String(args['x-overflow'])}`);
  }
  if (args['x-queue-type'] !== undefined) {
    const t = str(args['x-queue-type']);
    if (t !== 'classic' && t !== 'quorum') invalid('x-queue-type', `unsupported queue type '${String(args['x-queue-type'])}' (supported: classic, quorum)`);
  }
  for (const key of ['x-dead-letter-exchange', 'x-dead-letter-routing-key']) {
    if (args[key] !== undefined && str(args[key]) === null) invalid(key, 'expected a string');
  }
  if (args['x-single-active-consumer'] !== undefined && typeof args['x-single-active-consumer'] !== 'boolean') {
    invalid('x-single-active-consumer', 'expected a boolean');
  }
}

/** the arguments ask for a quorum queue (`x-queue-type: quorum`) */
export function declaresQuorum(args: FieldTable): boolean {
  return str(args['x-queue-type']) === 'quorum';
}

export function resolveSettings(args: FieldTable, policy: AppliedPolicy | null): QueueSettings {
  const p = policy?.definition ?? {};
  const queueType = (str(args['x-queue-type']) ?? 'classic') as QueueType;
  const deliveryLimit = lower(num(args['x-delivery-limit']), num(p['delivery-limit']));
  const overflow = (str(args['x-overflow']) ?? str(p['overflow']) ?? 'drop-head') as Overflow;
  const backoff = num(args['x-retry-backoff']) ?? num(p['retry-backoff']);
  return {
    messageTtl: lower(num(args['x-message-ttl']), num(p['message-ttl'])),
    expires: lower(num(args['x-expires']), num(p['expires'])),
    deadLetterExchange: str(args['x-dead-letter-exchange']) ?? str(p['dead-letter-exchange']),
    deadLetterRoutingKey: str(args['x-dead-letter-routing-key']) ?? str(p['dead-letter-routing-key']),
    maxLength: lower(num(args['x-max-length']), num(p['max-length'])),
    maxLengthBytes: lower(num(args['x-max-length-bytes']), num(p['max-length-bytes'])),
    overflow,
    deliveryLimit,
    maxPriority: num(args['x-max-priority']) ?? 0,
    singleActiveConsumer: args['x-single-active-consumer'] === true,
    queueType,
    retryBackoff: backoff,
    retryBackoffMax: backoff === null ? null : (num(args['x-retry-backoff-max']) ?? num(p['retry-backoff-max']) ?? DEFAULT_RETRY_BACKOFF_MAX_MS),
  };
}
