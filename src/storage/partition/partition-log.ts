/**
 * PartitionLog: the offset-addressed log of one Kafka topic partition, in one directory.
 * File layouts: format.ts (segments, indexes) and ../../format/kafka/record-batch.ts (the batches). Durability: ../sync.ts.
 *
 * append() validates every batch of a produce request (header, CRC-32C) before taking any, assigns
 * offsets by rewriting each batch's baseOffset (and partitionLeaderEpoch; both outside the CRC) and
 * copies it into the log's write buffer that the SyncScheduler flushes once per event-loop turn. An
 * acks=-1/1 answer waits for scheduler.requestRound() to complete: the round's fdatasync covers every
 * batch appended before the request. The active segment rolls when a batch would take it past
 * `segmentBytes` (a batch larger than that gets a segment of its own), or is more than `segmentMs` newer
 * than the segment's first batch (Kafka's segment.ms). Each append adds an entry to the active segment's
 * sparse index every `indexIntervalBytes` of batches.
 *
 * The rest is split by concern:
 *   partition-segments.ts  the files: create, roll, sync (SegmentWriter), delete, close, roll back (the base class)
 *   partition-reader.ts    read(), slice(), offsetForTimestamp() through the sparse indexes
 *   partition-recovery.ts  open: which segments to trust, scan, repair or remove
 *   partition-cleanup.ts   retention (enforceRetention) and the compaction-steps driver (compact, compactionSteps)
 *   partition-segment.ts   one segment's state, its index files
 */

import { FileSlice } from '../fd-cache.js';
import { DEFAULT_LOG_SEGMENT_BYTES, type LogAppendResult, type LogLimits, type LogStore } from '../log-store.js';
import { DEFAULT_DELETE_RETENTION_MS, type CompactionOptions, type CompactionResult } from './compaction.js';
import { OffsetOutOfRangeError } from '../log-store.js';
import { MAX_OFFSET, PARTITION_SEGMENT_HEADER_BYTES } from './format.js';
import {
  BASE_OFFSET_AT,
  BATCH_HEADER_BYTES,
  PARTITION_LEADER_EPOCH_AT,
  batchSizeAt,
  lastOffsetDeltaAt,
  maxTimestampAt,
  validateBatches,
} from '../../format/kafka/record-batch.js';
import { MAX_RELATIVE_OFFSET, PartitionSegment } from './partition-segment.js';
import { segmentIndexFor, type ReadCounters } from './partition-reader.js';
import { applyRetention, compactionPass, type CleanupHost } from './partition-cleanup.js';
import { MAX_PARTITION_SEGMENT_BYTES } from './partition-recovery.js';
import { DEFAULT_INDEX_INTERVAL_BYTES, LogState, PARTITION_WRITE_BUFFER_BYTES, PartitionSegments, type PartitionFilesOptions } from './partition-segments.js';

export { DEFAULT_INDEX_INTERVAL_BYTES, MAX_PARTITION_SEGMENT_BYTES, PARTITION_WRITE_BUFFER_BYTES };
export type { ReadCounters };

/**
 * Default segment size, 64 MiB (the LogStore contract's default): retention frees space in steps of one
 * segment, an unclean open rescans at most about one segment per partition (tens of milliseconds), and a
 * GiB of partition is 16 files.
 */
export const DEFAULT_PARTITION_SEGMENT_BYTES = DEFAULT_LOG_SEGMENT_BYTES;
/** Smallest segment size: a header and one minimal batch (tests use tiny segments). */
export const MIN_PARTITION_SEGMENT_BYTES = PARTITION_SEGMENT_HEADER_BYTES + BATCH_HEADER_BYTES;

const EMPTY = Buffer.alloc(0);

export interface PartitionLogOptions extends PartitionFilesOptions {
  /** Roll the active segment when a batch would take it past this many bytes (default DEFAULT_PARTITION_SEGMENT_BYTES). */
  segmentBytes?: number;
  /** Roll the active segment when its first batch is older than this (Kafka's segment.ms); null: never by age. */
  segmentMs?: number | null;
  /** enforceRetention() deletes segments whose newest batch is older than this; null: keep forever. */
  retentionMs?: number | null;
  /** enforceRetention() deletes the oldest sealed segments while the rest still hold this many bytes; null: no limit. */
  retentionBytes?: number | null;
  /** Written into every appended batch's partitionLeaderEpoch (default 0); also settable as `leaderEpoch`. */
  leaderEpoch?: number;
}

