/**
 * LogStore: one Kafka partition's record batches, as the core (core/stream/) sees them. The file engine
 * implements it with PartitionLog (partition/partition-log.ts: segment files, sparse indexes, group-commit
 * fsync), the memory engine with MemoryLogStore (memory/log-store.ts: batches in an array); a PostgreSQL
 * engine would implement it over batch rows (../shared/design/postgres-store.md). One test body runs over
 * every engine (log-store.contract.test.ts).
 *
 * What the store keeps are whole record batches as producers sent them (format/kafka/record-batch.ts), with
 * only their baseOffset and partitionLeaderEpoch rewritten (both outside the batch's CRC): a Fetch sends
 * them back byte for byte. The store checks nothing about records (the core did: core/stream/append.ts)
 * and knows nothing about producers, topics or protocols.
 *
 * Offsets: the store assigns them on append, consecutively, in append order; `endOffset` is the next one.
 * Durability: an append returns at once; it is durable once the engine's durability round requested after
 * it completes (stores.ts `Durability`: engine.durable.requestRound()). The core exposes a batch to
 * consumers only then (its high watermark, core/stream/topics.ts Partition), so a store may hand out reads
 * past the durable end: the core bounds every read by its high watermark. After a failed round the store
 * is cut back to what is durable (`endOffset` goes back, its offsets are handed out again), as Kafka's
 * leader truncates to the high watermark.
 *
 * Every call is synchronous: the core appends, reads and looks up within one turn of the event loop, and
 * waits only for the durability round. A networked engine fits that shape by owning the partitions it
 * serves (PostgreSQL: a lease per partition with an epoch, so one node appends to a partition at a time)
 * and keeping their tail and indexes in memory: see "How PostgreSQL would do it" on each member.
 */
/**
 * segment.bytes as every engine takes it (Kafka's topic config; an engine without segments checks the
 * range and may ignore the value). Default 64 MiB: the file engine's retention frees space in steps of one
 * segment and an unclean open rescans about one segment per partition.
 */
export const DEFAULT_LOG_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Smallest segment.bytes, 77: a segment header (16 bytes) and one minimal batch header (61); tests use tiny segments. */
export const MIN_LOG_SEGMENT_BYTES = 16 + 61;
/** Largest segment.bytes, 1 GiB: with the largest batch every file position fits a u32 index entry. */
export const MAX_LOG_SEGMENT_BYTES = 1024 * 1024 * 1024;

/**
 * A piece of a partition's log a Fetch answer sends as stored, without the store reading it into memory
 * first (the file engine: a range of one segment file, read a chunk at a time while the socket drains).
 * The same shape as the Kafka codec's ByteSource, so a slice goes into a response as it is.
 */
export interface LogSlice {
  /** bytes of whole batches */
  readonly length: number;
  /** Reads `length` bytes at `at` of the slice into `into` from `intoAt`; throws when they cannot be read. */
  read(into: Buffer, intoAt: number, at: number, length: number): void;
  /** Nothing more is read; what the slice held (a file descriptor, a row set) is let go. Idempotent. */
  release(): void;
}

/** What append() did. */
export interface LogAppendResult {
  /** the offset of the first record appended */
  baseOffset: bigint;
  /** the offset of the last record appended */
  lastOffset: bigint;
  /** Kafka's produce-response log_append_time: -1, batches keep their CreateTime timestamps. */
  logAppendTime: number;
}

/** A partition's size and time limits (a topic's segment.bytes, segment.ms, retention.ms, retention.bytes). */
export interface LogLimits {
  /** the unit retention frees: the file engine rolls a segment at this size (an engine without segments may ignore it) */
  readonly segmentBytes: number;
  /** roll the active unit when its first batch is older than this (Kafka's segment.ms); null: never by age */
  readonly segmentMs?: number | null;
  /** enforceRetention() drops batches whose newest record is older than this, ms; null: keep forever */
  readonly retentionMs: number | null;
  /** enforceRetention() drops the oldest batches while the rest still hold this many bytes; null: no limit */
  readonly retentionBytes: number | null;
}

