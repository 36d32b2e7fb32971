/**
 * FdCache: every file descriptor the storage engine holds, bounded by one broker-wide budget.
 *
 * A log names its files as CachedFile handles (path + open flags) and asks the cache for a descriptor
 * each time it reads or writes; the cache opens the file on demand and, when the budget is reached,
 * closes the least recently used descriptor first. A queue or partition nobody touches therefore ends
 * up holding no descriptor at all (idle descriptors are also closed by sweep()), and ten thousand
 * queues cost no more descriptors than the budget.
 *
 *   most recent ◄── head ── file ── file ── … ── tail ──► least recent (closed first)
 *
 * Two rules keep durability intact when a descriptor is closed behind a log's back:
 * - a descriptor handed to the SyncScheduler for an fdatasync is pinned (pin() at collectSyncFds,
 *   unpin() at onSyncDone) and never closed while the sync is in flight;
 * - a file written since its last sync (`unsynced`) is fdatasync'ed (fsync'ed, for a directory) before
 *   its descriptor is closed, so the next round, finding it clean, has nothing left to sync. Linux
 *   syncs a file's dirty pages whichever descriptor they were written through, but a write error is
 *   reported only to descriptors open when it happened: syncing before closing is what makes it seen.
 *   Such a sync failing is reported through onSyncError (the broker then confirms nothing more).
 *
 * When every open descriptor is pinned the cache opens one more rather than failing (pins last one
 * fsync round, a few milliseconds); the budget is sized well below the process limit for that reason.
 * When open() fails with EMFILE/ENFILE (client sockets took the rest) the cache closes some of its own
 * descriptors and tries again; an open that still fails (or ENOSPC …) throws to the one caller.
 *
 * Per-message cost: fd() on an open file is a few pointer moves, no allocation.
 */

import fs from 'node:fs';
import { closeQuietly, readFully } from './files.js';
import { dataSyncNow, directorySyncNow, openFile } from './faults.js';

/** Fewest descriptors any cache gets: a log needs its active segment, an ack file and its directory at once. */
export const MIN_OPEN_FILES = 8;
/** Budget of a cache a log makes for itself when none is given (unit tests, tools, benches): 64 files. */
export const PRIVATE_CACHE_FILES = 64;
/** Descriptors the cache gives back, one at a time, when an open fails with EMFILE/ENFILE. */
const OPEN_RETRIES = 8;

export class CachedFile {
  /** the open descriptor, -1 while closed */
  fd = -1;
  /** written since its last sync: must be synced before the descriptor may be closed */
  unsynced = false;
  /** syncs in flight on fd */
  pins = 0;
  /** released by its log: closed once the last pin goes, never opened again */
  released = false;
  /** FileSlices naming bytes of this file (answers not yet sent): see hold() */
  holds = 0;
  /** release() found holds and pinned the file open for them: unpinned with the last hold */
  pinnedForHolds = false;
  /** sweep generation of the last use (sweep() closes files unused for a whole generation) */
  usedIn = 0;
  prev: CachedFile | null = null;
  next: CachedFile | null = null;

  constructor(
    readonly path: string,
    /** fs.open flags: 'r+' for segments, 'a' for ack files, 'r' for directories and read-only files */
    readonly flags: string,
    /** a directory: synced with fsync, never fdatasync */
    readonly directory = false,
  ) {}
}

export interface FdCacheOptions {
  /** most descriptors held open at once (pinned ones may briefly exceed it) */
  capacity: number;
  /** fdatasync an unsynced file before closing it (fsync policy 'always') */
  syncBeforeClose: boolean;
  /** a sync before a close failed: durability is lost, stop confirming */
  onSyncError?: (error: Error) => void;
}

export class FdCache {
  readonly capacity: number;
  private readonly syncBeforeClose: boolean;
  private onSyncError: ((error: Error) => void) | undefined;
  private head: CachedFile | null = null;
  private tail: CachedFile | null = null;
  /** descriptors open now */
  private openCount = 0;
  private generation = 1;
  private readonly shared = new Map<string, CachedFile>();
  /** opened, closed to make room (evictions), and opens beyond capacity because every file was pinned */
  readonly counters = { opened: 0, evicted: 0, overCapacity: 0, openFailures: 0 };

