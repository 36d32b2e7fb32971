/**
 * Reads fields out of the neutral property list (the AMQP 0-9-1 basic property encoding, see message.ts)
 * without decoding all of it. Flag bits, most significant first: 15 content-type, 14 content-encoding,
 * 13 headers, 12 delivery-mode, 11 priority, 10 correlation-id, 9 reply-to, 8 expiration, 7 message-id,
 * 6 timestamp, 5 type, 4 user-id, 3 app-id, 2 cluster-id; bit 0 = another flags word follows.
 */
import { syntaxError } from '../errors/codec-error.js';
import { checkTable, encodeTable, readTable, type FieldTable, type FieldValue } from './field-table.js';

export const PROP_CONTENT_TYPE = 1 << 15;
export const PROP_CONTENT_ENCODING = 1 << 14;
export const PROP_HEADERS = 1 << 13;

/** offset of the first property after the flags word(s) */
function fieldsStart(props: Buffer): number {
  let off = 0;
  while (off + 2 <= props.length) {
    const flags = props.readUInt16BE(off);
    off += 2;
    if ((flags & 1) === 0) break;
  }
  return off;
}

/** the headers table, or undefined when the message has none */
export function readHeaders(props: Buffer): FieldTable | undefined {
  if (props.length < 2) return undefined;
  const flags = props.readUInt16BE(0);
  if ((flags & PROP_HEADERS) === 0) return undefined;
  let off = fieldsStart(props);
  if (flags & PROP_CONTENT_TYPE) off += 1 + props[off]!;
  if (flags & PROP_CONTENT_ENCODING) off += 1 + props[off]!;
  return readTable(props, off)[0];
}

/** Wire type of each property, in flag order (bit 15 first): the layout of the neutral property list. */
const PROPERTY_TYPES = [
  'shortstr', // content-type
  'shortstr', // content-encoding
  'table', // headers
  'octet', // delivery-mode
  'octet', // priority
  'shortstr', // correlation-id
  'shortstr', // reply-to
  'shortstr', // expiration
  'shortstr', // message-id
  'timestamp', // timestamp
  'shortstr', // type
  'shortstr', // user-id
  'shortstr', // app-id
  'shortstr', // cluster-id
] as const;
const HEADERS_INDEX = 2;
const EXPIRATION_INDEX = 7;

function fieldEnd(props: Buffer, type: (typeof PROPERTY_TYPES)[number], at: number): number {
  switch (type) {
    case 'shortstr':
      return at + 1 + props[at]!;
    case 'table':
      return at + 4 + props.readUInt32BE(at);
    case 'octet':
      return at + 1;
    case 'timestamp':
      return at + 8;
  }
}

/**
 * A copy of a property list with its headers replaced (undefined removes them) and, optionally, its
 * expiration removed; every other property is copied byte for byte. Used by dead-lettering and by the
 * delivery-count header of redeliveries.
 */
export function editProperties(props: Buffer, headers: FieldTable | undefined, dropExpiration: boolean): Buffer {
  const flags = props.length >= 2 ? props.readUInt16BE(0) : 0;
  let at = fieldsStart(props);
  const parts: Buffer[] = [];
  let outFlags = 0;
  for (let i = 0; i < PROPERTY_TYPES.length; i++) {
    const bit = 1 << (15 - i);
    const present = (flags & bit) !== 0;
    const end = present ? fieldEnd(props, PROPERTY_TYPES[i]!, at) : at;
    if (i === HEADERS_INDEX) {
      if (headers !== undefined) {
        parts.push(encodeTable(headers));
        outFlags |= bit;
      }
    } else if (present && !(i === EXPIRATION_INDEX && dropExpiration)) {
      parts.push(props.subarray(at, end));
      outFlags |= bit;
    }
    at = end;
  }
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(outFlags, 0);
  return Buffer.concat([head, ...parts]);
}

/**
 * Throws AmqpCodecError 502 unless the whole property list would decode: every present field inside the
 * list, and the headers table valid by checkTable's rules. Allocates nothing. Used on records read back from
 * a queue that were stored before publish-time checking existed (see RECORD_FLAG_PROPERTIES_CHECKED).
 */
export function checkProperties(props: Buffer): void {
  if (props.length < 2) throw syntaxError('property list: flags truncated');
  const flags = props.readUInt16BE(0);
  let at = 2;
  // bit 0 says another flags word follows (the basic class never needs one): step over them
  for (let word = flags; (word & 1) !== 0;) {
    if (at + 2 > props.length) throw syntaxError('property list: flags truncated');
    word = props.readUInt16BE(at);
    at += 2;
  }
  for (let i = 0; i < PROPERTY_TYPES.length; i++) {
    if ((flags & (1 << (15 - i))) === 0) continue;
    const type = PROPERTY_TYPES[i]!;
    if (type === 'table') checkTable(props, at, props.length);
    else if (at >= props.length) throw syntaxError('property list: field truncated');
    at = fieldEnd(props, type, at);
    if (at > props.length) throw syntaxError('property list: field truncated');
  }
}