export interface CompactionOptions {
  /** Kafka's delete.retention.ms: how long a tombstone (a null value) stays readable once it is the latest of its key */
  deleteRetentionMs: number;
  /** compactionSteps(): bytes read per step before it yields (default: the engine's, 8 MiB for files) */
  stepBytes?: number;
}

export interface CompactionResult {
  /** Storage units (segments) looked at; 0 for an engine without them. */
  segmentsExamined: number;
  /** Units replaced by a cleaned copy. */
  segmentsRewritten: number;
  /** Units deleted because no record of theirs was kept. */
  segmentsRemoved: number;
  batchesRemoved: number;
  recordsRemoved: number;
  /** Of recordsRemoved, tombstones that were the latest of their key and old enough to go. */
  tombstonesRemoved: number;
  /** Kept as they are: control batches, batches whose records do not decode, and ones whose timestamps cannot be carried over. */
  batchesKeptOpaque: number;
  /** The log's sizeBytes before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

export function emptyCompactionResult(bytesBefore: number): CompactionResult {
  return {
    segmentsExamined: 0,
    segmentsRewritten: 0,
    segmentsRemoved: 0,
    batchesRemoved: 0,
    recordsRemoved: 0,
    tombstonesRemoved: 0,
    batchesKeptOpaque: 0,
    bytesBefore,
    bytesAfter: bytesBefore,
  };
}

/** A read or slice asked for an offset outside [logStartOffset, endOffset]. */
export class OffsetOutOfRangeError extends Error {
  readonly code = 'OFFSET_OUT_OF_RANGE';
  readonly offset: bigint;
  readonly logStartOffset: bigint;
  readonly highWatermark: bigint;
  constructor(offset: bigint, logStartOffset: bigint, highWatermark: bigint) {
    super(`offset ${offset} outside [${logStartOffset}, ${highWatermark}]`);
    this.name = 'OffsetOutOfRangeError';
    this.offset = offset;
    this.logStartOffset = logStartOffset;
    this.highWatermark = highWatermark;
  }
}

/** How a partition's log is opened (StorageEngine.openLogStore). */
export interface LogStoreOptions {
  readonly limits: LogLimits;
  /** One line per notable event (recovery summary, dropped tails); `routine`: nothing is wrong. */
  readonly logger?: (line: string, routine?: boolean) => void;
  /** One line per damage found at open. Default: `logger`. */
  readonly errorLogger?: (line: string) => void;
}

export interface LogStore {
  /** Where the log lives, for log lines (the file engine: its directory). */
  readonly name: string;

  /**
   * The offset the next appended record gets (Kafka's log end offset). Everything below it was appended;
   * not necessarily durable yet.
   * PostgreSQL: the partition row's next_offset, cached by the node holding the partition's lease.
   */
  readonly endOffset: bigint;

  /**
   * The first offset still stored (retention moves it forward; compaction never does).
   * PostgreSQL: the smallest base offset of the partition's batch rows (kept in the partition row).
   */
  readonly logStartOffset: bigint;

  /**
   * Bytes the log takes (the file engine: its segment files, headers included, and its write buffer).
   * PostgreSQL: the sum of the batch rows' byte lengths, kept in the partition row.
   */
  readonly sizeBytes: number;

  /**
   * Storage units the log is cut into (the file engine: segment files; 1 for an engine without them),
   * for the management API.
   */
  readonly segmentCount: number;

  /**
   * The offset just past the batches the last read() or slice() returned: a Fetch counts the records it
   * sends as this minus its fetch offset, without reading a record.
   */
  readonly lastReadEnd: bigint;

  /**
   * Appends the concatenated, valid batches of one produce request with consecutive offsets (each batch's
   * baseOffset rewritten) and returns the offsets they got. Either all are appended or, when a batch is
   * malformed, CorruptBatchError is thrown and none is. `validated`: the caller checked every batch's
   * header and CRC already (validateBatches), so the store need not read every byte again. Durable once the
   * engine's next durability round completes; a write that fails is reported through that round (and
   * the engine's failure), not thrown, unless nothing could be appended at all (offsets exhausted).
   * PostgreSQL: the batches join the node's next commit: `UPDATE partitions SET next_offset = $end WHERE
   * id = $p AND lease_epoch = $mine` (the fence: a node whose lease moved on appends nothing) and one
   * INSERT of batch rows (partition, base offset, last offset, max timestamp, producer id/epoch/sequences,
   * bytes); the round completes when that transaction commits.
   */
  append(batches: Buffer, now: number, validated?: boolean): LogAppendResult;

