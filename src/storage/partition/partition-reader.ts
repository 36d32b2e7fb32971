/**
 * PartitionReader: how a PartitionLog finds and reads batches (read, slice, offsetForTimestamp) through each
 * segment's sparse index. File layouts: format.ts (the .index and .timeindex files), ../../format/kafka/record-batch.ts.
 *
 * Each segment keeps a sparse index: one (relative offset, position, largest timestamp so far) entry
 * per `indexIntervalBytes` of batches (written by the log as it appends). The active segment's index is
 * in memory (16 bytes an entry); a sealed segment's is in its .index/.timeindex files once its .log is
 * durable, binary-searched there with 8- and 12-byte reads. A lookup therefore reads O(log entries)
 * index bytes plus at most about one index interval of batch headers (one LOCATE_BLOCK_BYTES block)
 * before it reads the answer, wherever the offset is; a consumer reading on from where its last read
 * ended skips even that (the reader remembers where the last read stopped: the hint).
 *
 * The log checks the offset range, steps over gaps and flushes its write buffer before it asks: the
 * reader sees only flushed bytes of one segment. It holds caches of positions in segments (the header
 * block, the hint, the index entry read last); the log calls forget() for a segment it deletes or
 * replaces, and reset() when it rebuilds everything after a rollback.
 */

import { FdCache, FileSlice } from '../fd-cache.js';
import { readFully } from '../files.js';
import {
  OFFSET_INDEX_ENTRY_BYTES,
  OFFSET_INDEX_HEADER_BYTES,
  PARTITION_SEGMENT_HEADER_BYTES,
  TIME_INDEX_ENTRY_BYTES,
  TIME_INDEX_HEADER_BYTES,
} from './format.js';
import { BASE_OFFSET_AT, BATCH_HEADER_BYTES, BATCH_LENGTH_OVERHEAD, batchSizeAt, lastOffsetDeltaAt, maxTimestampAt } from '../../format/kafka/record-batch.js';
import type { PartitionSegment } from './partition-segment.js';

/** Block read while walking batch headers from an index entry: covers a default index interval and a header. */
const LOCATE_BLOCK_BYTES = 8 * 1024;

const EMPTY = Buffer.alloc(0);

/** Bytes read from files by read() and offsetForTimestamp(), for tests and metrics. */
export interface ReadCounters {
  /** Bytes of .log files read: batch headers while locating, plus the batches returned. */
  logBytesRead: number;
  /** Bytes of .index/.timeindex files read by binary searches over sealed segments. */
  indexBytesRead: number;
  /** Of logBytesRead, the bytes read to locate a batch (not the returned batches). */
  locateBytesRead: number;
}

/** Index in `segments` of the last segment whose base offset is <= offset. */
export function segmentIndexFor(segments: readonly PartitionSegment[], offset: bigint): number {
  let low = 0;
  let high = segments.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >>> 1;
    if (segments[middle]!.baseOffset <= offset) low = middle;
    else high = middle - 1;
  }
  return low;
}

export class PartitionReader {
  readonly readCounters: ReadCounters = { logBytesRead: 0, indexBytesRead: 0, locateBytesRead: 0 };

  /** Header block for locating batches: bytes [scanStart, scanEnd) of scanSegment. */
  private scanBlock: Buffer = EMPTY; // allocated by the first locate (LOCATE_BLOCK_BYTES)
  private scanSegment: PartitionSegment | null = null;
  private scanStart = 0;
  private scanEnd = 0;
  /** Where the last read() stopped: the batch of hintOffset starts at hintPosition of hintSegment. */
  private hintSegment: PartitionSegment | null = null;
  private hintOffset = -1n;
  private hintPosition = 0;
  /** Size of the batch found by the last locate(). */
  private locatedSize = 0;

  private readonly entryScratch = Buffer.allocUnsafe(OFFSET_INDEX_ENTRY_BYTES);
  private readonly timeEntryScratch = Buffer.allocUnsafe(TIME_INDEX_ENTRY_BYTES);
  /** Which .index entry entryScratch holds (a binary search reads an entry's offset, then its position). */
  private scratchSegment: PartitionSegment | null = null;
  private scratchEntry = -1;

  constructor(
    private readonly dir: string,
    /** where descriptors come from (shared by every log of a broker) */
    private readonly files: FdCache,
  ) {}

  /** The offset just past the batches the last read() or slice() returned (-1 when none is cached). */
  get lastReadEnd(): bigint {
    return this.hintOffset;
  }

  /** The segment is deleted or replaced: no cached position may point into it. */
  forget(segment: PartitionSegment): void {
    if (this.hintSegment === segment) this.hintSegment = null;
    if (this.scanSegment === segment) this.scanSegment = null;
    if (this.scratchSegment === segment) this.scratchSegment = null;
  }

