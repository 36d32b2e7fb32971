/**
 * JSON forms of message parts, as RabbitMQ's management API writes them: message properties (snake_case
 * names), field tables (arguments, headers) and payloads (`string` or `base64` encoding).
 *
 * The neutral property list (see core/properties.ts) is the AMQP basic-class property encoding: a 16-bit
 * presence-flags word (bit 15 first), then each present property in flag order:
 *
 *   bit  property          wire type   JSON
 *   15   content_type      shortstr    string
 *   14   content_encoding  shortstr    string
 *   13   headers           table       object
 *   12   delivery_mode     octet       1 (transient) or 2 (persistent)
 *   11   priority          octet       0..255
 *   10   correlation_id    shortstr    string
 *    9   reply_to          shortstr    string
 *    8   expiration        shortstr    string of ms (a number is accepted)
 *    7   message_id        shortstr    string
 *    6   timestamp         u64 seconds number of seconds since the epoch
 *    5   type              shortstr    string
 *    4   user_id           shortstr    string
 *    3   app_id            shortstr    string
 *    2   cluster_id        shortstr    string
 *
 * shortstr is one length octet then up to 255 bytes of UTF-8.
 */
import { AmqpDecimal, encodeTable, MAX_FIELD_NESTING, readTable, type FieldTable, type FieldValue } from '../core/field-table.js';
import { Errors } from '../errors/errors.js';
import { apiError } from './router.js';

type WireType = 'shortstr' | 'table' | 'octet' | 'timestamp';

/** The property layout above, in flag order. */
const PROPERTIES: ReadonlyArray<readonly [string, WireType]> = [
  ['content_type', 'shortstr'],
  ['content_encoding', 'shortstr'],
  ['headers', 'table'],
  ['delivery_mode', 'octet'],
  ['priority', 'octet'],
  ['correlation_id', 'shortstr'],
  ['reply_to', 'shortstr'],
  ['expiration', 'shortstr'],
  ['message_id', 'shortstr'],
  ['timestamp', 'timestamp'],
  ['type', 'shortstr'],
  ['user_id', 'shortstr'],
  ['app_id', 'shortstr'],
  ['cluster_id', 'shortstr'],
];
const KNOWN = new Set(PROPERTIES.map(([name]) => name));
/** Longest shortstr, bytes. */
const MAX_SHORTSTR_BYTES = 255;
const TWO_POW_32 = 4294967296;

/** A field table as JSON: bigints as numbers (or strings when unsafe), bytes as UTF-8, timestamps as seconds. */
export function fieldTableToJson(table: FieldTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(table)) out[key] = fieldValueToJson(table[key]!);
  return out;
}

function fieldValueToJson(v: FieldValue): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Date) return Math.floor(v.getTime() / 1000);
  if (v instanceof AmqpDecimal) return v.value / 10 ** v.scale;
  if (Array.isArray(v)) return v.map(fieldValueToJson);
  if (v !== null && typeof v === 'object') return fieldTableToJson(v);
  return v;
}

/** A JSON value as a field table (arguments, headers); 400 naming `what` when it is not an object. */
export function jsonToFieldTable(value: unknown, what: string, depth = 1): FieldTable {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw apiError(Errors.INVALID_ARGUMENT, `${what} must be a JSON object`);
  if (depth > MAX_FIELD_NESTING) throw apiError(Errors.INVALID_ARGUMENT, `${what}: tables and arrays nested deeper than ${MAX_FIELD_NESTING}`);
  const out: FieldTable = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (Buffer.byteLength(key) > MAX_SHORTSTR_BYTES) throw apiError(Errors.INVALID_ARGUMENT, `${what}: key longer than ${MAX_SHORTSTR_BYTES} bytes`);
    out[key] = jsonToFieldValue(v, `${what}.${key}`, depth);
  }
  return out;
}

function jsonToFieldValue(v: unknown, what: string, depth: number): FieldValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw apiError(Errors.INVALID_ARGUMENT, `${what} is not a finite number`);
    return v;
  }
  if (Array.isArray(v)) {
    if (depth + 1 > MAX_FIELD_NESTING) throw apiError(Errors.INVALID_ARGUMENT, `${what}: tables and arrays nested deeper than ${MAX_FIELD_NESTING}`);
    return v.map((x, i) => jsonToFieldValue(x, `${what}[${i}]`, depth + 1));
  }
  if (typeof v === 'object') return jsonToFieldTable(v, what, depth + 1);
  throw apiError(Errors.INVALID_ARGUMENT, `${what} has a value JSON cannot carry`);
}

