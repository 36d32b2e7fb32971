/**
 * SegmentWriter: the write side every segmented log shares (a queue's SegmentLog, log.ts, and a Kafka
 * partition's PartitionLog, partition/partition-log.ts): the append buffer, the active segment's file,
 * and the log's part in the SyncScheduler's group commit (sync.ts). What a record or a batch looks like,
 * when a segment rolls, what a rollback rebuilds, and every byte layout stay with the log that owns it;
 * the writer only moves bytes to the OS and remembers which descriptors owe an fsync.
 *
 *   log.append() ──► writer.buffer [0, length) ──(end of turn: log.flush() → flushBuffer)──► one write()
 *                    │ (a record larger than the buffer: writeDirect, straight to the file)    at active.flushedSize
 *                    └─ the log copies into `buffer` itself (hot path: no call per record)
 *
 *   round: scheduler ──► log.collectSyncFds ──► collect(active): the directory (after a segment file was
 *          created, and its parent after the directory was), the active segment, sealed segments rolled
 *          since the last round; each file pinned in the FdCache until onSyncDone
 *
 * What it does for both logs (the two copies it replaces were the same code, line for line):
 * - The append buffer: allocated by a log's first append at INITIAL_WRITE_BUFFER_BYTES, doubled (grow)
 *   when one turn's appends fill it, up to the log's maximum; flushed as one positional write at the
 *   active segment's flushedSize. A record or batch larger than the maximum goes straight to the file
 *   (writeDirect), after the buffer was flushed.
 * - The active segment's file: created by its first write (ensureCreated; a new partition's first
 *   segment and a new queue's segments are lazy) with the log's header, through the broker's FdCache;
 *   a creation that fails removes the half-made file. Creating the log's directory owes its parent
 *   directory an fsync; creating a file owes the directory one.
 * - Segment roll stays in each log (the rules differ); the log hands the sealed segment to the writer
 *   when it still owes an fdatasync (sealedAwaitingSync), and the next round syncs it. A PartitionLog
 *   writes a sealed segment's index files once that round is done (onSealedSynced, sealedSyncing).
 * - The fsync registration: with policy 'always' a written file is marked unsynced in the FdCache (so
 *   it is synced before its descriptor is closed) and the log marked unsynced with the scheduler; a
 *   round collects the descriptors and records what it covers (candidate: active segment and its
 *   flushed size); roundCompleted() makes that the durable end. With policy 'never' nothing is synced
 *   and the candidate moves with every write.
 * - Error handling, the same in both logs: a failed write, create or open is never retried in place.
 *   failWrite() keeps the first error, empties the buffer, tells the scheduler (writeFailed: every round
 *   issued so far fails) and queues a flush; until the scheduler rolls the log back, appends still get
 *   positions/offsets but nothing more is written (flushBuffer drops the buffer). A failed flushBuffer
 *   reports the failure and rethrows (the log's callers decide: SegmentLog.flushOrFail swallows it,
 *   the scheduler's end-of-turn flush sees it). The rollback itself (what to truncate, what to rebuild)
 *   is each log's; rollBackToDurable() resets the writer's part. A failed fsync reaches the logs only
 *   through the scheduler (rollBack). The group offsets log (group-offset-log.ts) writes through a
 *   writer too: one file that never rolls (created at open, replaced whole by its compaction).
 *
 * Every write goes through files.ts writeFully (faults.ts can fail it: ENOSPC, EIO, torn, short writes)
 * and every file is opened through the FdCache (faults.ts can fail the open: EMFILE, EIO).
 */

import path from 'node:path';
import { CachedFile, FdCache } from './fd-cache.js';
import { ensureDirectory, unlinkIfExists, writeFully } from './files.js';
import type { SyncScheduler, SyncableLog } from './sync.js';

/**
 * A log's first write buffer, 16 KiB, allocated by its first append; it doubles (up to the log's
 * maximum) each time one turn's appends fill it. 100,000 queues that hold a few messages cost 16 KiB each, not 256.
 */
export const INITIAL_WRITE_BUFFER_BYTES = 16 * 1024;

const NO_BUFFER = Buffer.alloc(0);

