/**
 * The stream store: Kafka-model topics, each with N partitions, each partition one LogStore.
 * Protocol-neutral: the Kafka adapter maps requests onto it, the management API lists it.
 *
 * Storage is the engine's: the topic catalogue (StorageEngine.meta.openTopicCatalog(): each topic's id,
 * partition count and explicitly set configs, and blocks of producer ids) and one LogStore per partition
 * (StorageEngine.openLogStore(storage, partition), `storage` being the name the catalogue gave the topic).
 * The file engine keeps them under <dataDir>/streams/ (drawn in storage/topic-catalog-file.ts).
 *
 * A topic exists once its catalogue record does: creation asks the catalogue for an empty place
 * (prepareTopic), opens the partitions' logs there, and records the topic last (createTopic), so a crash in
 * between leaves logs without a record, removed when the catalogue opens. Adding partitions works the same
 * way: the new partitions' logs first, then the record naming the new count (updateTopic); logs past the
 * count in the record (an interrupted grow) are removed at open with engine.removeLogStoresFrom. Altered
 * configs take effect in memory only after the new record is durable.
 *
 * Retention runs on a timer (retentionCheckMs): every partition drops whole sealed segments older than
 * retention.ms or beyond retention.bytes; compacted topics are compacted on the same timer.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log/logger.js';
import { BrokerError, Errors } from '../../errors/errors.js';
import {
  DEFAULT_LOG_SEGMENT_BYTES,
  MAX_LOG_SEGMENT_BYTES,
  MIN_LOG_SEGMENT_BYTES,
  emptyCompactionResult,
  type CatalogedTopic,
  type CompactionResult,
  type DurabilityListener,
  type LogSlice,
  type LogStore,
  type StorageEngine,
  type StoredTopic,
  type TopicCatalog,
} from '../../storage/stores.js';
import { DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES, walkProducedBatches, type BatchesSummary } from '../../format/kafka/record-walk.js';
import { ProducerStates } from './producer-state.js';
import { DEFAULT_MAX_PARTITIONS_PER_REQUEST, DEFAULT_MAX_PARTITIONS_TOTAL, DEFAULT_MAX_TOPICS } from '../../config/defaults.js';
import { PartitionCounters } from '../stats.js';
import { TOPIC_CONFIGS, defaultTopicConfig, parseTopicConfig, type TopicConfig } from './topic-config.js';

/** Longest topic name, Kafka's limit (249: a partition directory name must stay under 255 bytes). */
export const MAX_TOPIC_NAME_LENGTH = 249;
/** Most partitions one topic may have here; a guard against a typo creating a million directories. */
export const MAX_PARTITIONS = 10_000;
const LEGAL_TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;

export interface StreamStoreOptions {
  /** the topic catalogue (engine.meta), where partitions' logs are stored (engine.openLogStore) and made durable (engine.durable's rounds) */
  readonly engine: StorageEngine;
  readonly logger: Logger;
  /** create a topic with defaultPartitions when a client produces to or asks metadata for an unknown one */
  readonly autoCreateTopics: boolean;
  readonly defaultPartitions: number;
  /** default segment.bytes of new topics */
  readonly segmentBytes?: number;
  /** how often retention and compaction run, ms */
  readonly retentionCheckMs: number;
  /** most topics in total (DEFAULT_MAX_TOPICS) */
  readonly maxTopics?: number;
  /** most partitions in total over every topic (DEFAULT_MAX_PARTITIONS_TOTAL) */
  readonly maxPartitions?: number;
  /** most partitions one request may create (DEFAULT_MAX_PARTITIONS_PER_REQUEST) */
  readonly maxPartitionsPerRequest?: number;
  /** bound on one batch's records once decompressed, bytes (DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES) */
  readonly maxDecompressedBatchBytes?: number;
}

/**
 * The partitions one client request may still create: handlers take one per request from
 * StreamStore.creationBudget() and pass it to every creation the request makes.
 */
