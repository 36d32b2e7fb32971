/**
 * PartitionLog: the offset-addressed log of one Kafka topic partition, in one directory.
 * File layouts: format.ts (segments, indexes) and record-batch.ts (the batches). Durability: ../sync.ts.
 *
 *   00000000000000000000.log (+ .index, .timeindex)   sealed: read on demand
 *   00000000000000052817.log (+ .index, .timeindex)   sealed
 *   00000000000000104033.log                          active ◄── append(): write buffer ──(end of turn)──► OS
 *
 * append() validates every batch of a produce request (header, CRC-32C) before taking any, assigns
 * offsets by rewriting each batch's baseOffset (and partitionLeaderEpoch; both outside the CRC) and
 * copies it into a per-log write buffer that the SyncScheduler flushes once per event-loop turn. An
 * acks=-1/1 answer waits for scheduler.requestRound() to complete: the round's fdatasync covers every
 * batch appended before the request. The active segment rolls when a batch would take it past
 * `segmentBytes` (a batch larger than that gets a segment of its own), or is more than `segmentMs` newer
 * than the segment's first batch (Kafka's segment.ms).
 *
 * Each segment keeps a sparse index: one (relative offset, position, largest timestamp so far) entry
 * per `indexIntervalBytes` of batches. The active segment's index is in memory (16 bytes an entry); a
 * sealed segment's is written to its .index/.timeindex files once the .log is durable, then dropped
 * from memory and binary-searched in the files with 8- and 12-byte reads. A fetch therefore reads
 * O(log entries) index bytes plus at most about one index interval of batch headers before it reads
 * the answer, wherever the offset is; a consumer reading on from where its last fetch ended skips even
 * that (the log remembers where the last read stopped).
 *
 * Recovery at open() is synchronous. A segment whose index files are intact and describe exactly the
 * .log's size (and whose last batch checks out) is trusted without reading its batches. Any other
 * segment (the active one after a crash, a sealed one whose index was never written) is scanned, every
 * batch's CRC checked and its index rebuilt. A bad batch with nothing sound after it in the last segment
 * is a torn tail, truncated; one followed by sound batches is damage: the segment is split around it,
 * the damaged bytes kept in a side file, every later batch keeping its offset (batch-resync.ts). A file
 * in a format version this Postbox does not read stops the open (UnsupportedFormatError). Segment state
 * and both recovery paths: partition-segment.ts.
 *
 * enforceRetention() deletes whole segments by age and size, the active one too once all of it is past
 * retentionMs (rolled first). compact() / compactionSteps() (cleanup.policy=compact, compaction.ts)
 * rewrite sealed segments keeping the latest record of every key. Offsets never change, so a compacted log has gaps: between batches of a segment and
 * between segments. A read at an offset in a gap returns the next batch that exists (its baseOffset
 * is then greater than the offset asked for), exactly as Kafka answers a fetch there.
 *
 * The log holds no descriptor of its own: its files are CachedFiles whose descriptors the broker-wide
 * FdCache opens on demand and closes when it needs room (../fd-cache.ts), so an idle partition costs
 * no descriptor and the number of partitions is not bounded by the process's descriptor limit.
 */

import fs from 'node:fs';
import path from 'node:path';
import { FdCache, FileSlice, PRIVATE_CACHE_FILES } from '../fd-cache.js';
import { readFully, readdirOrEmpty, unlinkIfExists } from '../files.js';
import type { SyncScheduler, SyncableLog } from '../sync.js';
import { SegmentWriter } from '../segment-writer.js';
import { isDamagedFileName } from '../damage.js';
import {
  DEFAULT_DELETE_RETENTION_MS,
  isCompactionTemporaryFile,
  recoverInterruptedCompaction,
  type CompactionOptions,
  type CompactionResult,
} from './compaction.js';
import { OffsetOutOfRangeError } from './errors.js';
import { isSplitTemporaryFile } from './batch-resync.js';
import { CORRUPT_SEGMENT_SUFFIX, LOG_FILE_SUFFIX, MAX_OFFSET, PARTITION_SEGMENT_HEADER_BYTES, encodeSegmentHeader, parseSegmentFile, segmentBaseName } from './format.js';
import {
  BATCH_HEADER_BYTES,
  BASE_OFFSET_AT,
  PARTITION_LEADER_EPOCH_AT,
  batchSizeAt,
  lastOffsetDeltaAt,
  maxTimestampAt,
  validateBatches,
} from './record-batch.js';
import { MAX_RELATIVE_OFFSET, PartitionSegment, trustIndexFiles, writeIndexFiles } from './partition-segment.js';
import { PartitionReader, segmentIndexFor, type ReadCounters } from './partition-reader.js';
import { applyRetention, compactionPass, type CleanupHost } from './partition-cleanup.js';
import { MAX_PARTITION_SEGMENT_BYTES, recoverSegments, removeSegmentFiles, type PartitionRecoveryContext } from './partition-recovery.js';