/** Encode RabbitMQ-style JSON properties into the neutral property list; 400 on anything invalid. */
export function propertiesFromJson(value: unknown): Buffer {
  if (value === undefined || value === null) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) throw apiError(Errors.INVALID_ARGUMENT, 'properties must be a JSON object');
  const props = value as Record<string, unknown>;
  for (const key of Object.keys(props)) if (!KNOWN.has(key)) throw apiError(Errors.INVALID_ARGUMENT, `unknown message property '${key}'`);
  const parts: Buffer[] = [];
  let flags = 0;
  for (let i = 0; i < PROPERTIES.length; i++) {
    const [name, type] = PROPERTIES[i]!;
    const v = props[name];
    if (v === undefined || v === null) continue;
    flags |= 1 << (15 - i);
    parts.push(encodeProperty(name, type, v));
  }
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(flags, 0);
  return Buffer.concat([head, ...parts]);
}

function encodeProperty(name: string, type: WireType, v: unknown): Buffer {
  switch (type) {
    case 'shortstr': {
      const text = name === 'expiration' && typeof v === 'number' ? String(v) : v;
      if (typeof text !== 'string') throw apiError(Errors.INVALID_ARGUMENT, `property '${name}' must be a string`);
      const bytes = Buffer.from(text, 'utf8');
      if (bytes.length > MAX_SHORTSTR_BYTES) throw apiError(Errors.INVALID_ARGUMENT, `property '${name}' is longer than ${MAX_SHORTSTR_BYTES} bytes`);
      return Buffer.concat([Buffer.from([bytes.length]), bytes]);
    }
    case 'octet': {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255)
        throw apiError(Errors.INVALID_ARGUMENT, `property '${name}' must be an integer 0..255`);
      return Buffer.from([v]);
    }
    case 'timestamp': {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
        throw apiError(Errors.INVALID_ARGUMENT, `property '${name}' must be a non-negative integer (seconds since the epoch)`);
      const out = Buffer.allocUnsafe(8);
      out.writeUInt32BE(Math.floor(v / TWO_POW_32), 0);
      out.writeUInt32BE(v % TWO_POW_32, 4);
      return out;
    }
    case 'table':
      return encodeTable(jsonToFieldTable(v, `property '${name}'`));
  }
}

/** Decode the neutral property list into RabbitMQ-style JSON properties (absent ones left out). */
export function propertiesToJson(props: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (props.length < 2) return out;
  const flags = props.readUInt16BE(0);
  let at = 2;
  // bit 0 says another flags word follows (never needed by the basic class's 14 properties): skip them
  while ((props.readUInt16BE(at - 2) & 1) !== 0 && at + 2 <= props.length) at += 2;
  for (let i = 0; i < PROPERTIES.length; i++) {
    if ((flags & (1 << (15 - i))) === 0) continue;
    const [name, type] = PROPERTIES[i]!;
    switch (type) {
      case 'shortstr': {
        const n = props[at]!;
        out[name] = props.toString('utf8', at + 1, at + 1 + n);
        at += 1 + n;
        break;
      }
      case 'octet':
        out[name] = props[at]!;
        at += 1;
        break;
      case 'timestamp':
        out[name] = props.readUInt32BE(at) * TWO_POW_32 + props.readUInt32BE(at + 4);
        at += 8;
        break;
      case 'table': {
        const [table, after] = readTable(props, at);
        out[name] = fieldTableToJson(table);
        at = after;
        break;
      }
    }
  }
  return out;
}

export type PayloadEncoding = 'auto' | 'base64';

/**
 * A payload as the get route returns it: `auto` gives a string when the bytes are valid UTF-8 and base64
 * otherwise; `base64` always base64. `truncate` (bytes) cuts the payload before it is encoded.
 */
export function payloadToJson(body: Buffer, encoding: PayloadEncoding, truncate: number | null): { payload: string; payload_encoding: 'string' | 'base64' } {
  const bytes = truncate !== null && body.length > truncate ? body.subarray(0, truncate) : body;
  if (encoding === 'auto') {
    const text = bytes.toString('utf8');
    if (Buffer.byteLength(text) === bytes.length && Buffer.from(text, 'utf8').equals(bytes)) return { payload: text, payload_encoding: 'string' };
  }
  return { payload: bytes.toString('base64'), payload_encoding: 'base64' };
}

/** The body of a publish: `payload` in `payload_encoding` ('string' or 'base64'); 400 otherwise. */
export function payloadFromJson(payload: unknown, encoding: unknown): Buffer {
  if (typeof payload !== 'string') throw apiError(Errors.INVALID_ARGUMENT, "'payload' must be a string");
  if (encoding === 'string') return Buffer.from(payload, 'utf8');
  if (encoding === 'base64') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload) || payload.length % 4 === 1) throw apiError(Errors.INVALID_ARGUMENT, "'payload' is not valid base64");
    return Buffer.from(payload, 'base64');
  }
  throw apiError(Errors.INVALID_ARGUMENT, "'payload_encoding' must be 'string' or 'base64'");
}
