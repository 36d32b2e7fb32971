/**
 * Log compaction (cleanup.policy=compact), as Kafka's log cleaner does it: keep only the latest record
 * of every key. PartitionLog.compactionSteps() drives it; this file holds the parts that touch records and
 * files. Records: ../../format/kafka/records.ts. Segment layout: format.ts.
 *
 * One pass:
 *
 *   1. Map every key to the offset of its latest record, over the whole log (sealed and active).
 *   2. Rewrite each sealed segment, oldest first, keeping a record when
 *        - its key is null (a compacted topic's producers must send keys; the wire layer rejects
 *          null keys there, so these can only predate the policy), or
 *        - it is the latest record of its key, unless it is a tombstone (null value) whose segment
 *          is older than deleteRetentionMs (see below).
 *      Never the active segment. A segment is rewritten only when it loses at least one record, and
 *      only while every older segment is settled (.log durable, index files written): a tombstone
 *      may only go once every older record of its key has gone, durably, before it.
 *
 * Batches: a batch that keeps every record is copied byte for byte; one that keeps none disappears
 * (a gap in the offsets: a fetch there returns the next batch that exists); otherwise the kept
 * records are re-wrapped, each record's bytes unchanged, in a new batch with the same baseOffset,
 * lastOffsetDelta (so the batch still ends where it ended and offsets stay monotonic), codec,
 * baseTimestamp, producerId/epoch, baseSequence, and partitionLeaderEpoch, a fresh recordCount and
 * CRC, and, for CreateTime batches, the largest kept timestamp as maxTimestamp (Kafka does the same).
 * Control batches (transaction markers) and batches whose records do not decode are kept as they
 * are and contribute no keys. Not done (yet): removing aborted transactional records, keeping an
 * empty batch to preserve a producer's last sequence (Kafka does; here an idempotent producer whose
 * last batch was cleaned away is treated as new), merging small cleaned segments.
 *
 * Tombstone age: a tombstone goes once `now - T > deleteRetentionMs`, T being the newest timestamp
 * in its segment (its largest batch maxTimestamp; the last append time when batches carry none), the
 * same clock time-based retention uses. T is never older than the tombstone itself, so every
 * consumer that reads the partition from its start within deleteRetentionMs of the tombstone's
 * timestamp sees it, and T lives in the batches themselves, so it survives restarts and rewrites
 * without extra state. (Kafka >= 3.0 instead stamps a delete horizon into the batch at the first
 * cleaning, KIP-534; this log never writes that flag.)
 *
 * Files while segment X is rewritten (X = 00000000000000052817):
 *
 *   step                               files on disk                          a crash here → open() does
 *   ---------------------------------  -------------------------------------  -----------------------------
 *   0 before                           X.log  X.index  X.timeindex            nothing
 *   1 write X.log.cleaned, fdatasync   X.log  X.index  X.timeindex  X.log.cleaned
 *                                                                             delete X.log.cleaned: X.log is intact
 *   2 rename .cleaned → .swap          X.log  X.index  X.timeindex  X.log.swap     (commit point)
 *   3 unlink X.index, X.timeindex,     X.log  X.log.swap                      finish the swap: delete X.index and
 *     fsync the directory                                                     X.timeindex, rename X.log.swap → X.log
 *   4 rename .swap → .log,             X.log (cleaned)                        scan X.log, rebuild its index files
 *     fsync the directory
 *   5 write X.index, X.timeindex       X.log  X.index  X.timeindex            nothing
 *
 * The .swap file was made durable in step 1 before it could exist, so finishing the swap never loses a
 * kept record; the old index files are gone (durably) before the cleaned .log takes their .log's name,
 * so they can never describe it. A segment that loses every record is deleted instead (its .log
 * first, like retention), except the first one, which stays as a header-only file so the log start
 * offset never moves.
 */

