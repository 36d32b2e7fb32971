/**
 * The store interfaces: the seam between the protocol-neutral core and a storage engine.
 *
 * The core reaches storage only through these types, so a second engine plugs in without touching it:
 * the file engine (file-engine.ts and the logs it opens), the memory engine (memory/, for tests and anything
 * that may be lost at a restart) and later a PostgreSQL engine for several stateless nodes
 * (../shared/design/postgres-store.md). They are shaped for a networked engine: every write is part of a
 * batch the engine makes durable in one group commit, and the core learns about that commit as a
 * **durability round** rather than from a promise per message (habit 8: no promise per message).
 *
 * - `Durability` (this file): rounds, their listeners and the current failure.
 * - `QueueStore` (queue-store.ts): a queue's records: append, read, settle (ack, delivered marks), recovery.
 *   Leases for SQS visibility timeouts are drawn there, not built: nothing calls one yet.
 * - `LogStore` (log-store.ts): a Kafka partition's record batches: append, read, end offsets, time index,
 *   retention and compaction. Producer state is rebuilt from the batches (core/stream/producer-state.ts).
 * - `MetaStore` (meta-store.ts): definitions, group offsets with compare-and-set, the topic catalogue.
 * - `StorageEngine` (this file): what the composition root builds and hands to the core.
 */
import type { LogStore, LogStoreOptions } from './log-store.js';
import type { MetaStore } from './meta-store.js';
import type { QueueStore, QueueStoreKind, QueueStoreOptions } from './queue-store.js';

export type { CompactionOptions, CompactionResult, LogAppendResult, LogLimits, LogSlice, LogStore, LogStoreOptions } from './log-store.js';
export { DEFAULT_LOG_SEGMENT_BYTES, MAX_LOG_SEGMENT_BYTES, MIN_LOG_SEGMENT_BYTES, OffsetOutOfRangeError, emptyCompactionResult } from './log-store.js';
export type { QueueRecoveryVisitor, QueueStore, QueueStoreKind, QueueStoreOptions } from './queue-store.js';

/**
 * Told when durability rounds complete (the engine's group commit: every record written before a round was
 * requested is durable once it completes) or fail.
 */
export interface DurabilityListener {
  onDurable(round: number): void;
  /**
   * Every round up to `through` failed: nothing written for them is durable, and the stores have dropped
   * it. Called before any later round completes; completedRound is `through` by then.
   */
  onFailed?(through: number, error: Error): void;
}

/**
 * An engine's group commit as the core sees it. A write returns at once; its durability is the round that
 * covers it. Rounds only grow, and complete in order.
 */
export interface Durability {
  /** A round covering every write made so far, started as soon as possible (someone waits for it: a confirm). */
  requestRound(): number;
  /**
   * A round covering every write made so far that nobody waits for at once (a persistent message without
   * confirms): the engine may fold it into a later commit, within a bounded delay.
   */
  deferRound(): number;
  /** the newest round that completed (succeeded or failed) */
  readonly completedRound: number;
  /** the last write or commit error while the engine has not recovered from it (null: healthy) */
  readonly failure: Error | null;
  /** the most recent failure, even after recovery, and when it happened (performance.now() ms) */
  readonly lastFailure: Error | null;
  readonly lastFailureAt: number;
  /** commits that waited for the disk (or the database), for metrics */
  readonly durations: CommitDurations;
  addListener(listener: DurabilityListener): void;
  removeListener(listener: DurabilityListener): void;
}

/**
 * Resolves once `round` of `durability` completed; rejects with the engine's error when it failed. One
 * promise per call: for waits per request (an HTTP publish, an admin change, a test), not per message.
 */
export function whenDurable(durability: Durability, round: number): Promise<void> {
  if (durability.completedRound >= round) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const listener: DurabilityListener = {
      onDurable(): void {
        if (durability.completedRound < round) return;
        durability.removeListener(listener);
        resolve();
      },
      onFailed(through: number, error: Error): void {
        if (through < round) return;
        durability.removeListener(listener);
        reject(error);
      },
    };
    durability.addListener(listener);
  });
}