export class CreationBudget {
  constructor(public remaining: number) {}
}

export class Partition {
  readonly producers = new ProducerStates();
  /** records and bytes in (produce) and out (fetch), with their rates (sampled by BrokerStats) */
  readonly counters = new PartitionCounters();
  /**
   * The end of what is durable: consumers read below it and ListOffsets(latest) reports it. A record
   * becomes visible only after the fsync that covers it, so no consumer ever sees a record a crash can
   * take back (Kafka's high watermark plays the same role with replicas instead of fsync).
   */
  highWatermark: bigint;
  /** appended ends waiting for their durability round, oldest first */
  readonly pendingEnds: Array<{ round: number; end: bigint }> = [];
  /** log end and time of the last compaction pass (compacted topics) */
  compactedEnd = -1n;
  compactedAt = 0;
  /** the compaction pass in progress, one step (about 8 MiB read) per event-loop turn; null when none */
  compaction: Generator<void, CompactionResult, void> | null = null;
  /** called once each at the next advance of the high watermark (fetches waiting for data) */
  private waiters: Array<() => void> = [];

  constructor(
    readonly topic: Topic,
    readonly index: number,
    readonly log: LogStore,
  ) {
    this.highWatermark = log.endOffset;
  }

  /**
   * What a consumer may read from `offset`: whole batches below the high watermark, at most about `maxBytes`
   * (at least one batch, so a consumer always makes progress), as a slice of the log's file to send as it
   * is; null when there is nothing there. Throws OffsetOutOfRangeError (streamErrorDef: OFFSET_OUT_OF_RANGE)
   * outside the log.
   */
  readSlice(offset: bigint, maxBytes: number): LogSlice | null {
    return this.log.slice(offset, maxBytes, this.highWatermark);
  }

  /** wake everyone waiting for data on this partition */
  notifyAppend(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** `wake` is called once, at the next append (or never, if removed first with the returned function) */
  waitForAppend(wake: () => void): () => void {
    this.waiters.push(wake);
    return () => {
      const i = this.waiters.indexOf(wake);
      if (i >= 0) this.waiters.splice(i, 1);
    };
  }
}

/** Longest a timed retention pass works before it lets the event loop run, ms. */
const RETENTION_SLICE_MS = 2;

export class Topic {
  readonly partitions: Partition[] = [];
  deleted = false;
  constructor(
    readonly name: string,
    /** 16-byte topic id (Kafka's Uuid) */
    readonly id: Buffer,
    /** the parsed configs in effect; updated in place when they are altered (produce and retention read it live) */
    readonly config: TopicConfig,
    /** the configs set explicitly, at creation or by an alter (DescribeConfigs reports the rest as defaults) */
    public explicitConfigs: Readonly<Record<string, string>>,
    /** where its partitions' logs are kept: the name the topic catalogue gave it, for engine.openLogStore */
    readonly storage: string,
  ) {}
}

export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return 'topic name is empty';
  if (name === '.' || name === '..') return `topic name "${name}" is not allowed`;
  if (name.length > MAX_TOPIC_NAME_LENGTH) return `topic name is longer than ${MAX_TOPIC_NAME_LENGTH} characters`;
  if (!LEGAL_TOPIC_NAME.test(name)) return `topic name "${name}" has characters outside [a-zA-Z0-9._-]`;
  return null;
}

export class StreamStore implements DurabilityListener {
  private readonly topicsByName = new Map<string, Topic>();
  private readonly catalog: TopicCatalog;
  private readonly durableWaiters: Array<{ round: number; resolve: () => void; reject: (e: Error) => void }> = [];
  /** partitions with appends not yet durable */
  private pendingPartitions: Partition[] = [];
  private retentionTimer: NodeJS.Timeout | null = null;
  private retentionRunning = false;
  private closed = false;
  /** partitions of every topic, kept with the catalogue (the limit checks read it) */
  private partitionTotal = 0;
  private readonly maxTopics: number;
  private readonly maxPartitions: number;
  private readonly maxPartitionsPerRequest: number;
  readonly producerIds: ProducerIds;

