/**
 * Variable-length integers as Kafka uses them (the protobuf encoding), the one implementation behind the
 * Kafka protocol codec (protocol/kafka/codec.ts: compact lengths, tagged fields) and the record-batch
 * layout (format/kafka/: the fields of every record).
 *
 * Unsigned base-128: 7 value bits per byte, least significant group first, high bit set on every byte but
 * the last. Signed values are zigzag-mapped first, so small magnitudes stay short:
 *
 *     value    0   -1    1   -2    2  ...  2147483647  -2147483648
 *     zigzag   0    1    2    3    4  ...  4294967294   4294967295
 *
 *   uvarint (uint32): 1..5 bytes   0 → 00    300 → ac 02    4294967295 → ff ff ff ff 0f
 *   varint  (int32):  1..5 bytes   0 → 00    -1 → 01    300 → d8 04    -2147483648 → ff ff ff ff 0f
 *   uvarlong (a safe integer, 0 .. 2^53 - 1): 1..8 bytes (records' zigzag varlongs: -2^52 .. 2^52 - 1);
 *   the protocol's full 64-bit varlongs are bigints and live in its codec
 *
 * Decoding accepts what Kafka's decoders accept: a value written in more bytes than it needs, but never
 * more than 32 bits in a uvarint (the 5th byte carries at most 4 bits). Nothing here throws on malformed
 * input: readUvarint() answers a negative code and each caller throws its own error (a codec error
 * closing a connection, a corrupt batch refusing a produce). No allocation anywhere.
 */

/** Longest uvarint / varint: 5 groups of 7 bits hold 32 bits. */
export const MAX_UVARINT_BYTES = 5;
/** The 5th uvarint byte may only carry the top 4 of 32 bits. */
const LAST_UVARINT_BYTE_MAX = 0x0f;
/** 2^28: the weight of the 5th group, past what 32-bit bitwise operators can shift into. */
const TWO_TO_28 = 0x10000000;

/** readUvarint(): the input ended inside the varint. */
export const VARINT_TRUNCATED = -1;
/** readUvarint(): more than 32 bits (the 5th byte carries more than 4 bits). */
export const VARINT_TOO_LONG = -2;

/**
 * Where the varint readUvarint() read last ends: a scratch register rather than a second return value
 * (reads run synchronously, one at a time; an object per read, or a value packed with its length, cost the
 * codec's hot path about twice the time of the read itself). Read it right after the call.
 */
export const uvarintRead = { end: 0 };

/**
 * The unsigned varint of at most 32 bits at `at` (below `end`) of `bytes`, with uvarintRead.end set
 * past it; or VARINT_TRUNCATED / VARINT_TOO_LONG (negative), uvarintRead unchanged.
 */
export function readUvarint(bytes: Uint8Array, at: number, end: number): number {
  // most varints are one byte: this much stays small enough for the caller to inline
  if (at < end) {
    const first = bytes[at]!;
    if (first < 0x80) {
      uvarintRead.end = at + 1;
      return first;
    }
  }
  return readLongerUvarint(bytes, at, end);
}

function readLongerUvarint(bytes: Uint8Array, at: number, end: number): number {
  let value = 0;
  for (let i = 0; i < MAX_UVARINT_BYTES; i++) {
    if (at + i >= end) return VARINT_TRUNCATED;
    const byte = bytes[at + i]!;
    if (i === MAX_UVARINT_BYTES - 1) {
      if (byte > LAST_UVARINT_BYTE_MAX) return VARINT_TOO_LONG;
      uvarintRead.end = at + MAX_UVARINT_BYTES;
      return value + byte * TWO_TO_28;
    }
    value |= (byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      uvarintRead.end = at + i + 1;
      return value;
    }
  }
  return VARINT_TOO_LONG; // not reached: the 5th byte returns
}

/** The zigzag form of an int32, as a uint32. */
export function zigzag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/** The int32 a uint32 zigzag form stands for. */
export function unzigzag32(unsigned: number): number {
  return (unsigned >>> 1) ^ -(unsigned & 1);
}

/** Bytes the uvarint of a uint32 takes. */
export function uvarintSize(unsigned: number): number {
  if (unsigned < 0x80) return 1;
  if (unsigned < 0x4000) return 2;
  if (unsigned < 0x200000) return 3;
  if (unsigned < 0x10000000) return 4;
  return 5;
}

/** Bytes the zigzag varint of an int32 takes. */
export function varintSize(value: number): number {
  return uvarintSize(zigzag32(value));
}

/** Writes the uvarint of a uint32 at `at` (the caller checked the room); returns the position after it. */
export function writeUvarint(bytes: Uint8Array, at: number, unsigned: number): number {
  while (unsigned >= 0x80) {
    bytes[at++] = (unsigned & 0x7f) | 0x80;
    unsigned >>>= 7;
  }
  bytes[at++] = unsigned;
  return at;
}

/** Writes the zigzag varint of an int32 at `at`; returns the position after it. */
export function writeVarint(bytes: Uint8Array, at: number, value: number): number {
  return writeUvarint(bytes, at, zigzag32(value));
}

/** Bytes the uvarint of a safe non-negative integer (up to 2^53 - 1) takes. */
export function uvarlongSize(unsigned: number): number {
  let size = 1;
  while (unsigned >= 128) {
    unsigned = Math.floor(unsigned / 128);
    size++;
  }
  return size;
}

/** Writes the uvarint of a safe non-negative integer at `at`; returns the position after it. */
export function writeUvarlong(bytes: Uint8Array, at: number, unsigned: number): number {
  while (unsigned >= 128) {
    bytes[at++] = (unsigned % 128) | 0x80;
    unsigned = Math.floor(unsigned / 128);
  }
  bytes[at++] = unsigned;
  return at;
}
