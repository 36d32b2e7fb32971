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
 * - the **topic catalogue** of Kafka topics (name, id, partition count, explicitly set configs) and the
 *   reservation of idempotent producer ids in blocks: read once at open, each change durable before the
 *   call returns (topic changes are per request, never per message).
 *
 * Producer state (idempotent producers' epochs and sequence numbers) is not here: it belongs to a
 * partition's append and lives with the log store (core/stream/producer-state.ts over storage/partition/).
 * Membership of consumer groups is memory only, as in Kafka's coordinator between loads.
 *
 * Engines: the file engine (storage/file-meta-store.ts: definitions.json + definitions.journal,
 * groups/offsets.log, streams/<topic>/topic.json and streams/producer-ids in topic-catalog-file.ts), the
 * memory engine (storage/memory/meta-store.ts: maps, kept until the engine closes). One test body runs
 * over both (meta-store.contract.test.ts).
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

// ---- the topic catalogue --------------------------------------------------------------------------------

/** One Kafka topic as the catalogue stores it: plain JSON values, given back exactly as stored. */
export interface StoredTopic {
  /** the topic id (Kafka's Uuid, 16 bytes) as 32 lowercase hex digits */
  readonly id: string;
  /** how many partitions it has, numbered 0 to partitions - 1 */
  readonly partitions: number;
  /** the configs set explicitly (at creation or by an alter), by name; the rest are at their defaults */
  readonly configs: Readonly<Record<string, string>>;
}

/** A topic found in the catalogue at open. */
export interface CatalogedTopic {
  readonly name: string;
  /**
   * Where the topic's partition logs are kept, to pass to StorageEngine.openLogStore and
   * removeLogStoresFrom: opaque to the core (the file engine: the topic's directory; the memory engine and
   * PostgreSQL: a key of their own).
   */
  readonly storage: string;
  readonly topic: StoredTopic;
}

export interface OpenedTopicCatalog {
  readonly catalog: TopicCatalog;
  /**
   * Every stored topic (the file engine: in directory order), once what an interrupted creation left (a
   * place for partition logs without a catalogue record) and what a deletion left (a deleted topic's logs
   * not yet removed) is gone. Partition logs numbered at or past a topic's count (a grow interrupted before
   * its record landed) are not removed by the catalogue: the core removes them with
   * StorageEngine.removeLogStoresFrom(storage, partitions) before opening the partitions.
   */
  readonly topics: readonly CatalogedTopic[];
}

/**
 * The catalogue of Kafka topics, and producer-id blocks. A topic exists once its record does: the core
 * creates one in three steps, so that a crash at any point leaves either the whole topic or nothing of it:
 *
 *   1. `prepareTopic(name)` (catalogue): an empty place for the new topic's logs, its storage name;
 *   2. `StorageEngine.openLogStore(storage, p, …)` for each partition (core, through the engine);
 *   3. `createTopic(name, record)` (catalogue): the record lands last.
 *
 * A grow is the same: the new partitions' logs first (openLogStore), then `updateTopic` with the new count.
 * Every change is durable when the call returns, and throws (a full disk) with nothing changed.
 *
 * Calls are synchronous: a Kafka admin request or an auto-creation waits for its durable write in place (a
 * few fsyncs per topic, never per message). A networked engine would make them promises; their callers
 * are per-request code paths (CreateTopics, CreatePartitions, AlterConfigs, DeleteTopics, auto-creation on
 * Metadata and Produce, the management API).
 *
 * PostgreSQL (design): `topics (id uuid PRIMARY KEY, name text UNIQUE, partitions int, configs jsonb,
 * storage text)`, the partitions' logs keyed by the topic's storage key; producer ids from a sequence.
 */
export interface TopicCatalog {
  /**
   * Makes an empty place for the logs of a topic about to be created and returns its storage name (pass it
   * to openLogStore). Whatever an earlier, unfinished creation of the same name left there is removed.
   * Throws when `name` is in the catalogue.
   * File: removes `streams/<name>/` if present and creates it empty; returns its path.
   * Memory: returns the key (`topic <name>`), dropping partition logs an unfinished creation left under it.
   * PostgreSQL: a new storage key (the topic id, so rows of an abandoned creation are never mistaken for
   * the new topic's), and a `DELETE` of partition rows under the name's earlier keys not in `topics`.
   */
  prepareTopic(name: string): string;
  /**
   * Records a new topic: from now on it exists, and is listed at the next open. Call after its partitions'
   * logs were opened in the place prepareTopic gave. Throws when `name` is in the catalogue already.
   * File: writes `<name>/topic.json` (temp file, fsync, rename) and fsyncs `streams/`, so the topic's
   * directory and its record survive a power loss together.
   * Memory: puts a copy in the engine's map.
   * PostgreSQL: `INSERT INTO topics (id, name, partitions, configs, storage)` in one transaction.
   */
  createTopic(name: string, topic: StoredTopic): void;
  /**
   * Replaces the record of a topic (a grow: the new count, once the new partitions' logs were opened;
   * altered configs: the whole new set). Durable when it returns; throws with the old record kept.
   * File: rewrites `<name>/topic.json` whole (temp file, fsync, rename, fsync of the topic's directory).
   * Memory: replaces the map entry with a copy.
   * PostgreSQL: `UPDATE topics SET partitions = $2, configs = $3 WHERE name = $1` (one transaction).
   */
  updateTopic(name: string, topic: StoredTopic): void;
  /**
   * Removes a topic from the catalogue at once, and its place with every log in it (the core destroyed the
   * open logs first). Throws when `name` is not in the catalogue; a failure to remove the place is logged
   * and left to the next open.
   * File: renames `<name>/` to `.deleted-<name>-<pid>-<n>/` (so the record is gone at once), fsyncs
   * `streams/`, and removes the renamed directory in the background; a leftover is removed at open.
   * Memory: deletes the map entry.
   * PostgreSQL: `DELETE FROM topics WHERE name = $1` and the partitions' rows under its storage key, in one
   * transaction (or the rows later, by a sweep of keys not in `topics`).
   */
  deleteTopic(name: string): void;
  /**
   * Reserves `count` producer ids no reservation ever returned before (nor will, after a restart) and
   * returns the first; the caller hands them out from memory until the block is used up. Durable on return.
   * File: `streams/producer-ids` holds the start of the next block as a decimal line, rewritten (temp file,
   * fsync, rename) at each reservation. Memory: a counter.
   * PostgreSQL: `SELECT nextval('producer_ids')` on a sequence `INCREMENT BY` the block size (a sequence
   * never hands out a value twice, even across nodes, and needs no transaction).
   */
  reserveProducerIds(count: number): number;
  /** Lets go of the catalogue (nothing is pending: every change was durable when its call returned). */
  close(): void;
}

// ---- the store ---------------------------------------------------------------------------------------

/** The metadata store of an engine: each part is opened once, by its owner in the core. */
export interface MetaStore {
  openDefinitions(options: DefinitionsOpenOptions): OpenedDefinitions;
  openGroupOffsets(): GroupOffsetStore;
  /**
   * Opens the topic catalogue: lists the stored topics after removing what interrupted creations and
   * deletions left (see OpenedTopicCatalog). Throws when a record cannot be read (the start is refused).
   * PostgreSQL: `SELECT name, id, partitions, configs, storage FROM topics`, and the sweep of partition
   * rows whose storage key is not in `topics`.
   */
  openTopicCatalog(): OpenedTopicCatalog;
}