  constructor(options: FdCacheOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < MIN_OPEN_FILES) {
      throw new RangeError(`open file budget ${options.capacity} must be an integer >= ${MIN_OPEN_FILES}`);
    }
    this.capacity = options.capacity;
    this.syncBeforeClose = options.syncBeforeClose;
    this.onSyncError = options.onSyncError;
  }

  /**
   * The one handle of a directory many logs share (the queues/ directory, a topic's): a new log directory
   * in it makes it unsynced, and the next round fsyncs it once for all of them.
   */
  sharedDirectory(dir: string): CachedFile {
    let file = this.shared.get(dir);
    if (file === undefined) {
      file = new CachedFile(dir, 'r', true);
      this.shared.set(dir, file);
    }
    return file;
  }

  /** Sets where sync-before-close failures go (the broker wires its storage-failure path here). */
  setSyncErrorHandler(handler: (error: Error) => void): void {
    this.onSyncError = handler;
  }

  /** descriptors open now */
  get size(): number {
    return this.openCount;
  }

  /** The descriptor of `file`, opening it (and closing the least recently used one) when needed. */
  fd(file: CachedFile): number {
    if (file.fd >= 0) {
      file.usedIn = this.generation;
      if (this.head !== file) {
        this.unlink(file);
        this.linkFirst(file);
      }
      return file.fd;
    }
    if (file.released) throw new Error(`storage: ${file.path} was released`);
    if (this.openCount >= this.capacity) this.makeRoom();
    const fd = this.open(file.path, file.flags);
    file.fd = fd;
    file.usedIn = this.generation;
    this.openCount++;
    this.counters.opened++;
    this.linkFirst(file);
    return fd;
  }

  /** Creates the file (flags such as 'wx+') and keeps its descriptor as `file`'s. */
  create(file: CachedFile, createFlags: string): number {
    if (file.fd >= 0) throw new Error(`storage: ${file.path} is open already`);
    if (this.openCount >= this.capacity) this.makeRoom();
    const fd = this.open(file.path, createFlags);
    file.fd = fd;
    file.usedIn = this.generation;
    this.openCount++;
    this.counters.opened++;
    this.linkFirst(file);
    return fd;
  }

  /** `file` was written through its descriptor: it must be synced before the descriptor closes. */
  written(file: CachedFile): void {
    if (this.syncBeforeClose) file.unsynced = true;
  }

  /** A sync of file.fd is about to be issued: keep the descriptor open until unpin(). */
  pin(file: CachedFile): void {
    file.pins++;
  }

  unpin(file: CachedFile): void {
    if (file.pins > 0) file.pins--;
    if (file.pins === 0 && file.released && file.fd >= 0) this.closeNow(file);
  }

  /**
   * A FileSlice names bytes of `file` to be read later. Unlike a pin, a hold lets the cache close the
   * descriptor to make room (the slice reopens it by its path, which still names the same file while the
   * log has not released it), so answers waiting to be sent cost no descriptors. Only when the log releases
   * the file (deleted, replaced) while it is held is the descriptor kept open (opened again if it was
   * closed: the path goes right after) until the last hold goes.
   */
  hold(file: CachedFile): void {
    file.holds++;
  }

  unhold(file: CachedFile): void {
    if (file.holds > 0) file.holds--;
    if (file.holds === 0 && file.pinnedForHolds) {
      file.pinnedForHolds = false;
      this.unpin(file);
    }
  }

  /** The log is done with `file` (deleted, replaced, log closed): close it now, or after its last pin or hold. */
  release(file: CachedFile): void {
    if (file.holds > 0 && !file.released && !file.pinnedForHolds) {
      // slices still name its bytes, and its path is about to go: keep (or get) a descriptor for them
      try {
        this.fd(file);
        this.pin(file);
        file.pinnedForHolds = true;
      } catch {
        // no descriptor to be had (EMFILE): the slices' reads fail, and their connections are closed
      }
    }
    file.released = true;
    file.unsynced = false; // whoever releases a file has synced what must be synced, or no longer needs it
    if (file.fd >= 0 && file.pins === 0) this.closeNow(file);
  }

  /** Closes `file`'s descriptor if it is open and unpinned (it reopens on the next fd()). */
  close(file: CachedFile): void {
    if (file.fd < 0 || file.pins > 0) return;
    if (file.unsynced && !this.syncOut(file)) return;
    this.closeNow(file);
    this.counters.evicted++;
  }

  /**
   * Closes every descriptor not used since the previous sweep (and not pinned or awaiting a sync), then
   * starts a new generation: called on a timer, it leaves idle queues and partitions holding no fd.
   */
  sweep(): number {
    let closed = 0;
    const previous = this.generation;
    let file = this.tail;
    while (file !== null) {
      const before = file.prev;
      if (file.usedIn >= previous) break; // everything from here to the head was used this generation
      if (file.pins === 0 && !file.unsynced) {
        this.closeNow(file);
        closed++;
      }
      file = before;
    }
    this.generation = previous + 1;
    return closed;
  }

  /** Closes every unpinned descriptor (syncing unsynced ones first). */
  closeAll(): void {
    let file = this.tail;
    while (file !== null) {
      const before = file.prev;
      this.close(file);
      file = before;
    }
  }

  /**
   * open(), and when the process is out of descriptors (EMFILE/ENFILE: client sockets took them) the
   * cache gives back some of its own and tries again, so a flush or a read is not failed for a
   * descriptor the cache itself holds; only when it holds none that may close does the error go up.
   */
  private open(path: string, flags: string): number {
    for (let attempt = 0; ; attempt++) {
      try {
        return openFile(path, flags); // (through the fault injector in tests)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if ((code === 'EMFILE' || code === 'ENFILE') && attempt < OPEN_RETRIES && this.makeRoom()) continue;
        this.counters.openFailures++;
        throw error;
      }
    }
  }

  /** Closes the least recently used file that is neither pinned nor failing its sync; false when none. */
  private makeRoom(): boolean {
    let file = this.tail;
    while (file !== null) {
      const before = file.prev;
      if (file.pins === 0 && (!file.unsynced || this.syncOut(file))) {
        this.closeNow(file);
        this.counters.evicted++;
        return true;
      }
      file = before;
    }
    this.counters.overCapacity++;
    return false;
  }

  /** Syncs an unsynced file before its close; false (file left open and unsynced) when the sync failed. */
  private syncOut(file: CachedFile): boolean {
    try {
      // through the fault injector (tests), like every other storage sync
      if (file.directory) directorySyncNow(file.fd);
      else dataSyncNow(file.fd);
    } catch (error) {
      // the error is now consumed for this descriptor: report it, or nobody ever will
      const failure = error instanceof Error ? error : new Error(String(error));
      file.unsynced = false; // reported once; the broker stops confirming from here on
      if (this.onSyncError === undefined) throw failure;
      this.onSyncError(failure);
      return false;
    }
    file.unsynced = false;
    return true;
  }

  private closeNow(file: CachedFile): void {
    this.unlink(file);
    closeQuietly(file.fd);
    file.fd = -1;
    this.openCount--;
  }

  private linkFirst(file: CachedFile): void {
    file.prev = null;
    file.next = this.head;
    if (this.head !== null) this.head.prev = file;
    this.head = file;
    if (this.tail === null) this.tail = file;
  }

  private unlink(file: CachedFile): void {
    if (file.prev !== null) file.prev.next = file.next;
    else if (this.head === file) this.head = file.next;
    if (file.next !== null) file.next.prev = file.prev;
    else if (this.tail === file) this.tail = file.prev;
    file.prev = file.next = null;
  }
}

