/**
 * Reads fields out of the neutral property list (the AMQP 0-9-1 basic property encoding, see message.ts)
 * without decoding all of it. Flag bits, most significant first: 15 content-type, 14 content-encoding,
 * 13 headers, 12 delivery-mode, 11 priority, 10 correlation-id, 9 reply-to, 8 expiration, 7 message-id,
 * 6 timestamp, 5 type, 4 user-id, 3 app-id, 2 cluster-id; bit 0 = another flags word follows.
 */
import { readTable, type FieldTable } from './field-table.js';

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
