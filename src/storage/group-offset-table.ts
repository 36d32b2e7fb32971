/**
 * Committed offsets of every consumer group held in memory, as the file and memory engines' group-offset
 * stores share them (meta-store.ts GroupOffsetStore): a write is handed to the engine at once (persist)
 * and applied to the maps only when the durability round covering it completes, so a read never sees an
 * offset a crash could take back; its promise resolves at that moment. Writes apply in the order they were
 * made. Compare-and-set: the generation each group is in (setGeneration) is kept here, in memory like
 * the membership it comes from, and a fenced commit is checked against it in the same turn as its write.
 */
import type { CommitFence, CommitOutcome, GroupOffsets, GroupOffsetStore, StoredOffset } from './meta-store.js';
import type { Durability, DurabilityListener } from './stores.js';

/**
 * The offset a commit carries to say "no committed offset" (forgetTopic): int64's minimum, which no client
 * commits (they commit offsets >= 0, or -1/-2 that kafkajs's resetOffsets stores as they are).
 */
export const FORGOTTEN_OFFSET = -0x8000000000000000n;

/** What a store writes for the engine: a group's commit, or the deletion of a group. */
export type OffsetWrite =
  { readonly type: 'commit'; readonly groupId: string; readonly offsets: readonly StoredOffset[] } | { readonly type: 'delete'; readonly groupId: string };

interface PendingWrite<T> {
  readonly round: number;
  /** what persist() returned for the write (the file engine: the record as appended) */
  readonly written: T;
  readonly apply: () => void;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export abstract class GroupOffsetTable<T> implements GroupOffsetStore, DurabilityListener {
  protected readonly byGroup = new Map<string, Map<string, Map<number, StoredOffset>>>();
  private readonly generations = new Map<string, number>();
  protected pending: PendingWrite<T>[] = [];
  protected closed = false;

  constructor(protected readonly durability: Durability) {}

  /** Hands `write` to the engine (written at once, durable with the next round); throws when refused. */
  protected abstract persist(write: OffsetWrite): T;
  /** Writes were applied (their round completed): a chance to compact. */
  protected afterApplied(): void {}
  /** Finishes what was written (the waiting writes are then durable) and releases the engine's resources; throws (after reporting it) on failure. */
  protected abstract release(): void;

  has(groupId: string): boolean {
    return this.byGroup.has(groupId);
  }

  groupIds(): IterableIterator<string> {
    return this.byGroup.keys();
  }

  offsetsOf(groupId: string): GroupOffsets | undefined {
    return this.byGroup.get(groupId);
  }

  get(groupId: string, topic: string, partition: number): StoredOffset | undefined {
    return this.byGroup.get(groupId)?.get(topic)?.get(partition);
  }

  setGeneration(groupId: string, generation: number | null): void {
    if (generation === null) this.generations.delete(groupId);
    else this.generations.set(groupId, generation);
  }

  commit(groupId: string, offsets: readonly StoredOffset[], fence: CommitFence | null): Promise<CommitOutcome> {
    if (fence !== null && this.generations.get(groupId) !== fence.generation) return Promise.resolve('fenced');
    if (offsets.length === 0) return Promise.resolve('committed');
    return this.write({ type: 'commit', groupId, offsets }, () => this.applyCommit(groupId, offsets)).then(committed);
  }

  deleteGroup(groupId: string): Promise<void> {
    this.generations.delete(groupId);
    return this.write({ type: 'delete', groupId }, () => this.byGroup.delete(groupId));
  }

  forgetTopic(topic: string): Promise<void> {
    const writes: Promise<void>[] = [];
    const now = Date.now();
    for (const [groupId, topics] of this.byGroup) {
      const partitions = topics.get(topic);
      if (partitions === undefined) continue;
      const gone: StoredOffset[] = [...partitions.keys()].map((partition) => ({
        topic,
        partition,
        offset: FORGOTTEN_OFFSET,
        leaderEpoch: -1,
        commitTimestampMs: now,
        metadata: null,
      }));
      writes.push(this.write({ type: 'commit', groupId, offsets: gone }, () => this.applyCommit(groupId, gone)));
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
    this.afterApplied();
  }

  /** The rounds through `through` failed: the writes waiting for them are refused (the engine dropped them). */
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
    this.durability.removeListener(this);
    try {
      this.release();
    } catch (err) {
      // (the engine reported it) the waiting writes may not be durable: refused
      for (const w of this.pending.splice(0)) w.reject(err as Error);
      return;
    }
    // release() finished every write: the waiting ones are durable
    for (const w of this.pending.splice(0)) {
      w.apply();
      w.resolve();
    }
  }

  /** Applies a commit to the maps (also used to replay stored commits at open). */
  protected applyCommit(groupId: string, offsets: readonly StoredOffset[]): void {
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

  private write(write: OffsetWrite, apply: () => void): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the group offsets store is closed'));
    const durability = this.durability;
    if (durability.failure !== null) return Promise.reject(durability.failure);
    let written: T;
    try {
      written = this.persist(write);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const round = durability.requestRound();
    return new Promise<void>((resolve, reject) => this.pending.push({ round, written, apply, resolve, reject }));
  }
}

function committed(): CommitOutcome {
  return 'committed';
}