/**
 * A byte range of a file held in its cache until release(): what a Kafka Fetch answer streams to a socket,
 * a chunk at a time, over many event-loop turns, possibly after waiting its turn behind other answers. While
 * held, the cache may close the descriptor to make room (each read reopens it by its path, which still names
 * the same file), but a file released by its log meanwhile (a segment deleted by retention, replaced by
 * compaction, its log closed) keeps a descriptor open until the last hold goes (FdCache.hold): the range
 * reads the bytes of the file as it was when sliced (an open descriptor keeps an unlinked or renamed-over
 * file readable on POSIX), never the bytes of a file put in its place.
 */
export class FileSlice {
  private held = true;

  /** Holds `file` for the range [position, position + length). */
  constructor(
    private readonly cache: FdCache,
    private readonly file: CachedFile,
    readonly position: number,
    readonly length: number,
  ) {
    cache.hold(file);
  }

  get path(): string {
    return this.file.path;
  }

  /**
   * Reads `length` bytes at `at` of the range into `into` from `intoAt`. Throws on a read error or a short
   * read (the file was cut), and after release().
   */
  read(into: Buffer, intoAt: number, at: number, length: number): void {
    if (!this.held) throw new Error(`storage: ${this.file.path}: read of a released slice`);
    if (at < 0 || length < 0 || at + length > this.length)
      throw new RangeError(`storage: ${this.file.path}: ${at}+${length} outside a slice of ${this.length} bytes`);
    try {
      readFully(this.cache.fd(this.file), into.subarray(intoAt, intoAt + length), length, this.position + at);
    } catch (error) {
      throw new Error(`${this.file.path}: ${(error as Error).message}`);
    }
  }

  /** Nothing more is read (a released file's descriptor closes with its last hold). Idempotent. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.cache.unhold(this.file);
  }
}

/** The soft RLIMIT_NOFILE of this process, from /proc/self/limits (Linux); null where it cannot be read. */
export function softOpenFileLimit(): number | null {
  try {
    const text = fs.readFileSync('/proc/self/limits', 'utf8');
    const match = /^Max open files\s+(\d+|unlimited)\s+/m.exec(text);
    if (match === null) return null;
    return match[1] === 'unlimited' ? null : Number(match[1]);
  } catch {
    return null;
  }
}

/**
 * Share of the soft descriptor limit the storage cache may use by default: one half, leaving the other
 * half for client sockets, listeners, the definitions journal and Node's own descriptors.
 */
export const STORAGE_SHARE_OF_FD_LIMIT = 0.5;
/** The budget assumed when the limit cannot be read (not Linux, or unlimited): 1024 descriptors. */
export const FALLBACK_OPEN_FILE_LIMIT = 1024;
/** Most descriptors the storage takes by default even under a huge limit: 4096 keep any working set open. */
export const MAX_DEFAULT_STORAGE_OPEN_FILES = 4096;

/** The storage budget: `configured` when > 0, else half the soft limit (capped), never below MIN_OPEN_FILES. */
export function storageOpenFileBudget(configured: number, softLimit: number | null = softOpenFileLimit()): number {
  if (configured > 0) return Math.max(MIN_OPEN_FILES, configured);
  const limit = softLimit ?? FALLBACK_OPEN_FILE_LIMIT;
  return Math.max(MIN_OPEN_FILES, Math.min(MAX_DEFAULT_STORAGE_OPEN_FILES, Math.floor(limit * STORAGE_SHARE_OF_FD_LIMIT)));
}
