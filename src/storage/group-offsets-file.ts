/**
 * The file engine's group-offset store: committed offsets of every consumer group in memory
 * (group-offset-table.ts) over the offsets log, <dataDir>/groups/offsets.log (group-offset-log.ts, where its
 * layout is drawn), replayed at open. A commit is one record appended at once and fsynced by the engine's
 * group-commit round; it is applied to memory when that round completes.
 *
 * The log is compacted (rewritten as one snapshot of the live offsets) at open and whenever it has grown
 * past both `compactionMinBytes` and COMPACTION_GARBAGE_FACTOR times the live snapshot, so its size stays
 * within a small factor of the number of committed partitions however often consumers commit.
 */
import type { SyncScheduler } from './sync.js';
import {
  OffsetLogFile,
  type OffsetLog,
  type OffsetRecord,
  RECORD_TYPE_COMMIT,
  SNAPSHOT_ENTRIES_PER_RECORD,
  encodeCommitRecord,
  encodeDeleteGroupRecord,
} from './group-offset-log.js';
import { GroupOffsetTable, type OffsetWrite } from './group-offset-table.js';
import type { StoredOffset } from './meta-store.js';

/** Never compact a log smaller than this, 4 MiB: replaying it takes milliseconds, rewriting it buys nothing. */
export const DEFAULT_COMPACTION_MIN_BYTES = 4 * 1024 * 1024;
/** Compact once the log is this many times larger than a snapshot of what is live (half of it garbage). */
export const COMPACTION_GARBAGE_FACTOR = 2;

export interface FileGroupOffsetStoreOptions {
  /** the directory holding offsets.log (<dataDir>/groups) */
  readonly dir: string;
  readonly scheduler: SyncScheduler;
  readonly warn: (line: string) => void;
  /** damage found at open; default: `warn` */
  readonly error?: (line: string) => void;
  readonly info: (line: string) => void;
  readonly compactionMinBytes?: number;
}

export class FileGroupOffsetStore extends GroupOffsetTable<Buffer> {
  private readonly log: OffsetLog;
  private readonly compactionMinBytes: number;
  /** the log size at which the next compaction check runs */
  private nextCompactionCheck: number;
  /** how many times the log was rewritten since open (for tests) */
  compactions = 0;

  private constructor(
    private readonly options: FileGroupOffsetStoreOptions,
    open: (visit: (record: OffsetRecord) => void) => OffsetLog,
  ) {
    super(options.scheduler);
    this.compactionMinBytes = options.compactionMinBytes ?? DEFAULT_COMPACTION_MIN_BYTES;
    this.log = open((record) => this.replay(record));
    this.nextCompactionCheck = this.compactionMinBytes;
  }

  static open(options: FileGroupOffsetStoreOptions): FileGroupOffsetStore {
    let records = 0;
    const store = new FileGroupOffsetStore(options, (visit) => {
      const opened = OffsetLogFile.open({ dir: options.dir, scheduler: options.scheduler, warn: options.warn, error: options.error ?? options.warn }, visit);
      records = opened.records;
      return opened.log;
    });
    if (records > 0) options.info(`consumer groups: ${store.byGroup.size} group(s) with committed offsets recovered from ${records} record(s)`);
    store.maybeCompact();
    options.scheduler.addListener(store);
    return store;
  }

  /** Bytes in the offsets log right now. */
  get logBytes(): number {
    return this.log.bytes;
  }

  /** Rewrites the log now whatever its size (tests). */
  compact(): void {
    const records = this.snapshotRecords();
    for (const w of this.pending) records.push(w.written);
    this.log.rewrite(records);
    this.compactions++;
    this.nextCompactionCheck = Math.max(this.compactionMinBytes, COMPACTION_GARBAGE_FACTOR * this.log.bytes);
  }

  protected persist(write: OffsetWrite): Buffer {
    const record = write.type === 'commit' ? encodeCommitRecord(write.groupId, write.offsets) : encodeDeleteGroupRecord(write.groupId);
    this.log.append(record);
    return record;
  }

  protected override afterApplied(): void {
    this.maybeCompact();
  }

  protected release(): void {
    try {
      this.log.close();
    } catch (err) {
      this.options.warn(`consumer groups: closing the offsets log failed: ${(err as Error).message}`);
      throw err;
    }
  }

  private replay(record: OffsetRecord): void {
    if (record.type === RECORD_TYPE_COMMIT) this.applyCommit(record.groupId, record.offsets);
    else this.byGroup.delete(record.groupId);
  }

  /** Compacts when the log outgrew both the floor and COMPACTION_GARBAGE_FACTOR × the live snapshot. */
  private maybeCompact(): void {
    if (this.closed || this.log.bytes < this.nextCompactionCheck) return;
    const snapshot = this.snapshotRecords();
    let liveBytes = 0;
    for (const r of snapshot) liveBytes += r.length;
    for (const w of this.pending) liveBytes += w.written.length;
    if (this.log.bytes >= COMPACTION_GARBAGE_FACTOR * liveBytes) {
      const before = this.log.bytes;
      for (const w of this.pending) snapshot.push(w.written);
      try {
        this.log.rewrite(snapshot);
        this.compactions++;
        this.options.info(`consumer groups: offsets log compacted from ${before} to ${this.log.bytes} bytes`);
      } catch (err) {
        this.options.warn(`consumer groups: compacting the offsets log failed (it keeps growing): ${(err as Error).message}`);
      }
    }
    // after a rewrite the log is the live size; without one it is below FACTOR × live: either way the
    // next check comes once the log may again be half garbage
    this.nextCompactionCheck = Math.max(this.compactionMinBytes, COMPACTION_GARBAGE_FACTOR * liveBytes);
  }

  /** The live offsets as COMMIT records: one per group, chunked at SNAPSHOT_ENTRIES_PER_RECORD entries. */
  private snapshotRecords(): Buffer[] {
    const records: Buffer[] = [];
    for (const [groupId, topics] of this.byGroup) {
      let chunk: StoredOffset[] = [];
      for (const partitions of topics.values()) {
        for (const offset of partitions.values()) {
          chunk.push(offset);
          if (chunk.length === SNAPSHOT_ENTRIES_PER_RECORD) {
            records.push(encodeCommitRecord(groupId, chunk));
            chunk = [];
          }
        }
      }
      if (chunk.length > 0) records.push(encodeCommitRecord(groupId, chunk));
    }
    return records;
  }
}
