/**
 * The metadata store: what the broker must remember besides messages. Two parts, each opened once by its
 * owner in the core:
 *
 * - **definitions** (vhosts created at run time, managed users and permissions, policies, exchanges, queues,
 *   bindings): loaded once at open; each change recorded as it is made (a durability round covers it);
 *   now and then the whole set written as a snapshot. The core owns what a definition means (its shape,
 *   its validation, which changes a declaration makes: core/definitions.ts) and hands the store JSON
 *   documents: values JSON lacks (bigint, bytes, timestamps, decimals in field tables) are already tagged,
 *   so every engine stores exactly what it is given and gives it back unchanged.
 * - **group offsets** of Kafka consumer groups, with compare-and-set on the group's generation: a commit
 *   made under a generation the group has left is refused by the store itself, in the same step as the
 *   write (a networked engine checks and writes in one transaction; see docs/architecture.md).
 *
 * Producer state (idempotent producers' ids, epochs and sequence numbers) is not here: it belongs to a
 * partition's append and lives with the log store (core/stream/producer-state.ts over storage/partition/).
 * Membership of consumer groups is memory only, as in Kafka's coordinator between loads.
 *
 * Engines: the file engine (storage/file-meta-store.ts: definitions.json + definitions.journal,
 * groups/offsets.log), the memory engine (storage/memory/meta-store.ts: maps, kept until the engine
 * closes). One test body runs over both (meta-store.contract.test.ts).
 */

// ---- definitions --------------------------------------------------------------------------------------

/** An exchange or a queue as a document: JSON values only, keyed by vhost and name. */
export interface NamedDocument {
  readonly vhost: string;
  readonly name: string;
  readonly [field: string]: unknown;
}

/** A binding as a document: the whole binding (arguments included) is its own key. */
export interface BindingDocument {
  readonly vhost: string;
  readonly source: string;
  readonly destination: string;
  readonly destinationType: string;
  readonly routingKey: string;
  readonly arguments: unknown;
  readonly [field: string]: unknown;
}

/** Every durable definition as documents, lists in definition order. */
export interface StoredDefinitions {
  exchanges: NamedDocument[];
  queues: NamedDocument[];
  bindings: BindingDocument[];
  /** in definition order (a priority tie goes to the later one) */
  policies: unknown[];
  /** vhosts created at run time */
  vhosts: string[];
  users: unknown[];
  permissions: unknown[];
}

export function emptyStoredDefinitions(): StoredDefinitions {
  return { exchanges: [], queues: [], bindings: [], policies: [], vhosts: [], users: [], permissions: [] };
}

/**
 * One change, stated as its final value (so applying it twice changes nothing): a definition put or
 * deleted by its key, or a small list (vhosts, managed users with their permissions, policies) set whole.
 */
export type StoredDefinitionChange =
  | { readonly put: 'queue' | 'exchange'; readonly value: NamedDocument }
  | { readonly del: 'queue' | 'exchange'; readonly vhost: string; readonly name: string }
  | { readonly put: 'binding'; readonly value: BindingDocument }
  | { readonly del: 'binding'; readonly value: BindingDocument }
  | { readonly set: 'vhosts'; readonly value: string[] }
  | { readonly set: 'users'; readonly users: unknown[]; readonly permissions: unknown[] }
  | { readonly set: 'policies'; readonly value: unknown[] };

export interface DefinitionsOpenOptions {
  /**
   * Every definition in memory, as documents. The engine calls it to write memory as a new snapshot when
   * a failed commit left it unsure what it holds (never while open() runs).
   */
  readonly current: () => StoredDefinitions;
}

/** The definitions store, open. */
export interface DefinitionStore {
  /**
   * Records `changes` (each one whole or not at all) and returns the round of the engine's `durable`
   * Durability that makes them durable, 0 when there is nothing to wait for. Throws (a full disk, an
   * engine still repairing a failed commit) with nothing recorded: the caller then leaves memory unchanged.
   */
  record(changes: readonly StoredDefinitionChange[]): number;
  /** The engine would like a snapshot now (its change log is long, or was found damaged). */
  readonly snapshotDue: boolean;
  /** Replaces everything stored by `all` (all of memory), durably before it returns; throws when refused. */
  writeSnapshot(all: StoredDefinitions): void;
  close(): void;
}

export interface OpenedDefinitions {
  readonly store: DefinitionStore;
  /** what was stored: the last snapshot with every change recorded after it */
  readonly definitions: StoredDefinitions;
}

// ---- group offsets ------------------------------------------------------------------------------------

/**
 * Longest group id every engine stores, bytes of UTF-8: the file engine's offsets log has a u16 length
 * (Kafka's own strings stop at 32767 bytes). A longer one is refused as invalid before anything is written.
 */
export const MAX_GROUP_ID_BYTES = 0xffff;

/** One committed offset as stored: plain data, no protocol types. */
export interface StoredOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** the leader epoch the client saw with the offset, -1 when it sent none */
  readonly leaderEpoch: number;
  /** when the commit was made, ms since the epoch */
  readonly commitTimestampMs: number;
  /** the client's free-form string (Kafka's offset metadata), null when it sent none */
  readonly metadata: string | null;
}

/** topic → partition → committed offset (do not mutate) */
export type GroupOffsets = ReadonlyMap<string, ReadonlyMap<number, StoredOffset>>;

/** What a commit by a group member is conditional on: the group is still in this generation. */
export interface CommitFence {
  readonly generation: number;
}

/** 'fenced': the group is no longer in the fence's generation; nothing was written. */
export type CommitOutcome = 'committed' | 'fenced';

/**
 * Committed offsets of every consumer group. Reads are synchronous and see only durable commits: a commit
 * becomes visible when its durability round completes, and its promise resolves at that moment (an
 * OffsetCommit is answered then). Commits apply in the order they were made. A promise rejects with the
 * engine's error when the commit could not be made durable (nothing of it is visible).
 */
export interface GroupOffsetStore {
  has(groupId: string): boolean;
  groupIds(): IterableIterator<string>;
  /** the durable committed offsets of a group, or undefined when it has none */
  offsetsOf(groupId: string): GroupOffsets | undefined;
  get(groupId: string, topic: string, partition: number): StoredOffset | undefined;
  /**
   * The group entered `generation` (a rebalance completed): from now on a commit fenced with any other
   * generation is refused. null: the group's membership is gone (forgotten), every fenced commit is
   * refused. Kept as long as membership is (memory, for the file and memory engines).
   */
  setGeneration(groupId: string, generation: number | null): void;
  /**
   * Commits `offsets` for `groupId`. With a fence, only while the group is in that generation (else
   * 'fenced' at once, nothing written: a group without a recorded generation refuses every fence); without
   * one (a standalone commit, an operator's reset: the coordinator checked the group has no members), always.
   */
  commit(groupId: string, offsets: readonly StoredOffset[], fence: CommitFence | null): Promise<CommitOutcome>;
  /** Forgets every committed offset (and the generation) of the group; resolves once durable. */
  deleteGroup(groupId: string): Promise<void>;
  /** Drops every group's committed offsets of `topic` (the topic was deleted); groups left with none go. */
  forgetTopic(topic: string): Promise<void>;
  /** Finishes what was written (waiting commits resolve once durable) and releases the store. */
  close(): void;
}

// ---- the store ---------------------------------------------------------------------------------------

/** The metadata store of an engine: each part is opened once, by its owner in the core. */
export interface MetaStore {
  openDefinitions(options: DefinitionsOpenOptions): OpenedDefinitions;
  openGroupOffsets(): GroupOffsetStore;
}
