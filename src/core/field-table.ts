/**
 * AMQP 0-9-1 field tables and field arrays, with the type tags RabbitMQ actually uses (the errata table,
 * not the letters printed in the 0-9-1 grammar).
 *
 * Table layout (all integers big-endian):
 *
 *   +----------------+-------------------------------------------------------------+
 *   | u32 byte count | entry* (exactly `byte count` bytes)                         |
 *   +----------------+-------------------------------------------------------------+
 *   entry: | u8 key length | key (UTF-8, 0..255 bytes) | value |
 *   value: | u8 type tag   | payload (depends on the tag, below)                      |
 *
 * Array layout: | u32 byte count | value* |   (values as above, no keys)
 *
 *   tag  payload                              decoded as          encoded from
 *   't'  u8 (0 = false)                       boolean             boolean
 *   'b'  i8                                   number              -
 *   'B'  u8                                   number              -
 *   's'  i16                                  number              -
 *   'u'  u16                                  number              -
 *   'I'  i32                                  number              integer in int32 range
 *   'i'  u32                                  number              -
 *   'l'  i64                                  number | bigint     other safe integer, bigint
 *   'f'  f32                                  number              -
 *   'd'  f64                                  number              non-integer or unsafe number
 *   'D'  u8 scale, u32 unscaled value         AmqpDecimal         AmqpDecimal
 *   'S'  u32 length, bytes                    string (UTF-8)      string
 *   'x'  u32 length, bytes                    Buffer (a copy)     Buffer / Uint8Array
 *   'A'  array (above)                        FieldValue[]        array
 *   'T'  u64 seconds since the epoch          Date                Date
 *   'F'  table (above)                        FieldTable          plain object
 *   'V'  nothing                              null                null / undefined (array element)
 *
 * Decoding is strict: anything that runs past its enclosing length, an unknown tag, or nesting deeper than
 * MAX_FIELD_NESTING throws AmqpCodecError 502 SYNTAX_ERROR. checkTable applies the same rules without
 * decoding (no allocation): the publish path uses it so that nothing undecodable is ever stored. Encoding a value that cannot be represented
 * (a key over 255 bytes, a bigint outside int64, a cycle, a function) throws RangeError or TypeError: that
 * is a bug in the caller, not bad input from a peer.
 */
import { syntaxError } from '../errors/codec-error.js';

export type FieldValue = boolean | number | bigint | string | Buffer | Date | AmqpDecimal | null | FieldValue[] | FieldTable;

export interface FieldTable {
  [key: string]: FieldValue;
}

/** A decimal value: `value / 10 ** scale`, with an unsigned 32-bit unscaled value (as RabbitMQ sends it). */
export class AmqpDecimal {
  constructor(
    public scale: number,
    public value: number,
  ) {}
}

/**
 * Deepest nesting of tables and arrays accepted in either direction (the outermost table is level 1), so
 * 64 levels: far beyond anything a real application sends (RabbitMQ's own headers, x-death included, use 3),
 * and it bounds the recursion of every decoder, ours and the clients', on hostile input. A message whose
 * headers nest deeper is refused at publish (502 SYNTAX_ERROR); RabbitMQ sets no limit.
 */
export const MAX_FIELD_NESTING = 64;

/** Longest table key: keys are shortstr, so their UTF-8 length must fit one octet. */
const MAX_KEY_BYTES = 255;
const TWO_POW_32 = 4294967296;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const TAG_BOOLEAN = 0x74; // 't'
const TAG_INT8 = 0x62; // 'b'
const TAG_UINT8 = 0x42; // 'B'
const TAG_INT16 = 0x73; // 's'
const TAG_UINT16 = 0x75; // 'u'
const TAG_INT32 = 0x49; // 'I'
const TAG_UINT32 = 0x69; // 'i'
const TAG_INT64 = 0x6c; // 'l'
const TAG_FLOAT = 0x66; // 'f'
const TAG_DOUBLE = 0x64; // 'd'
const TAG_DECIMAL = 0x44; // 'D'
const TAG_LONGSTR = 0x53; // 'S'
const TAG_BYTES = 0x78; // 'x'
const TAG_ARRAY = 0x41; // 'A'
const TAG_TIMESTAMP = 0x54; // 'T'
const TAG_TABLE = 0x46; // 'F'
const TAG_VOID = 0x56; // 'V'