  /** Every segment is rebuilt (a rollback): forget every cached position. */
  reset(): void {
    this.scanSegment = this.hintSegment = this.scratchSegment = null;
    this.hintOffset = -1n;
    this.scratchEntry = -1;
  }

  /**
   * Whole batches of `segment` from the one holding `offset` (which is in the segment), up to about
   * maxBytes: PartitionLog.read() once it has found the segment and flushed.
   */
  read(segment: PartitionSegment, offset: bigint, maxBytes: number, allocate: (size: number) => Buffer): Buffer {
    const available = segment.flushedSize;
    let position: number;
    let firstSize: number;
    if (this.hintSegment === segment && this.hintOffset === offset) {
      // a consumer reading on from where its last read stopped: no search, the answer's first bytes tell its size
      position = this.hintPosition;
      firstSize = 0;
    } else {
      position = this.locate(segment, offset);
      firstSize = this.locatedSize;
    }
    let length = Math.max(firstSize, BATCH_HEADER_BYTES, Math.min(maxBytes, available - position));
    let bytes = allocate(length);
    readFully(this.readFdFor(segment), bytes, length, position);
    this.readCounters.logBytesRead += length;
    if (firstSize === 0) {
      firstSize = batchSizeAt(bytes, 0);
      if (firstSize > length) {
        const whole = Buffer.allocUnsafe(firstSize); // larger than asked for: `bytes` is dropped (not returned to a pool)
        bytes.copy(whole, 0, 0, length);
        readFully(this.readFdFor(segment), whole.subarray(length), firstSize - length, position + length);
        this.readCounters.logBytesRead += firstSize - length;
        bytes = whole;
        length = firstSize;
      }
    }
    let lastStart = 0;
    let end = firstSize;
    while (end + BATCH_LENGTH_OVERHEAD <= length) {
      const size = batchSizeAt(bytes, end);
      if (end + size > length) break;
      lastStart = end;
      end += size;
    }
    this.hintSegment = segment;
    this.hintOffset = bytes.readBigInt64BE(lastStart + BASE_OFFSET_AT) + BigInt(lastOffsetDeltaAt(bytes, lastStart)) + 1n;
    this.hintPosition = position + end;
    return end === length ? bytes : bytes.subarray(0, end);
  }

  /** The range of `segment` PartitionLog.slice() answers with, once it has found the segment and flushed. */
  slice(segment: PartitionSegment, offset: bigint, maxBytes: number, end: bigint): FileSlice | null {
    let position: number;
    let firstSize: number;
    let firstBase: bigint;
    if (this.hintSegment === segment && this.hintOffset === offset) {
      position = this.hintPosition;
      const at = this.headerInBlock(segment, position);
      firstSize = batchSizeAt(this.scanBlock, at);
      firstBase = this.scanBlock.readBigInt64BE(at + BASE_OFFSET_AT);
    } else {
      position = this.locate(segment, offset);
      firstSize = this.locatedSize;
      firstBase = this.scanBlock.readBigInt64BE(position - this.scanStart + BASE_OFFSET_AT);
    }
    if (firstBase >= end) return null;
    // the range may not pass maxBytes (but for the first batch), the flushed bytes, nor the batch at `end`
    let limit = Math.min(segment.flushedSize, position + Math.max(firstSize, maxBytes));
    if (end < segment.nextOffset) {
      let endPosition = this.locate(segment, end);
      // `end` inside a batch (not a high watermark, which is always a batch's end): that batch is below it
      if (this.scanBlock.readBigInt64BE(endPosition - this.scanStart + BASE_OFFSET_AT) < end) endPosition += this.locatedSize;
      if (endPosition < limit) limit = endPosition;
    }
    let boundary = position + firstSize;
    if (boundary < limit) {
      // jump to the last indexed batch start within the limit, then walk batch headers to the limit
      const indexed = this.lastIndexedPositionAtOrBefore(segment, limit);
      if (indexed > boundary) boundary = indexed;
      while (boundary + BATCH_HEADER_BYTES <= limit) {
        const size = batchSizeAt(this.scanBlock, this.headerInBlock(segment, boundary));
        if (boundary + size > limit) break;
        boundary += size;
      }
    }
    // the next read on from here (a consumer's next fetch) starts at `boundary` without a search
    this.hintSegment = segment;
    this.hintPosition = boundary;
    if (boundary >= segment.flushedSize) this.hintOffset = segment.nextOffset;
    else this.hintOffset = this.scanBlock.readBigInt64BE(this.headerInBlock(segment, boundary) + BASE_OFFSET_AT);
    return new FileSlice(this.files, segment.file, position, boundary - position);
  }

