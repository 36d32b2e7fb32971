/**
 * Kafka wire primitives: a bounds-checked reader and a presized writer, plus the size helpers the generated
 * `size*` functions use. Everything the generated message codecs (./generated/messages.ts) need, nothing more.
 *
 * Encodings (all integers big-endian, two's complement unless marked unsigned):
 *
 *   int8 / int16 / int32 / int64      1 / 2 / 4 / 8 bytes; int64 is a `bigint` at this edge
 *   uint16 / uint32                   2 / 4 bytes, unsigned
 *   float64                           8 bytes, IEEE 754
 *   bool                              1 byte, 0 = false, anything else = true
 *   unsigned varint                   7 bits a byte, least significant group first, high bit = "more";
 *                                     at most 5 bytes (32 bits)
 *   varint / varlong                  zigzag ((n << 1) ^ (n >> 31|63)) then unsigned varint; 5 / 10 bytes
 *   uuid                              16 raw bytes
 *
 *   string           | int16 length N | N bytes UTF-8 |            N = -1 means null (nullable only)
 *   compact string   | uvarint N + 1  | N bytes UTF-8 |            uvarint 0 means null
 *   bytes            | int32 length N | N bytes |                  N = -1 means null
 *   compact bytes    | uvarint N + 1  | N bytes |                   uvarint 0 means null
 *   array            | int32 count N  | N elements |               N = -1 means null
 *   compact array    | uvarint N + 1  | N elements |               uvarint 0 means null
 *
 *   tagged fields    | uvarint count | count × ( uvarint tag | uvarint size | size bytes ) |
 *                    tags ascending when written; unknown tags are skipped when read
 *
 * Strings and compact strings are limited to 32767 UTF-8 bytes (Kafka's own limit).
 *
 * The reader never reads past its end and never allocates from a length it has not checked against the
 * bytes that are actually there: every malformed input becomes a `KafkaCodecError`, nothing else.
 * `bytes()`, `uuid()` and friends return views into the input buffer (no copy); a caller that keeps one
 * after the input buffer is reused must copy it.
 */

import { VARINT_TRUNCATED, readUvarint, unzigzag32, uvarintRead, uvarintSize, varintSize, writeUvarint, zigzag32 } from '../../util/varint.js';

/** Thrown for every malformed, truncated or unencodable Kafka payload. Nothing else escapes a decoder. */
export class KafkaCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KafkaCodecError';
  }
}

/** Longest string the protocol allows, in UTF-8 bytes: the int16 length prefix's maximum. */
export const MAX_STRING_BYTES = 0x7fff;
/** Longest varlong, in bytes: 10 groups of 7 bits cover 64 bits. */
const MAX_VARLONG_BYTES = 10;
/** Size of a UUID on the wire, in bytes. */
export const UUID_BYTES = 16;

/** An empty buffer shared by every absent non-nullable `bytes` field (zero length, so nothing can change it). */
export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

/** The all-zero UUID Kafka uses for "no topic id". A fresh buffer each call, so callers may keep it. */
export function zeroUuid(): Buffer {
  return Buffer.alloc(UUID_BYTES);
}

export class KafkaReader {
  readonly buffer: Buffer;
  /** Next byte to read. */
  offset: number;
  /** One past the last byte this reader may read. */
  readonly end: number;