/** The file engine's LogStore (../log-store.ts): the segment files of one partition directory. */
export class PartitionLog extends PartitionSegments implements LogStore {
  /** Written into the partitionLeaderEpoch of every batch appended from now on. */
  leaderEpoch: number;
  readonly readCounters: ReadCounters;

  /** segmentBytes, retentionMs and retentionBytes change with setLimits() (a topic's configs altered live) */
  private segmentBytes: number;
  private retentionMs: number | null;
  private segmentMs: number | null;
  private retentionBytes: number | null;
  private readonly directPrefix = Buffer.allocUnsafe(PARTITION_LEADER_EPOCH_AT + 4);
  /** retention and compaction's view of this log (partition-cleanup.ts) */
  private readonly cleanupHost: CleanupHost;

  private constructor(options: PartitionLogOptions) {
    super(options);
    this.segmentBytes = options.segmentBytes ?? DEFAULT_PARTITION_SEGMENT_BYTES;
    this.retentionMs = options.retentionMs ?? null;
    this.retentionBytes = options.retentionBytes ?? null;
    this.segmentMs = options.segmentMs ?? null;
    this.leaderEpoch = options.leaderEpoch ?? 0;
    this.cleanupHost = this.makeCleanupHost();
    this.readCounters = this.reader.readCounters;
    PartitionLog.checkLimits(this.segmentBytes, this.retentionMs, this.retentionBytes, this.segmentMs);
    if (!Number.isInteger(this.indexIntervalBytes) || this.indexIntervalBytes < 1) {
      throw new RangeError(`indexIntervalBytes ${this.indexIntervalBytes} must be a positive integer`);
    }
  }

  /** What retention and compaction (partition-cleanup.ts) may do to this log. */
  private makeCleanupHost(): CleanupHost {
    const log = this;
    return {
      dir: this.dir,
      get isOpen() {
        return log.state === LogState.Open;
      },
      notOpenError: () => this.notOpenError(),
      get segments() {
        return log.segments;
      },
      get totalBytes() {
        return log.totalBytes;
      },
      set totalBytes(bytes: number) {
        log.totalBytes = bytes;
      },
      indexIntervalBytes: this.indexIntervalBytes,
      syncEnabled: this.syncEnabled,
      flush: () => this.flush(),
      roll: () => {
        this.roll();
      },
      activeDurable: () => this.activeDurable(),
      deleteSegmentAt: (index) => this.deleteSegmentAt(index),
      forgetSegment: (segment) => this.forgetSegment(segment),
      replaceSegment: (index, replacement) => {
        this.segments[index] = replacement;
      },
      // awaiting its fsync (fd still open) or its index files
      awaitingIndexFiles: (segment) => segment.dataSyncPending || this.writer.sealedSyncing.includes(segment) || this.indexWritePending.includes(segment),
      writeIndexFiles: (segment) => this.writeIndexFiles(segment),
      directoryFd: () => this.directoryFd(),
    };
  }

  private static checkLimits(segmentBytes: number, retentionMs: number | null, retentionBytes: number | null, segmentMs: number | null): void {
    if (!Number.isInteger(segmentBytes) || segmentBytes < MIN_PARTITION_SEGMENT_BYTES || segmentBytes > MAX_PARTITION_SEGMENT_BYTES) {
      throw new RangeError(`segmentBytes ${segmentBytes} outside ${MIN_PARTITION_SEGMENT_BYTES}..${MAX_PARTITION_SEGMENT_BYTES}`);
    }
    if (retentionMs !== null && !(retentionMs >= 0)) throw new RangeError(`retentionMs ${retentionMs} must be >= 0`);
    if (retentionBytes !== null && !(retentionBytes >= 0)) throw new RangeError(`retentionBytes ${retentionBytes} must be >= 0`);
    if (segmentMs !== null && !(segmentMs >= 1)) throw new RangeError(`segmentMs ${segmentMs} must be >= 1`);
  }