  private constructor(
    private readonly options: StreamStoreOptions,
    catalog: TopicCatalog,
  ) {
    this.catalog = catalog;
    this.producerIds = new ProducerIds(catalog);
    this.maxTopics = options.maxTopics ?? DEFAULT_MAX_TOPICS;
    this.maxPartitions = options.maxPartitions ?? DEFAULT_MAX_PARTITIONS_TOTAL;
    this.maxPartitionsPerRequest = options.maxPartitionsPerRequest ?? DEFAULT_MAX_PARTITIONS_PER_REQUEST;
  }

  /** A fresh budget for one client request (see CreationBudget). */
  creationBudget(): CreationBudget {
    return new CreationBudget(this.maxPartitionsPerRequest);
  }

  /** Partitions over every topic. */
  get partitionCount(): number {
    return this.partitionTotal;
  }

  /**
   * Throws when `topics` new topics with `partitions` new partitions would pass a limit: POLICY_VIOLATION
   * for the broker's totals and for more partitions than any one request may create, THROTTLING_QUOTA_EXCEEDED
   * when only this request's remaining budget is short (a later request may do it).
   */
  private checkGrowth(topics: number, partitions: number, budget: CreationBudget | null): void {
    if (topics > 0 && this.topicsByName.size + topics > this.maxTopics) {
      throw new BrokerError(
        Errors.POLICY_VIOLATION,
        `The broker already has ${this.topicsByName.size} topic(s), its limit (--kafka-max-topics) is ${this.maxTopics}.`,
      );
    }
    if (this.partitionTotal + partitions > this.maxPartitions) {
      throw new BrokerError(
        Errors.POLICY_VIOLATION,
        `${partitions} more partition(s) would pass the broker's limit of ${this.maxPartitions} (--kafka-max-partitions); it has ${this.partitionTotal}.`,
      );
    }
    if (budget === null) return;
    if (partitions > this.maxPartitionsPerRequest) {
      throw new BrokerError(
        Errors.POLICY_VIOLATION,
        `${partitions} partitions are more than one request may create (--kafka-max-partitions-per-request ${this.maxPartitionsPerRequest}).`,
      );
    }
    if (partitions > budget.remaining) {
      throw new BrokerError(
        Errors.THROTTLING_QUOTA_EXCEEDED,
        `This request already created partitions up to the limit of ${this.maxPartitionsPerRequest} per request (--kafka-max-partitions-per-request); ask again.`,
      );
    }
  }

  static open(options: StreamStoreOptions): StreamStore {
    const { catalog, topics } = options.engine.meta.openTopicCatalog();
    const store = new StreamStore(options, catalog);
    store.recover(topics);
    options.engine.durable.addListener(store);
    store.retentionTimer = setInterval(() => void store.retentionPass(Date.now()), options.retentionCheckMs);
    store.retentionTimer.unref();
    return store;
  }

  get autoCreateTopics(): boolean {
    return this.options.autoCreateTopics;
  }

  /** set when a write or fsync failed: nothing more is acknowledged */
  get storageFailure(): Error | null {
    return this.options.engine.durable.failure;
  }

  /** Bound on one batch's records once decompressed, bytes: produce, time lookups and compaction walk no further. */
  get maxDecompressedBatchBytes(): number {
    return this.options.maxDecompressedBatchBytes ?? DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES;
  }

  /**
   * Walks every record of a produce request's batches (headers and CRCs already checked), in bounded memory:
   * each batch's records must match its header's count and fit maxDecompressedBatchBytes once decompressed.
   * Fills `summary` (records, and with `readKeys` whether every one has a key: compaction keeps the latest
   * record per key, so a compacted topic refuses keyless ones). Throws CorruptBatchError, or BatchTooLargeError past the limit.
   */
  walkProducedRecords(batches: Buffer, summary: BatchesSummary, readKeys: boolean): void {
    walkProducedBatches(batches, this.maxDecompressedBatchBytes, summary, readKeys);
  }