  constructor(buffer: Buffer, offset = 0, end = buffer.length) {
    if (offset < 0 || end > buffer.length || offset > end) {
      throw new KafkaCodecError(`reader range ${offset}..${end} is outside a ${buffer.length}-byte buffer`);
    }
    this.buffer = buffer;
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Throws unless `n` more bytes are available. */
  need(n: number, what: string): void {
    if (n > this.end - this.offset) {
      throw new KafkaCodecError(`truncated ${what} at offset ${this.offset}: needs ${n} bytes, ${this.end - this.offset} left`);
    }
  }

  skip(n: number, what = 'skipped bytes'): void {
    this.need(n, what);
    this.offset += n;
  }

  int8(): number {
    this.need(1, 'int8');
    return this.buffer.readInt8(this.offset++);
  }

  bool(): boolean {
    this.need(1, 'bool');
    return this.buffer[this.offset++] !== 0;
  }

  int16(): number {
    this.need(2, 'int16');
    const v = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  uint16(): number {
    this.need(2, 'uint16');
    const v = this.buffer.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number {
    this.need(4, 'int32');
    const v = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  int64(): bigint {
    this.need(8, 'int64');
    const v = this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  float64(): number {
    this.need(8, 'float64');
    const v = this.buffer.readDoubleBE(this.offset);
    this.offset += 8;
    return v;
  }

  /** Unsigned varint, at most 32 bits, as a non-negative number (../../util/varint.ts). */
  uvarint(): number {
    const at = this.offset;
    // the one-byte case inline (most compact lengths and tag counts); readUvarint() does the rest
    if (at < this.end && this.buffer[at]! < 0x80) {
      this.offset = at + 1;
      return this.buffer[at]!;
    }
    const value = readUvarint(this.buffer, at, this.end);
    if (value < 0) {
      if (value === VARINT_TRUNCATED) throw new KafkaCodecError(`truncated unsigned varint at offset ${this.offset}`);
      throw new KafkaCodecError(`unsigned varint at offset ${this.offset} does not fit in 32 bits`);
    }
    this.offset = uvarintRead.end;
    return value;
  }

  /** Zigzag-encoded 32-bit varint. */
  varint(): number {
    return unzigzag32(this.uvarint());
  }

  /** Zigzag-encoded 64-bit varint. */
  varlong(): bigint {
    const b = this.buffer;
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < MAX_VARLONG_BYTES; i++) {
      if (this.offset >= this.end) throw new KafkaCodecError(`truncated varlong at offset ${this.offset}`);
      const byte = b[this.offset++]!; // offset < end <= buffer.length (the constructor checks end)
      if (i === MAX_VARLONG_BYTES - 1 && byte > 0x01) {
        throw new KafkaCodecError(`varlong ending at offset ${this.offset} does not fit in 64 bits`);
      }
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return (value >> 1n) ^ -(value & 1n);
      shift += 7n;
    }
    throw new KafkaCodecError(`varlong ending at offset ${this.offset} is longer than 10 bytes`);
  }

  uuid(): Buffer {
    this.need(UUID_BYTES, 'uuid');
    const v = this.buffer.subarray(this.offset, this.offset + UUID_BYTES);
    this.offset += UUID_BYTES;
    return v;
  }

  // --- strings -----------------------------------------------------------------------------------------

  /** Reads `length` UTF-8 bytes, after checking they are there. */
  private utf8(length: number, what: string): string {
    this.need(length, what);
    const start = this.offset;
    this.offset += length;
    return this.buffer.toString('utf8', start, start + length);
  }

  /** int16 length; -1 (null) is returned as -1, any other negative length is an error. */
  private stringLength(): number {
    const at = this.offset;
    const n = this.int16();
    if (n < -1) throw new KafkaCodecError(`invalid string length ${n} at offset ${at}`);
    return n;
  }

  /** uvarint N + 1; returns N, or -1 for null. */
  private compactStringLength(): number {
    const at = this.offset;
    const n = this.uvarint() - 1;
    if (n > MAX_STRING_BYTES) throw new KafkaCodecError(`compact string length ${n} at offset ${at} exceeds ${MAX_STRING_BYTES}`);
    return n;
  }

  string(): string {
    const at = this.offset;
    const n = this.stringLength();
    if (n < 0) throw new KafkaCodecError(`null string at offset ${at} where a non-nullable string is expected`);
    return this.utf8(n, 'string');
  }

  nullableString(): string | null {
    const n = this.stringLength();
    return n < 0 ? null : this.utf8(n, 'string');
  }

  compactString(): string {
    const at = this.offset;
    const n = this.compactStringLength();
    if (n < 0) throw new KafkaCodecError(`null compact string at offset ${at} where a non-nullable string is expected`);
    return this.utf8(n, 'compact string');
  }

  compactNullableString(): string | null {
    const n = this.compactStringLength();
    return n < 0 ? null : this.utf8(n, 'compact string');
  }

  // --- bytes -------------------------------------------------------------------------------------------

  private view(length: number, what: string): Buffer {
    this.need(length, what);
    const start = this.offset;
    this.offset += length;
    return this.buffer.subarray(start, start + length);
  }

  private bytesLength(): number {
    const at = this.offset;
    const n = this.int32();
    if (n < -1) throw new KafkaCodecError(`invalid bytes length ${n} at offset ${at}`);
    return n;
  }

  bytes(): Buffer {
    const at = this.offset;
    const n = this.bytesLength();
    if (n < 0) throw new KafkaCodecError(`null bytes at offset ${at} where non-nullable bytes are expected`);
    return this.view(n, 'bytes');
  }

  nullableBytes(): Buffer | null {
    const n = this.bytesLength();
    return n < 0 ? null : this.view(n, 'bytes');
  }

  compactBytes(): Buffer {
    const at = this.offset;
    const n = this.uvarint() - 1;
    if (n < 0) throw new KafkaCodecError(`null compact bytes at offset ${at} where non-nullable bytes are expected`);
    return this.view(n, 'compact bytes');
  }

  compactNullableBytes(): Buffer | null {
    const n = this.uvarint() - 1;
    return n < 0 ? null : this.view(n, 'compact bytes');
  }

  // --- arrays ------------------------------------------------------------------------------------------
  // Only the element count is read here; the generated code reads the elements. A count larger than the
  // bytes left cannot be honest (every element we generate takes at least one byte), so it is refused
  // before any loop starts.

  private checkCount(n: number, at: number, what: string): number {
    if (n > this.end - this.offset) {
      throw new KafkaCodecError(`${what} count ${n} at offset ${at} exceeds the ${this.end - this.offset} bytes left`);
    }
    return n;
  }

  arrayLength(): number {
    const at = this.offset;
    const n = this.int32();
    if (n < 0) throw new KafkaCodecError(`invalid array length ${n} at offset ${at} where a non-nullable array is expected`);
    return this.checkCount(n, at, 'array');
  }

  /** Element count, or -1 for a null array. */
  nullableArrayLength(): number {
    const at = this.offset;
    const n = this.int32();
    if (n < -1) throw new KafkaCodecError(`invalid array length ${n} at offset ${at}`);
    return n < 0 ? -1 : this.checkCount(n, at, 'array');
  }

  compactArrayLength(): number {
    const at = this.offset;
    const n = this.uvarint() - 1;
    if (n < 0) throw new KafkaCodecError(`null compact array at offset ${at} where a non-nullable array is expected`);
    return this.checkCount(n, at, 'compact array');
  }

  /** Element count, or -1 for a null array. */
  compactNullableArrayLength(): number {
    const at = this.offset;
    const n = this.uvarint() - 1;
    return n < 0 ? -1 : this.checkCount(n, at, 'compact array');
  }

  // --- tagged fields -----------------------------------------------------------------------------------

  /** Number of tagged fields that follow. */
  taggedFieldCount(): number {
    const at = this.offset;
    return this.checkCount(this.uvarint(), at, 'tagged field');
  }

  /** Reads one tagged field's size prefix and returns the offset its value must end at. */
  taggedFieldEnd(tag: number): number {
    const at = this.offset;
    const size = this.uvarint();
    if (size > this.end - this.offset) {
      throw new KafkaCodecError(`tagged field ${tag} at offset ${at} declares ${size} bytes, ${this.end - this.offset} left`);
    }
    return this.offset + size;
  }

  /** Checks that a known tagged field's value used exactly the bytes its size prefix declared. */
  endTaggedField(end: number, tag: number): void {
    if (this.offset !== end) {
      throw new KafkaCodecError(`tagged field ${tag} value ends at offset ${this.offset}, its size says ${end}`);
    }
  }

  /** Reads a whole tagged-field section, keeping none of it. */
  skipTaggedFields(): void {
    const count = this.taggedFieldCount();
    for (let i = 0; i < count; i++) {
      const tag = this.uvarint();
      this.offset = this.taggedFieldEnd(tag);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------------------------

export const sizeUvarint: (n: number) => number = uvarintSize;

export const sizeVarint: (n: number) => number = varintSize;

export function sizeVarlong(n: bigint): number {
  let u = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
  let size = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    size++;
  }
  return size;
}

/** UTF-8 length of `s`, refusing strings the protocol cannot carry. */
function stringBytes(s: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  if (n > MAX_STRING_BYTES) throw new KafkaCodecError(`string of ${n} UTF-8 bytes exceeds the ${MAX_STRING_BYTES}-byte limit`);
  return n;
}

/** Encoded size of a (nullable) string, compact or not. */
export function sizeString(s: string | null, compact: boolean): number {
  if (s === null) return compact ? 1 : 2;
  const n = stringBytes(s);
  return (compact ? sizeUvarint(n + 1) : 2) + n;
}

/** Encoded size of (nullable) bytes, compact or not. */
export function sizeBytes(b: Buffer | null, compact: boolean): number {
  if (b === null) return compact ? 1 : 4;
  return (compact ? sizeUvarint(b.length + 1) : 4) + b.length;
}

/** Encoded size of an array's length prefix; `count` -1 means null. */
export function sizeArrayLength(count: number, compact: boolean): number {
  return compact ? sizeUvarint(count + 1) : 4;
}

// ---------------------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------------------

/**
 * Writes into one buffer allocated up front from a `size*` function. Every write checks the space left,
 * so a size function that under-counts fails loudly instead of truncating; `finish()` checks it did not
 * over-count either.
 */
export class KafkaWriter {
  /** where the next bytes go; a GatheringWriter moves to a fresh chunk when one is full */
  buffer: Buffer;
  offset = 0;

  constructor(size: number, initialBytes = size) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  protected room(n: number, what: string): void {
    if (n > this.buffer.length - this.offset) {
      throw new KafkaCodecError(`writer overflow writing ${what} at offset ${this.offset} of ${this.buffer.length}: the size was under-counted`);
    }
  }

  /** The written buffer, after checking that exactly its presized length was written. */
  finish(): Buffer {
    if (this.offset !== this.buffer.length) {
      throw new KafkaCodecError(`writer finished at offset ${this.offset} of a ${this.buffer.length}-byte buffer: the size was over-counted`);
    }
    return this.buffer;
  }

  int8(v: number): void {
    this.room(1, 'int8');
    this.buffer.writeInt8(v, this.offset);
    this.offset += 1;
  }

  bool(v: boolean): void {
    this.room(1, 'bool');
    this.buffer[this.offset++] = v ? 1 : 0;
  }

  int16(v: number): void {
    this.room(2, 'int16');
    this.buffer.writeInt16BE(v, this.offset);
    this.offset += 2;
  }

  uint16(v: number): void {
    this.room(2, 'uint16');
    this.buffer.writeUInt16BE(v, this.offset);
    this.offset += 2;
  }

  int32(v: number): void {
    this.room(4, 'int32');
    this.buffer.writeInt32BE(v, this.offset);
    this.offset += 4;
  }

  uint32(v: number): void {
    this.room(4, 'uint32');
    this.buffer.writeUInt32BE(v, this.offset);
    this.offset += 4;
  }

  int64(v: bigint): void {
    this.room(8, 'int64');
    this.buffer.writeBigInt64BE(v, this.offset);
    this.offset += 8;
  }

  float64(v: number): void {
    this.room(8, 'float64');
    this.buffer.writeDoubleBE(v, this.offset);
    this.offset += 8;
  }

  uvarint(v: number): void {
    if (!(v >= 0 && v <= 0xffffffff && Number.isInteger(v))) throw new KafkaCodecError(`unsigned varint ${v} out of range`);
    this.room(uvarintSize(v), 'unsigned varint');
    this.offset = writeUvarint(this.buffer, this.offset, v);
  }

  varint(v: number): void {
    if (!(v >= -0x80000000 && v <= 0x7fffffff && Number.isInteger(v))) throw new KafkaCodecError(`varint ${v} out of range`);
    this.uvarint(zigzag32(v));
  }

  varlong(v: bigint): void {
    if (v < -(1n << 63n) || v >= 1n << 63n) throw new KafkaCodecError(`varlong ${v} out of range`);
    this.room(sizeVarlong(v), 'varlong');
    let u = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
    const b = this.buffer;
    while (u >= 0x80n) {
      b[this.offset++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    b[this.offset++] = Number(u);
  }

  uuid(v: Buffer): void {
    if (v.length !== UUID_BYTES) throw new KafkaCodecError(`uuid must be ${UUID_BYTES} bytes, got ${v.length}`);
    this.raw(v);
  }

  /** Copies `v` as is, no length prefix. */
  raw(v: Buffer): void {
    this.room(v.length, 'bytes');
    v.copy(this.buffer, this.offset);
    this.offset += v.length;
  }

  private utf8(s: string, n: number): void {
    this.room(n, 'string');
    this.buffer.write(s, this.offset, n, 'utf8');
    this.offset += n;
  }

  string(s: string): void {
    const n = stringBytes(s);
    this.int16(n);
    this.utf8(s, n);
  }

  nullableString(s: string | null): void {
    if (s === null) this.int16(-1);
    else this.string(s);
  }

  compactString(s: string): void {
    const n = stringBytes(s);
    this.uvarint(n + 1);
    this.utf8(s, n);
  }

  compactNullableString(s: string | null): void {
    if (s === null) this.uvarint(0);
    else this.compactString(s);
  }

  bytes(b: Buffer): void {
    this.int32(b.length);
    this.raw(b);
  }

  nullableBytes(b: Buffer | null): void {
    if (b === null) this.int32(-1);
    else this.bytes(b);
  }

  compactBytes(b: Buffer): void {
    this.uvarint(b.length + 1);
    this.raw(b);
  }

  compactNullableBytes(b: Buffer | null): void {
    if (b === null) this.uvarint(0);
    else this.compactBytes(b);
  }

  /** Array length prefix; -1 writes null. */
  arrayLength(count: number): void {
    this.int32(count);
  }

  /** Compact array length prefix; -1 writes null. */
  compactArrayLength(count: number): void {
    this.uvarint(count + 1);
  }
}

/**
 * Bytes a response carries without holding them: the stored records of a Fetch answer, read from their
 * segment file only as the frame is written (connection.ts). The generated encoders see it as the Buffer
 * of a `records` field and use only its `length` (the size prefix, the frame size) and raw(), which a
 * GatheringWriter turns into a piece of its own; any other writer refuses it.
 */
export interface ByteSource {
  readonly length: number;
  /** Reads `length` bytes at `at` of the source into `into` from `intoAt`; throws when they cannot be read. */
  read(into: Buffer, intoAt: number, at: number, length: number): void;
  /** Nothing more is read from it. Idempotent. */
  release(): void;
}

/** A piece of a response frame: bytes, or bytes still in their source. */
export type FramePiece = Buffer | ByteSource;

/** `records` standing for `source` in a response body, for the generated encoders (see ByteSource). */
export function streamedBytes(source: ByteSource): Buffer {
  return new StreamedBytes(source) as unknown as Buffer;
}

/** The source a streamedBytes() field stands for, or null for bytes at hand. */
export function streamedSourceOf(field: Buffer): ByteSource | null {
  return (field as unknown) instanceof StreamedBytes ? (field as unknown as StreamedBytes).source : null;
}

/** The source of a frame piece, or null for bytes at hand. */
export function sourceOf(piece: FramePiece): ByteSource | null {
  return Buffer.isBuffer(piece) ? null : (piece as ByteSource);
}

/** The marker class behind streamedBytes(): a length and where the bytes are. */
class StreamedBytes {
  constructor(readonly source: ByteSource) {}
  get length(): number {
    return this.source.length;
  }
}

/** Chunk size of a GatheringWriter's own bytes. */
const GATHER_CHUNK_BYTES = 16 * 1024;

/**
 * A writer that does not copy large byte fields: raw() of at least `threshold` bytes (the record batches
 * of a Fetch response, read fresh from the log) becomes a piece of its own between pieces of the writer's
 * own bytes, which go into chunks of at most GATHER_CHUNK_BYTES. The pieces concatenated are exactly what
 * a KafkaWriter of the same size would have written; the socket sends them with one writev. Size checks
 * are the KafkaWriter's: under- and over-counting fail loudly.
 */
export class GatheringWriter extends KafkaWriter {
  private readonly pieces: FramePiece[] = [];
  /** pieces that are ByteSources */
  private sources = 0;
  /** bytes in `pieces` */
  private piecesBytes = 0;
  /** start of the current chunk's bytes not yet in `pieces` */
  private chunkStart = 0;

  constructor(
    private readonly size: number,
    private readonly threshold: number,
  ) {
    super(size, Math.min(size, GATHER_CHUNK_BYTES));
  }

  /** Moves the current chunk's unpushed bytes into `pieces`. */
  private pushChunk(): void {
    if (this.offset > this.chunkStart) {
      this.pieces.push(this.buffer.subarray(this.chunkStart, this.offset));
      this.piecesBytes += this.offset - this.chunkStart;
      this.chunkStart = this.offset;
    }
  }

  protected override room(n: number, what: string): void {
    if (n <= this.buffer.length - this.offset) return;
    this.pushChunk();
    const left = this.size - this.piecesBytes;
    if (n > left) {
      throw new KafkaCodecError(`writer overflow writing ${what} at offset ${this.piecesBytes} of ${this.size}: the size was under-counted`);
    }
    this.buffer = Buffer.allocUnsafe(Math.min(left, Math.max(n, GATHER_CHUNK_BYTES)));
    this.offset = this.chunkStart = 0;
  }

  override raw(v: Buffer): void {
    const streamed = (v as unknown) instanceof StreamedBytes;
    if (v.length < this.threshold && !streamed) return super.raw(v);
    this.pushChunk();
    if (v.length > this.size - this.piecesBytes) {
      throw new KafkaCodecError(`writer overflow writing bytes at offset ${this.piecesBytes} of ${this.size}: the size was under-counted`);
    }
    if (streamed) {
      this.pieces.push((v as unknown as StreamedBytes).source);
      this.sources++;
    } else {
      this.pieces.push(v);
    }
    this.piecesBytes += v.length;
  }

  /** Use finishPieces(): the bytes are not in one buffer. */
  override finish(): Buffer {
    return Buffer.concat(this.finishPieces());
  }

  /** The written pieces, in order, after checking that exactly `size` bytes were written; all bytes at hand. */
  finishPieces(): Buffer[] {
    const pieces = this.finishFrame();
    if (this.sources > 0) throw new KafkaCodecError('a frame with streamed bytes was asked for as buffers');
    return pieces as Buffer[];
  }

  /** The written pieces, some of them sources of streamed bytes (ByteSource), after the size check. */
  finishFrame(): FramePiece[] {
    this.pushChunk();
    if (this.piecesBytes !== this.size) {
      throw new KafkaCodecError(`writer finished at offset ${this.piecesBytes} of ${this.size}: the size was over-counted`);
    }
    return this.pieces;
  }
}

/** For generated encoders: a null where the version does not allow one. */
export function nonNullable(what: string, version: number): KafkaCodecError {
  return new KafkaCodecError(`${what} is null, which version ${version} cannot encode`);
}

/** True when `b` is the all-zero UUID (Kafka's "no id"). */
export function isZeroUuid(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
