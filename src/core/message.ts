/**
 * The one internal message shape every protocol maps to and from, and its record encoding in a queue log.
 *
 * Properties travel as one opaque, already-encoded property list: the AMQP 0-9-1 basic-class property
 * encoding (16-bit presence flags, then the present fields in spec order). Postbox uses it as its neutral
 * property format because it is compact, complete for every property RabbitMQ clients use, and lets the
 * AMQP adapter deliver without re-encoding. Other protocols translate to and from it at their edge.
 *
 * Record payload layout (big-endian), one per queued message:
 *
 *   offset   size  field
 *   0        1     record version (= 1)
 *   1        1     flags: bit 0 = persistent (delivery-mode 2)
 *   2        1     E = exchange name length
 *   3        E     exchange name (UTF-8)
 *   3+E      1     R = routing key length
 *   4+E      R     routing key (UTF-8)
 *   4+E+R    4     P = property list length
 *   8+E+R    P     property list (see above)
 *   8+E+R+P  ...   body (to the end of the payload)
 */
import type { FieldTable } from './field-table.js';
import { readHeaders } from './properties.js';

export const RECORD_VERSION = 1;
export const RECORD_FLAG_PERSISTENT = 1;

export class Message {
  exchange: string;
  routingKey: string;
  properties: Buffer;
  body: Buffer;
  persistent: boolean;
  /** encoded record header (everything before the property list), built once per message however many queues */
  private header: Buffer | null = null;
  private decodedHeaders: FieldTable | undefined | null = null;

  constructor(exchange: string, routingKey: string, properties: Buffer, body: Buffer, persistent: boolean) {
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.properties = properties;
    this.body = body;
    this.persistent = persistent;
  }

  recordHeader(): Buffer {
    if (this.header !== null) return this.header;
    const exLen = Buffer.byteLength(this.exchange);
    const rkLen = Buffer.byteLength(this.routingKey);
    const h = Buffer.allocUnsafe(8 + exLen + rkLen);
    h[0] = RECORD_VERSION;
    h[1] = this.persistent ? RECORD_FLAG_PERSISTENT : 0;
    h[2] = exLen;
    h.write(this.exchange, 3, 'utf8');
    h[3 + exLen] = rkLen;
    h.write(this.routingKey, 4 + exLen, 'utf8');
    h.writeUInt32BE(this.properties.length, 4 + exLen + rkLen);
    this.header = h;
    return h;
  }

  /** decoded headers table (lazily, once): the headers exchange and dead-lettering read it */
  headers(): FieldTable | undefined {
    if (this.decodedHeaders === null) this.decodedHeaders = readHeaders(this.properties);
    return this.decodedHeaders;
  }

  recordLength(): number {
    return this.recordHeader().length + this.properties.length + this.body.length;
  }
}

/** Decode a record payload back to a Message (subarrays of the payload; no copies). */
export function decodeRecord(payload: Buffer): Message {
  if (payload.length < 8 || payload[0] !== RECORD_VERSION) throw new Error(`unknown message record version ${payload[0]}`);
  const persistent = (payload[1]! & RECORD_FLAG_PERSISTENT) !== 0;
  const exLen = payload[2]!;
  const exchange = payload.toString('utf8', 3, 3 + exLen);
  const rkLen = payload[3 + exLen]!;
  const routingKey = payload.toString('utf8', 4 + exLen, 4 + exLen + rkLen);
  const propStart = 8 + exLen + rkLen;
  const propLen = payload.readUInt32BE(4 + exLen + rkLen);
  const properties = payload.subarray(propStart, propStart + propLen);
  const body = payload.subarray(propStart + propLen);
  return new Message(exchange, routingKey, properties, body, persistent);
}

export function recordIsPersistent(payload: Buffer): boolean {
  return payload.length > 1 && (payload[1]! & RECORD_FLAG_PERSISTENT) !== 0;
}