import fs from 'node:fs';
import path from 'node:path';
import { closeQuietly, readFully, unlinkIfExists, writeFully } from '../files.js';
import { CorruptBatchError } from '../../format/kafka/errors.js';
import { emptyCompactionResult, type CompactionOptions, type CompactionResult } from '../log-store.js';
import { LOG_FILE_SUFFIX, MemoryIndex, OFFSET_INDEX_FILE_SUFFIX, PARTITION_SEGMENT_HEADER_BYTES, TIME_INDEX_FILE_SUFFIX } from './format.js';
import {
  ATTRIBUTES_AT,
  BASE_OFFSET_AT,
  BASE_TIMESTAMP_AT,
  BATCH_HEADER_BYTES,
  BATCH_LENGTH_AT,
  BATCH_LENGTH_OVERHEAD,
  LAST_OFFSET_DELTA_AT,
  MAX_BATCH_BYTES,
  PARTITION_LEADER_EPOCH_AT,
  PRODUCER_ID_AT,
  lastOffsetDeltaAt,
  maxTimestampAt,
} from '../../format/kafka/record-batch.js';
import { COMPRESSION_CODEC_MASK, CONTROL_FLAG, TIMESTAMP_TYPE_LOG_APPEND_TIME, buildBatch, type CompressionCodec } from '../../format/kafka/records.js';
import { DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES, RecordWalk } from '../../format/kafka/record-walk.js';

/** Kafka's delete.retention.ms default, one day: how long a tombstone outlives its segment's newest record. */
export const DEFAULT_DELETE_RETENTION_MS = 24 * 60 * 60 * 1000;
/** A segment being rewritten: `<base>.log.cleaned`, deleted at open (never committed). */
export const CLEANED_FILE_SUFFIX = '.cleaned';
/** A rewritten segment committed but not yet renamed over its .log: `<base>.log.swap`, finished at open. */
export const SWAP_FILE_SUFFIX = '.swap';
/** Block read while walking a segment's batches, 1 MiB: few syscalls, bounded memory. */
const BATCH_WALK_BLOCK_BYTES = 1024 * 1024;
/** Write buffer of a cleaned segment, 1 MiB. */
const CLEANED_WRITE_BUFFER_BYTES = 1024 * 1024;
/** Header fields record-batch.ts does not name (its drawing: producerEpoch int16 after producerId, then baseSequence). */
const PRODUCER_EPOCH_AT = PRODUCER_ID_AT + 8;
const BASE_SEQUENCE_AT = PRODUCER_ID_AT + 10;

export { emptyCompactionResult, type CompactionOptions, type CompactionResult };

/**
 * Starts `walk` over the records of a batch compaction may judge; false for one kept as it is (a control
 * batch, or one whose records do not walk within DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES: damaged, or stored
 * before the produce path enforced that limit). Records are walked without an object each (record-walk.ts).
 */
function startJudgeable(walk: RecordWalk, batch: Buffer): boolean {
  if ((batch.readInt16BE(ATTRIBUTES_AT) & CONTROL_FLAG) !== 0) return false;
  try {
    // whole: cleanBatch keeps positions of kept records across the walk
    walk.startBatch(batch, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES, true);
    // a first pass checks the whole batch, so a batch that fails half way is never half judged
    while (walk.next());
    walk.start(walk.area, walk.read);
    return true;
  } catch (error) {
    if (error instanceof CorruptBatchError) return false;
    throw error;
  }
}

/** The key of the walk's current record as a map key (latin1: one char per byte, so distinct keys stay distinct). */
function keyString(walk: RecordWalk): string {
  return walk.area.toString('latin1', walk.keyStart, walk.keyStart + walk.keyLength);
}

/** Reused by every compaction step (steps run synchronously, one at a time). */
const KEY_WALK = new RecordWalk();
const CLEAN_WALK = new RecordWalk();

/** Key (its bytes as a latin1 string) → offset of its latest record. */
export class KeyOffsetMap {
  private readonly latest = new Map<string, bigint>();

