/**
 * Kafka's variable-length integers inside magic-2 records, over the one varint implementation
 * (../../util/varint.ts, drawn there): varints are int32, varlongs here only values whose zigzag form is a
 * safe integer (-2^52 .. 2^52 - 1) are decoded; a timestamp delta past that is 140,000 years of
 * milliseconds, so it is corrupt.
 *
 * A ByteCursor reads these and the fixed-size fields between them from a bounded window of a Buffer.
 * Every read checks the window first and throws CorruptBatchError, so no malformed input can surface
 * as a RangeError, a silent wrap-around or a read past the window.
 */

import { CorruptBatchError } from './errors.js';
import {
  MAX_UVARINT_BYTES,
  VARINT_TRUNCATED,
  readUvarint,
  unzigzag32,
  uvarintSize,
  uvarintRead,
  uvarlongSize,
  writeUvarint,
  writeUvarlong,
  zigzag32,
} from '../../util/varint.js';

/** Longest varint: 5 groups of 7 bits hold 32 bits. */
export const MAX_VARINT_BYTES = MAX_UVARINT_BYTES;
/** Longest varlong: 10 groups of 7 bits hold 64 bits. */
export const MAX_VARLONG_BYTES = 10;
/** Largest zigzag value a number holds exactly: 2^53 - 1, i.e. values -2^52 .. 2^52 - 1. */
const MAX_SAFE_ZIGZAG = Number.MAX_SAFE_INTEGER;

/** A read position moving forward inside [position, end) of `bytes`. */
export class ByteCursor {
  readonly bytes: Buffer;
  position: number;
  end: number;

  constructor(bytes: Buffer, position = 0, end = bytes.length) {
    this.bytes = bytes;
    this.position = position;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.position;
  }

  /** Throws unless `count` more bytes are inside the window. */
  need(count: number, what: string): void {
    if (count > this.end - this.position) {
      throw new CorruptBatchError(`${what}: ${count} byte(s) needed, ${this.end - this.position} left`);
    }
  }

  int8(what: string): number {
    this.need(1, what);
    return this.bytes.readInt8(this.position++);
  }

  /** A zigzag varint (int32). */
  varint(what: string): number {
    const unsigned = readUvarint(this.bytes, this.position, this.end);
    if (unsigned < 0) throw new CorruptBatchError(unsigned === VARINT_TRUNCATED ? `${what}: varint runs past the end` : `${what}: varint longer than 32 bits`);
    this.position = uvarintRead.end;
    return unzigzag32(unsigned);
  }

  /** A zigzag varlong (int64) in -2^52 .. 2^52 - 1; anything larger is corrupt. */
  varlong(what: string): number {
    const bytes = this.bytes;
    let unsigned = 0;
    let weight = 1;
    for (let i = 0; i < MAX_VARLONG_BYTES; i++) {
      if (this.position >= this.end) throw new CorruptBatchError(`${what}: varlong runs past the end`);
      const byte = bytes[this.position++]!;
      unsigned += (byte & 0x7f) * weight;
      if (unsigned > MAX_SAFE_ZIGZAG) throw new CorruptBatchError(`${what}: varlong outside the safe integer range`);
      if (byte < 0x80) return unsigned % 2 === 0 ? unsigned / 2 : -(unsigned + 1) / 2;
      weight *= 128;
    }
    throw new CorruptBatchError(`${what}: varlong longer than ${MAX_VARLONG_BYTES} bytes`);
  }

  /** `length` bytes as a view (no copy) of the underlying Buffer. */
  slice(length: number, what: string): Buffer {
    this.need(length, what);
    const start = this.position;
    this.position = start + length;
    return this.bytes.subarray(start, start + length);
  }
}

function checkedZigzag32(value: number): number {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new RangeError(`varint ${value} is not an int32`);
  return zigzag32(value);
}

function zigzag64(value: number): number {
  const zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  if (!Number.isInteger(value) || zigzag > MAX_SAFE_ZIGZAG) throw new RangeError(`varlong ${value} outside -2^52 .. 2^52 - 1`);
  return zigzag;
}

/** Bytes the zigzag varint of an int32 takes. */
export function varintSize(value: number): number {
  return uvarintSize(checkedZigzag32(value));
}

/** Writes the zigzag varint of an int32 at `at`; returns the position after it. */
export function writeVarint(bytes: Buffer, at: number, value: number): number {
  return writeUvarint(bytes, at, checkedZigzag32(value));
}

/** Bytes the zigzag varlong of an integer in -2^52 .. 2^52 - 1 takes. */
export function varlongSize(value: number): number {
  return uvarlongSize(zigzag64(value));
}

/** Writes the zigzag varlong of an integer in -2^52 .. 2^52 - 1 at `at`; returns the position after it. */
export function writeVarlong(bytes: Buffer, at: number, value: number): number {
  return writeUvarlong(bytes, at, zigzag64(value));
}
