/**
 * Dead-lettering as RabbitMQ does it: the message is republished to the queue's dead-letter exchange with
 * the dead-letter routing key (or its own routing key), its expiration removed, and an `x-death` header
 * that keeps one entry per (queue, reason), most recent first, with a count:
 *
 *   { count, reason, queue, time, exchange, routing-keys, original-expiration? }
 *
 * plus `x-first-death-{reason,queue,exchange}` (set once) and `x-last-death-{reason,queue,exchange}`.
 */
import type { FieldTable, FieldValue } from '../field-table.js';
import { Message } from '../message.js';
import { editProperties, readExpiration } from '../properties.js';

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
    const count = typeof old.count === 'number' ? old.count : typeof old.count === 'bigint' ? Number(old.count) : 0;
    entry = { ...old, count: count + 1 };
  } else {
    entry = { count: 1, reason, queue: queueName, time: now, exchange: message.exchange, 'routing-keys': [message.routingKey] };
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
  const properties = editProperties(message.properties, headers, true);
  const dead = new Message(exchange, routingKey ?? message.routingKey, properties, message.body, message.persistent);
  dead.priority = message.priority;
  return { message: dead, deaths };
}

/**
 * RabbitMQ's cycle rule: a dead-lettered message that would come back to a queue it already died in is
 * dropped for that queue, unless some death in its history was a rejection (a consumer decided).
 */
export function isDeathCycle(deaths: readonly FieldTable[], targetQueue: string): boolean {
  if (!deaths.some((d) => text(d.queue) === targetQueue)) return false;
  return !deaths.some((d) => text(d.reason) === 'rejected');
}