  get size(): number {
    return this.latest.size;
  }

  /** Records the keys of one stored batch; later calls must be for later batches. */
  addBatch(batch: Buffer): void {
    const walk = KEY_WALK;
    if (!startJudgeable(walk, batch)) return;
    const baseOffset = batch.readBigInt64BE(BASE_OFFSET_AT);
    while (walk.next()) {
      if (walk.keyLength >= 0) this.latest.set(keyString(walk), baseOffset + BigInt(walk.offsetDelta));
    }
    walk.end();
  }

  /** Whether the walk's current record is the latest of its key (it must have one). */
  isLatestOf(walk: RecordWalk, offset: bigint): boolean {
    return this.latest.get(keyString(walk)) === offset;
  }

  isLatest(key: Buffer, offset: bigint): boolean {
    return this.latest.get(key.toString('latin1')) === offset;
  }
}

/** An iterator over stored batches that also tells where the batch it returned last starts. */
export interface StoredBatchWalk extends Iterator<Buffer, void, void> {
  readonly position: number;
}

/**
 * The stored batches in [start, end) of the file, in order, one next() at a time (so a caller can stop
 * between two). Each Buffer is a view into a reused block: valid until the next call. Throws (a plain
 * Error) when the sizes do not add up.
 */
export function storedBatches(fd: number, start: number, end: number): StoredBatchWalk {
  const block = Buffer.allocUnsafe(Math.min(BATCH_WALK_BLOCK_BYTES, Math.max(end - start, BATCH_HEADER_BYTES)));
  let blockStart = start;
  let blockEnd = start;
  let position = start;
  let size = 0;
  const walk = {
    position: start,
    next(): IteratorResult<Buffer, void> {
      position += size;
      size = 0;
      if (position >= end) return { done: true, value: undefined };
      if (position + BATCH_LENGTH_OVERHEAD > blockEnd) {
        const length = Math.min(block.length, end - position);
        if (length < BATCH_LENGTH_OVERHEAD) throw new Error(`incomplete batch at position ${position}`);
        readFully(fd, block, length, position);
        blockStart = position;
        blockEnd = position + length;
      }
      const batchSize = BATCH_LENGTH_OVERHEAD + block.readInt32BE(position - blockStart + BATCH_LENGTH_AT);
      if (batchSize < BATCH_HEADER_BYTES || batchSize > MAX_BATCH_BYTES || position + batchSize > end) {
        throw new Error(`batch of ${batchSize} bytes at position ${position} does not fit in ${end} bytes`);
      }
      let batch: Buffer;
      if (position + batchSize <= blockEnd) {
        batch = block.subarray(position - blockStart, position - blockStart + batchSize);
      } else if (batchSize <= block.length) {
        readFully(fd, block, Math.min(block.length, end - position), position);
        blockStart = position;
        blockEnd = position + Math.min(block.length, end - position);
        batch = block.subarray(0, batchSize);
      } else {
        batch = Buffer.allocUnsafe(batchSize);
        readFully(fd, batch, batchSize, position);
      }
      size = batchSize;
      walk.position = position;
      return { done: false, value: batch };
    },
  };
  return walk;
}

/** Counters of one segment's cleaning. */
interface CleaningCounts {
  batchesRemoved: number;
  recordsRemoved: number;
  tombstonesRemoved: number;
  batchesKeptOpaque: number;
}

/**
 * What is left of one stored batch: the same Buffer when every record stays, null when none does,
 * else a new batch of the kept records (header comment: which fields it keeps).
 */