  /**
   * Changes the roll limits and retention limits of an open log. A new segmentBytes or segmentMs applies
   * from the next append (the active segment rolls once the batch would pass the new size, or once it is
   * older than the new age); the retention limits from the next enforceRetention(). Throws RangeError for
   * values the constructor would refuse, changing nothing.
   */
  setLimits(limits: LogLimits): void {
    const segmentMs = limits.segmentMs ?? null;
    PartitionLog.checkLimits(limits.segmentBytes, limits.retentionMs, limits.retentionBytes, segmentMs);
    this.segmentMs = segmentMs;
    this.segmentBytes = limits.segmentBytes;
    this.retentionMs = limits.retentionMs;
    this.retentionBytes = limits.retentionBytes;
  }

  /** Opens (creating the directory if missing) and recovers the partition synchronously. */
  static open(options: PartitionLogOptions): PartitionLog {
    const log = new PartitionLog(options);
    log.recover();
    log.markAllDurable();
    return log;
  }

  /** The offset the next appended record gets (Kafka's log end offset; with one replica also the high watermark). */
  get highWatermark(): bigint {
    return this.nextOffset;
  }

  /** LogStore.endOffset: the log end offset (highWatermark is its older name, kept for the storage tests). */
  get endOffset(): bigint {
    return this.nextOffset;
  }

  /** LogStore.name: the partition's directory. */
  get name(): string {
    return this.dir;
  }

  /** Bytes of all segment files, headers included, counting bytes still in the write buffer. */
  get sizeBytes(): number {
    return this.totalBytes;
  }

  /** Base offset of the active (last) segment. */
  get activeBaseOffset(): bigint {
    return this.active.baseOffset;
  }

  /**
   * Base offset of the oldest segment, counting back from the active one, that was appended to at or after
   * `since` (ms since the epoch; after a restart a segment's last append is its file's mtime) while the
   * segments from it to the end hold at most `maxBytes`; the active segment's own when no older one is.
   */
  baseOffsetAppendedSince(since: number, maxBytes: number): bigint {
    let oldest = this.active;
    let bytes = this.active.size;
    for (let i = this.segments.length - 2; i >= 0; i--) {
      const segment = this.segments[i]!;
      bytes += segment.size;
      if (segment.lastAppendTime < since || bytes > maxBytes) break;
      oldest = segment;
    }
    return oldest.baseOffset;
  }

