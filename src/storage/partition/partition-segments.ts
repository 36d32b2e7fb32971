/**
 * PartitionSegments: the segment files of one Kafka partition and their durability, the part of a
 * PartitionLog (partition-log.ts, which extends it with the offset-addressed API: append, read, retention,
 * compaction) that creates, rolls, syncs, deletes and recovers files. Layouts: format.ts. Durability: ../sync.ts.
 *
 *   00000000000000000000.log (+ .index, .timeindex)   sealed: read on demand
 *   00000000000000052817.log (+ .index, .timeindex)   sealed
 *   00000000000000104033.log                          active ◄── write buffer (../segment-writer.ts) ──► OS
 *
 * Writes go through a SegmentWriter: the append buffer flushed once per event-loop turn, the active
 * segment's file created by its first write (a new partition's first segment is lazy, the others are
 * made when the log rolls to them), and the fsync registration with the scheduler. A sealed segment's
 * sparse index goes to its .index/.timeindex files once the round that synced its .log is done (or at
 * once with policy 'never'); then it is dropped from memory (partition-reader.ts reads it from the files).
 *
 * A failed write or fsync (see sync.ts): the writer keeps the end of what the last completed round covers
 * (segment base offset, size in it) and of what the round in flight covers. After a failed write, appends
 * get offsets but are not written until the scheduler rolls the log back to the durable end: rollBack()
 * cuts the files there and rebuilds the log from them as an open would (partition-recovery.ts), so the
 * next offset goes back to the high watermark (offsets no consumer could see are handed out again);
 * repair() then rolls to a new segment.
 *
 * The log holds no descriptor of its own: its files are CachedFiles whose descriptors the broker-wide
 * FdCache opens on demand and closes when it needs room (../fd-cache.ts), so an idle partition costs
 * no descriptor and the number of partitions is not bounded by the process's descriptor limit.
 */

import fs from 'node:fs';
import path from 'node:path';
import { FdCache, PRIVATE_CACHE_FILES } from '../fd-cache.js';
import { readFully, readdirOrEmpty, unlinkIfExists } from '../files.js';
import type { SyncScheduler, SyncableLog } from '../sync.js';
import { SegmentWriter } from '../segment-writer.js';
import { isDamagedFileName } from '../damage.js';
import { isCompactionTemporaryFile, recoverInterruptedCompaction } from './compaction.js';
import { isSplitTemporaryFile } from './batch-resync.js';
import { CORRUPT_SEGMENT_SUFFIX, LOG_FILE_SUFFIX, PARTITION_SEGMENT_HEADER_BYTES, encodeSegmentHeader, parseSegmentFile, segmentBaseName } from './format.js';
import { BATCH_HEADER_BYTES, maxTimestampAt } from '../../format/kafka/record-batch.js';
import { PartitionSegment, trustIndexFiles, writeIndexFiles } from './partition-segment.js';
import { PartitionReader } from './partition-reader.js';
import { recoverSegments, removeSegmentFiles, type PartitionRecoveryContext } from './partition-recovery.js';

/** Default sparse-index interval, 4 KiB (Kafka's index.interval.bytes): a lookup scans about one page of headers. */
export const DEFAULT_INDEX_INTERVAL_BYTES = 4096;
/** Write buffer per partition, 256 KiB: one turn's produce requests for a busy partition fit in one write(). */
export const PARTITION_WRITE_BUFFER_BYTES = 256 * 1024;

export const enum LogState {
  Open,
  Closed,
  Destroyed,
}

/** The options of a PartitionLog that concern its files (PartitionLogOptions adds the limits). */
export interface PartitionFilesOptions {
  dir: string;
  scheduler: SyncScheduler;
  /** Bytes of batches between sparse index entries (default DEFAULT_INDEX_INTERVAL_BYTES). */
  indexIntervalBytes?: number;
  /** Scan and CRC-check every segment at open, even those with intact index files (default false). */
  verifyAllOnOpen?: boolean;
  /** One line per notable event (recovery summary, dropped tails, corrupt files). Default: stderr. */
  logger?: (line: string, routine?: boolean) => void;
  /** One line per damage found at open (damaged batches skipped, corrupt files moved aside). Default: `logger`. */
  errorLogger?: (line: string) => void;
  /** The broker's descriptor cache; without one the log makes a small private cache of its own. */
  files?: FdCache;
}

export class PartitionSegments implements SyncableLog {
  readonly dir: string;
  flushQueued = false;
  syncQueued = false;
  exposed = false;

  protected readonly scheduler: SyncScheduler;
  protected readonly indexIntervalBytes: number;
  /** `routine` is true for lines that report nothing wrong (a clean recovery summary) */
  protected readonly logger: (line: string, routine?: boolean) => void;
  protected readonly errorLogger: (line: string) => void;
  protected readonly syncEnabled: boolean;
  protected readonly recoveryContext: PartitionRecoveryContext;
  protected state = LogState.Open;

