/**
 * One segment of a PartitionLog in memory, and the two ways recovery learns a segment's state at open:
 * trusting its index files, or scanning its .log batch by batch. Layouts: format.ts, ../../format/kafka/record-batch.ts.
 *
 * A stored batch is checked more loosely than a produced one (checkBatchHeader with `stored`): a
 * batch rewritten by compaction (compaction.ts) keeps its original lastOffsetDelta with fewer records,
 * and whole batches removed by compaction leave offset gaps between the batches that remain.
 */

import fs from 'node:fs';
import path from 'node:path';
import { CachedFile } from '../fd-cache.js';
import { readFully } from '../files.js';
import { checkFormatVersion } from '../format-error.js';
import { findNextBatch, nextBatchFallsInside, saveDamagedRange, writeSplitSegment, type ResyncPoint } from './batch-resync.js';
import {
  LOG_FILE_SUFFIX,
  MemoryIndex,
  OFFSET_INDEX_FILE_SUFFIX,
  OFFSET_INDEX_MAGIC,
  PARTITION_FORMAT_VERSION,
  TIME_INDEX_MAGIC,
  PARTITION_SEGMENT_HEADER_BYTES,
  TIME_INDEX_FILE_SUFFIX,
  decodeIndexFiles,
  encodeOffsetIndex,
  encodeTimeIndex,
  segmentBaseName,
} from './format.js';
import {
  BASE_OFFSET_AT,
  BATCH_HEADER_BYTES,
  batchCrcMatches,
  checkBatchHeader,
  batchSizeAt,
  lastOffsetDeltaAt,
  maxTimestampAt,
} from '../../format/kafka/record-batch.js';

/** Block read while scanning a segment at recovery, 1 MiB: few syscalls, bounded memory. */
const RECOVERY_BLOCK_BYTES = 1024 * 1024;
/** Largest offset delta inside a segment: relative offsets are u32 in the index. */
export const MAX_RELATIVE_OFFSET = 0xffffffffn;

/** What scanning needs from its log. */
export interface SegmentScanContext {
  dir: string;
  indexIntervalBytes: number;
  syncEnabled: boolean;
  logger: (line: string) => void;
  /** One line per damage found (damaged batches skipped): error level. */
  errorLogger: (line: string) => void;
}

/** One segment's state: a few fields, plus the sparse index while it is in memory. */
export class PartitionSegment {
  readonly baseOffset: bigint;
  readonly logPath: string;
  readonly indexPath: string;
  readonly timeIndexPath: string;
  /** the .log (its descriptor comes and goes with the log's FdCache) */
  readonly file: CachedFile;
  /** the .index and .timeindex, read through the cache while the segment is sealed */
  readonly indexFile: CachedFile;
  readonly timeIndexFile: CachedFile;
  /** Logical end: file size plus bytes in the write buffer. */
  size = PARTITION_SEGMENT_HEADER_BYTES;
  /** Bytes written to the file (== size once flushed). */
  flushedSize = PARTITION_SEGMENT_HEADER_BYTES;
  /**
   * The .log exists. A new partition's first segment (base offset 0, nothing before it) is created by its
   * first write, so an empty partition costs a directory and no file or descriptor; a crash before that
   * write loses nothing (the partition starts at offset 0 again).
   */
  created = true;
  /** The offset after the segment's last batch (== baseOffset while empty). */
  nextOffset: bigint;
  /** Largest batch maxTimestamp in the segment, -1 when none. */
  maxTimestamp = -1;
  /** Time of the last append (or the file's mtime at open): retention age when batches carry no timestamps. */
  lastAppendTime = 0;
  /** maxTimestamp of the segment's first batch (-1: none, or no timestamp): segment.ms counts from it, as in Kafka. */
  rollTimestamp = -1;
  /** Time of the first append (or of the open, for a non-empty active segment): segment.ms without timestamps. */
  createdAt = 0;
  /** Position of the last batch, 0 while the segment is empty. */
  lastBatchPosition = 0;
  bytesSinceIndexEntry = 0;
  /** The index while in memory; null once it lives only in the index files (sealed segments). */
  memoryIndex: MemoryIndex | null = new MemoryIndex();
  /** Entries in the index files (used when memoryIndex is null). */
  fileEntryCount = 0;
  /** Sealed, waiting for the next round to fdatasync its .log. */
  dataSyncPending = false;
  deleted = false;
  /** Recovery truncated a torn or corrupt tail. */
  truncated = false;
  /**
   * Recovery found damage followed by sound batches and moved those into a new segment of this base
   * offset (batch-resync.ts), which recovery then opens in turn; -1 when it did not.
   */
  splitBase = -1n;

