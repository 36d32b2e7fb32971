/**
 * Bytes of the project's AMQP 0-9-1 client (./client.ts): whole frames built with the generated codecs
 * (../../protocol/amqp/generated/spec.ts), arbitrary frames for malformed input, SASL responses, and the
 * two readers a load generator needs per message without decoding a whole method.
 *
 * A frame (AMQP 0-9-1 §2.3.5, drawn in full in src/protocol/amqp/frame-parser.ts):
 *
 *   | u8 type | u16 channel | u32 size | payload (size bytes) | u8 0xCE |
 *
 * A publish is three kinds of frame back to back, all on one channel:
 *
 *   method: | 01 | channel | size | basic.publish (encodeMethodFrame)                          | CE |
 *   header: | 02 | channel | size | u16 class 60 | u16 weight 0 | u64 body size | properties | CE |
 *   body:   | 03 | channel | size | at most frame-max - 8 body bytes                          | CE |   (repeated)
 */
import { encodeTable, type FieldTable } from '../../core/field-table.js';
import { FRAME_HEADER_SIZE, FRAME_OVERHEAD } from '../../protocol/amqp/frame-parser.js';
import {
  FRAME_BODY,
  FRAME_END,
  M_BASIC_PUBLISH,
  encodeBasicHeaderFrame,
  encodeMethodFrame,
  methodFrameSize,
  writeMethodFrame,
  type AmqpMethod,
  type BasicProperties,
} from '../../protocol/amqp/generated/spec.js';

export { PROTOCOL_HEADER } from '../../protocol/amqp/frame-parser.js';

/** Byte offset of the u64 body size in a content header payload, after the u16 class and u16 weight. */
const HEADER_BODY_SIZE_OFFSET = 4;
/** Byte offset of the first argument in a method payload, after the u16 class id and u16 method id. */
const METHOD_ARGUMENTS_OFFSET = 4;
/** 2^32, to put a u64 together from two u32 halves as a number (tags and sizes stay below 2^53). */
const TWO_TO_THE_32 = 0x100000000;

/** A frame with an arbitrary type, channel, size field and frame-end octet (for malformed input). */
export function rawFrame(type: number, channel: number, payload: Buffer, end = FRAME_END, size = payload.length): Buffer {
  const frame = Buffer.alloc(FRAME_OVERHEAD + payload.length);
  frame[0] = type;
  frame.writeUInt16BE(channel, 1);
  frame.writeUInt32BE(size, 3);
  payload.copy(frame, FRAME_HEADER_SIZE);
  frame[FRAME_HEADER_SIZE + payload.length] = end;
  return frame;
}

/** The payload of a method frame (class id, method id, arguments), without the frame around it. */
export function methodPayload(m: AmqpMethod): Buffer {
  const frame = encodeMethodFrame(0, m);
  return frame.subarray(FRAME_HEADER_SIZE, frame.length - 1);
}

/** The PLAIN SASL response: NUL user NUL password. */
export function plainResponse(username: string, password: string): Buffer {
  return Buffer.from(`\0${username}\0${password}`, 'utf8');
}

/** The AMQPLAIN response: a field table without its u32 length prefix. */
export function amqplainResponse(username: string, password: string): Buffer {
  const table: FieldTable = { LOGIN: username, PASSWORD: password };
  return encodeTable(table).subarray(4);
}

export interface EncodedPublish {
  /** the method, content header and body frames, ready to be written any number of times */
  readonly bytes: Buffer;
  /** where the first body byte is in `bytes` (so a caller can stamp each copy); bytes.length for an empty body */
  readonly bodyOffset: number;
}

/**
 * The frames of one basic.publish of `body` (method, content header, body frames split at `frameMax`; 0 means
 * no limit) in one buffer.
 */
export function encodePublish(
  channel: number,
  exchange: string,
  routingKey: string,
  body: Buffer,
  properties: BasicProperties,
  frameMax: number,
): EncodedPublish {
  const method: AmqpMethod = { id: M_BASIC_PUBLISH, args: { ticket: 0, exchange, routingKey, mandatory: false, immediate: false } };
  const header = encodeBasicHeaderFrame(channel, body.length, properties);
  const maxPiece = frameMax === 0 ? Math.max(body.length, 1) : frameMax - FRAME_OVERHEAD;
  if (maxPiece <= 0) throw new RangeError(`frame-max ${frameMax} leaves no room for a body`);
  const pieces = Math.ceil(body.length / maxPiece);
  const bytes = Buffer.allocUnsafe(methodFrameSize(method) + header.length + pieces * FRAME_OVERHEAD + body.length);
  let o = writeMethodFrame(bytes, 0, channel, method);
  o += header.copy(bytes, o);
  const bodyOffset = body.length === 0 ? bytes.length : o + FRAME_HEADER_SIZE;
  for (let from = 0; from < body.length; from += maxPiece) {
    const to = Math.min(from + maxPiece, body.length);
    bytes[o] = FRAME_BODY;
    bytes.writeUInt16BE(channel, o + 1);
    bytes.writeUInt32BE(to - from, o + 3);
    o += FRAME_HEADER_SIZE;
    o += body.copy(bytes, o, from, to);
    bytes[o++] = FRAME_END;
  }
  if (o !== bytes.length) throw new Error(`internal: a publish wrote ${o} bytes, sized ${bytes.length}`);
  return { bytes, bodyOffset };
}

/**
 * A u64 at `offset` as a number (tags and sizes stay below 2^53). The common case, a high word of 0, reads
 * the low word alone and returns it as it is: a small integer V8 keeps unboxed, where high * 2^32 + low
 * would be a heap number allocated per call (a load generator calls this per message).
 */
function readUint64(buf: Buffer, offset: number): number {
  if ((buf[offset]! | buf[offset + 1]! | buf[offset + 2]! | buf[offset + 3]!) === 0) return buf.readUInt32BE(offset + 4);
  return buf.readUInt32BE(offset) * TWO_TO_THE_32 + buf.readUInt32BE(offset + 4);
}

/** The body size a content header payload announces (see the drawing above). */
export function contentBodySize(headerPayload: Buffer): number {
  return readUint64(headerPayload, HEADER_BODY_SIZE_OFFSET);
}

/**
 * The delivery tag of a basic.deliver payload without decoding the rest (a load generator reads one per
 * message): the arguments open with the consumer-tag shortstr (u8 length + bytes), then the u64 delivery
 * tag. frames.test.ts checks this against the generated decodeMethod.
 */
export function deliverTagOf(payload: Buffer): number {
  return readUint64(payload, METHOD_ARGUMENTS_OFFSET + 1 + payload[METHOD_ARGUMENTS_OFFSET]!);
}