// ---------------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------------

/** Read position shared by the recursive decoders of one call; one allocation per top-level read. */
class Cursor {
  pos: number;
  readonly buf: Buffer;

  constructor(buf: Buffer, pos: number) {
    this.buf = buf;
    this.pos = pos;
  }
}

/**
 * The offset just past the length-prefixed block (table, array, longstr) starting at `offset`, checked
 * against `end`.
 */
function blockEnd(buf: Buffer, offset: number, end: number, what: string): number {
  if (offset < 0 || offset + 4 > end) throw syntaxError(`${what}: length prefix truncated`);
  const after = offset + 4 + buf.readUInt32BE(offset);
  if (after > end) throw syntaxError(`${what}: length runs past the end of the enclosing data`);
  return after;
}

/**
 * Reads the table whose u32 length prefix is at `offset`. Returns the table and the offset after it.
 * `end` bounds the read (defaults to the end of `buf`).
 */
export function readTable(buf: Buffer, offset: number, end: number = buf.length): [FieldTable, number] {
  const limit = end < buf.length ? end : buf.length;
  const after = blockEnd(buf, offset, limit, 'field table');
  return [readTableEntries(new Cursor(buf, offset + 4), after, 1), after];
}

/**
 * Like readTable, but returns only the table: the caller already knows the table ends at
 * `offset + 4 + buf.readUInt32BE(offset)`. Used by the generated method decoders.
 */
export function decodeTableAt(buf: Buffer, offset: number, end: number): FieldTable {
  const limit = end < buf.length ? end : buf.length;
  const after = blockEnd(buf, offset, limit, 'field table');
  return readTableEntries(new Cursor(buf, offset + 4), after, 1);
}

/** Reads the field array whose u32 length prefix is at `offset`. Returns the array and the offset after it. */
export function readArray(buf: Buffer, offset: number, end: number = buf.length): [FieldValue[], number] {
  const limit = end < buf.length ? end : buf.length;
  const after = blockEnd(buf, offset, limit, 'field array');
  return [readArrayValues(new Cursor(buf, offset + 4), after, 1), after];
}

function readTableEntries(c: Cursor, end: number, depth: number): FieldTable {
  if (depth > MAX_FIELD_NESTING) throw syntaxError(`field table nested deeper than ${MAX_FIELD_NESTING}`);
  const buf = c.buf;
  const table: FieldTable = {};
  while (c.pos < end) {
    const keyStart = c.pos + 1;
    const keyEnd = keyStart + buf[c.pos]!; // c.pos < end <= buf.length
    // a value needs at least its tag byte after the key
    if (keyEnd >= end) throw syntaxError('field table: entry truncated');
    const key = buf.toString('utf8', keyStart, keyEnd);
    c.pos = keyEnd;
    const value = readValue(c, end, depth);
    if (key === '__proto__') {
      // a peer must not be able to swap the prototype of the object we hand out
      Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
    } else {
      table[key] = value;
    }
  }
  return table;
}

function readArrayValues(c: Cursor, end: number, depth: number): FieldValue[] {
  if (depth > MAX_FIELD_NESTING) throw syntaxError(`field array nested deeper than ${MAX_FIELD_NESTING}`);
  const values: FieldValue[] = [];
  while (c.pos < end) values.push(readValue(c, end, depth));
  return values;
}

/** Throws unless `n` bytes remain before `end`. */
function need(c: Cursor, n: number, end: number, tag: number): void {
  if (c.pos + n > end) throw syntaxError(`field value '${String.fromCharCode(tag)}' truncated`);
}

