/**
 * Committed offsets of every consumer group, in memory and in the offsets log (storage/group-offset-log.ts,
 * reached through its OffsetLog interface).
 *
 * A commit is appended to the log at once and applied to memory only when the fsync round covering it
 * completes, so a fetch never sees an offset a crash could take back, and the commit's promise resolves at
 * that moment (the Kafka adapter answers OffsetCommit then). Commits apply in the order they were made.
 *
 * The log is compacted (rewritten as one snapshot of the live offsets) at open and whenever it has grown
 * past both `compactionMinBytes` and COMPACTION_GARBAGE_FACTOR times the live snapshot, so its size stays
 * within a small factor of the number of committed partitions however often consumers commit.
 */
import type { SyncScheduler, DurabilityListener } from '../../storage/sync.js';
import {
  OffsetLogFile,
  type OffsetLog,
  RECORD_TYPE_COMMIT,
  SNAPSHOT_ENTRIES_PER_RECORD,
  encodeCommitRecord,
  encodeDeleteGroupRecord,
  type OffsetRecord,
  type StoredOffset,
} from '../../storage/group-offset-log.js';

/** Never compact a log smaller than this, 4 MiB: replaying it takes milliseconds, rewriting it buys nothing. */
export const DEFAULT_COMPACTION_MIN_BYTES = 4 * 1024 * 1024;
/** Compact once the log is this many times larger than a snapshot of what is live (half of it garbage). */
export const COMPACTION_GARBAGE_FACTOR = 2;

export type { StoredOffset };

/**
 * The offset a commit record carries to say "no committed offset" (forgetTopic): int64's minimum, which no
 * client commits (they commit offsets >= 0, or -1/-2 that kafkajs's resetOffsets stores as they are).
 */
const FORGOTTEN_OFFSET = -0x8000000000000000n;

/** topic → partition → committed offset */
export type GroupOffsets = Map<string, Map<number, StoredOffset>>;

export interface OffsetStoreOptions {
  readonly dir: string;
  readonly scheduler: SyncScheduler;
  readonly warn: (line: string) => void;
  /** damage found at open; default: `warn` */
  readonly error?: (line: string) => void;
  readonly info: (line: string) => void;
  readonly compactionMinBytes?: number;
}

