/**
 * On-disk layout of a partition log: one directory per partition, three files per segment, named by
 * the segment's base offset (the offset of its first batch), 20 decimal digits like Kafka's:
 *
 *   00000000000000000000.log   00000000000000000000.index   00000000000000000000.timeindex
 *   00000000000000052817.log   00000000000000052817.index   00000000000000052817.timeindex ...
 *
 * .log file = segment header, then RecordBatch v2 batches (../../format/kafka/record-batch.ts) back to back, byte for byte
 * as they go on the wire, so a fetch is a plain read of a byte range:
 *
 *   byte  0     1     2     3     4     5     6     7     8                                          16
 *       +-----+-----+-----+-----+-----+-----+-----+-----+-----------------------------------------+
 *       | 'P' | 'B' | 'K' | 'L' |  version  | reserved  | base offset u64, big-endian              |
 *       | 50  | 42  | 4b  | 4c  | 00  | 01  | 00  | 00  | = the offset in the file name            |
 *       +-----+-----+-----+-----+-----+-----+-----+-----+-----------------------------------------+
 *       then batch, batch, ... each 12 + batchLength bytes; the first has baseOffset = base offset and
 *       each next one starts at the previous one's baseOffset + lastOffsetDelta + 1.
 *
 * .index file = a summary of the .log it describes, then sparse offset-index entries:
 *
 *   byte  0           4     6     8                       16                      24
 *       +-----------+-----+-----+-----------------------+-----------------------+-----------------------+
 *       | "PBKX"    | ver | rsv | base offset u64       | next offset u64       | max timestamp i64     |
 *       |           | u16 | u16 |                       | (after the last batch)| (largest batch        |
 *       |           |     |     |                       |                       |  maxTimestamp; -1)    |
 *       +-----------+-----+-----+-----------------------+-----------------------+-----------------------+
 *   byte 32                      36                      40                      44                      48
 *       +-----------------------+-----------------------+-----------------------+-----------------------+
 *       | log bytes u32         | last batch position   | entry count u32       | crc32c u32 of bytes   |
 *       | (.log size described) | u32                   |                       | 0..43 and all entries |
 *       +-----------------------+-----------------------+-----------------------+-----------------------+
 *   then entry count × 8 bytes:
 *       +-----------------------+-----------------------+
 *       | relative offset u32   | position u32          |   the batch at .log byte `position` has
 *       +-----------------------+-----------------------+   baseOffset = base offset + relative offset
 *
 * .timeindex file = header, then one entry per .index entry (entry k of one belongs to entry k of the other):
 *
 *   byte  0           4     6     8                       16                      20                      24
 *       +-----------+-----+-----+-----------------------+-----------------------+-----------------------+
 *       | "PBKT"    | ver | rsv | base offset u64       | entry count u32       | crc32c u32 of bytes   |
 *       |           | u16 | u16 |                       |                       | 0..19 and all entries |
 *       +-----------+-----+-----+-----------------------+-----------------------+-----------------------+
 *   then entry count × 12 bytes:
 *       +-----------------------------------------------+-----------------------+
 *       | timestamp i64: the largest batch maxTimestamp | relative offset u32   |
 *       | of the segment's batches BEFORE this one (-1) | (= the .index entry's)|
 *       +-----------------------------------------------+-----------------------+
 *
 * An entry is added for a batch once at least `indexIntervalBytes` of batches were appended since the
 * previous entry (or since the segment header), so a lookup scans at most about that many bytes.
 *
 * The index files are hints, never the data: they are written whole when a segment is sealed (after the
 * fsync that made the .log durable) and at close. At open an index is trusted only when its CRCs hold,
 * its "log bytes" equals the .log file's size and the last batch it names checks out; otherwise the
 * segment is scanned (every batch's CRC checked) and the index rewritten. Losing one costs a rescan.
 */

import { crc32c } from '@node-rs/crc32';

/** "PBKL" as one big-endian u32. */
export const PARTITION_SEGMENT_MAGIC = 0x50424b4c;
/** "PBKX" as one big-endian u32. */
export const OFFSET_INDEX_MAGIC = 0x50424b58;
/** "PBKT" as one big-endian u32. */
export const TIME_INDEX_MAGIC = 0x50424b54;
export const PARTITION_FORMAT_VERSION = 1;

export const PARTITION_SEGMENT_HEADER_BYTES = 16;
export const OFFSET_INDEX_HEADER_BYTES = 48;
export const OFFSET_INDEX_ENTRY_BYTES = 8;
export const TIME_INDEX_HEADER_BYTES = 24;
export const TIME_INDEX_ENTRY_BYTES = 12;

export const LOG_FILE_SUFFIX = '.log';
export const OFFSET_INDEX_FILE_SUFFIX = '.index';
export const TIME_INDEX_FILE_SUFFIX = '.timeindex';
/** A .log whose header is unreadable is renamed with this suffix, never deleted. */
export const CORRUPT_SEGMENT_SUFFIX = '.corrupt';
/** Digits in a segment file name: enough for any int64 offset, as Kafka does. */
export const OFFSET_NAME_DIGITS = 20;
/** Largest offset Kafka can address (int64). */
export const MAX_OFFSET = (1n << 63n) - 1n;