  constructor(dir: string, baseOffset: bigint) {
    const base = path.join(dir, segmentBaseName(baseOffset));
    this.baseOffset = baseOffset;
    this.nextOffset = baseOffset;
    this.logPath = base + LOG_FILE_SUFFIX;
    this.indexPath = base + OFFSET_INDEX_FILE_SUFFIX;
    this.timeIndexPath = base + TIME_INDEX_FILE_SUFFIX;
    this.file = new CachedFile(this.logPath, 'r+');
    this.indexFile = new CachedFile(this.indexPath, 'r');
    this.timeIndexFile = new CachedFile(this.timeIndexPath, 'r');
  }
}

export interface RecoveryTotals {
  trusted: number;
  scanned: number;
  scannedBytes: number;
  droppedBytes: number;
  removed: number;
  corrupt: number;
  /** Damaged ranges skipped (saved to side files) and their bytes. */
  damaged: number;
  damagedBytes: number;
  /** Highest base offset of a segment that was removed or moved aside: new offsets never go below it. */
  lostBase: bigint;
  /**
   * Base offset of an empty .log removed at open (a crash during a roll): new offsets start at least
   * there, since after compaction the segment before it may end below that offset. -1: none.
   */
  emptyBase: bigint;
}

/** Adopts a segment's index files when they are intact, match the .log's size and name a sound last batch. */
export function trustIndexFiles(segment: PartitionSegment, fd: number, size: number, isLast: boolean): boolean {
  let decoded: ReturnType<typeof decodeIndexFiles>;
  let offsetIndex: Buffer;
  let timeIndex: Buffer;
  try {
    offsetIndex = fs.readFileSync(segment.indexPath);
    timeIndex = fs.readFileSync(segment.timeIndexPath);
  } catch {
    return false; // missing (never written before a crash) or unreadable
  }
  // written by a newer Postbox: never "repair" it by rewriting it in this version's layout
  checkFormatVersion(segment.indexPath, offsetIndex, offsetIndex.length, OFFSET_INDEX_MAGIC, PARTITION_FORMAT_VERSION);
  checkFormatVersion(segment.timeIndexPath, timeIndex, timeIndex.length, TIME_INDEX_MAGIC, PARTITION_FORMAT_VERSION);
  decoded = decodeIndexFiles(offsetIndex, timeIndex, segment.baseOffset);
  if (typeof decoded === 'string') return false;
  const { summary, index } = decoded;
  if (summary.logBytes !== size) return false;
  if (summary.lastBatchPosition !== 0) {
    // the last batch must end the file, carry the right offsets and pass its CRC
    const position = summary.lastBatchPosition;
    if (position < PARTITION_SEGMENT_HEADER_BYTES || size - position < BATCH_HEADER_BYTES) return false;
    const batch = Buffer.allocUnsafe(size - position);
    readFully(fd, batch, batch.length, position);
    if (checkBatchHeader(batch, 0, batch.length, true) !== null || batchSizeAt(batch, 0) !== batch.length) return false;
    if (batch.readBigInt64BE(BASE_OFFSET_AT) + BigInt(lastOffsetDeltaAt(batch, 0)) + 1n !== summary.nextOffset) return false;
    if (!batchCrcMatches(batch, 0, batch.length)) return false;
  } else if (size !== PARTITION_SEGMENT_HEADER_BYTES || summary.nextOffset !== segment.baseOffset) {
    return false;
  }
  segment.size = segment.flushedSize = size;
  segment.nextOffset = summary.nextOffset;
  segment.maxTimestamp = summary.maxTimestamp;
  segment.lastBatchPosition = summary.lastBatchPosition;
  segment.fileEntryCount = index.count;
  const lastEntry = index.count > 0 ? index.positions[index.count - 1]! : PARTITION_SEGMENT_HEADER_BYTES;
  segment.bytesSinceIndexEntry = size - lastEntry;
  segment.memoryIndex = isLast ? index : null;
  return true;
}

