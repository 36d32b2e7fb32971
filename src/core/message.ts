/**
 * The one internal message shape every protocol maps to and from, and its record encoding in a queue log.
 *
 * Properties travel as one opaque, already-encoded property list: the AMQP 0-9-1 basic-class property
 * encoding (16-bit presence flags, then the present fields in spec order). Postbox uses it as its neutral
 * property format because it is compact, complete for every property RabbitMQ clients use, and lets the
 * AMQP adapter deliver without re-encoding. Other protocols translate to and from it at their edge.
 *
 * Record payload layout (big-endian), one per queued message, version 2:
 *
 *   offset    size  field
 *   0         1     record version (= 2)
 *   1         1     flags: bit 0 = persistent (delivery-mode 2); bit 1 = property list checked at publish
 *                   (every record written since publish-time checking; one without it, from an older data
 *                   directory, is checked when read back, and an undecodable one is never delivered)
 *   2         1     priority (0..255; 0 when the message has none)
 *   3         8     published at, ms since the epoch (f64): TTLs are measured from it, also after restarts
 *   11        1     E = exchange name length
 *   12        E     exchange name (UTF-8)
 *   12+E      1     R = routing key length
 *   13+E      R     routing key (UTF-8)
 *   13+E+R    4     P = property list length
 *   17+E+R    P     property list (see above)
 *   17+E+R+P  ...   body (to the end of the payload)
 *
 * Version 1 (the first development format: no priority, no time) is still read: test/fixtures has one.
 */
import type { FieldTable } from './field-table.js';
import { AmqpCodecError } from '../errors/codec-error.js';
import { checkProperties, readHeaders } from './properties.js';

export const RECORD_VERSION = 2;
const RECORD_VERSION_1 = 1;
export const RECORD_FLAG_PERSISTENT = 1;
/** set on every record written by a broker that checks the property list at publish (see the drawing) */
export const RECORD_FLAG_PROPERTIES_CHECKED = 2;

export class Message {
  exchange: string;
  routingKey: string;
  properties: Buffer;
  body: Buffer;
  persistent: boolean;
  /** 0..255; 0 when the message has no priority */
  priority = 0;
  /** when it was first published, ms since the epoch */
  publishedAt: number;
  /** the per-message TTL from the expiration property, ms; -1 when none */
  expirationMs = -1;
  /** encoded record header (everything before the property list), built once per message however many queues */
  private header: Buffer | null = null;
  private decodedHeaders: FieldTable | undefined | null = null;
  /** why the property list cannot be decoded (a record stored before publish-time checking); null when it can */
  undecodable: string | null = null;

  constructor(exchange: string, routingKey: string, properties: Buffer, body: Buffer, persistent: boolean, publishedAt = Date.now()) {
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.properties = properties;
    this.body = body;
    this.persistent = persistent;
    this.publishedAt = publishedAt;
  }

  recordHeader(): Buffer {
    if (this.header !== null) return this.header;
    const exLen = Buffer.byteLength(this.exchange);
    const rkLen = Buffer.byteLength(this.routingKey);
    const h = Buffer.allocUnsafe(17 + exLen + rkLen);
    h[0] = RECORD_VERSION;
    h[1] = (this.persistent ? RECORD_FLAG_PERSISTENT : 0) | RECORD_FLAG_PROPERTIES_CHECKED;
    h[2] = this.priority;
    h.writeDoubleBE(this.publishedAt, 3);
    h[11] = exLen;
    h.write(this.exchange, 12, 'utf8');
    h[12 + exLen] = rkLen;
    h.write(this.routingKey, 13 + exLen, 'utf8');
    h.writeUInt32BE(this.properties.length, 13 + exLen + rkLen);
    this.header = h;
    return h;
  }

  /** replace the property list (before the message is stored: the record header is rebuilt) */
  setProperties(properties: Buffer): void {
    this.properties = properties;
    this.header = null;
    this.decodedHeaders = null;
  }

  /** decoded headers table (lazily, once): the headers exchange and dead-lettering read it */
  headers(): FieldTable | undefined {
    if (this.decodedHeaders === null) this.decodedHeaders = readHeaders(this.properties);
    return this.decodedHeaders;
  }
}

/** Whether this Postbox reads the record format version of `payload` (a newer Postbox may have written another). */
export function isKnownRecordVersion(payload: Buffer): boolean {
  return payload.length > 0 && (payload[0] === RECORD_VERSION || payload[0] === RECORD_VERSION_1);
}

/** The record format versions this Postbox reads, for error messages. */
export const KNOWN_RECORD_VERSIONS = `${RECORD_VERSION_1} and ${RECORD_VERSION}`;

/** Decode a record payload back to a Message (subarrays of the payload; no copies). */
export function decodeRecord(payload: Buffer): Message {
  const version = payload[0];
  const v2 = version === RECORD_VERSION;
  if (payload.length < 8 || (!v2 && version !== RECORD_VERSION_1)) throw new Error(`unknown message record version ${version}`);
  const persistent = (payload[1]! & RECORD_FLAG_PERSISTENT) !== 0;
  let at = v2 ? 11 : 2;
  const exLen = payload[at]!;
  const exchange = payload.toString('utf8', at + 1, at + 1 + exLen);
  at += 1 + exLen;
  const rkLen = payload[at]!;
  const routingKey = payload.toString('utf8', at + 1, at + 1 + rkLen);
  at += 1 + rkLen;
  const propLen = payload.readUInt32BE(at);
  const properties = payload.subarray(at + 4, at + 4 + propLen);
  const body = payload.subarray(at + 4 + propLen);
  const message = new Message(exchange, routingKey, properties, body, persistent, v2 ? payload.readDoubleBE(3) : 0);
  if (v2) message.priority = payload[2]!;
  if ((payload[1]! & RECORD_FLAG_PROPERTIES_CHECKED) === 0) {
    try {
      checkProperties(properties);
    } catch (err) {
      if (!(err instanceof AmqpCodecError)) throw err;
      message.undecodable = err.message;
    }
  }
  return message;
}

export function recordIsPersistent(payload: Buffer): boolean {
  return payload.length > 1 && (payload[1]! & RECORD_FLAG_PERSISTENT) !== 0;
}

/** The largest expiration property, ms: RabbitMQ's MAX_EXPIRY_TIMER (2^32 − 1). */
export const MAX_EXPIRATION_MS = 4_294_967_295;

/** Parse an AMQP expiration property (a non-negative integer string, ms, at most MAX_EXPIRATION_MS); throws on anything else. */
export function parseExpiration(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new Error(`invalid expiration '${text}'`);
  const ms = Number(text);
  if (ms > MAX_EXPIRATION_MS) throw new Error(`invalid expiration '${text}': value_too_large`);
  return ms;
}
