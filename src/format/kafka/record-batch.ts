/**
 * The Kafka RecordBatch (magic 2) header, as far as a partition log needs it: the log stores batches
 * exactly as producers send them and consumers read them, and only ever looks at the fixed header.
 *
 * RecordBatch v2, all integers big-endian:
 *
 *   byte  0                               8               12              16    17              21
 *       +-------------------------------+---------------+---------------+-----+---------------+
 *       | baseOffset int64              | batchLength   | partition     |magic| crc uint32    |
 *       | rewritten by the broker       | int32         | LeaderEpoch   |int8 | CRC-32C of    |
 *       |                               | (bytes after  | int32, broker | = 2 | bytes 21..end |
 *       |                               |  this field)  | rewrites it   |     |               |
 *       +-------------------------------+---------------+---------------+-----+---------------+
 *   byte 21        23              27                              35
 *       +---------+---------------+-------------------------------+-------------------------------+
 *       |attribute| lastOffset    | baseTimestamp int64           | maxTimestamp int64            |
 *       | int16   | Delta int32   |                               |                               |
 *       +---------+---------------+-------------------------------+-------------------------------+
 *   byte 43                              51        53              57              61
 *       +-------------------------------+---------+---------------+---------------+----------------
 *       | producerId int64              |producer | baseSequence  | recordCount   | records ...
 *       |                               |Epoch i16| int32         | int32         | (maybe compressed)
 *       +-------------------------------+---------+---------------+---------------+----------------
 *
 *   The batch occupies 12 + batchLength bytes. Everything the CRC covers (byte 21 to the end) is stored
 *   untouched, so rewriting baseOffset and partitionLeaderEpoch keeps the producer's CRC valid and the
 *   broker never recomputes it. Record i of the batch has offset baseOffset + offsetDelta(i); the last
 *   one has baseOffset + lastOffsetDelta, and Kafka requires lastOffsetDelta = recordCount - 1.
 */

import { crc32c } from '@node-rs/crc32';
import { CorruptBatchError } from './errors.js';

/** Byte positions of the header fields drawn above. */
export const BASE_OFFSET_AT = 0;
export const BATCH_LENGTH_AT = 8;
export const PARTITION_LEADER_EPOCH_AT = 12;
export const MAGIC_AT = 16;
export const CRC_AT = 17;
export const ATTRIBUTES_AT = 21;
export const LAST_OFFSET_DELTA_AT = 23;
export const BASE_TIMESTAMP_AT = 27;
export const MAX_TIMESTAMP_AT = 35;
export const PRODUCER_ID_AT = 43;
export const PRODUCER_EPOCH_AT = 51;
export const BASE_SEQUENCE_AT = 53;
export const RECORD_COUNT_AT = 57;

/** baseOffset + batchLength: the bytes not counted by batchLength (Kafka's LOG_OVERHEAD). */
export const BATCH_LENGTH_OVERHEAD = 12;
/** The fixed header drawn above; records start here. */
export const BATCH_HEADER_BYTES = 61;
/** Smallest valid batchLength: a header and no record bytes. */
export const MIN_BATCH_LENGTH = BATCH_HEADER_BYTES - BATCH_LENGTH_OVERHEAD;
/**
 * Largest batch a partition log accepts, 512 MiB: far above Kafka's 1 MB message.max.bytes default,
 * and with MAX_PARTITION_SEGMENT_BYTES keeps every file position inside a u32 index entry.
 */
export const MAX_BATCH_BYTES = 512 * 1024 * 1024;
export const RECORD_BATCH_MAGIC = 2;

/** Bytes the batch starting at `at` occupies (12 + batchLength); assumes at least 12 bytes are there. */
export function batchSizeAt(bytes: Buffer, at: number): number {
  return BATCH_LENGTH_OVERHEAD + bytes.readInt32BE(at + BATCH_LENGTH_AT);
}

export function lastOffsetDeltaAt(bytes: Buffer, at: number): number {
  return bytes.readInt32BE(at + LAST_OFFSET_DELTA_AT);
}

export function maxTimestampAt(bytes: Buffer, at: number): number {
  return Number(bytes.readBigInt64BE(at + MAX_TIMESTAMP_AT));
}

/** The CRC-32C a batch header claims vs. the one its bytes have. */
export function batchCrcMatches(bytes: Buffer, at: number, size: number): boolean {
  const covered = new Uint8Array(bytes.buffer, bytes.byteOffset + at + ATTRIBUTES_AT, size - ATTRIBUTES_AT);
  return crc32c(covered) === bytes.readUInt32BE(at + CRC_AT);
}

/**
 * Why the batch header at `at` (with `available` bytes from `at` on) is not a valid magic-2 header, or
 * null. Checks the header only: length bounds, magic, and recordCount against lastOffsetDelta. A produced
 * batch has exactly lastOffsetDelta + 1 records; a `stored` one may have fewer (compaction removes records
 * but keeps the batch's offset range).
 */
export function checkBatchHeader(bytes: Buffer, at: number, available: number, stored = false): string | null {
  if (available < BATCH_HEADER_BYTES) return `${available} byte(s) left, a batch header needs ${BATCH_HEADER_BYTES}`;
  const batchLength = bytes.readInt32BE(at + BATCH_LENGTH_AT);
  if (batchLength < MIN_BATCH_LENGTH || batchLength > MAX_BATCH_BYTES - BATCH_LENGTH_OVERHEAD) {
    return `invalid batchLength ${batchLength}`;
  }
  const magic = bytes.readInt8(at + MAGIC_AT);
  if (magic !== RECORD_BATCH_MAGIC) return `unsupported magic ${magic}`;
  const recordCount = bytes.readInt32BE(at + RECORD_COUNT_AT);
  const lastOffsetDelta = bytes.readInt32BE(at + LAST_OFFSET_DELTA_AT);
  if (stored) {
    if (recordCount < 1 || lastOffsetDelta < 0 || recordCount - 1 > lastOffsetDelta) {
      return `recordCount ${recordCount} does not fit lastOffsetDelta ${lastOffsetDelta}`;
    }
    return null;
  }
  if (recordCount < 1) return `invalid recordCount ${recordCount}`;
  if (lastOffsetDelta !== recordCount - 1) return `lastOffsetDelta ${lastOffsetDelta} does not match recordCount ${recordCount}`;
  return null;
}

/**
 * Validates the concatenated batches of one produce request: every header is sound, each batch lies
 * wholly inside `bytes`, and each CRC matches. Returns the number of batches; throws CorruptBatchError
 * (nothing of the request may then be appended).
 */
export function validateBatches(bytes: Buffer): number {
  if (bytes.length === 0) throw new CorruptBatchError('no record batch in the request');
  let at = 0;
  let count = 0;
  while (at < bytes.length) {
    const available = bytes.length - at;
    const problem = checkBatchHeader(bytes, at, available);
    if (problem !== null) throw new CorruptBatchError(`batch ${count} at byte ${at}: ${problem}`);
    const size = batchSizeAt(bytes, at);
    if (size > available) throw new CorruptBatchError(`batch ${count} at byte ${at}: ${size} bytes claimed, ${available} present`);
    if (!batchCrcMatches(bytes, at, size)) throw new CorruptBatchError(`batch ${count} at byte ${at}: CRC mismatch`);
    at += size;
    count++;
  }
  return count;
}