/**
 * Walks every batch, checking header, offsets and CRC, and rebuilds the index. At the first bad batch:
 * when a sound batch follows it in the file, the segment is split there (batch-resync.ts: the damaged
 * bytes go to a side file, the rest to a new segment, segment.splitBase) and truncated; when none does,
 * the rest is a torn tail if no later segment holds batches (`tailMayBeTorn`: truncated, as a crash
 * leaves it), or else damage at the end of a sealed one (saved to a side file, then truncated; the
 * segments after it are kept). Offsets must grow from batch to batch; gaps between batches are allowed (compaction leaves
 * them where it removed whole batches), so a baseOffset is checked only for going backwards.
 */
export function scanSegmentFile(
  segment: PartitionSegment,
  fd: number,
  size: number,
  context: SegmentScanContext,
  totals: RecoveryTotals,
  recoveryBlock: { buffer: Buffer },
  tailMayBeTorn = true,
): void {
  if (recoveryBlock.buffer.length === 0) recoveryBlock.buffer = Buffer.allocUnsafe(RECOVERY_BLOCK_BYTES);
  let block = recoveryBlock.buffer;
  let blockStart = 0;
  let blockEnd = 0;
  let position = PARTITION_SEGMENT_HEADER_BYTES;
  let expected = segment.baseOffset;
  let reason = '';
  /** where the bad batch's own length says the next one starts (-1: its header is unusable) */
  let hint = -1;
  const index = segment.memoryIndex!;
  while (position < size) {
    hint = -1;
    if (position + BATCH_HEADER_BYTES > blockEnd) {
      if (size - position < BATCH_HEADER_BYTES) {
        reason = 'incomplete batch header';
        break;
      }
      block = recoveryBlock.buffer;
      const length = Math.min(block.length, size - position);
      readFully(fd, block, length, position);
      blockStart = position;
      blockEnd = position + length;
    }
    let at = position - blockStart;
    const problem = checkBatchHeader(block, at, blockEnd - position, true);
    if (problem !== null) {
      reason = problem;
      break;
    }
    const batchSize = batchSizeAt(block, at);
    hint = position + batchSize;
    if (position + batchSize > size) {
      reason = `batch of ${batchSize} bytes runs past end of file`;
      break;
    }
    const baseOffset = block.readBigInt64BE(at + BASE_OFFSET_AT);
    if (baseOffset < expected) {
      reason = `batch has offset ${baseOffset}, ${expected} or more expected`;
      break;
    }
    if (baseOffset + BigInt(lastOffsetDeltaAt(block, at)) - segment.baseOffset > MAX_RELATIVE_OFFSET) {
      reason = `batch offset ${baseOffset} is too far past the segment's base offset`;
      break;
    }
    if (position + batchSize > blockEnd) {
      block = batchSize <= recoveryBlock.buffer.length ? recoveryBlock.buffer : Buffer.allocUnsafe(batchSize);
      const length = Math.max(batchSize, Math.min(block.length, size - position));
      readFully(fd, block, length, position);
      blockStart = position;
      blockEnd = position + length;
      at = 0;
    }
    if (!batchCrcMatches(block, at, batchSize)) {
      reason = 'CRC mismatch';
      break;
    }
    const lastOffset = baseOffset + BigInt(lastOffsetDeltaAt(block, at));
    if (baseOffset > expected && nextBatchFallsInside(fd, block, blockStart, blockEnd, position + batchSize, size, expected, lastOffset)) {
      // the CRC does not cover baseOffset: a gap that the next batch's offset contradicts is a damaged offset
      reason = `batch offset ${baseOffset} contradicts the next batch's`;
      break;
    }
    if (segment.bytesSinceIndexEntry >= context.indexIntervalBytes) {
      index.add(Number(baseOffset - segment.baseOffset), position, segment.maxTimestamp);
      segment.bytesSinceIndexEntry = 0;
    }
    segment.bytesSinceIndexEntry += batchSize;
    segment.lastBatchPosition = position;
    const maxTimestamp = maxTimestampAt(block, at);
    if (maxTimestamp > segment.maxTimestamp) segment.maxTimestamp = maxTimestamp;
    expected = baseOffset + BigInt(lastOffsetDeltaAt(block, at)) + 1n;
    position += batchSize;
  }
  totals.scanned++;
  totals.scannedBytes += position;
  if (position < size) {
    const resync = findNextBatch(fd, position + 1, size, hint, expected, segment.baseOffset + MAX_RELATIVE_OFFSET);
    if (resync !== null || !tailMayBeTorn) {
      reportDamage(segment, fd, size, position, expected, reason, resync, context, totals);
      segment.size = segment.flushedSize = position;
      segment.nextOffset = expected;
      return;
    }
    fs.ftruncateSync(fd, position);
    if (context.syncEnabled) fs.fdatasyncSync(fd);
    totals.droppedBytes += size - position;
    segment.truncated = true;
    context.logger(
      `partition ${context.dir}: ${path.basename(segment.logPath)}: dropped ${size - position} byte(s) at position ${position}, ` +
        `offset ${expected} (${reason})`,
    );
  }
  segment.size = segment.flushedSize = position;
  segment.nextOffset = expected;
}