export { MAX_PARTITION_SEGMENT_BYTES };
export type { ReadCounters };

/**
 * Default segment size, 64 MiB: retention frees space in steps of one segment, an unclean open rescans
 * at most about one segment per partition (tens of milliseconds), and a GiB of partition is 16 files.
 */
export const DEFAULT_PARTITION_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Smallest segment size: a header and one minimal batch (tests use tiny segments). */
export const MIN_PARTITION_SEGMENT_BYTES = PARTITION_SEGMENT_HEADER_BYTES + BATCH_HEADER_BYTES;
/** Default sparse-index interval, 4 KiB (Kafka's index.interval.bytes): a lookup scans about one page of headers. */
export const DEFAULT_INDEX_INTERVAL_BYTES = 4096;
/** Write buffer per partition, 256 KiB: one turn's produce requests for a busy partition fit in one write(). */
export const PARTITION_WRITE_BUFFER_BYTES = 256 * 1024;

const EMPTY = Buffer.alloc(0);


export interface PartitionLogOptions {
  dir: string;
  scheduler: SyncScheduler;
  /** Roll the active segment when a batch would take it past this many bytes (default DEFAULT_PARTITION_SEGMENT_BYTES). */
  segmentBytes?: number;
  /** Bytes of batches between sparse index entries (default DEFAULT_INDEX_INTERVAL_BYTES). */
  indexIntervalBytes?: number;
  /** Roll the active segment when its first batch is older than this (Kafka's segment.ms); null: never by age. */
  segmentMs?: number | null;
  /** enforceRetention() deletes segments whose newest batch is older than this; null: keep forever. */
  retentionMs?: number | null;
  /** enforceRetention() deletes the oldest sealed segments while the rest still hold this many bytes; null: no limit. */
  retentionBytes?: number | null;
  /** Written into every appended batch's partitionLeaderEpoch (default 0); also settable as `leaderEpoch`. */
  leaderEpoch?: number;
  /** Scan and CRC-check every segment at open, even those with intact index files (default false). */
  verifyAllOnOpen?: boolean;
  /** One line per notable event (recovery summary, dropped tails, corrupt files). Default: stderr. */
  logger?: (line: string, routine?: boolean) => void;
  /** One line per damage found at open (damaged batches skipped, corrupt files moved aside). Default: `logger`. */
  errorLogger?: (line: string) => void;
  /** The broker's descriptor cache; without one the log makes a small private cache of its own. */
  files?: FdCache;
}

export interface AppendResult {
  baseOffset: bigint;
  lastOffset: bigint;
  /** Kafka's produce-response log_append_time: -1, batches keep their CreateTime timestamps. */
  logAppendTime: number;
}

const enum LogState {
  Open,
  Closed,
  Destroyed,
}

export class PartitionLog implements SyncableLog {
  readonly dir: string;
  /** Written into the partitionLeaderEpoch of every batch appended from now on. */
  leaderEpoch: number;
  readonly readCounters: ReadCounters;
  flushQueued = false;
  syncQueued = false;
  exposed = false;

  private readonly scheduler: SyncScheduler;
  /** segmentBytes, retentionMs and retentionBytes change with setLimits() (a topic's configs altered live) */
  private segmentBytes: number;
  private readonly indexIntervalBytes: number;
  private retentionMs: number | null;
  private segmentMs: number | null;
  private retentionBytes: number | null;
  private readonly verifyAllOnOpen: boolean;
  /** `routine` is true for lines that report nothing wrong (a clean recovery summary) */
  private readonly logger: (line: string, routine?: boolean) => void;
  private readonly errorLogger: (line: string) => void;
  private readonly syncEnabled: boolean;
  private readonly recoveryContext: PartitionRecoveryContext;
  private state = LogState.Open;