/** What the writer needs of a segment (Segment in segment.ts, PartitionSegment in partition/partition-segment.ts). */
export interface WritableSegment {
  /** the segment's data file (its descriptor comes and goes with the FdCache) */
  readonly file: CachedFile;
  /** logical end: bytes written plus bytes still in the write buffer */
  size: number;
  /** bytes written to the file */
  flushedSize: number;
  /** the file exists (a lazy segment's is created by its first write) */
  created: boolean;
  /** in sealedAwaitingSync */
  dataSyncPending: boolean;
}

export interface SegmentWriterOptions<S extends WritableSegment, K extends number | bigint> {
  /** the log's directory (created by the first segment file) */
  readonly dir: string;
  readonly scheduler: SyncScheduler;
  readonly files: FdCache;
  /** the log the scheduler flushes and syncs (markDirty, markUnsynced) */
  readonly owner: SyncableLog;
  /** largest write buffer, bytes; larger appends are written straight to the file */
  readonly maxBufferBytes: number;
  /** which segment this is, for the durable end (a queue's segment number, a partition's base offset) */
  readonly keyOf: (segment: S) => K;
  /** the header a new segment file starts with */
  readonly header: (segment: S) => Buffer;
  /** before a segment file is created: remove stale companion files of the same name (ack or index files) */
  readonly beforeCreate: (segment: S) => void;
  /** a sealed segment's data is durable (the round that synced it is done); not called for the active one */
  readonly onSealedSynced?: (segment: S) => void;
}

export class SegmentWriter<S extends WritableSegment, K extends number | bigint> {
  /** The append buffer; bytes [0, length) are not written yet. Logs copy into it directly. */
  buffer: Buffer = NO_BUFFER;
  length = 0;
  /** The first write failure since the last rollback: nothing is written until the scheduler rolls back. */
  writeError: Error | null = null;
  readonly syncEnabled: boolean;

  /** the log's directory, fsynced after a segment file is created (policy 'always'); null with 'never' */
  directoryFile: CachedFile | null = null;
  directorySyncPending = false;
  /** the active segment was written since the last round collected it */
  activeSyncPending = false;
  /** The active segment's fd is in the round in flight. */
  activeInFlight = false;
  syncInFlight = false;
  /** sealed segments whose data the next round fdatasyncs */
  sealedAwaitingSync: S[] = [];
  /** sealed segments in the round in flight (handed to onSealedSynced when it is done) */
  sealedSyncing: S[] = [];

  // The end of what the last completed round covers (segment, size in it) and of what the round in flight covers.
  durableSegment!: K;
  durableSize = 0;
  candidateSegment!: K;
  candidateSize = 0;

  /** the parent directory, owed an fsync since this log created its own directory in it */
  private parentDirectory: CachedFile | null = null;
  /** files whose descriptors the scheduler is syncing (pinned in the cache until onSyncDone) */
  readonly pinned: CachedFile[] = [];

  private readonly dir: string;
  private readonly scheduler: SyncScheduler;
  private readonly files: FdCache;
  private readonly owner: SyncableLog;
  private readonly maxBufferBytes: number;
  private readonly keyOf: (segment: S) => K;
  private readonly header: (segment: S) => Buffer;
  private readonly beforeCreate: (segment: S) => void;
  private readonly onSealedSynced: ((segment: S) => void) | undefined;

  constructor(options: SegmentWriterOptions<S, K>) {
    this.dir = options.dir;
    this.scheduler = options.scheduler;
    this.files = options.files;
    this.owner = options.owner;
    this.maxBufferBytes = options.maxBufferBytes;
    this.keyOf = options.keyOf;
    this.header = options.header;
    this.beforeCreate = options.beforeCreate;
    this.onSealedSynced = options.onSealedSynced;
    this.syncEnabled = options.scheduler.policy === 'always';
  }

  /** The directory's CachedFile (policy 'always'), made again after a rollback or reset dropped it. */
  openDirectory(): void {
    if (this.syncEnabled) this.directoryFile = new CachedFile(this.dir, 'r', true);
  }

  /** The directory's CachedFile goes back to the cache. */
  releaseDirectory(): void {
    if (this.directoryFile !== null) this.files.release(this.directoryFile);
    this.directoryFile = null;
  }

  // ---- the buffer ------------------------------------------------------------------------------------

  /** The buffer is empty and too small for `size` bytes: a larger one (up to the maximum). */
  grow(size: number): void {
    if (this.buffer.length < this.maxBufferBytes) this.buffer = grownBuffer(this.buffer.length, size, INITIAL_WRITE_BUFFER_BYTES, this.maxBufferBytes);
  }