/**
 * Damage at `position` (not a torn tail): saves the damaged bytes to a side file; when a sound batch
 * follows (`resync`), copies everything from it into a new segment; then truncates this one at the damage.
 */
function reportDamage(
  segment: PartitionSegment,
  fd: number,
  size: number,
  position: number,
  expected: bigint,
  reason: string,
  resync: ResyncPoint | null,
  context: SegmentScanContext,
  totals: RecoveryTotals,
): void {
  const name = path.basename(segment.logPath);
  const damagedEnd = resync === null ? size : resync.position;
  const sideFile = saveDamagedRange(fd, segment.logPath, position, damagedEnd, context.syncEnabled);
  let moved = '';
  if (resync !== null) {
    const split = writeSplitSegment(fd, context.dir, resync.position, size, resync.baseOffset, context.syncEnabled);
    segment.splitBase = resync.baseOffset;
    moved =
      `; the ${size - resync.position} byte(s) of batches after it (offsets from ${resync.baseOffset} on, unchanged) ` +
      `moved to the new segment ${path.basename(split)}`;
  }
  fs.ftruncateSync(fd, position);
  if (context.syncEnabled) fs.fdatasyncSync(fd);
  totals.damaged++;
  totals.damagedBytes += damagedEnd - position;
  context.errorLogger(
    `partition ${context.dir}: ${name} is DAMAGED at position ${position} (offset ${expected} on; ${reason}): ` +
      `skipped ${damagedEnd - position} byte(s), kept in ${path.join(context.dir, sideFile)}; ` +
      `the batches before it are recovered${moved}; no offset is reused`,
  );
}

/** Writes a segment's .timeindex and .index from its in-memory index; unless `keepInMemory` (the active segment), drops it. */
export function writeIndexFiles(segment: PartitionSegment, keepInMemory: boolean): void {
  const index = segment.memoryIndex;
  if (index === null) return;
  const summary = {
    baseOffset: segment.baseOffset,
    nextOffset: segment.nextOffset,
    maxTimestamp: segment.maxTimestamp,
    logBytes: segment.size,
    lastBatchPosition: segment.lastBatchPosition,
  };
  fs.writeFileSync(segment.timeIndexPath, encodeTimeIndex(segment.baseOffset, index));
  fs.writeFileSync(segment.indexPath, encodeOffsetIndex(summary, index));
  segment.fileEntryCount = index.count;
  if (!keepInMemory) segment.memoryIndex = null;
}