/** Reads one tagged value at c.pos (the caller has checked c.pos < end). */
function readValue(c: Cursor, end: number, depth: number): FieldValue {
  const buf = c.buf;
  const tag = buf[c.pos++]!; // c.pos < end <= buf.length: the caller's check
  const at = c.pos;
  switch (tag) {
    case TAG_BOOLEAN:
      need(c, 1, end, tag);
      c.pos = at + 1;
      return buf[at] !== 0;
    case TAG_INT8:
      need(c, 1, end, tag);
      c.pos = at + 1;
      return buf.readInt8(at);
    case TAG_UINT8:
      need(c, 1, end, tag);
      c.pos = at + 1;
      return buf[at]!;
    case TAG_INT16:
      need(c, 2, end, tag);
      c.pos = at + 2;
      return buf.readInt16BE(at);
    case TAG_UINT16:
      need(c, 2, end, tag);
      c.pos = at + 2;
      return buf.readUInt16BE(at);
    case TAG_INT32:
      need(c, 4, end, tag);
      c.pos = at + 4;
      return buf.readInt32BE(at);
    case TAG_UINT32:
      need(c, 4, end, tag);
      c.pos = at + 4;
      return buf.readUInt32BE(at);
    case TAG_INT64: {
      need(c, 8, end, tag);
      c.pos = at + 8;
      const n = buf.readInt32BE(at) * TWO_POW_32 + buf.readUInt32BE(at + 4);
      // anything at or past 2^53 in magnitude cannot round back into the safe range, so this is exact
      return Number.isSafeInteger(n) ? n : buf.readBigInt64BE(at);
    }
    case TAG_FLOAT:
      need(c, 4, end, tag);
      c.pos = at + 4;
      return buf.readFloatBE(at);
    case TAG_DOUBLE:
      need(c, 8, end, tag);
      c.pos = at + 8;
      return buf.readDoubleBE(at);
    case TAG_DECIMAL:
      need(c, 5, end, tag);
      c.pos = at + 5;
      return new AmqpDecimal(buf[at]!, buf.readUInt32BE(at + 1));
    case TAG_LONGSTR: {
      const after = blockEnd(buf, at, end, 'longstr field');
      c.pos = after;
      return buf.toString('utf8', at + 4, after);
    }
    case TAG_BYTES: {
      const after = blockEnd(buf, at, end, 'byte-array field');
      c.pos = after;
      // copy, so a stored value does not pin the whole network chunk it arrived in
      return Buffer.from(buf.subarray(at + 4, after));
    }
    case TAG_ARRAY: {
      const after = blockEnd(buf, at, end, 'field array');
      c.pos = at + 4;
      return readArrayValues(c, after, depth + 1);
    }
    case TAG_TIMESTAMP: {
      need(c, 8, end, tag);
      c.pos = at + 8;
      const seconds = buf.readUInt32BE(at) * TWO_POW_32 + buf.readUInt32BE(at + 4);
      return new Date(seconds * 1000);
    }
    case TAG_TABLE: {
      const after = blockEnd(buf, at, end, 'field table');
      c.pos = at + 4;
      return readTableEntries(c, after, depth + 1);
    }
    case TAG_VOID:
      return null;
    default:
      throw syntaxError(`field table: unknown value type 0x${tag.toString(16).padStart(2, '0')}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Checking without decoding
// ---------------------------------------------------------------------------------------------------------

/**
 * Throws AmqpCodecError 502 unless the table whose u32 length prefix is at `offset` would decode: every tag
 * known, every length inside its enclosing block, nesting at most MAX_FIELD_NESTING. It walks the bytes
 * once and allocates nothing (no table, no strings), so the publish path can afford it for every message
 * that carries headers. `end` bounds the table (it must end exactly there or before).
 */
export function checkTable(buf: Buffer, offset: number, end: number): void {
  const limit = end < buf.length ? end : buf.length;
  const after = blockEnd(buf, offset, limit, 'field table');
  checkTableEntries(buf, offset + 4, after, 1);
}

function checkTableEntries(buf: Buffer, at: number, end: number, depth: number): void {
  if (depth > MAX_FIELD_NESTING) throw syntaxError(`field table nested deeper than ${MAX_FIELD_NESTING}`);
  while (at < end) {
    const keyEnd = at + 1 + buf[at]!;
    // a value needs at least its tag byte after the key
    if (keyEnd >= end) throw syntaxError('field table: entry truncated');
    at = checkValue(buf, keyEnd, end, depth);
  }
}

function checkArrayValues(buf: Buffer, at: number, end: number, depth: number): void {
  if (depth > MAX_FIELD_NESTING) throw syntaxError(`field array nested deeper than ${MAX_FIELD_NESTING}`);
  while (at < end) at = checkValue(buf, at, end, depth);
}

/** Checks the tagged value at `at` (the caller has checked at < end); returns the offset after it. */
function checkValue(buf: Buffer, at: number, end: number, depth: number): number {
  const tag = buf[at]!;
  let size: number;
  switch (tag) {
    case TAG_VOID:
      return at + 1;
    case TAG_BOOLEAN:
    case TAG_INT8:
    case TAG_UINT8:
      size = 1;
      break;
    case TAG_INT16:
    case TAG_UINT16:
      size = 2;
      break;
    case TAG_INT32:
    case TAG_UINT32:
    case TAG_FLOAT:
      size = 4;
      break;
    case TAG_DECIMAL:
      size = 5;
      break;
    case TAG_INT64:
    case TAG_DOUBLE:
    case TAG_TIMESTAMP:
      size = 8;
      break;
    case TAG_LONGSTR:
      return blockEnd(buf, at + 1, end, 'longstr field');
    case TAG_BYTES:
      return blockEnd(buf, at + 1, end, 'byte-array field');
    case TAG_ARRAY: {
      const after = blockEnd(buf, at + 1, end, 'field array');
      checkArrayValues(buf, at + 5, after, depth + 1);
      return after;
    }
    case TAG_TABLE: {
      const after = blockEnd(buf, at + 1, end, 'field table');
      checkTableEntries(buf, at + 5, after, depth + 1);
      return after;
    }
    default:
      throw syntaxError(`field table: unknown value type 0x${tag.toString(16).padStart(2, '0')}`);
  }
  if (at + 1 + size > end) throw syntaxError(`field value '${String.fromCharCode(tag)}' truncated`);
  return at + 1 + size;
}

// ---------------------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------------------

function keyByteLength(key: string): number {
  const n = Buffer.byteLength(key, 'utf8');
  if (n > MAX_KEY_BYTES) throw new RangeError(`field table key longer than ${MAX_KEY_BYTES} bytes: ${key.slice(0, 40)}...`);
  return n;
}

function checkEncodeDepth(depth: number): void {
  if (depth > MAX_FIELD_NESTING) {
    throw new RangeError(`field table nested deeper than ${MAX_FIELD_NESTING} (or cyclic)`);
  }
}

function isInt32(n: number): boolean {
  return Number.isInteger(n) && n >= -0x80000000 && n <= 0x7fffffff;
}

/** Encoded size of a table including its 4-byte length prefix. */
export function tableSize(t: FieldTable): number {
  return 4 + tableEntriesSize(t, 1);
}

/** Encoded size of a field array including its 4-byte length prefix. */
export function arraySize(a: readonly FieldValue[]): number {
  return 4 + arrayValuesSize(a, 1);
}

function tableEntriesSize(t: FieldTable, depth: number): number {
  checkEncodeDepth(depth);
  let size = 0;
  for (const key of Object.keys(t)) {
    const value = t[key];
    if (value === undefined) continue;
    size += 1 + keyByteLength(key) + valueSize(value, depth);
  }
  return size;
}

function arrayValuesSize(a: readonly FieldValue[], depth: number): number {
  checkEncodeDepth(depth);
  let size = 0;
  for (let i = 0; i < a.length; i++) size += valueSize(a[i], depth);
  return size;
}

/** Size of one tagged value (tag byte included). */
function valueSize(v: FieldValue | undefined, depth: number): number {
  switch (typeof v) {
    case 'boolean':
      return 2;
    case 'number':
      return isInt32(v) ? 5 : 9;
    case 'bigint':
      return 9;
    case 'string':
      return 5 + Buffer.byteLength(v, 'utf8');
    case 'undefined':
      return 1;
    case 'object':
      if (v === null) return 1;
      if (v instanceof Uint8Array) return 5 + v.length;
      if (v instanceof Date) return 9;
      if (v instanceof AmqpDecimal) return 6;
      if (Array.isArray(v)) return 5 + arrayValuesSize(v, depth + 1);
      return 5 + tableEntriesSize(v, depth + 1);
    default:
      throw new TypeError(`cannot encode a ${typeof v} in a field table`);
  }
}

/** Writes `t` (length prefix included) at `offset`; returns the offset after it. */
export function writeTable(buf: Buffer, offset: number, t: FieldTable): number {
  return writeTableAt(buf, offset, t, 1);
}

/** Writes `a` (length prefix included) at `offset`; returns the offset after it. */
export function writeArray(buf: Buffer, offset: number, a: readonly FieldValue[]): number {
  return writeArrayAt(buf, offset, a, 1);
}

/** A new buffer holding exactly the encoded table. */
export function encodeTable(t: FieldTable): Buffer {
  const buf = Buffer.allocUnsafe(tableSize(t));
  writeTable(buf, 0, t);
  return buf;
}

function writeTableAt(buf: Buffer, offset: number, t: FieldTable, depth: number): number {
  checkEncodeDepth(depth);
  let o = offset + 4;
  for (const key of Object.keys(t)) {
    const value = t[key];
    if (value === undefined) continue;
    const keyLength = buf.write(key, o + 1, 'utf8');
    if (keyLength > MAX_KEY_BYTES) keyByteLength(key); // throws the RangeError
    buf[o] = keyLength;
    o = writeValue(buf, o + 1 + keyLength, value, depth);
  }
  buf.writeUInt32BE(o - offset - 4, offset);
  return o;
}

function writeArrayAt(buf: Buffer, offset: number, a: readonly FieldValue[], depth: number): number {
  checkEncodeDepth(depth);
  let o = offset + 4;
  for (let i = 0; i < a.length; i++) o = writeValue(buf, o, a[i], depth);
  buf.writeUInt32BE(o - offset - 4, offset);
  return o;
}

function writeInt64Number(buf: Buffer, o: number, n: number): void {
  const high = Math.floor(n / TWO_POW_32);
  buf.writeInt32BE(high, o);
  buf.writeUInt32BE(n - high * TWO_POW_32, o + 4);
}

function writeLengthPrefixedString(buf: Buffer, o: number, s: string): number {
  const n = buf.write(s, o + 4, 'utf8');
  buf.writeUInt32BE(n, o);
  return o + 4 + n;
}

/** Writes one tagged value at `o`; returns the offset after it. */
function writeValue(buf: Buffer, o: number, v: FieldValue | undefined, depth: number): number {
  switch (typeof v) {
    case 'boolean':
      buf[o] = TAG_BOOLEAN;
      buf[o + 1] = v ? 1 : 0;
      return o + 2;
    case 'number':
      if (isInt32(v)) {
        buf[o] = TAG_INT32;
        buf.writeInt32BE(v, o + 1);
        return o + 5;
      }
      if (Number.isSafeInteger(v)) {
        buf[o] = TAG_INT64;
        writeInt64Number(buf, o + 1, v);
        return o + 9;
      }
      buf[o] = TAG_DOUBLE;
      buf.writeDoubleBE(v, o + 1);
      return o + 9;
    case 'bigint':
      if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`bigint ${v} does not fit a signed 64-bit field`);
      buf[o] = TAG_INT64;
      buf.writeBigInt64BE(v, o + 1);
      return o + 9;
    case 'string':
      buf[o] = TAG_LONGSTR;
      return writeLengthPrefixedString(buf, o + 1, v);
    case 'undefined':
      buf[o] = TAG_VOID;
      return o + 1;
    case 'object':
      return writeObjectValue(buf, o, v, depth);
    default:
      throw new TypeError(`cannot encode a ${typeof v} in a field table`);
  }
}

function writeObjectValue(buf: Buffer, o: number, v: object | null, depth: number): number {
  if (v === null) {
    buf[o] = TAG_VOID;
    return o + 1;
  }
  if (v instanceof Uint8Array) {
    buf[o] = TAG_BYTES;
    buf.writeUInt32BE(v.length, o + 1);
    buf.set(v, o + 5);
    return o + 5 + v.length;
  }
  if (v instanceof Date) {
    const ms = v.getTime();
    if (!(ms >= 0)) throw new RangeError('cannot encode an invalid or pre-1970 Date as an AMQP timestamp');
    const seconds = Math.floor(ms / 1000);
    buf[o] = TAG_TIMESTAMP;
    buf.writeUInt32BE(Math.floor(seconds / TWO_POW_32), o + 1);
    buf.writeUInt32BE(seconds % TWO_POW_32, o + 5);
    return o + 9;
  }
  if (v instanceof AmqpDecimal) {
    buf[o] = TAG_DECIMAL;
    buf.writeUInt8(v.scale, o + 1);
    buf.writeUInt32BE(v.value, o + 2);
    return o + 6;
  }
  if (Array.isArray(v)) {
    buf[o] = TAG_ARRAY;
    return writeArrayAt(buf, o + 1, v as FieldValue[], depth + 1);
  }
  buf[o] = TAG_TABLE;
  return writeTableAt(buf, o + 1, v as FieldTable, depth + 1);
}