  /**
   * Whole batches, starting with the one holding `offset`, up to about `maxBytes` (at least one whole
   * batch even when it is larger), in a buffer from `allocate` (default: a fresh one the caller may keep).
   * A read may stop early at the end of a storage unit (the file engine: a segment); a caller wanting more
   * reads on from lastReadEnd. Empty at endOffset. Batches past a gap (compaction removed some) are returned from the next one that
   * exists. Throws OffsetOutOfRangeError outside [logStartOffset, endOffset].
   * PostgreSQL: `SELECT bytes FROM batches WHERE partition = $p AND last_offset >= $offset ORDER BY
   * base_offset LIMIT n`, stopping at the byte budget (recent batches from the node's cache).
   */
  read(offset: bigint, maxBytes: number, allocate?: (size: number) => Buffer): Buffer;

  /**
   * What read(offset, maxBytes) would return (stopping early as it may), without copying it into memory,
   * and only batches whose base offset is below `end` (the high watermark a Fetch answers up to); null
   * when no batch qualifies.
   * The slice stays readable until released, whatever retention or compaction do meanwhile.
   * PostgreSQL: the rows read as for read(), held as buffers (a slice over memory).
   */
  slice(offset: bigint, maxBytes: number, end: bigint): LogSlice | null;

  /**
   * The base offset of the first batch whose newest timestamp (maxTimestamp) is at or after `timestamp`
   * (ListOffsets by time; the core walks that batch's records for the exact one), or null when none is.
   * PostgreSQL: `SELECT base_offset ... WHERE max_timestamp >= $t ORDER BY base_offset LIMIT 1`, with an
   * index on (partition, max_timestamp) (Kafka's time index plays that role).
   */
  offsetForTimestamp(timestamp: number): bigint | null;

  /**
   * Where a reader of the log's recent appends starts to see every batch appended at or after `since` (ms
   * since the epoch), within about the last `maxBytes`: producer state is rebuilt from those batches when
   * the log is opened (core/stream/producer-state.ts). The file engine answers in whole segments (a
   * segment's last append time), so it may start earlier; never later than a batch appended since then,
   * unless more than maxBytes came after it.
   * PostgreSQL: the smallest base offset of the batch rows committed since `since` (a commit-time column).
   */
  baseOffsetAppendedSince(since: number, maxBytes: number): bigint;

  /**
   * Changes the limits of an open log; they apply from the next append (roll limits) and the next
   * enforceRetention() (retention limits). Throws RangeError for values out of range, changing nothing.
   * PostgreSQL: the topic's config row; nothing per partition.
   */
  setLimits(limits: LogLimits): void;

  /**
   * Drops the oldest batches, whole storage units at a time: those whose newest record is older than
   * retentionMs, then the oldest while the rest still hold retentionBytes. Returns the units dropped;
   * logStartOffset moves to the first batch left (endOffset, if none is left).
   * PostgreSQL: `DELETE FROM batches WHERE partition = $p AND max_timestamp < $cutoff` (and by bytes from
   * the oldest), in the background, in small transactions.
   */
  enforceRetention(now: number): number;

  /**
   * Compaction (cleanup.policy=compact) as steps, one bounded piece of work per next(): keeps the latest
   * record of every key, and tombstones only until deleteRetentionMs passed. Offsets never move: a batch
   * that loses every record leaves a gap. return() ends it early, cleanly.
   * PostgreSQL: the same walk over batch rows in the background, replacing a row by its cleaned copy in a
   * transaction per batch (the keys map kept on the node doing it).
   */
  compactionSteps(now: number, options: CompactionOptions): Generator<void, CompactionResult, void>;

  /**
   * Finishes what is written (a last flush; under fsync 'always' what no round covered yet) and lets go
   * of every resource. Reads after it throw.
   */
  close(): void;

  /** Removes everything the log stores (its topic was deleted). Reads after it throw. */
  destroy(): void;
}