  get defaultPartitions(): number {
    return this.options.defaultPartitions;
  }

  /**
   * Records that `partition` was appended to up to its log's end: the high watermark moves there when
   * the durability round covering it completes. Returns that round.
   */
  appended(partition: Partition): number {
    const round = this.options.engine.durable.requestRound();
    const pending = partition.pendingEnds;
    const end = partition.log.endOffset;
    const last = pending[pending.length - 1];
    if (last !== undefined && last.round === round) last.end = end;
    else pending.push({ round, end });
    if (pending.length === 1) this.pendingPartitions.push(partition);
    return round;
  }

  topic(name: string): Topic | undefined {
    return this.topicsByName.get(name);
  }

  topics(): IterableIterator<Topic> {
    return this.topicsByName.values();
  }

  /** Every partition of every topic (the stats sampler's rates). */
  *allPartitions(): Generator<Partition> {
    for (const topic of this.topicsByName.values()) yield* topic.partitions;
  }

  /**
   * The topic, auto-created with the default partition count when allowed and the name is legal. Creation
   * counts against `budget` (the request's) and the broker's limits: past them it throws (checkGrowth).
   */
  topicOrCreate(name: string, allowCreate: boolean, budget: CreationBudget): Topic | undefined {
    const existing = this.topicsByName.get(name);
    if (existing !== undefined || !allowCreate || !this.options.autoCreateTopics || topicNameProblem(name) !== null) return existing;
    return this.createTopic(name, this.options.defaultPartitions, {}, budget);
  }