  /** Ascending by base offset; the last one is the active segment. */
  private segments: PartitionSegment[] = [];
  private active!: PartitionSegment;
  private nextOffset = 0n;
  private totalBytes = 0;

  /** the append buffer, the active segment's file and the fsync registration (../segment-writer.ts) */
  private readonly writer: SegmentWriter<PartitionSegment, bigint>;
  private readonly directPrefix = Buffer.allocUnsafe(PARTITION_LEADER_EPOCH_AT + 4);

  /** where descriptors come from (shared by every log of a broker) */
  private readonly files: FdCache;
  /** retention and compaction's view of this log (partition-cleanup.ts) */
  private readonly cleanupHost: CleanupHost;
  /** finds batches through the sparse indexes (partition-reader.ts) */
  private readonly reader: PartitionReader;

  /** Sealed segments whose .log is durable and whose index files are still to be written. */
  private indexWritePending: PartitionSegment[] = [];
  // Write failures (see sync.ts): the writer keeps the end of what the last completed round covers (segment
  // base offset, size in it) and of what the round in flight covers. After a failed write, appends get
  // offsets but are not written until the scheduler rolls the log back to the durable end (the high
  // watermark never passed them, so their offsets are handed out again); repair() then rolls to a new segment.
  private needsRepair = false;

