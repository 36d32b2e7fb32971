/**
 * Dead-lettering as RabbitMQ does it: the message is republished to the queue's dead-letter exchange with
 * the dead-letter routing key (or its own routing key), its expiration removed, and an `x-death` header
 * that keeps one entry per (queue, reason), most recent first, with a count:
 *
 *   { count (long), reason, queue, time, exchange, routing-keys, original-expiration? }
 *
 * plus `x-first-death-{reason,queue,exchange}` (set once) and `x-last-death-{reason,queue,exchange}`.
 * `routing-keys` are the message's routing key and its `CC` keys (`BCC` is removed before a message is
 * stored, so it is not there). With a dead-letter routing key the `CC` header is removed, so the copy is
 * routed by that key alone; without one the copy keeps it and is routed by all its keys, as in RabbitMQ.
 */
import type { FieldTable, FieldValue } from '../field-table.js';
import { Message } from '../message.js';
import { editProperties, headerRoutingKeys, readExpiration } from '../properties.js';

export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

export interface DeadLettered {
  readonly message: Message;
  /** the x-death entries after this death, most recent first */
  readonly deaths: readonly FieldTable[];
}

function isTable(v: FieldValue | undefined): v is FieldTable {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date) && !('scale' in (v as object));
}

function text(v: FieldValue | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}

export function deadLetter(message: Message, queueName: string, reason: DeathReason, exchange: string, routingKey: string | null, now: Date): DeadLettered {
  const headers: FieldTable = { ...(message.headers() ?? {}) };
  const previous = Array.isArray(headers['x-death']) ? (headers['x-death'] as FieldValue[]).filter(isTable) : [];
  const index = previous.findIndex((d) => text(d.queue) === queueName && text(d.reason) === reason);
  let entry: FieldTable;
  const rest = previous.slice();
  if (index >= 0) {
    const old = rest.splice(index, 1)[0]!;
    const count = typeof old.count === 'bigint' ? old.count : typeof old.count === 'number' ? BigInt(Math.trunc(old.count)) : 0n;
    entry = { ...old, count: count + 1n };
  } else {
    const routingKeys = [message.routingKey, ...headerRoutingKeys(headers.CC)];
    // a bigint encodes as 'l' (long), the type RabbitMQ gives the count
    entry = { count: 1n, reason, queue: queueName, time: now, exchange: message.exchange, 'routing-keys': routingKeys };
    const expiration = readExpiration(message.properties);
    if (expiration !== undefined) entry['original-expiration'] = expiration;
  }
  const deaths = [entry, ...rest];
  headers['x-death'] = deaths;
  if (headers['x-first-death-reason'] === undefined) {
    headers['x-first-death-reason'] = reason;
    headers['x-first-death-queue'] = queueName;
    headers['x-first-death-exchange'] = message.exchange;
  }
  headers['x-last-death-reason'] = reason;
  headers['x-last-death-queue'] = queueName;
  headers['x-last-death-exchange'] = message.exchange;
  if (routingKey !== null) delete headers.CC;
  const properties = editProperties(message.properties, headers, true);
  const dead = new Message(exchange, routingKey ?? message.routingKey, properties, message.body, message.persistent);
  dead.priority = message.priority;
  return { message: dead, deaths };
}

/**
 * RabbitMQ's cycle rule: a dead-lettered message that would come back to a queue it already died in is
 * dropped for that queue when the cycle is "fully automatic": no death from the most recent one back to
 * (and including) the latest death in that queue was a rejection. A rejection outside that span (an
 * older one, before the cycle) does not save a TTL loop.
 */
export function isDeathCycle(deaths: readonly FieldTable[], targetQueue: string): boolean {
  for (const d of deaths) {
    if (text(d.reason) === 'rejected') return false;
    if (text(d.queue) === targetQueue) return true;
  }
  return false;
}