const SEGMENT_FILE_PATTERN = /^(\d{20})\.(log|index|timeindex)$/;

/** `00000000000000000042` for base offset 42. */
export function segmentBaseName(baseOffset: bigint): string {
  if (baseOffset < 0n || baseOffset > MAX_OFFSET) throw new RangeError(`offset ${baseOffset} outside 0..${MAX_OFFSET}`);
  return baseOffset.toString().padStart(OFFSET_NAME_DIGITS, '0');
}

/** The base offset and kind of a segment file name, or null for any other name. */
export function parseSegmentFile(name: string): { baseOffset: bigint; suffix: string } | null {
  const match = SEGMENT_FILE_PATTERN.exec(name);
  if (match === null) return null;
  const baseOffset = BigInt(match[1]!);
  if (baseOffset > MAX_OFFSET) return null;
  return { baseOffset, suffix: '.' + match[2]! };
}

export function encodeSegmentHeader(baseOffset: bigint): Buffer {
  const header = Buffer.alloc(PARTITION_SEGMENT_HEADER_BYTES); // zeroed: reserved stays 0
  header.writeUInt32BE(PARTITION_SEGMENT_MAGIC, 0);
  header.writeUInt16BE(PARTITION_FORMAT_VERSION, 4);
  header.writeBigUInt64BE(baseOffset, 8);
  return header;
}

/** Null when `bytes` is a valid segment header for `baseOffset`, else the reason. */
export function checkSegmentHeader(bytes: Buffer, length: number, baseOffset: bigint): string | null {
  if (length < PARTITION_SEGMENT_HEADER_BYTES) return `header is ${length} of ${PARTITION_SEGMENT_HEADER_BYTES} bytes`;
  const magic = bytes.readUInt32BE(0);
  if (magic !== PARTITION_SEGMENT_MAGIC) return `bad magic 0x${magic.toString(16).padStart(8, '0')}`;
  const version = bytes.readUInt16BE(4);
  if (version !== PARTITION_FORMAT_VERSION) return `unsupported format version ${version}`;
  const named = bytes.readBigUInt64BE(8);
  if (named !== baseOffset) return `header names base offset ${named}, file name says ${baseOffset}`;
  return null;
}

/** Initial entry slots of a segment's in-memory index (128 bytes), doubled when full: 100,000 partitions, most of them small, each hold one. */
const INITIAL_INDEX_CAPACITY = 8;

/**
 * A segment's sparse index while it is in memory (the active segment, and a sealed one until its index
 * file is written): 16 bytes per entry, one entry per `indexIntervalBytes` of log.
 */
export class MemoryIndex {
  count = 0;
  relativeOffsets = new Uint32Array(INITIAL_INDEX_CAPACITY);
  positions = new Uint32Array(INITIAL_INDEX_CAPACITY);
  /** Largest maxTimestamp of the batches before the entry's batch (-1 when none). */
  timestamps = new Float64Array(INITIAL_INDEX_CAPACITY);

  add(relativeOffset: number, position: number, timestampBefore: number): void {
    if (this.count === this.positions.length) this.grow();
    const k = this.count++;
    this.relativeOffsets[k] = relativeOffset;
    this.positions[k] = position;
    this.timestamps[k] = timestampBefore;
  }

  private grow(): void {
    const capacity = this.positions.length * 2;
    const relativeOffsets = new Uint32Array(capacity);
    const positions = new Uint32Array(capacity);
    const timestamps = new Float64Array(capacity);
    relativeOffsets.set(this.relativeOffsets);
    positions.set(this.positions);
    timestamps.set(this.timestamps);
    this.relativeOffsets = relativeOffsets;
    this.positions = positions;
    this.timestamps = timestamps;
  }
}

/** What a segment's .index header says about its .log. */
export interface SegmentSummary {
  baseOffset: bigint;
  nextOffset: bigint;
  maxTimestamp: number;
  logBytes: number;
  lastBatchPosition: number;
}

export function encodeOffsetIndex(summary: SegmentSummary, index: MemoryIndex): Buffer {
  const bytes = Buffer.alloc(OFFSET_INDEX_HEADER_BYTES + index.count * OFFSET_INDEX_ENTRY_BYTES);
  bytes.writeUInt32BE(OFFSET_INDEX_MAGIC, 0);
  bytes.writeUInt16BE(PARTITION_FORMAT_VERSION, 4);
  bytes.writeBigUInt64BE(summary.baseOffset, 8);
  bytes.writeBigUInt64BE(summary.nextOffset, 16);
  bytes.writeBigInt64BE(BigInt(summary.maxTimestamp), 24);
  bytes.writeUInt32BE(summary.logBytes, 32);
  bytes.writeUInt32BE(summary.lastBatchPosition, 36);
  bytes.writeUInt32BE(index.count, 40);
  let at = OFFSET_INDEX_HEADER_BYTES;
  for (let k = 0; k < index.count; k++, at += OFFSET_INDEX_ENTRY_BYTES) {
    bytes.writeUInt32BE(index.relativeOffsets[k]!, at);
    bytes.writeUInt32BE(index.positions[k]!, at + 4);
  }
  bytes.writeUInt32BE(headerAndEntriesCrc(bytes, 44, OFFSET_INDEX_HEADER_BYTES), 44);
  return bytes;
}

