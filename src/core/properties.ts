/**
 * Reads fields out of the neutral property list (the AMQP 0-9-1 basic property encoding, see message.ts)
 * without decoding all of it. Flag bits, most significant first: 15 content-type, 14 content-encoding,
 * 13 headers, 12 delivery-mode, 11 priority, 10 correlation-id, 9 reply-to, 8 expiration, 7 message-id,
 * 6 timestamp, 5 type, 4 user-id, 3 app-id, 2 cluster-id; bit 0 = another flags word follows.
 */
import { encodeTable, readTable, type FieldTable } from './field-table.js';

export const PROP_CONTENT_TYPE = 1 << 15;
export const PROP_CONTENT_ENCODING = 1 << 14;
export const PROP_HEADERS = 1 << 13;
export const PROP_DELIVERY_MODE = 1 << 12;

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

/** delivery-mode (2 = persistent), or 0 when absent */
export function readDeliveryMode(props: Buffer): number {
  if (props.length < 2) return 0;
  const flags = props.readUInt16BE(0);
  if ((flags & PROP_DELIVERY_MODE) === 0) return 0;
  let off = fieldsStart(props);
  if (flags & PROP_CONTENT_TYPE) off += 1 + props[off]!;
  if (flags & PROP_CONTENT_ENCODING) off += 1 + props[off]!;
  if (flags & PROP_HEADERS) off += 4 + props.readUInt32BE(off);
  return props[off] ?? 0;
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

/** the expiration property (a string of milliseconds), or undefined */
export function readExpiration(props: Buffer): string | undefined {
  if (props.length < 2) return undefined;
  const flags = props.readUInt16BE(0);
  if ((flags & (1 << (15 - EXPIRATION_INDEX))) === 0) return undefined;
  let at = fieldsStart(props);
  for (let i = 0; i < EXPIRATION_INDEX; i++) if (flags & (1 << (15 - i))) at = fieldEnd(props, PROPERTY_TYPES[i]!, at);
  return props.toString('utf8', at + 1, at + 1 + props[at]!);
}