  /** Position of the last index entry of `segment` at or before `position` (a batch start), or -1. */
  private lastIndexedPositionAtOrBefore(segment: PartitionSegment, position: number): number {
    let low = 0;
    let high = this.entryCount(segment) - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const at = this.entryPosition(segment, middle);
      if (at <= position) {
        found = at;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  /** In `segment` (flushed): the base offset of the first batch whose maxTimestamp >= `timestamp`, or null. */
  offsetForTimestamp(segment: PartitionSegment, timestamp: number): bigint | null {
    // entries' timestamps only grow: find the last entry before which every batch is older than `timestamp`
    let low = 0;
    let high = this.entryCount(segment) - 1;
    let start = PARTITION_SEGMENT_HEADER_BYTES;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.entryTimestamp(segment, middle) < timestamp) {
        start = this.entryPosition(segment, middle);
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    for (let position = start; position < segment.flushedSize;) {
      const at = this.headerInBlock(segment, position);
      if (maxTimestampAt(this.scanBlock, at) >= timestamp) return this.scanBlock.readBigInt64BE(at + BASE_OFFSET_AT);
      position += batchSizeAt(this.scanBlock, at);
    }
    return null;
  }

  /** Position of the batch holding `offset` (inside [baseOffset, nextOffset)); its size goes to locatedSize. */
  private locate(segment: PartitionSegment, offset: bigint): number {
    let position = PARTITION_SEGMENT_HEADER_BYTES;
    const relative = Number(offset - segment.baseOffset);
    let low = 0;
    let high = this.entryCount(segment) - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.entryRelativeOffset(segment, middle) <= relative) {
        position = this.entryPosition(segment, middle);
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    const end = segment.flushedSize;
    while (position < end) {
      const at = this.headerInBlock(segment, position);
      const block = this.scanBlock;
      const size = batchSizeAt(block, at);
      const last = block.readBigInt64BE(at + BASE_OFFSET_AT) + BigInt(lastOffsetDeltaAt(block, at));
      if (last >= offset) {
        this.locatedSize = size;
        return position;
      }
      position += size;
    }
    throw new Error(`partition ${this.dir}: offset ${offset} not found in segment ${segment.baseOffset}`);
  }

  /** Makes the batch header at `position` of `segment` available in scanBlock; returns where it starts there. */
  private headerInBlock(segment: PartitionSegment, position: number): number {
    if (this.scanSegment === segment && position >= this.scanStart && position + BATCH_HEADER_BYTES <= this.scanEnd) {
      return position - this.scanStart;
    }
    if (this.scanBlock.length === 0) this.scanBlock = Buffer.allocUnsafe(LOCATE_BLOCK_BYTES);
    const length = Math.min(LOCATE_BLOCK_BYTES, segment.flushedSize - position);
    if (length < BATCH_HEADER_BYTES) throw new Error(`partition ${this.dir}: truncated batch header at ${segment.baseOffset}:${position}`);
    readFully(this.readFdFor(segment), this.scanBlock, length, position);
    this.readCounters.logBytesRead += length;
    this.readCounters.locateBytesRead += length;
    this.scanSegment = segment;
    this.scanStart = position;
    this.scanEnd = position + length;
    return 0;
  }

  private readFdFor(segment: PartitionSegment): number {
    return this.files.fd(segment.file);
  }

  private entryCount(segment: PartitionSegment): number {
    return segment.memoryIndex !== null ? segment.memoryIndex.count : segment.fileEntryCount;
  }

  private entryRelativeOffset(segment: PartitionSegment, k: number): number {
    const index = segment.memoryIndex;
    if (index !== null) return index.relativeOffsets[k]!;
    this.readIndexEntry(segment, k);
    return this.entryScratch.readUInt32BE(0);
  }

  private entryPosition(segment: PartitionSegment, k: number): number {
    const index = segment.memoryIndex;
    if (index !== null) return index.positions[k]!;
    this.readIndexEntry(segment, k);
    return this.entryScratch.readUInt32BE(4);
  }

  private entryTimestamp(segment: PartitionSegment, k: number): number {
    const index = segment.memoryIndex;
    if (index !== null) return index.timestamps[k]!;
    const scratch = this.timeEntryScratch;
    readFully(this.files.fd(segment.timeIndexFile), scratch, TIME_INDEX_ENTRY_BYTES, TIME_INDEX_HEADER_BYTES + k * TIME_INDEX_ENTRY_BYTES);
    this.readCounters.indexBytesRead += TIME_INDEX_ENTRY_BYTES;
    return Number(scratch.readBigInt64BE(0));
  }

  /** Reads .index entry k into entryScratch. */
  private readIndexEntry(segment: PartitionSegment, k: number): void {
    if (this.scratchSegment === segment && this.scratchEntry === k) return;
    this.scratchSegment = null;
    readFully(this.files.fd(segment.indexFile), this.entryScratch, OFFSET_INDEX_ENTRY_BYTES, OFFSET_INDEX_HEADER_BYTES + k * OFFSET_INDEX_ENTRY_BYTES);
    this.scratchSegment = segment;
    this.scratchEntry = k;
    this.readCounters.indexBytesRead += OFFSET_INDEX_ENTRY_BYTES;
  }
}