/** the expiration property (a string of milliseconds), or undefined */
export function readExpiration(props: Buffer): string | undefined {
  if (props.length < 2) return undefined;
  const flags = props.readUInt16BE(0);
  if ((flags & (1 << (15 - EXPIRATION_INDEX))) === 0) return undefined;
  let at = fieldsStart(props);
  for (let i = 0; i < EXPIRATION_INDEX; i++) if (flags & (1 << (15 - i))) at = fieldEnd(props, PROPERTY_TYPES[i]!, at);
  return props.toString('utf8', at + 1, at + 1 + props[at]!);
}

/** bytes a field-table value of type `tag` occupies at `at` (after its type byte); -1 when unknown */
function fieldValueEnd(buf: Buffer, tag: number, at: number): number {
  switch (tag) {
    case 0x74: // t boolean
    case 0x62: // b int8
    case 0x42: // B uint8
      return at + 1;
    case 0x73: // s int16
    case 0x75: // u uint16
      return at + 2;
    case 0x49: // I int32
    case 0x69: // i uint32
    case 0x66: // f float
      return at + 4;
    case 0x44: // D decimal
      return at + 5;
    case 0x6c: // l int64
    case 0x64: // d double
    case 0x54: // T timestamp
      return at + 8;
    case 0x56: // V void
      return at;
    case 0x53: // S longstr
    case 0x78: // x bytes
    case 0x41: // A array
    case 0x46: // F table
      return at + 4 + buf.readUInt32BE(at);
    default:
      return -1;
  }
}

/**
 * Where header `key`'s value starts in a property list (the index of its type tag), found without decoding
 * the table (no allocation); -1 when there are no headers or no such key.
 */
function headerValueAt(props: Buffer, key: string): number {
  if (props.length < 2) return -1;
  const flags = props.readUInt16BE(0);
  if ((flags & PROP_HEADERS) === 0) return -1;
  let at = fieldsStart(props);
  if (flags & PROP_CONTENT_TYPE) at += 1 + props[at]!;
  if (flags & PROP_CONTENT_ENCODING) at += 1 + props[at]!;
  if (at + 4 > props.length) return -1;
  const end = at + 4 + props.readUInt32BE(at);
  if (end > props.length) return -1;
  at += 4;
  const keyLength = Buffer.byteLength(key);
  while (at < end) {
    const n = props[at]!;
    const matches = n === keyLength && props.toString('latin1', at + 1, at + 1 + n) === key;
    at += 1 + n;
    if (matches) return at;
    const next = fieldValueEnd(props, props[at]!, at + 1);
    if (next < 0) return -1;
    at = next;
  }
  return -1;
}

/** The integer at `at` (a type tag), or null when the value there is not an integer (any AMQP width). */
function integerAt(props: Buffer, at: number): number | null {
  const valueAt = at + 1;
  switch (props[at]) {
    case 0x62:
      return props.readInt8(valueAt);
    case 0x42:
      return props[valueAt]!;
    case 0x73:
      return props.readInt16BE(valueAt);
    case 0x75:
      return props.readUInt16BE(valueAt);
    case 0x49:
      return props.readInt32BE(valueAt);
    case 0x69:
      return props.readUInt32BE(valueAt);
    case 0x6c:
      return Number(props.readBigInt64BE(valueAt));
    default:
      return null;
  }
}

/**
 * An integer header read straight from the property list, without decoding the table (no allocation).
 * Returns null when the header is absent or not an integer.
 */
export function readIntegerHeader(props: Buffer, key: string): number | null {
  const at = headerValueAt(props, key);
  return at < 0 ? null : integerAt(props, at);
}

/**
 * A header read as an integer the way the delayed-message plugin reads `x-delay`: an integer of any width
 * as is, a long string holding an integer (`"500"`, `"-5"`) parsed, a float, double or decimal truncated
 * toward zero. Null when absent or anything else (a string that is not an integer, a table, ...).
 */
export function readIntegerLikeHeader(props: Buffer, key: string): number | null {
  const at = headerValueAt(props, key);
  if (at < 0) return null;
  const integer = integerAt(props, at);
  if (integer !== null) return integer;
  const valueAt = at + 1;
  switch (props[at]) {
    case 0x53: {
      const text = props.toString('utf8', valueAt + 4, valueAt + 4 + props.readUInt32BE(valueAt));
      return /^[+-]?\d{1,15}$/.test(text) ? Number(text) : null;
    }
    case 0x66:
      return Math.trunc(props.readFloatBE(valueAt));
    case 0x64:
      return Math.trunc(props.readDoubleBE(valueAt));
    case 0x44:
      return Math.trunc(props.readUInt32BE(valueAt + 1) / 10 ** props[valueAt]!);
    default:
      return null;
  }
}

/**
 * The routing keys named by a `CC` or `BCC` header (sender-selected distribution): a string or an array of
 * strings; anything else names none.
 */
export function headerRoutingKeys(v: FieldValue | undefined): string[] {
  if (typeof v === 'string') return [v];
  if (Buffer.isBuffer(v)) return [v.toString('utf8')];
  if (Array.isArray(v)) return v.filter((x) => typeof x === 'string' || Buffer.isBuffer(x)).map((x) => x.toString());
  return [];
}