/** What an engine reports for metrics: how long its commits (fsync rounds, transactions) take, as a histogram. */
export interface CommitDurations {
  /** the buckets' upper bounds, ms; counts has one more entry, for +Inf */
  readonly boundsMs: readonly number[];
  readonly counts: ArrayLike<number>;
  readonly count: number;
  readonly sumMs: number;
}

/** An engine's counters since it started (Prometheus: postbox_storage_*). */
export interface StorageCounters {
  /** write and commit failures; each refused everything not yet durable */
  readonly failures: number;
  /** stores that could not start afresh after a failure yet (the disk still full) */
  readonly unrepairedStores: number;
  /** bytes written to the stores */
  readonly bytesWritten: number;
}

/**
 * A storage engine: built by the composition root (broker.ts), handed to the core, closed after it.
 * `durable` covers what survives a restart; `transient` what a restart drops anyway (transient queues),
 * whose rounds complete once written.
 */
export interface StorageEngine {
  /** 'file', 'memory' (and later 'postgres'): logged at start and shown by the API */
  readonly kind: string;
  readonly durable: Durability;
  readonly transient: Durability;
  /** definitions, group offsets and the topic catalogue (meta-store.ts); their rounds are `durable`'s */
  readonly meta: MetaStore;
  /** what the engine did so far, for metrics */
  storageCounters(): StorageCounters;
  /** `listener` runs on every write or commit failure (after the rounds it failed were refused) */
  onFailure(listener: (error: Error) => void): void;
  /** Finish what is written (a last commit), then release every resource; the stores are closed by their owners first. */
  close(): Promise<void>;

  // ---- queue stores (queue-store.ts)
  /**
   * Opens (`restore`) or creates a queue store. Throws the engine's error when it cannot (a full disk: an
   * ErrnoException with code ENOSPC, EIO or EDQUOT; whatever was partly created is removed again).
   */
  openQueueStore(options: QueueStoreOptions): QueueStore;
  /**
   * Drops every transient queue store (a restart loses them): called at startup before any is opened,
   * and at shutdown once every store was closed. PostgreSQL: delete the node's transient queues' rows.
   */
  dropTransientQueueStores(): void;
  /**
   * Drops every durable queue store of `kind` whose name is not in `keep` (what a deleted owner left
   * behind, found at startup once every owner was restored). PostgreSQL: one `DELETE ... WHERE name <> ALL($1)`.
   */
  dropQueueStoresExcept(kind: QueueStoreKind, keep: ReadonlySet<string>): void;

  // ---- Kafka partitions (log-store.ts) ----
  /**
   * Opens the log of partition `partition` of the topic stored at `topic` (the storage name its topic
   * catalogue gave: the file engine's is the topic's directory, the log in its subdirectory `<partition>`;
   * another engine's a key), creating an empty one or recovering what is stored. Its appends are made
   * durable by `durable`'s rounds.
   */
  openLogStore(topic: string, partition: number, options: LogStoreOptions): LogStore;
  /**
   * Removes the stored logs of `topic`'s partitions numbered `from` and above that are not open (a grow
   * interrupted before the topic's catalogue named them); returns their numbers.
   */
  removeLogStoresFrom(topic: string, from: number): number[];
}

// ---- the metadata store (meta-store.ts) -----------------------------------------------------------------

export type {
  BindingDocument,
  CatalogedTopic,
  CommitFence,
  CommitOutcome,
  DefinitionStore,
  DefinitionsOpenOptions,
  GroupOffsets,
  GroupOffsetStore,
  MetaStore,
  NamedDocument,
  OpenedDefinitions,
  OpenedTopicCatalog,
  StoredDefinitionChange,
  StoredDefinitions,
  StoredOffset,
  StoredTopic,
  TopicCatalog,
} from './meta-store.js';
export { MAX_GROUP_ID_BYTES } from './meta-store.js';
/** A data file (or definitions snapshot) in a format version this Postbox does not read: the start is refused. */
export { UnsupportedFormatError } from './format-error.js';