  /** Ascending by base offset; the last one is the active segment. */
  protected segments: PartitionSegment[] = [];
  protected active!: PartitionSegment;
  protected nextOffset = 0n;
  protected totalBytes = 0;

  /** where descriptors come from (shared by every log of a broker) */
  protected readonly files: FdCache;
  /** the append buffer, the active segment's file and the fsync registration (../segment-writer.ts) */
  protected readonly writer: SegmentWriter<PartitionSegment, bigint>;
  /** finds batches through the sparse indexes (partition-reader.ts); forgets segments deleted here */
  protected readonly reader: PartitionReader;
  /** Sealed segments whose .log is durable and whose index files are still to be written. */
  protected indexWritePending: PartitionSegment[] = [];
  /** Rolled back after a failure: the next append (or the scheduler's retry) rolls to a new segment first. */
  protected needsRepair = false;

  protected constructor(options: PartitionFilesOptions) {
    this.dir = options.dir;
    this.scheduler = options.scheduler;
    this.indexIntervalBytes = options.indexIntervalBytes ?? DEFAULT_INDEX_INTERVAL_BYTES;
    const logger = options.logger ?? ((line) => process.stderr.write(line + '\n'));
    this.logger = logger;
    this.syncEnabled = options.scheduler.policy === 'always';
    this.files =
      options.files ??
      new FdCache({ capacity: PRIVATE_CACHE_FILES, syncBeforeClose: this.syncEnabled, onSyncError: (error) => this.scheduler.reportFailure(error) });
    this.errorLogger = options.errorLogger ?? ((line) => logger(line));
    this.reader = new PartitionReader(this.dir, this.files);
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
      verifyAllOnOpen: options.verifyAllOnOpen ?? false,
    };
  }

  /** The first offset still stored. */
  get logStartOffset(): bigint {
    return this.segments[0]!.baseOffset;
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
  protected repairSegment(): void {
    if (this.active.lastBatchPosition !== 0) this.roll();
    this.needsRepair = false;
  }

  protected markAllDurable(): void {
    this.writer.markAllDurable(this.active);
  }

  /** Every byte of the active segment is written and (with fsync on) synced: nothing in it is still awaited. */
  protected activeDurable(): boolean {
    if (!this.syncEnabled) return true; // nothing is awaited: roll() writes the buffer out
    const active = this.active;
    return active.flushedSize === active.size && !this.writer.activeSyncPending && !this.writer.activeInFlight && !this.writer.syncInFlight;
  }

  /** Seals the active segment and starts the next one at the current end offset. */
  protected roll(): PartitionSegment {
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
  protected createSegment(baseOffset: bigint, lazy = false): PartitionSegment {
    const segment = new PartitionSegment(this.dir, baseOffset);
    if (lazy) segment.created = false;
    else this.writer.createFile(segment); // may throw (ENOSPC, EMFILE …): then nothing was counted
    this.totalBytes += PARTITION_SEGMENT_HEADER_BYTES;
    return segment;
  }

  /** Writes a segment's .timeindex and .index from its in-memory index; a sealed one then drops it. */
  protected writeIndexFiles(segment: PartitionSegment): void {
    writeIndexFiles(segment, segment === this.active);
  }

  /** Deletes the (sealed) segment at `index` of `segments` with its files. */
  protected deleteSegmentAt(index: number): void {
    const segment = this.segments[index]!;
    this.segments.splice(index, 1);
    this.totalBytes -= segment.size;
    this.forgetSegment(segment);
    unlinkIfExists(segment.logPath); // .log first: index files without a .log are removed at open
    unlinkIfExists(segment.indexPath);
    unlinkIfExists(segment.timeIndexPath);
  }

  /** Marks a segment deleted or replaced: closes its fds and drops every cached position in it. */
  protected forgetSegment(segment: PartitionSegment): void {
    segment.deleted = true;
    this.releaseFiles(segment);
    this.writer.forget(segment);
    this.reader.forget(segment);
  }

  /** The segment's files are done with: the cache closes them (after any sync in flight on them). */
  protected releaseFiles(segment: PartitionSegment): void {
    this.files.release(segment.file);
    this.files.release(segment.indexFile);
    this.files.release(segment.timeIndexFile);
  }

  /** The directory's descriptor for compaction's fsyncs between renames; -1 with policy 'never'. */
  protected directoryFd(): number {
    const directory = this.writer.directoryFile;
    return directory === null ? -1 : this.files.fd(directory);
  }

  // ---- recovery (partition-recovery.ts) --------------------------------------------------------------

  protected recover(): void {
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

  protected notOpenError(): Error {
    return new Error(`partition ${this.dir}: log is ${this.state === LogState.Closed ? 'closed' : 'destroyed'}`);
  }
}