  /**
   * Writes the buffer to the end of `segment` (the active one). After a failure not yet rolled back the
   * buffer is dropped instead. A write that fails is reported (failWrite) and rethrown.
   */
  flushBuffer(segment: S): void {
    const length = this.length;
    if (this.writeError !== null) {
      this.length = 0; // rolled back by the scheduler: nothing of it may reach the file
      return;
    }
    if (length === 0) return;
    try {
      const fd = this.ensureCreated(segment);
      this.written(segment.file);
      writeFully(fd, this.buffer, length, segment.flushedSize);
    } catch (error) {
      this.failWrite(error);
      throw error;
    }
    segment.flushedSize += length;
    this.length = 0;
    this.scheduler.noteWritten(length);
    this.dataWritten(segment);
  }

  /** Writes `pieces` back to back at the end of `segment` (the active one; the buffer is empty). Throws on failure. */
  writeDirect(segment: S, pieces: readonly Buffer[]): void {
    let position = segment.flushedSize;
    const fd = this.ensureCreated(segment);
    this.written(segment.file);
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      writeFully(fd, piece, piece.length, position);
      position += piece.length;
    }
    this.scheduler.noteWritten(position - segment.flushedSize);
    segment.flushedSize = position;
    this.dataWritten(segment);
  }

  /** A write of this log failed: stop writing, and let the scheduler fail the rounds and roll back. */
  failWrite(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error));
    if (this.writeError === null) this.writeError = failure;
    this.length = 0;
    this.scheduler.writeFailed(failure);
    if (!this.owner.flushQueued) this.scheduler.markDirty(this.owner); // stays exposed until the rollback
  }

  // ---- files -----------------------------------------------------------------------------------------

  /** The segment's descriptor, its file created (with its header) by this first write if need be. */
  ensureCreated(segment: S): number {
    return segment.created ? this.files.fd(segment.file) : this.createFile(segment);
  }

  /** Creates the segment's file with its header, before the first record is written into it. */
  createFile(segment: S): number {
    if (ensureDirectory(this.dir) && this.syncEnabled) {
      // the new directory's entry in its parent is fsynced by the next round (once for every log created in it)
      const parent = this.files.sharedDirectory(path.dirname(this.dir));
      this.files.fd(parent);
      this.written(parent);
      this.parentDirectory = parent;
    }
    this.beforeCreate(segment);
    const fd = this.files.create(segment.file, 'wx+');
    try {
      const header = this.header(segment);
      writeFully(fd, header, header.length, 0);
    } catch (error) {
      // (ENOSPC …) no half-made file may block the next try at the same name
      this.files.close(segment.file);
      unlinkIfExists(segment.file.path);
      throw error;
    }
    segment.created = true;
    this.written(segment.file);
    if (this.syncEnabled) {
      const directory = this.directoryFile;
      if (directory !== null) {
        this.files.fd(directory); // open now: a file with a sync owed is never closed unsynced
        this.written(directory);
      }
      this.directorySyncPending = true;
      this.activeSyncPending = true;
      this.scheduler.markUnsynced(this.owner);
    }
    return fd;
  }

  /** `file` was written: with syncs on, it owes one (the cache syncs it before closing its descriptor). */
  written(file: CachedFile): void {
    // transient logs (policy 'never') never sync: their files are closed without one, and no failure of a
    // sync-before-close can be reported for them to the durable scheduler
    if (this.syncEnabled) this.files.written(file);
  }

  /** Data of the active segment reached the OS: it owes a sync (or, with policy 'never', is covered now). */
  private dataWritten(active: S): void {
    if (!this.syncEnabled) {
      this.candidateSegment = this.keyOf(active);
      this.candidateSize = active.flushedSize;
      return;
    }
    this.activeSyncPending = true;
    this.scheduler.markUnsynced(this.owner);
  }

  /** A sealed segment owes an fdatasync: the next round syncs it (or the cache, should it close the descriptor first). */
  sealedOwesSync(segment: S): void {
    segment.dataSyncPending = true;
    this.sealedAwaitingSync.push(segment);
  }

  /** A segment is gone (deleted or replaced): no round syncs it any more. */
  forget(segment: S): void {
    if (segment.dataSyncPending) removeFrom(this.sealedAwaitingSync, segment);
    segment.dataSyncPending = false;
  }

  // ---- rounds ----------------------------------------------------------------------------------------

  /**
   * The writer's part of SyncableLog.collectSyncFds: what the round covers (the active segment as
   * flushed), and the descriptors of the directory, the active segment and sealed segments owing a sync.
   */
  collect(active: S, dataFds: number[], directoryFds: number[]): void {
    this.candidateSegment = this.keyOf(active);
    this.candidateSize = active.flushedSize;
    // a file the cache closed since it was written was synced before the close: it has nothing left to sync
    const directory = this.directoryFile;
    if (this.directorySyncPending && directory !== null) this.collectFile(directory, directoryFds);
    const parent = this.parentDirectory;
    if (this.directorySyncPending && parent !== null) {
      this.collectFile(parent, directoryFds);
      this.parentDirectory = null;
    }
    this.directorySyncPending = false;
    if (this.activeSyncPending) {
      this.collectFile(active.file, dataFds);
      this.activeInFlight = true;
    }
    this.activeSyncPending = false;
    const sealed = this.sealedAwaitingSync;
    for (let i = 0; i < sealed.length; i++) {
      const segment = sealed[i]!;
      segment.dataSyncPending = false;
      this.collectFile(segment.file, dataFds);
      if (this.onSealedSynced !== undefined) this.sealedSyncing.push(segment);
    }
    sealed.length = 0;
    this.syncInFlight = true;
  }

  /** Hands an unsynced file's descriptor to a sync: pinned (kept open) until onSyncDone. */
  collectFile(file: CachedFile, fds: number[]): void {
    if (!file.unsynced || file.fd < 0 || file.released) return;
    file.unsynced = false;
    this.files.pin(file);
    this.pinned.push(file);
    fds.push(file.fd);
  }

  /** The syncs collected have finished: sealed segments they covered go to onSealedSynced, pins are dropped. */
  onSyncDone(active: S): void {
    this.syncInFlight = false;
    this.activeInFlight = false;
    const sealed = this.sealedSyncing;
    const visit = this.onSealedSynced;
    if (visit !== undefined) {
      for (let i = 0; i < sealed.length; i++) {
        const segment = sealed[i]!;
        if (segment !== active) visit(segment);
      }
    }
    sealed.length = 0;
    this.unpinFrom(0);
  }

  /** Unpins the files pinned since pinned[from] (a synchronous sync of close() unpins only its own). */
  unpinFrom(from: number): void {
    const pinned = this.pinned;
    for (let i = from; i < pinned.length; i++) this.files.unpin(pinned[i]!);
    pinned.length = from;
  }

  /** A round completed: what it covered is durable. True while `active` holds bytes no completed round covers. */
  roundCompleted(active: S): boolean {
    this.durableSegment = this.candidateSegment;
    this.durableSize = this.candidateSize;
    return this.keyOf(active) !== this.durableSegment || active.size !== this.durableSize;
  }

  /** Everything in the log is covered (after recovery, a purge or a reset). */
  markAllDurable(active: S): void {
    this.durableSegment = this.candidateSegment = this.keyOf(active);
    this.durableSize = this.candidateSize = active.size;
  }

  /** The writer's part of a rollback: the failure is handled, the buffer dropped, nothing past the durable end is covered. */
  rollBackToDurable(): void {
    this.writeError = null;
    this.length = 0;
    this.candidateSegment = this.durableSegment;
    this.candidateSize = this.durableSize;
  }

  /** Forgets every pending sync (the log was rebuilt from its files, or destroyed). Pins stay until onSyncDone. */
  clearPending(): void {
    this.sealedAwaitingSync = [];
    this.sealedSyncing = [];
    this.activeSyncPending = this.directorySyncPending = this.activeInFlight = this.syncInFlight = false;
  }
}

/**
 * A write buffer after `current` bytes were not enough: twice as large (at least `initial`), and large
 * enough for `needed`, never above `max`. Only called with the old buffer flushed (empty).
 */
export function grownBuffer(current: number, needed: number, initial: number, max: number): Buffer {
  let length = Math.max(initial, current * 2);
  while (length < needed) length *= 2;
  return Buffer.allocUnsafe(Math.min(length, max));
}

function removeFrom<T>(list: T[], item: T): void {
  const index = list.indexOf(item);
  if (index >= 0) list.splice(index, 1);
}