interface PendingWrite {
  readonly round: number;
  /** the record as appended (compaction re-writes it while it is not yet durable) */
  readonly record: Buffer;
  readonly apply: () => void;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class OffsetStore implements DurabilityListener {
  private readonly byGroup = new Map<string, GroupOffsets>();
  private readonly log: OffsetLog;
  private pending: PendingWrite[] = [];
  private readonly compactionMinBytes: number;
  /** the log size at which the next compaction check runs */
  private nextCompactionCheck: number;
  private closed = false;
  /** how many times the log was rewritten since open (for tests and the management API) */
  compactions = 0;

  private constructor(
    private readonly options: OffsetStoreOptions,
    open: (visit: (record: OffsetRecord) => void) => OffsetLog,
  ) {
    this.compactionMinBytes = options.compactionMinBytes ?? DEFAULT_COMPACTION_MIN_BYTES;
    this.log = open((record) => this.replay(record));
    this.nextCompactionCheck = this.compactionMinBytes;
  }

  static open(options: OffsetStoreOptions): OffsetStore {
    let records = 0;
    const store = new OffsetStore(options, (visit) => {
      const opened = OffsetLogFile.open(
        { dir: options.dir, scheduler: options.scheduler, warn: options.warn, error: options.error ?? options.warn },
        visit,
      );
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

  has(groupId: string): boolean {
    return this.byGroup.has(groupId);
  }

  groupIds(): IterableIterator<string> {
    return this.byGroup.keys();
  }

  /** The durable committed offsets of a group (do not mutate), or undefined when it has none. */
  offsetsOf(groupId: string): GroupOffsets | undefined {
    return this.byGroup.get(groupId);
  }

  get(groupId: string, topic: string, partition: number): StoredOffset | undefined {
    return this.byGroup.get(groupId)?.get(topic)?.get(partition);
  }

  /** Appends a commit; resolves once it is durable and visible, rejects when storage failed. */
  commit(groupId: string, offsets: readonly StoredOffset[]): Promise<void> {
    if (offsets.length === 0) return Promise.resolve();
    return this.write(encodeCommitRecord(groupId, offsets), () => this.applyCommit(groupId, offsets));
  }

  /** Appends a DELETE GROUP record; resolves once durable (the group's offsets are gone from then on). */
  deleteGroup(groupId: string): Promise<void> {
    return this.write(encodeDeleteGroupRecord(groupId), () => this.byGroup.delete(groupId));
  }

  /**
   * Removes every group's committed offsets for `topic` (the topic was deleted: Kafka drops them, so a
   * topic created again under the name starts without them). Written as commits of FORGOTTEN_OFFSET,
   * which applyCommit takes as "no committed offset"; resolves once durable. Groups left without any
   * offset go.
   */
  forgetTopic(topic: string): Promise<void> {
    const writes: Promise<void>[] = [];
    const now = Date.now();
    for (const [groupId, topics] of this.byGroup) {
      const partitions = topics.get(topic);
      if (partitions === undefined) continue;
      const gone: StoredOffset[] = [...partitions.keys()].map((partition) => ({ topic, partition, offset: FORGOTTEN_OFFSET, leaderEpoch: -1, commitTimestampMs: now, metadata: null }));
      writes.push(this.write(encodeCommitRecord(groupId, gone), () => this.applyCommit(groupId, gone)));
    }
    return Promise.all(writes).then(() => undefined);
  }

  onDurable(round: number): void {
    const pending = this.pending;
    let done = 0;
    while (done < pending.length && pending[done]!.round <= round) done++;
    if (done === 0) return;
    const ready = pending.splice(0, done);
    for (const w of ready) {
      w.apply();
      w.resolve();
    }
    this.maybeCompact();
  }

  /** The rounds through `through` failed: the commits waiting for them are refused (their records were cut off). */
  onFailed(through: number, error: Error): void {
    const pending = this.pending;
    let failed = 0;
    while (failed < pending.length && pending[failed]!.round <= through) failed++;
    if (failed === 0) return;
    for (const w of pending.splice(0, failed)) w.reject(error);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.options.scheduler.removeListener(this);
    try {
      this.log.close();
    } catch (err) {
      this.options.warn(`consumer groups: closing the offsets log failed: ${(err as Error).message}`);
      for (const w of this.pending.splice(0)) w.reject(err as Error);
      return;
    }
    // close() wrote and fsynced every appended record: the waiting commits are durable
    for (const w of this.pending.splice(0)) {
      w.apply();
      w.resolve();
    }
  }

  /** Rewrites the log now whatever its size (tests; the management API may offer it). */
  compact(): void {
    const records = this.snapshotRecords();
    for (const w of this.pending) records.push(w.record);
    this.log.rewrite(records);
    this.compactions++;
    this.nextCompactionCheck = Math.max(this.compactionMinBytes, COMPACTION_GARBAGE_FACTOR * this.log.bytes);
  }

  private write(record: Buffer, apply: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the group coordinator is closed'));
    const scheduler = this.options.scheduler;
    if (scheduler.failure !== null) return Promise.reject(scheduler.failure);
    this.log.append(record);
    const round = scheduler.requestRound();
    return new Promise<void>((resolve, reject) => this.pending.push({ round, record, apply, resolve, reject }));
  }

  private replay(record: OffsetRecord): void {
    if (record.type === RECORD_TYPE_COMMIT) this.applyCommit(record.groupId, record.offsets);
    else this.byGroup.delete(record.groupId);
  }

  private applyCommit(groupId: string, offsets: readonly StoredOffset[]): void {
    let group = this.byGroup.get(groupId);
    if (group === undefined) {
      group = new Map();
      this.byGroup.set(groupId, group);
    }
    for (const o of offsets) {
      let topic = group.get(o.topic);
      if (o.offset === FORGOTTEN_OFFSET) {
        // no committed offset any more (a deleted topic's, forgetTopic)
        topic?.delete(o.partition);
        if (topic !== undefined && topic.size === 0) group.delete(o.topic);
        continue;
      }
      if (topic === undefined) {
        topic = new Map();
        group.set(o.topic, topic);
      }
      topic.set(o.partition, o);
    }
    if (group.size === 0) this.byGroup.delete(groupId);
  }

  /** Compacts when the log outgrew both the floor and COMPACTION_GARBAGE_FACTOR × the live snapshot. */
  private maybeCompact(): void {
    if (this.closed || this.log.bytes < this.nextCompactionCheck) return;
    const snapshot = this.snapshotRecords();
    let liveBytes = 0;
    for (const r of snapshot) liveBytes += r.length;
    for (const w of this.pending) liveBytes += w.record.length;
    if (this.log.bytes >= COMPACTION_GARBAGE_FACTOR * liveBytes) {
      const before = this.log.bytes;
      for (const w of this.pending) snapshot.push(w.record);
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