export function encodeTimeIndex(baseOffset: bigint, index: MemoryIndex): Buffer {
  const bytes = Buffer.alloc(TIME_INDEX_HEADER_BYTES + index.count * TIME_INDEX_ENTRY_BYTES);
  bytes.writeUInt32BE(TIME_INDEX_MAGIC, 0);
  bytes.writeUInt16BE(PARTITION_FORMAT_VERSION, 4);
  bytes.writeBigUInt64BE(baseOffset, 8);
  bytes.writeUInt32BE(index.count, 16);
  let at = TIME_INDEX_HEADER_BYTES;
  for (let k = 0; k < index.count; k++, at += TIME_INDEX_ENTRY_BYTES) {
    bytes.writeBigInt64BE(BigInt(index.timestamps[k]!), at);
    bytes.writeUInt32BE(index.relativeOffsets[k]!, at + 8);
  }
  bytes.writeUInt32BE(headerAndEntriesCrc(bytes, 20, TIME_INDEX_HEADER_BYTES), 20);
  return bytes;
}

/** CRC-32C of bytes [0, crcAt) and [entriesAt, end): the header without its own CRC field, then the entries. */
function headerAndEntriesCrc(bytes: Buffer, crcAt: number, entriesAt: number): number {
  const head = crc32c(new Uint8Array(bytes.buffer, bytes.byteOffset, crcAt));
  return crc32c(new Uint8Array(bytes.buffer, bytes.byteOffset + entriesAt, bytes.length - entriesAt), head);
}

/**
 * Decodes a segment's .index and .timeindex file contents. Returns the summary and the entries, or the
 * reason the pair cannot be trusted for `baseOffset`.
 */
export function decodeIndexFiles(offsetIndex: Buffer, timeIndex: Buffer, baseOffset: bigint): { summary: SegmentSummary; index: MemoryIndex } | string {
  if (offsetIndex.length < OFFSET_INDEX_HEADER_BYTES) return `.index is ${offsetIndex.length} bytes`;
  if (offsetIndex.readUInt32BE(0) !== OFFSET_INDEX_MAGIC) return '.index has a bad magic';
  if (offsetIndex.readUInt16BE(4) !== PARTITION_FORMAT_VERSION) return '.index has an unsupported version';
  const count = offsetIndex.readUInt32BE(40);
  if (offsetIndex.length !== OFFSET_INDEX_HEADER_BYTES + count * OFFSET_INDEX_ENTRY_BYTES) return `.index size does not fit ${count} entries`;
  if (headerAndEntriesCrc(offsetIndex, 44, OFFSET_INDEX_HEADER_BYTES) !== offsetIndex.readUInt32BE(44)) return '.index CRC mismatch';
  if (offsetIndex.readBigUInt64BE(8) !== baseOffset) return '.index names another base offset';
  if (timeIndex.length < TIME_INDEX_HEADER_BYTES) return `.timeindex is ${timeIndex.length} bytes`;
  if (timeIndex.readUInt32BE(0) !== TIME_INDEX_MAGIC) return '.timeindex has a bad magic';
  if (timeIndex.readUInt16BE(4) !== PARTITION_FORMAT_VERSION) return '.timeindex has an unsupported version';
  if (timeIndex.readUInt32BE(16) !== count) return '.timeindex entry count differs from .index';
  if (timeIndex.length !== TIME_INDEX_HEADER_BYTES + count * TIME_INDEX_ENTRY_BYTES) return `.timeindex size does not fit ${count} entries`;
  if (headerAndEntriesCrc(timeIndex, 20, TIME_INDEX_HEADER_BYTES) !== timeIndex.readUInt32BE(20)) return '.timeindex CRC mismatch';
  if (timeIndex.readBigUInt64BE(8) !== baseOffset) return '.timeindex names another base offset';
  const index = new MemoryIndex();
  for (let k = 0; k < count; k++) {
    const at = OFFSET_INDEX_HEADER_BYTES + k * OFFSET_INDEX_ENTRY_BYTES;
    const timeAt = TIME_INDEX_HEADER_BYTES + k * TIME_INDEX_ENTRY_BYTES;
    const relativeOffset = offsetIndex.readUInt32BE(at);
    if (timeIndex.readUInt32BE(timeAt + 8) !== relativeOffset) return `.timeindex entry ${k} names another offset`;
    index.add(relativeOffset, offsetIndex.readUInt32BE(at + 4), Number(timeIndex.readBigInt64BE(timeAt)));
  }
  const summary: SegmentSummary = {
    baseOffset,
    nextOffset: offsetIndex.readBigUInt64BE(16),
    maxTimestamp: Number(offsetIndex.readBigInt64BE(24)),
    logBytes: offsetIndex.readUInt32BE(32),
    lastBatchPosition: offsetIndex.readUInt32BE(36),
  };
  return { summary, index };
}