  /**
   * Validates without creating (CreateTopics validateOnly, and the first half of createTopic). `budget`:
   * the partitions the request may still create (null: an operator's definitions, only the totals apply).
   */
  validateNewTopic(name: string, partitions: number, configs: Readonly<Record<string, string | null>>, budget: CreationBudget | null = null): TopicConfig {
    const problem = topicNameProblem(name);
    if (problem !== null) throw new BrokerError(Errors.INVALID_TOPIC, problem);
    if (this.topicsByName.has(name)) throw new BrokerError(Errors.TOPIC_EXISTS, `Topic '${name}' already exists.`);
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
      throw new BrokerError(Errors.INVALID_PARTITIONS, `Number of partitions must be between 1 and ${MAX_PARTITIONS}, got ${partitions}.`);
    }
    const config = this.parseConfigs(configs);
    this.checkGrowth(1, partitions, budget);
    return config;
  }

  /** How often retention and compaction run, ms (Kafka's log.retention.check.interval.ms). */
  get retentionCheckMs(): number {
    return this.options.retentionCheckMs;
  }

  /** The default segment.bytes of topics that do not set it (the broker's setting). */
  get defaultSegmentBytes(): number {
    return this.options.segmentBytes ?? DEFAULT_LOG_SEGMENT_BYTES;
  }

  /** Defaults overlaid with `configs` (null values skipped); throws INVALID_CONFIG for an unknown name or bad value. */
  private parseConfigs(configs: Readonly<Record<string, string | null>>): TopicConfig {
    const config = defaultTopicConfig(this.defaultSegmentBytes);
    for (const [key, value] of Object.entries(configs)) {
      if (value === null) continue;
      parseTopicConfig(config, key, value);
    }
    if (config.segmentBytes < MIN_LOG_SEGMENT_BYTES || config.segmentBytes > MAX_LOG_SEGMENT_BYTES) {
      throw new BrokerError(Errors.INVALID_CONFIG, `segment.bytes must be between ${MIN_LOG_SEGMENT_BYTES} and ${MAX_LOG_SEGMENT_BYTES}`);
    }
    return config;
  }

  private existingTopic(name: string): Topic {
    const topic = this.topicsByName.get(name);
    if (topic === undefined) throw new BrokerError(Errors.UNKNOWN_TOPIC, `Topic '${name}' does not exist.`);
    return topic;
  }

  /**
   * Checks that `name` may grow to `count` partitions in total (the count is the new total, as in Kafka's
   * CreatePartitions): throws UNKNOWN_TOPIC, or INVALID_PARTITIONS when the count does not grow the topic.
   */
  validatePartitionCount(name: string, count: number, budget: CreationBudget | null = null): Topic {
    const topic = this.existingTopic(name);
    const current = topic.partitions.length;
    if (!Number.isInteger(count) || count < current) {
      throw new BrokerError(Errors.INVALID_PARTITIONS, `Topic currently has ${current} partitions, which is higher than the requested ${count}.`);
    }
    if (count === current) throw new BrokerError(Errors.INVALID_PARTITIONS, `Topic already has ${current} partitions.`);
    if (count > MAX_PARTITIONS) throw new BrokerError(Errors.INVALID_PARTITIONS, `Number of partitions must be at most ${MAX_PARTITIONS}, got ${count}.`);
    this.checkGrowth(0, count - current, budget);
    return topic;
  }

  /**
   * Grows `name` to `count` partitions: opens the new partition directories, then rewrites topic.json
   * with the new count (atomically, durably), then makes the partitions visible. Existing partitions and
   * their data are untouched. Throws as validatePartitionCount does, or the file error (nothing changed).
   */
  addPartitions(name: string, count: number, budget: CreationBudget | null = null): Topic {
    const topic = this.validatePartitionCount(name, count, budget);
    const added: Partition[] = [];
    try {
      // what an interrupted grow left was removed at open; these start empty
      this.options.engine.removeLogStoresFrom(topic.storage, topic.partitions.length);
      for (let p = topic.partitions.length; p < count; p++) added.push(this.openPartition(topic, p));
      this.catalog.updateTopic(name, storedTopic(topic, count, topic.explicitConfigs));
    } catch (err) {
      for (const p of added) p.log.destroy();
      throw err;
    }
    const before = topic.partitions.length;
    topic.partitions.push(...added);
    this.partitionTotal += added.length;
    if (budget !== null) budget.remaining -= added.length;
    this.options.logger.info(`stream topic '${name}' grown from ${before} to ${count} partition(s)`);
    return topic;
  }

  /**
   * Validates `configs` as the complete set of explicitly set configs of `name` (the rest at their
   * defaults) without applying it. Throws UNKNOWN_TOPIC or INVALID_CONFIG.
   */
  validateTopicConfigs(name: string, configs: Readonly<Record<string, string>>): TopicConfig {
    this.existingTopic(name);
    return this.parseConfigs(configs);
  }

  /**
   * Replaces the explicitly set configs of `name` with `configs` (configs left out go back to their
   * defaults): writes topic.json atomically, then applies the new values live (max.message.bytes and
   * cleanup.policy to the next produce, retention and compaction to the next timer pass, segment.bytes
   * to the next roll). Throws UNKNOWN_TOPIC, INVALID_CONFIG, or the file error (nothing changed).
   */
  alterTopicConfigs(name: string, configs: Readonly<Record<string, string>>): Topic {
    const topic = this.existingTopic(name);
    const config = this.parseConfigs(configs);
    const explicit = { ...configs };
    this.catalog.updateTopic(name, storedTopic(topic, topic.partitions.length, explicit));
    Object.assign(topic.config, config);
    topic.explicitConfigs = explicit;
    for (const p of topic.partitions) {
      p.log.setLimits({
        segmentBytes: config.segmentBytes,
        segmentMs: config.segmentMs,
        retentionMs: config.retentionMs,
        retentionBytes: config.retentionBytes,
      });
      // compaction is due at the next pass whatever happened before (delete.retention.ms or the policy changed)
      p.compactedEnd = -1n;
    }
    this.options.logger.info(`stream topic '${name}' configs altered: ${JSON.stringify(explicit)}`);
    return topic;
  }

  createTopic(name: string, partitions: number, configs: Readonly<Record<string, string | null>>, budget: CreationBudget | null = null): Topic {
    const config = this.validateNewTopic(name, partitions, configs, budget);
    const explicit: Record<string, string> = {};
    for (const [key, value] of Object.entries(configs)) if (value !== null) explicit[key] = value;
    // the catalogue gives an empty place, the partitions' logs are opened in it, and the record lands last
    const storage = this.catalog.prepareTopic(name);
    const id = randomBytes(16);
    const topic = new Topic(name, id, config, explicit, storage);
    try {
      for (let p = 0; p < partitions; p++) topic.partitions.push(this.openPartition(topic, p));
      this.catalog.createTopic(name, storedTopic(topic, partitions, explicit));
    } catch (err) {
      // nothing was recorded: the logs go (what stays of the place is removed when the catalogue next opens)
      for (const p of topic.partitions) p.log.destroy();
      throw err;
    }
    this.topicsByName.set(name, topic);
    this.partitionTotal += partitions;
    if (budget !== null) budget.remaining -= partitions;
    this.options.logger.info(`stream topic '${name}' created with ${partitions} partition(s)`);
    return topic;
  }

  deleteTopic(name: string): void {
    const topic = this.topicsByName.get(name);
    if (topic === undefined) throw new BrokerError(Errors.UNKNOWN_TOPIC, `Topic '${name}' does not exist.`);
    this.topicsByName.delete(name);
    this.partitionTotal -= topic.partitions.length;
    topic.deleted = true;
    for (const p of topic.partitions) {
      this.stopCompaction(p);
      p.log.destroy();
      p.notifyAppend();
    }
    this.catalog.deleteTopic(name);
    this.options.logger.info(`stream topic '${name}' deleted`);
  }

  /** A durability round covering everything appended so far. */
  durabilityRound(): number {
    return this.options.engine.durable.requestRound();
  }

  /** Resolves when `round` completed (acks=-1/1 wait for the round of their appends). */
  whenDurable(round: number): Promise<void> {
    if (this.options.engine.durable.completedRound >= round) return Promise.resolve();
    return new Promise((resolve, reject) => this.durableWaiters.push({ round, resolve, reject }));
  }

  /**
   * The rounds up to `through` failed: every partition log was cut back to its durable end (its high
   * watermark, which never passed a record of a failed round), so the ends waiting for those rounds are
   * dropped, idempotent producers' sequences are read again from the log, and the producers waiting
   * are answered with an error (KAFKA_STORAGE_ERROR).
   */
  onFailed(through: number, error: Error): void {
    for (const p of this.pendingPartitions) {
      p.pendingEnds.length = 0;
      if (p.log.endOffset < p.highWatermark) p.highWatermark = p.log.endOffset;
      p.producers.clear();
      try {
        p.producers.recover(p.log);
      } catch (err) {
        this.options.logger.warn(`stream partition ${p.log.name}: producer state not rebuilt after a storage failure: ${(err as Error).message}`);
      }
      p.notifyAppend();
    }
    this.pendingPartitions = [];
    const waiters = this.durableWaiters;
    let failed = 0;
    while (failed < waiters.length && waiters[failed]!.round <= through) failed++;
    for (const w of waiters.splice(0, failed)) w.reject(error);
  }

  onDurable(round: number): void {
    if (this.pendingPartitions.length > 0) {
      const still: Partition[] = [];
      for (const p of this.pendingPartitions) {
        const pending = p.pendingEnds;
        let done = 0;
        while (done < pending.length && pending[done]!.round <= round) done++;
        if (done > 0) {
          p.highWatermark = pending[done - 1]!.end;
          pending.splice(0, done);
          p.notifyAppend();
        }
        if (pending.length > 0) still.push(p);
      }
      this.pendingPartitions = still;
    }
    const waiters = this.durableWaiters;
    let done = 0;
    while (done < waiters.length && waiters[done]!.round <= round) done++;
    if (done === 0) return;
    const ready = waiters.splice(0, done);
    for (const w of ready) w.resolve();
  }

  /** Retention (delete policy) and compaction (compact policy) over every partition. */
  runRetention(now: number): void {
    if (this.closed) return;
    for (const topic of this.topicsByName.values()) {
      for (const p of topic.partitions) this.retainPartition(topic, p, now);
    }
  }

  /**
   * The timer's retention pass: every partition, in RETENTION_SLICE_MS slices with an event-loop turn
   * between them (200,000 partitions would otherwise be one long stall); a pass still running when the
   * next is due makes that one a no-op.
   */
  private async retentionPass(now: number): Promise<void> {
    if (this.retentionRunning || this.closed) return;
    this.retentionRunning = true;
    try {
      let until = performance.now() + RETENTION_SLICE_MS;
      for (const topic of [...this.topicsByName.values()]) {
        for (const p of topic.partitions) {
          if (this.closed) return;
          if (this.topicsByName.get(topic.name) !== topic) break; // deleted meanwhile
          this.retainPartition(topic, p, now);
          if (performance.now() >= until) {
            await new Promise<void>((resolve) => setImmediate(resolve));
            until = performance.now() + RETENTION_SLICE_MS;
          }
        }
      }
    } finally {
      this.retentionRunning = false;
    }
  }

  private retainPartition(topic: Topic, p: Partition, now: number): void {
    try {
      if (topic.config.cleanupDelete) {
        const deleted = p.log.enforceRetention(now);
        if (deleted > 0) this.options.logger.debug(() => `stream ${topic.name}-${p.index}: retention deleted ${deleted} segment(s)`);
      }
      if (topic.config.cleanupCompact) this.compact(topic, p, now);
    } catch (err) {
      this.options.logger.warn(`stream ${topic.name}-${p.index}: retention failed: ${(err as Error).message}`);
    }
  }

  /**
   * Compacts when there is something new to clean: data appended since the last pass, or a tombstone
   * lifetime (delete.retention.ms) passed since then. A pass reads every sealed segment, so an idle
   * compacted topic is not re-read each interval. The pass runs one step (about 8 MiB read) per turn of
   * the event loop (setImmediate between steps), so clients are served while a large log is compacted; a
   * partition has at most one pass at a time.
   */
  private compact(topic: Topic, partition: Partition, now: number): void {
    if (partition.compaction !== null) return;
    const end = partition.log.endOffset;
    if (end === partition.compactedEnd && now - partition.compactedAt < topic.config.deleteRetentionMs) return;
    partition.compactedEnd = end;
    partition.compactedAt = now;
    const steps = partition.log.compactionSteps(now, { deleteRetentionMs: topic.config.deleteRetentionMs });
    partition.compaction = steps;
    const step = (): void => {
      if (partition.compaction !== steps) return; // ended by stopCompaction()
      let next: IteratorResult<void, CompactionResult>;
      try {
        next = steps.next();
      } catch (err) {
        partition.compaction = null;
        if (!this.closed) this.options.logger.warn(`stream ${topic.name}-${partition.index}: compaction failed: ${(err as Error).message}`);
        return;
      }
      if (next.done !== true) {
        setImmediate(step);
        return;
      }
      partition.compaction = null;
      const result = next.value;
      if (result.recordsRemoved > 0) {
        this.options.logger.debug(
          () =>
            `stream ${topic.name}-${partition.index}: compaction removed ${result.recordsRemoved} record(s), ${result.bytesBefore - result.bytesAfter} byte(s)`,
        );
      }
    };
    step();
  }

  /** Ends a partition's compaction pass at once: its files closed, any unfinished .cleaned file removed. */
  private stopCompaction(partition: Partition): void {
    const steps = partition.compaction;
    if (steps === null) return;
    partition.compaction = null;
    steps.return(emptyCompactionResult(0));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer);
    this.options.engine.durable.removeListener(this);
    for (const topic of this.topicsByName.values()) {
      for (const p of topic.partitions) {
        this.stopCompaction(p);
        p.notifyAppend();
        p.log.close();
      }
    }
    this.catalog.close();
    const failure = new Error('broker closing');
    for (const w of this.durableWaiters.splice(0)) w.reject(failure);
  }

  private openPartition(topic: Topic, index: number): Partition {
    const config = topic.config;
    const log = this.options.engine.openLogStore(topic.storage, index, {
      limits: { segmentBytes: config.segmentBytes, segmentMs: config.segmentMs, retentionMs: config.retentionMs, retentionBytes: config.retentionBytes },
      logger: (line, routine) => {
        if (routine === true) this.options.logger.debug(() => `stream ${topic.name}-${index}: ${line}`);
        else this.options.logger.warn(`stream ${topic.name}-${index}: ${line}`);
      },
      errorLogger: (line) => this.options.logger.error(`stream ${topic.name}-${index}: ${line}`),
    });
    const partition = new Partition(topic, index, log);
    partition.producers.recover(log);
    return partition;
  }

  /** Opens the catalogue's topics (what interrupted creations and deletions left is gone already). */
  private recover(listed: readonly CatalogedTopic[]): void {
    for (const { name, storage, topic: stored } of listed) {
      const config = defaultTopicConfig(this.defaultSegmentBytes);
      for (const [key, value] of Object.entries(stored.configs)) parseTopicConfig(config, key, value);
      const topic = new Topic(name, Buffer.from(stored.id, 'hex'), config, stored.configs, storage);
      this.removeUnlistedPartitions(topic, stored.partitions);
      for (let p = 0; p < stored.partitions; p++) topic.partitions.push(this.openPartition(topic, p));
      this.topicsByName.set(topic.name, topic);
      // limits lowered below what exists keep what exists: they only refuse growth
      this.partitionTotal += topic.partitions.length;
    }
    if (this.topicsByName.size > 0) this.options.logger.info(`streams: ${this.topicsByName.size} topic(s) recovered`);
  }

  /** Removes partition logs numbered at or past `partitions`: a grow interrupted before its catalogue record landed. */
  private removeUnlistedPartitions(topic: Topic, partitions: number): void {
    for (const removed of this.options.engine.removeLogStoresFrom(topic.storage, partitions)) {
      this.options.logger.warn(
        `stream topic '${topic.name}': partition ${removed} is past the ${partitions} in its catalogue record (interrupted grow); removed it`,
      );
    }
  }
}

/** A topic's catalogue record with `partitions` partitions and `configs` set explicitly. */
function storedTopic(topic: Topic, partitions: number, configs: Readonly<Record<string, string>>): StoredTopic {
  return { id: topic.id.toString('hex'), partitions, configs: { ...configs } };
}

/**
 * Producer ids for idempotent producers. Ids are handed out from blocks of PRODUCER_ID_BLOCK reserved in
 * the topic catalogue (durably) before the first id of a block is given out, so after a crash the next id
 * is past every id ever handed out.
 */
export const PRODUCER_ID_BLOCK = 1000;

export class ProducerIds {
  private next = 0;
  private blockEnd = 0;

  constructor(private readonly catalog: TopicCatalog) {}

  /** The next producer id; throws (nothing handed out) when a new block could not be reserved. */
  allocate(): number {
    if (this.next >= this.blockEnd) {
      const start = this.catalog.reserveProducerIds(PRODUCER_ID_BLOCK);
      this.next = start;
      this.blockEnd = start + PRODUCER_ID_BLOCK;
    }
    return this.next++;
  }
}

export { TOPIC_CONFIGS };
export type { LogSlice };