  private constructor(options: PartitionLogOptions) {
    this.dir = options.dir;
    this.scheduler = options.scheduler;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_PARTITION_SEGMENT_BYTES;
    this.indexIntervalBytes = options.indexIntervalBytes ?? DEFAULT_INDEX_INTERVAL_BYTES;
    this.retentionMs = options.retentionMs ?? null;
    this.retentionBytes = options.retentionBytes ?? null;
    this.segmentMs = options.segmentMs ?? null;
    this.leaderEpoch = options.leaderEpoch ?? 0;
    this.verifyAllOnOpen = options.verifyAllOnOpen ?? false;
    this.logger = options.logger ?? ((line) => process.stderr.write(line + '\n'));
    this.syncEnabled = options.scheduler.policy === 'always';
    this.files =
      options.files ??
      new FdCache({ capacity: PRIVATE_CACHE_FILES, syncBeforeClose: this.syncEnabled, onSyncError: (error) => this.scheduler.reportFailure(error) });
    this.errorLogger = options.errorLogger ?? ((line) => this.logger(line));
    this.reader = new PartitionReader(this.dir, this.files);
    this.cleanupHost = this.makeCleanupHost();
    this.readCounters = this.reader.readCounters;
    this.writer = new SegmentWriter<PartitionSegment, bigint>({
      dir: this.dir,
      scheduler: this.scheduler,
      files: this.files,
      owner: this,
      maxBufferBytes: PARTITION_WRITE_BUFFER_BYTES,
      keyOf: (segment) => segment.baseOffset,
      header: (segment) => encodeSegmentHeader(segment.baseOffset),
      beforeCreate: (segment) => {
        unlinkIfExists(segment.indexPath); // stale index files must never describe a new segment
        unlinkIfExists(segment.timeIndexPath);
      },
      // its index files are written by the next flush, which runs only if the scheduler has not failed
      onSealedSynced: (segment) => {
        if (!segment.deleted) this.indexWritePending.push(segment);
      },
    });
    this.recoveryContext = {
      dir: this.dir,
      indexIntervalBytes: this.indexIntervalBytes,
      syncEnabled: this.syncEnabled,
      logger: this.logger,
      errorLogger: this.errorLogger,
      verifyAllOnOpen: this.verifyAllOnOpen,
    };
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
      awaitingIndexFiles: (segment) =>
        segment.dataSyncPending || this.writer.sealedSyncing.includes(segment) || this.indexWritePending.includes(segment),
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
  setLimits(limits: { segmentBytes: number; retentionMs: number | null; retentionBytes: number | null; segmentMs?: number | null }): void {
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

  /** The first offset still stored. */
  get logStartOffset(): bigint {
    return this.segments[0]!.baseOffset;
  }

  /** The offset the next appended record gets (Kafka's log end offset; with one replica also the high watermark). */
  get highWatermark(): bigint {
    return this.nextOffset;
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

  get segmentCount(): number {
    return this.segments.length;
  }

  /**
   * Appends the concatenated batches of one produce request. Either every batch is valid and all are
   * appended with consecutive offsets, or CorruptBatchError is thrown and nothing is appended.
   * `validated`: the caller ran validateBatches() on these very bytes already (a produce request checks
   * them before its idempotence checks), so the CRC pass over every byte is not repeated here.
   */
  append(batches: Buffer, now: number, validated = false): AppendResult {
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

  /** Writes buffered batches to the OS (no fsync), and index files of sealed segments made durable. */
  flush(): void {
    if (this.state !== LogState.Open) return;
    this.writer.flushBuffer(this.active);
    const pending = this.indexWritePending;
    if (pending.length > 0 && this.scheduler.failure === null) {
      for (let i = 0; i < pending.length; i++) {
        const segment = pending[i]!;
        if (segment.deleted) continue;
        try {
          this.writeIndexFiles(segment);
        } catch (error) {
          // index files only spare the next open a scan: out of descriptors or space, the index stays in
          // memory (close() tries again) and the flush every log shares goes on
          this.logger(`partition ${this.dir}: index files of ${segmentBaseName(segment.baseOffset)} not written: ${(error as Error).message}`);
        }
      }
      pending.length = 0;
    }
  }

  /**
   * Flushes, fdatasyncs whatever no round has synced yet (policy 'always'), writes every segment's
   * index files (so the next open trusts them instead of scanning) and closes every fd.
   */
  close(): void {
    if (this.state !== LogState.Open) return;
    this.scheduler.forget(this);
    this.flush();
    if (this.syncEnabled) {
      // what no round synced yet (a file the cache closed was synced before the close)
      for (const segment of this.segments) if (segment.file.unsynced && segment.file.fd >= 0) fs.fdatasyncSync(segment.file.fd);
      const directory = this.writer.directoryFile;
      if (this.writer.directorySyncPending && directory !== null && directory.unsynced && directory.fd >= 0) fs.fsyncSync(directory.fd);
    }
    this.writer.directorySyncPending = false;
    this.writer.activeSyncPending = false;
    for (const segment of this.segments) {
      if (segment.memoryIndex !== null && segment.created) this.writeIndexFiles(segment);
      this.releaseFiles(segment);
    }
    this.writer.sealedAwaitingSync.length = 0;
    this.indexWritePending.length = 0;
    this.writer.releaseDirectory();
    this.state = LogState.Closed;
  }

  /** Deletes every file of the partition (and the directory when it is then empty). */
  destroy(): void {
    if (this.state === LogState.Destroyed) return;
    this.scheduler.forget(this);
    this.writer.length = 0;
    this.writer.writeError = null;
    this.needsRepair = false;
    for (const segment of this.segments) {
      segment.deleted = true;
      this.releaseFiles(segment);
    }
    this.writer.releaseDirectory();
    this.segments = [];
    this.writer.sealedAwaitingSync.length = 0;
    this.indexWritePending.length = 0;
    this.writer.activeSyncPending = this.writer.directorySyncPending = false;
    for (const name of readdirOrEmpty(this.dir)) {
      if (
        parseSegmentFile(name) !== null ||
        name.endsWith(LOG_FILE_SUFFIX + CORRUPT_SEGMENT_SUFFIX) ||
        isCompactionTemporaryFile(name) ||
        isDamagedFileName(name) ||
        isSplitTemporaryFile(name)
      ) {
        unlinkIfExists(path.join(this.dir, name));
      }
    }
    try {
      fs.rmdirSync(this.dir);
    } catch {
      // not empty (someone else's files) or already gone: leave it
    }
    this.state = LogState.Destroyed;
  }

  // ---- SyncableLog: called by the SyncScheduler -------------------------------------------------

  collectSyncFds(dataFds: number[], directoryFds: number[]): void {
    this.writer.collect(this.active, dataFds, directoryFds);
  }

  onSyncDone(): void {
    this.writer.onSyncDone(this.active);
    if (this.indexWritePending.length > 0 && this.state === LogState.Open && !this.flushQueued) this.scheduler.markDirty(this);
  }

  roundCompleted(): boolean {
    if (this.state !== LogState.Open) return false;
    return this.writer.roundCompleted(this.active);
  }

  /**
   * Cuts the files back to the durable end (later segments deleted, the durable one truncated and
   * synced) and rebuilds the log's state from them, as an open would: the next offset goes back to the
   * high watermark, so offsets no consumer could see are handed out again.
   */
  rollBack(): void {
    if (this.state !== LogState.Open) return;
    this.writer.rollBackToDurable();
    const base = this.writer.durableSegment;
    const size = this.writer.durableSize;
    for (const segment of this.segments) {
      if (segment.baseOffset > base) {
        segment.deleted = true;
        this.releaseFiles(segment);
        removeSegmentFiles(segment);
      } else if (segment.baseOffset === base && segment.created) {
        // a torn write leaves bytes past flushedSize: whole batches among them must not come back
        // (cut through the cache's descriptor)
        const fd = this.files.fd(segment.file);
        if (fs.fstatSync(fd).size > size) {
          fs.ftruncateSync(fd, size);
          if (this.syncEnabled) fs.fdatasyncSync(fd);
          unlinkIfExists(segment.indexPath); // they may describe the dropped bytes: rebuilt by the scan
          unlinkIfExists(segment.timeIndexPath);
        }
      }
    }
    // every descriptor goes back to the cache (closed after any sync in flight on it): the state is
    // rebuilt from the files below, with handles of its own
    for (const segment of this.segments) this.releaseFiles(segment);
    this.writer.releaseDirectory();
    this.segments = [];
    this.writer.clearPending();
    this.indexWritePending = [];
    this.totalBytes = 0;
    this.reader.reset();
    this.recover();
    this.markAllDurable();
    this.needsRepair = true;
  }

  repair(): boolean {
    if (this.state !== LogState.Open || !this.needsRepair) return true;
    if (this.writer.writeError !== null) return false;
    try {
      this.repairSegment();
      return true;
    } catch {
      return false;
    }
  }

  /** After a rollback: appends go to a new segment (unless the active one holds no batch yet). */
  private repairSegment(): void {
    if (this.active.lastBatchPosition !== 0) this.roll();
    this.needsRepair = false;
  }

  private markAllDurable(): void {
    this.writer.markAllDurable(this.active);
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

  /** Every byte of the active segment is written and (with fsync on) synced: nothing in it is still awaited. */
  private activeDurable(): boolean {
    if (!this.syncEnabled) return true; // nothing is awaited: roll() writes the buffer out
    const active = this.active;
    return active.flushedSize === active.size && !this.writer.activeSyncPending && !this.writer.activeInFlight && !this.writer.syncInFlight;
  }

  /** Seals the active segment and starts the next one at the current end offset. */
  private roll(): PartitionSegment {
    this.flush();
    const sealed = this.active;
    const sealedSyncPending = this.writer.activeSyncPending;
    // the new segment first: if it cannot be created, the active one stays as it was
    const next = this.createSegment(this.nextOffset);
    if (!this.syncEnabled) {
      this.writeIndexFiles(sealed);
    } else if (sealedSyncPending) {
      // the next round fdatasyncs it (or the cache, should it close the descriptor first); onSyncDone
      // then writes the index files
      this.writer.sealedOwesSync(sealed);
    } else if (this.writer.activeInFlight) {
      this.writer.sealedSyncing.push(sealed); // the round in flight covers all of it
    } else {
      this.writeIndexFiles(sealed); // every byte is durable already
    }
    this.writer.activeInFlight = false;
    this.segments.push(next);
    this.active = next;
    return next;
  }

  /**
   * A new active segment. `lazy`: only in memory until its first write (ensureCreated) — for the first
   * segment of a partition with no files at all, where nothing is lost if it is never written.
   */
  private createSegment(baseOffset: bigint, lazy = false): PartitionSegment {
    const segment = new PartitionSegment(this.dir, baseOffset);
    if (lazy) segment.created = false;
    else this.writer.createFile(segment); // may throw (ENOSPC, EMFILE …): then nothing was counted
    this.totalBytes += PARTITION_SEGMENT_HEADER_BYTES;
    return segment;
  }

  /** Writes a segment's .timeindex and .index from its in-memory index; a sealed one then drops it. */
  private writeIndexFiles(segment: PartitionSegment): void {
    writeIndexFiles(segment, segment === this.active);
  }

  /** Deletes the (sealed) segment at `index` of `segments` with its files. */
  private deleteSegmentAt(index: number): void {
    const segment = this.segments[index]!;
    this.segments.splice(index, 1);
    this.totalBytes -= segment.size;
    this.forgetSegment(segment);
    unlinkIfExists(segment.logPath); // .log first: index files without a .log are removed at open
    unlinkIfExists(segment.indexPath);
    unlinkIfExists(segment.timeIndexPath);
  }

  /** Marks a segment deleted or replaced: closes its fds and drops every cached position in it. */
  private forgetSegment(segment: PartitionSegment): void {
    segment.deleted = true;
    this.releaseFiles(segment);
    this.writer.forget(segment);
    this.reader.forget(segment);
  }

  /** The segment's files are done with: the cache closes them (after any sync in flight on them). */
  private releaseFiles(segment: PartitionSegment): void {
    this.files.release(segment.file);
    this.files.release(segment.indexFile);
    this.files.release(segment.timeIndexFile);
  }

  /** The directory's descriptor for compaction's fsyncs between renames; -1 with policy 'never'. */
  private directoryFd(): number {
    const directory = this.writer.directoryFile;
    return directory === null ? -1 : this.files.fd(directory);
  }

  // ---- recovery (partition-recovery.ts) --------------------------------------------------------------

  private recover(): void {
    const started = Date.now();
    // a new partition's directory is created by its first segment file (createFile): an empty one has none
    this.writer.openDirectory();
    if (fs.existsSync(this.dir)) recoverInterruptedCompaction(this.dir, this.directoryFd(), this.logger);
    const { segments, totalBytes, resumeAt, totals } = recoverSegments(this.recoveryContext);
    this.segments = segments;
    this.totalBytes += totalBytes;
    const last = segments.length > 0 ? segments[segments.length - 1]! : null;
    this.nextOffset = resumeAt;
    if (last !== null && last.nextOffset === resumeAt) {
      this.active = last;
      if (last.lastBatchPosition !== 0) {
        // segment.ms counts from the first batch's timestamp; without one, from this open (as Kafka does)
        const first = Buffer.alloc(BATCH_HEADER_BYTES);
        readFully(this.files.fd(last.file), first, BATCH_HEADER_BYTES, PARTITION_SEGMENT_HEADER_BYTES);
        last.rollTimestamp = maxTimestampAt(first, 0);
        last.createdAt = Date.now();
      }
      // a sealed segment became the last one (a newer, empty one was removed): its index goes back into memory
      if (last.memoryIndex === null && !trustIndexFiles(last, this.files.fd(last.file), last.size, true)) {
        throw new Error(`partition ${this.dir}: index files of ${segmentBaseName(last.baseOffset)} unreadable right after writing them`);
      }
    } else {
      // no file at all and nothing lost: the first segment is created by the first write
      this.active = this.createSegment(resumeAt, this.segments.length === 0 && resumeAt === 0n);
      this.segments.push(this.active);
    }
    // a clean open of a healthy partition is routine; one that repaired something is news
    const repaired = totals.droppedBytes > 0 || totals.removed > 0 || totals.corrupt > 0 || totals.damaged > 0;
    this.logger(
      `partition ${this.dir}: recovered ${this.segments.length} segment(s), offsets ${this.logStartOffset}..${this.nextOffset}, ` +
        `${this.totalBytes} bytes; ${totals.trusted} index(es) trusted, ${totals.scanned} segment(s) scanned ` +
        `(${totals.scannedBytes} bytes, CRC-checked), dropped ${totals.droppedBytes} byte(s), ` +
        (totals.damaged > 0 ? `skipped ${totals.damagedBytes} damaged byte(s) in ${totals.damaged} range(s), ` : '') +
        `${totals.removed} segment(s) removed, ${totals.corrupt} moved aside, in ${Date.now() - started} ms`,
      !repaired,
    );
  }

  private notOpenError(): Error {
    return new Error(`partition ${this.dir}: log is ${this.state === LogState.Closed ? 'closed' : 'destroyed'}`);
  }
}