export function cleanBatch(batch: Buffer, keys: KeyOffsetMap, removeTombstones: boolean, counts: CleaningCounts): Buffer | null {
  const walk = CLEAN_WALK;
  if (!startJudgeable(walk, batch)) {
    counts.batchesKeptOpaque++;
    return batch;
  }
  try {
    const baseOffset = batch.readBigInt64BE(BASE_OFFSET_AT);
    // the kept records as [start, end) ranges of the area, merged when adjacent: no object per record
    const ranges: number[] = [];
    let kept = 0;
    let tombstones = 0;
    let largestKeptTimestampDelta = -Infinity;
    while (walk.next()) {
      if (walk.keyLength >= 0) {
        if (!keys.isLatestOf(walk, baseOffset + BigInt(walk.offsetDelta))) continue;
        if (walk.valueLength < 0 && removeTombstones) {
          tombstones++;
          continue;
        }
      }
      kept++;
      if (walk.timestampDelta > largestKeptTimestampDelta) largestKeptTimestampDelta = walk.timestampDelta;
      if (ranges.length > 0 && ranges[ranges.length - 1] === walk.recordStart) ranges[ranges.length - 1] = walk.recordEnd;
      else ranges.push(walk.recordStart, walk.recordEnd);
    }
    const total = walk.read;
    if (kept === total) return batch;
    let left: Buffer | null = null;
    if (kept > 0) {
      left = rewrapKeptRecords(batch, baseOffset, walk.area, ranges, kept, largestKeptTimestampDelta);
      if (left === null) {
        counts.batchesKeptOpaque++;
        return batch;
      }
    } else {
      counts.batchesRemoved++;
    }
    counts.recordsRemoved += total - kept;
    counts.tombstonesRemoved += tombstones;
    return left;
  } finally {
    walk.end();
  }
}

/**
 * A new batch of the `kept` records of `batch`, which lie at `ranges` ([start, end) pairs) of its records
 * area (header comment: which fields it keeps); null when it cannot be built exactly.
 */
function rewrapKeptRecords(
  batch: Buffer,
  baseOffset: bigint,
  area: Buffer,
  ranges: readonly number[],
  kept: number,
  largestTimestampDelta: number,
): Buffer | null {
  const attributes = batch.readInt16BE(ATTRIBUTES_AT);
  const baseTimestamp = Number(batch.readBigInt64BE(BASE_TIMESTAMP_AT));
  let maxTimestamp = maxTimestampAt(batch, 0);
  if ((attributes & TIMESTAMP_TYPE_LOG_APPEND_TIME) === 0) maxTimestamp = Math.max(-1, baseTimestamp + largestTimestampDelta);
  // timestamps no clock produces (past 2^53 ms) cannot be carried over exactly: the batch stays whole
  if (!Number.isSafeInteger(baseTimestamp) || !Number.isSafeInteger(maxTimestamp)) return null;
  let size = 0;
  for (let i = 0; i < ranges.length; i += 2) size += ranges[i + 1]! - ranges[i]!;
  const keptArea = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < ranges.length; i += 2) at += area.copy(keptArea, at, ranges[i]!, ranges[i + 1]!);
  return buildBatch(
    {
      baseOffset,
      partitionLeaderEpoch: batch.readInt32BE(PARTITION_LEADER_EPOCH_AT),
      attributes,
      compression: (attributes & COMPRESSION_CODEC_MASK) as CompressionCodec,
      lastOffsetDelta: batch.readInt32BE(LAST_OFFSET_DELTA_AT),
      baseTimestamp,
      maxTimestamp,
      producerId: batch.readBigInt64BE(PRODUCER_ID_AT),
      producerEpoch: batch.readInt16BE(PRODUCER_EPOCH_AT),
      baseSequence: batch.readInt32BE(BASE_SEQUENCE_AT),
    },
    keptArea,
    kept,
  );
}

export interface SegmentCleaningInput {
  logPath: string;
  baseOffset: bigint;
  /** Bytes of the .log (header included). */
  size: number;
  keys: KeyOffsetMap;
  removeTombstones: boolean;
  indexIntervalBytes: number;
  /** fdatasync the cleaned file before returning (the log's fsync policy). */
  sync: boolean;
}