  /**
   * The offset just past the batches the last read() or slice() returned (the next consumer read's start):
   * a fetch counts the records it sends as this minus its fetch offset, without reading a record.
   */
  get lastReadEnd(): bigint {
    return this.reader.lastReadEnd;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /**
   * Appends the concatenated batches of one produce request. Either every batch is valid and all are
   * appended with consecutive offsets, or CorruptBatchError is thrown and nothing is appended.
   * `validated`: the caller ran validateBatches() on these very bytes already (a produce request checks
   * them before its idempotence checks), so the CRC pass over every byte is not repeated here.
   */
  append(batches: Buffer, now: number, validated = false): LogAppendResult {
    if (this.state !== LogState.Open) throw this.notOpenError();
    if (!validated) validateBatches(batches);
    if (this.needsRepair && this.writer.writeError === null) {
      try {
        this.repairSegment();
      } catch (error) {
        this.writer.failWrite(error);
      }
    }
    const baseOffset = this.nextOffset;
    let at = 0;
    while (at < batches.length) {
      const size = batchSizeAt(batches, at);
      const lastOffsetDelta = lastOffsetDeltaAt(batches, at);
      const maxTimestamp = maxTimestampAt(batches, at);
      const offset = this.nextOffset;
      if (offset + BigInt(lastOffsetDelta) > MAX_OFFSET) throw new RangeError(`partition ${this.dir}: offsets exhausted`);
      let segment = this.active;
      if (
        segment.lastBatchPosition !== 0 &&
        (segment.size + size > this.segmentBytes ||
          offset + BigInt(lastOffsetDelta) - segment.baseOffset > MAX_RELATIVE_OFFSET ||
          this.agedOut(segment, maxTimestamp, now)) &&
        this.writer.writeError === null
      ) {
        try {
          segment = this.roll();
        } catch (error) {
          this.writer.failWrite(error);
        }
      }
      if (segment.lastBatchPosition === 0) {
        segment.rollTimestamp = maxTimestamp;
        segment.createdAt = now;
      }
      const position = segment.size;
      if (segment.bytesSinceIndexEntry >= this.indexIntervalBytes) {
        segment.memoryIndex!.add(Number(offset - segment.baseOffset), position, segment.maxTimestamp);
        segment.bytesSinceIndexEntry = 0;
      }
      this.writeBatch(segment, batches, at, size, offset);
      segment.size += size;
      segment.bytesSinceIndexEntry += size;
      segment.lastBatchPosition = position;
      if (maxTimestamp > segment.maxTimestamp) segment.maxTimestamp = maxTimestamp;
      segment.lastAppendTime = now;
      if (!this.exposed) this.scheduler.expose(this);
      this.nextOffset = offset + BigInt(lastOffsetDelta) + 1n;
      segment.nextOffset = this.nextOffset;
      this.totalBytes += size;
      at += size;
    }
    return { baseOffset, lastOffset: this.nextOffset - 1n, logAppendTime: -1 };
  }

  /**
   * segment.ms as Kafka applies it: the time from the segment's first batch to the batch being appended,
   * by their timestamps when both have one, else by the clock since the segment's first append.
   */
  private agedOut(segment: PartitionSegment, maxTimestamp: number, now: number): boolean {
    const segmentMs = this.segmentMs;
    if (segmentMs === null) return false;
    const waited = segment.rollTimestamp >= 0 && maxTimestamp >= 0 ? maxTimestamp - segment.rollTimestamp : now - segment.createdAt;
    return waited > segmentMs;
  }

  /**
   * Whole batches, starting with the one holding `offset`, up to about `maxBytes` (at least one whole
   * batch even when it is larger) and never past the end of that batch's segment. Empty at the high
   * watermark. The bytes are in a buffer from `allocate` (by default a fresh one the caller may keep).
   */
  read(offset: bigint, maxBytes: number, allocate: (size: number) => Buffer = Buffer.allocUnsafe): Buffer {
    if (this.state !== LogState.Open) throw this.notOpenError();
    if (offset < this.logStartOffset || offset > this.nextOffset) {
      throw new OffsetOutOfRangeError(offset, this.logStartOffset, this.nextOffset);
    }
    if (offset === this.nextOffset) return EMPTY;
    let index = segmentIndexFor(this.segments, offset);
    let segment = this.segments[index]!;
    while (offset >= segment.nextOffset) {
      // in a gap (compaction removed the segment's last batches or the whole segment, or recovery lost
      // a segment): continue with the next batch that exists
      if (++index === this.segments.length) return EMPTY;
      segment = this.segments[index]!;
      if (offset < segment.baseOffset) offset = segment.baseOffset;
    }
    if (segment === this.active && this.writer.length > 0) this.flush();
    return this.reader.read(segment, offset, maxBytes, allocate);
  }

  /**
   * Where read(offset, maxBytes) would take its bytes from, without reading the records: the range of one
   * segment file holding whole batches, starting with the one that holds `offset` (at least that batch,
   * even when larger than maxBytes), up to about maxBytes, and only batches whose base offset is below
   * `end` (the high watermark a fetch answers up to). The segment's file is held in the cache until the
   * slice is released (FdCache.hold), so the caller may read the range over many event-loop turns whatever
   * retention, compaction or the cache do meanwhile. Null when no batch qualifies. Batch boundaries come
   * from the segment's offset index and batch headers, so a slice of many megabytes reads a few blocks.
   */
  slice(offset: bigint, maxBytes: number, end: bigint): FileSlice | null {
    if (this.state !== LogState.Open) throw this.notOpenError();
    if (offset < this.logStartOffset || offset > this.nextOffset) {
      throw new OffsetOutOfRangeError(offset, this.logStartOffset, this.nextOffset);
    }
    if (offset >= this.nextOffset || offset >= end) return null;
    let index = segmentIndexFor(this.segments, offset);
    let segment = this.segments[index]!;
    while (offset >= segment.nextOffset) {
      // in a gap (as in read())
      if (++index === this.segments.length) return null;
      segment = this.segments[index]!;
      if (offset < segment.baseOffset) offset = segment.baseOffset;
    }
    if (segment === this.active && this.writer.length > 0) this.flush();
    return this.reader.slice(segment, offset, maxBytes, end);
  }

  /** The base offset of the first batch whose maxTimestamp >= `timestamp` (ListOffsets by time), or null. */
  offsetForTimestamp(timestamp: number): bigint | null {
    if (this.state !== LogState.Open) throw this.notOpenError();
    for (let i = 0; i < this.segments.length; i++) {
      const segment = this.segments[i]!;
      if (segment.maxTimestamp < timestamp) continue;
      if (segment === this.active && this.writer.length > 0) this.flush();
      const found = this.reader.offsetForTimestamp(segment, timestamp);
      if (found !== null) return found;
    }
    return null;
  }

  /**
   * Deletes segments, oldest first: those whose newest batch is older than retentionMs, then sealed ones
   * beyond retentionBytes (while the segments left still hold at least retentionBytes). When every batch
   * of the active segment is older than retentionMs too, it is rolled and deleted as Kafka does, so a
   * quiet topic does not keep expired records; only once all of it is durable (else the next pass does it).
   * Returns the number deleted; logStartOffset moves to the first segment left (the end, if none is left).
   */
  enforceRetention(now: number): number {
    return applyRetention(this.cleanupHost, { retentionMs: this.retentionMs, retentionBytes: this.retentionBytes }, now);
  }

  /**
   * Compacts the log at once (cleanup.policy=compact): compactionSteps() run to the end. Synchronous.
   */
  compact(now: number, options: CompactionOptions = { deleteRetentionMs: DEFAULT_DELETE_RETENTION_MS }): CompactionResult {
    const steps = this.compactionSteps(now, options);
    for (;;) {
      const next = steps.next();
      if (next.done === true) return next.value;
    }
  }

  /** Compaction in steps (partition-cleanup.ts compactionPass): see there. */
  compactionSteps(now: number, options: CompactionOptions = { deleteRetentionMs: DEFAULT_DELETE_RETENTION_MS }): Generator<void, CompactionResult, void> {
    return compactionPass(this.cleanupHost, now, options);
  }

  // ---- appending ---------------------------------------------------------------------------------

  /** Copies one batch into the write buffer (or straight to the file when large), with its offset and epoch set. */
  private writeBatch(segment: PartitionSegment, source: Buffer, at: number, size: number, offset: bigint): void {
    if (this.writer.writeError !== null) {
      if (!this.flushQueued) this.scheduler.markDirty(this); // counted, not written: rolled back soon
      return;
    }
    if (size > this.writer.buffer.length - this.writer.length) {
      try {
        this.flush();
      } catch (error) {
        this.writer.failWrite(error);
        return;
      }
      if (size <= PARTITION_WRITE_BUFFER_BYTES) this.writer.grow(size);
      if (size > PARTITION_WRITE_BUFFER_BYTES) {
        const prefix = this.directPrefix;
        source.copy(prefix, 0, at, at + prefix.length);
        prefix.writeBigInt64BE(offset, BASE_OFFSET_AT);
        prefix.writeInt32BE(this.leaderEpoch, PARTITION_LEADER_EPOCH_AT);
        try {
          this.writer.writeDirect(segment, [prefix, source.subarray(at + prefix.length, at + size)]);
        } catch (error) {
          this.writer.failWrite(error);
        }
        return;
      }
    }
    // opened (or created) by the request that starts the buffer, not by the flush all logs share (see
    // SegmentLog.append); EMFILE/ENOSPC here is a failed write like any other
    if (this.writer.length === 0) {
      try {
        this.writer.ensureCreated(segment);
      } catch (error) {
        this.writer.failWrite(error);
        return;
      }
    }
    const buffer = this.writer.buffer;
    const start = this.writer.length;
    source.copy(buffer, start, at, at + size);
    buffer.writeBigInt64BE(offset, start + BASE_OFFSET_AT);
    buffer.writeInt32BE(this.leaderEpoch, start + PARTITION_LEADER_EPOCH_AT);
    this.writer.length = start + size;
    if (!this.flushQueued) this.scheduler.markDirty(this);
  }
}