/** A segment's state after cleaning, as PartitionSegment holds it; its bytes are in `<log>.cleaned`. */
export interface CleanedSegment extends CleaningCounts {
  size: number;
  nextOffset: bigint;
  maxTimestamp: number;
  lastBatchPosition: number;
  bytesSinceIndexEntry: number;
  index: MemoryIndex;
}

/**
 * Writes the cleaned copy of a segment to `<logPath>.cleaned` (step 1 of the header drawing), with its
 * sparse index computed as append() would; returns null, writing nothing, when no record goes. It yields
 * after each `stepBytes` of the segment read (PartitionLog.compactionSteps() lets others run there).
 * Ended early with return() (or by a throw), it removes its unfinished `.cleaned` file.
 */
export function* cleanSegmentFileSteps(input: SegmentCleaningInput, stepBytes: number): Generator<void, CleanedSegment | null, void> {
  const cleanedPath = input.logPath + CLEANED_FILE_SUFFIX;
  const result: CleanedSegment = {
    batchesRemoved: 0,
    recordsRemoved: 0,
    tombstonesRemoved: 0,
    batchesKeptOpaque: 0,
    size: PARTITION_SEGMENT_HEADER_BYTES,
    nextOffset: input.baseOffset,
    maxTimestamp: -1,
    lastBatchPosition: 0,
    bytesSinceIndexEntry: 0,
    index: new MemoryIndex(),
  };
  const sourceFd = fs.openSync(input.logPath, 'r');
  let output: CleanedFileWriter | null = null;
  let finished = false;
  try {
    const walk = storedBatches(sourceFd, PARTITION_SEGMENT_HEADER_BYTES, input.size);
    let stepStart = PARTITION_SEGMENT_HEADER_BYTES;
    for (let next = walk.next(); next.done !== true; next = walk.next()) {
      const batch = next.value;
      if (walk.position - stepStart >= stepBytes) {
        // the batch stays valid: the walk reads nothing until its next call
        stepStart = walk.position;
        yield;
      }
      const left = cleanBatch(batch, input.keys, input.removeTombstones, result);
      if (left === batch && output === null) {
        account(result, batch, input); // still identical to the original: nothing to write yet
        continue;
      }
      if (output === null) {
        unlinkIfExists(cleanedPath);
        output = new CleanedFileWriter(cleanedPath);
        output.copyFrom(sourceFd, result.size); // the unchanged prefix, segment header included
      }
      if (left === null) continue;
      account(result, left, input);
      output.write(left);
    }
    if (output === null) return null;
    output.finish(input.sync);
    finished = true;
    return result;
  } finally {
    closeQuietly(sourceFd);
    if (output !== null && !finished) {
      output.abandon();
      unlinkIfExists(cleanedPath);
    }
  }
}

/** Adds a batch written at result.size to the segment state and its sparse index (as append() does). */
function account(result: CleanedSegment, batch: Buffer, input: SegmentCleaningInput): void {
  const baseOffset = batch.readBigInt64BE(BASE_OFFSET_AT);
  if (result.bytesSinceIndexEntry >= input.indexIntervalBytes) {
    result.index.add(Number(baseOffset - input.baseOffset), result.size, result.maxTimestamp);
    result.bytesSinceIndexEntry = 0;
  }
  result.bytesSinceIndexEntry += batch.length;
  result.lastBatchPosition = result.size;
  const maxTimestamp = maxTimestampAt(batch, 0);
  if (maxTimestamp > result.maxTimestamp) result.maxTimestamp = maxTimestamp;
  result.nextOffset = baseOffset + BigInt(lastOffsetDeltaAt(batch, 0)) + 1n;
  result.size += batch.length;
}

/** Buffered sequential writer of a `.cleaned` file. */
class CleanedFileWriter {
  private readonly fd: number;
  private readonly buffer = Buffer.allocUnsafe(CLEANED_WRITE_BUFFER_BYTES);
  private buffered = 0;
  private written = 0;

  constructor(file: string) {
    this.fd = fs.openSync(file, 'wx');
  }

  /** Copies bytes [0, length) of another file. */
  copyFrom(sourceFd: number, length: number): void {
    for (let at = 0; at < length;) {
      const count = Math.min(this.buffer.length - this.buffered, length - at);
      readFully(sourceFd, this.buffer.subarray(this.buffered), count, at);
      this.buffered += count;
      at += count;
      if (this.buffered === this.buffer.length) this.drain();
    }
  }

  write(bytes: Buffer): void {
    if (bytes.length > this.buffer.length - this.buffered) {
      this.drain();
      if (bytes.length > this.buffer.length) {
        writeFully(this.fd, bytes, bytes.length, this.written);
        this.written += bytes.length;
        return;
      }
    }
    bytes.copy(this.buffer, this.buffered);
    this.buffered += bytes.length;
  }

  finish(sync: boolean): void {
    this.drain();
    if (sync) fs.fdatasyncSync(this.fd);
    fs.closeSync(this.fd);
  }

  abandon(): void {
    closeQuietly(this.fd);
  }

  private drain(): void {
    if (this.buffered === 0) return;
    writeFully(this.fd, this.buffer, this.buffered, this.written);
    this.written += this.buffered;
    this.buffered = 0;
  }
}

/** Index file paths of the segment whose .log is `logPath`. */
function indexPathsOf(logPath: string): [string, string] {
  const base = logPath.slice(0, -LOG_FILE_SUFFIX.length);
  return [base + OFFSET_INDEX_FILE_SUFFIX, base + TIME_INDEX_FILE_SUFFIX];
}

/**
 * Steps 2-4 of the header drawing: commits `<logPath>.cleaned` and renames it over `logPath`, its
 * old index files removed first. `directoryFd` is fsynced between steps (-1: no fsync, policy never).
 */
export function swapInCleanedSegment(logPath: string, directoryFd: number): void {
  fs.renameSync(logPath + CLEANED_FILE_SUFFIX, logPath + SWAP_FILE_SUFFIX);
  finishSwap(logPath, directoryFd);
}

function finishSwap(logPath: string, directoryFd: number): void {
  for (const indexPath of indexPathsOf(logPath)) unlinkIfExists(indexPath);
  if (directoryFd >= 0) fs.fsyncSync(directoryFd);
  fs.renameSync(logPath + SWAP_FILE_SUFFIX, logPath);
  if (directoryFd >= 0) fs.fsyncSync(directoryFd);
}

/** Deletes a `.cleaned` file that will not be committed (its segment is being deleted instead). */
export function discardCleanedSegment(logPath: string): void {
  unlinkIfExists(logPath + CLEANED_FILE_SUFFIX);
}

/** True for the names of compaction's temporary files (destroy() removes them with the segments). */
export function isCompactionTemporaryFile(name: string): boolean {
  return name.endsWith(LOG_FILE_SUFFIX + CLEANED_FILE_SUFFIX) || name.endsWith(LOG_FILE_SUFFIX + SWAP_FILE_SUFFIX);
}

/**
 * At open, before segments are listed: deletes every `.cleaned` file (a rewrite that never committed)
 * and finishes every committed swap (`.swap` → `.log`, its stale index files deleted).
 */
export function recoverInterruptedCompaction(dir: string, directoryFd: number, logger: (line: string) => void): void {
  for (const name of fs.readdirSync(dir)) {
    if (name.endsWith(LOG_FILE_SUFFIX + CLEANED_FILE_SUFFIX)) {
      unlinkIfExists(path.join(dir, name));
      logger(`partition ${dir}: ${name}: deleted an uncommitted compaction rewrite`);
    } else if (name.endsWith(LOG_FILE_SUFFIX + SWAP_FILE_SUFFIX)) {
      finishSwap(path.join(dir, name.slice(0, -SWAP_FILE_SUFFIX.length)), directoryFd);
      logger(`partition ${dir}: ${name}: finished an interrupted compaction swap`);
    }
  }
}
