/**
 * The memory engine's LogStore (../log-store.ts): a partition's batches in an array, for tests (the same
 * test body runs over this and the file engine: ../log-store.contract.test.ts) and for anything a restart
 * may lose. Nothing is written anywhere; an append is durable once the engine's round completes (at the end
 * of the turn, ./durability.ts).
 *
 * Each appended batch is copied into a buffer of its own with its baseOffset and partitionLeaderEpoch set,
 * so reads return the bytes the file engine would. Where the file engine works in segments this engine
 * works in batches: retention drops whole batches (by time: every batch whose newest record is older than
 * retention.ms; by bytes: the oldest while the rest still hold retention.bytes, never the newest one), and
 * compaction drops a batch when none of its records is kept (every one superseded by a later record of its
 * key, or an expired tombstone), never the newest batch, and never rewrites a batch that keeps some of its
 * records (the file engine re-wraps those). Offsets never move; logStartOffset moves only with retention.
 */
import {
  BASE_OFFSET_AT,
  PARTITION_LEADER_EPOCH_AT,
  batchSizeAt,
  lastOffsetDeltaAt,
  maxTimestampAt,
  validateBatches,
  RECORD_COUNT_AT,
  ATTRIBUTES_AT,
} from '../../format/kafka/record-batch.js';
import { CONTROL_FLAG } from '../../format/kafka/records.js';
import { CorruptBatchError } from '../../format/kafka/errors.js';
import { DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES, RecordWalk } from '../../format/kafka/record-walk.js';
import {
  OffsetOutOfRangeError,
  emptyCompactionResult,
  type CompactionOptions,
  type CompactionResult,
  type LogAppendResult,
  type LogLimits,
  type LogSlice,
  type LogStore,
} from '../log-store.js';

/** Largest offset a record may get (Kafka's offsets are int64). */
const MAX_OFFSET = (1n << 63n) - 1n;
/** Bytes of records a compaction step reads before it yields (the file engine's default step too). */
const COMPACTION_STEP_BYTES = 8 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** One stored batch and what the store needs to know of it without reading it. */
interface StoredBatch {
  readonly bytes: Buffer;
  readonly baseOffset: bigint;
  /** the offset after its last record */
  readonly endOffset: bigint;
  /** its newest record's timestamp (-1: none) */
  readonly maxTimestamp: number;
  /** when it was appended (ms since the epoch, the caller's clock) */
  readonly appendedAt: number;
}

/** What a partition's log holds, kept by the engine between a close and the next open. */
export class MemoryLogData {
  batches: StoredBatch[] = [];
  startOffset = 0n;
  nextOffset = 0n;
  bytes = 0;
  /** a store is open over this data */
  open = false;
}

/** A slice over bytes already in memory. */
class BufferSlice implements LogSlice {
  private released = false;
  constructor(private readonly bytes: Buffer) {}

  get length(): number {
    return this.bytes.length;
  }

  read(into: Buffer, intoAt: number, at: number, length: number): void {
    if (this.released) throw new Error('read of a released slice');
    if (at < 0 || length < 0 || at + length > this.bytes.length) throw new RangeError(`${at}+${length} outside a slice of ${this.bytes.length} bytes`);
    this.bytes.copy(into, intoAt, at, at + length);
  }

  release(): void {
    this.released = true;
  }
}

export function checkLogLimits(limits: LogLimits): void {
  if (!Number.isInteger(limits.segmentBytes) || limits.segmentBytes < 1) throw new RangeError(`segmentBytes ${limits.segmentBytes} must be a positive integer`);
  if (limits.retentionMs !== null && !(limits.retentionMs >= 0)) throw new RangeError(`retentionMs ${limits.retentionMs} must be >= 0`);
  if (limits.retentionBytes !== null && !(limits.retentionBytes >= 0)) throw new RangeError(`retentionBytes ${limits.retentionBytes} must be >= 0`);
  const segmentMs = limits.segmentMs ?? null;
  if (segmentMs !== null && !(segmentMs >= 1)) throw new RangeError(`segmentMs ${segmentMs} must be >= 1`);
}

export class MemoryLogStore implements LogStore {
  lastReadEnd = 0n;
  private limits: LogLimits;
  private closed = false;
  private readonly walk = new RecordWalk();

  constructor(
    readonly name: string,
    private readonly data: MemoryLogData,
    limits: LogLimits,
  ) {
    checkLogLimits(limits);
    this.limits = limits;
    data.open = true;
  }

  get endOffset(): bigint {
    return this.data.nextOffset;
  }

  get logStartOffset(): bigint {
    return this.data.startOffset;
  }

  get sizeBytes(): number {
    return this.data.bytes;
  }

  get segmentCount(): number {
    return 1;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`partition ${this.name} is closed`);
  }

  append(batches: Buffer, now: number, validated = false): LogAppendResult {
    this.checkOpen();
    if (!validated) validateBatches(batches);
    const data = this.data;
    const baseOffset = data.nextOffset;
    let end = baseOffset;
    for (let at = 0; at < batches.length;) {
      const size = batchSizeAt(batches, at);
      end += BigInt(lastOffsetDeltaAt(batches, at)) + 1n;
      at += size;
    }
    if (end - 1n > MAX_OFFSET) throw new RangeError(`partition ${this.name}: offsets exhausted`);
    let offset = baseOffset;
    for (let at = 0; at < batches.length;) {
      const size = batchSizeAt(batches, at);
      const bytes = Buffer.allocUnsafe(size);
      batches.copy(bytes, 0, at, at + size);
      bytes.writeBigInt64BE(offset, BASE_OFFSET_AT);
      bytes.writeInt32BE(0, PARTITION_LEADER_EPOCH_AT);
      const batchEnd = offset + BigInt(lastOffsetDeltaAt(batches, at)) + 1n;
      data.batches.push({ bytes, baseOffset: offset, endOffset: batchEnd, maxTimestamp: maxTimestampAt(batches, at), appendedAt: now });
      data.bytes += size;
      offset = batchEnd;
      at += size;
    }
    data.nextOffset = end;
    return { baseOffset, lastOffset: end - 1n, logAppendTime: -1 };
  }

  /** Index of the first batch ending after `offset` (batches.length when none does). */
  private batchIndexFor(offset: bigint): number {
    const batches = this.data.batches;
    let low = 0;
    let high = batches.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (batches[middle]!.endOffset <= offset) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The batches [first, past) a read from `offset` of about `maxBytes` returns, below `end`; sets lastReadEnd. */
  private select(offset: bigint, maxBytes: number, end: bigint): { first: number; past: number; bytes: number } {
    const data = this.data;
    if (offset < data.startOffset || offset > data.nextOffset) throw new OffsetOutOfRangeError(offset, data.startOffset, data.nextOffset);
    const batches = data.batches;
    const first = this.batchIndexFor(offset);
    let past = first;
    let bytes = 0;
    while (past < batches.length) {
      const batch = batches[past]!;
      if (batch.baseOffset >= end) break;
      if (past > first && bytes + batch.bytes.length > maxBytes) break;
      bytes += batch.bytes.length;
      past++;
    }
    if (past > first) this.lastReadEnd = batches[past - 1]!.endOffset;
    return { first, past, bytes };
  }

  read(offset: bigint, maxBytes: number, allocate: (size: number) => Buffer = Buffer.allocUnsafe): Buffer {
    this.checkOpen();
    const { first, past, bytes } = this.select(offset, maxBytes, this.data.nextOffset);
    if (past === first) return EMPTY;
    return this.copy(first, past, allocate(bytes));
  }

  slice(offset: bigint, maxBytes: number, end: bigint): LogSlice | null {
    this.checkOpen();
    const { first, past, bytes } = this.select(offset, maxBytes, end);
    if (past === first) return null;
    return new BufferSlice(this.copy(first, past, Buffer.allocUnsafe(bytes)));
  }

  private copy(first: number, past: number, into: Buffer): Buffer {
    const batches = this.data.batches;
    let at = 0;
    for (let i = first; i < past; i++) at += batches[i]!.bytes.copy(into, at);
    return into;
  }

  offsetForTimestamp(timestamp: number): bigint | null {
    this.checkOpen();
    for (const batch of this.data.batches) if (batch.maxTimestamp >= timestamp) return batch.baseOffset;
    return null;
  }

  baseOffsetAppendedSince(since: number, maxBytes: number): bigint {
    const batches = this.data.batches;
    if (batches.length === 0) return this.data.nextOffset;
    let oldest = batches.length - 1;
    let bytes = batches[oldest]!.bytes.length;
    for (let i = batches.length - 2; i >= 0; i--) {
      const batch = batches[i]!;
      bytes += batch.bytes.length;
      if (batch.appendedAt < since || bytes > maxBytes) break;
      oldest = i;
    }
    return batches[oldest]!.baseOffset;
  }

  setLimits(limits: LogLimits): void {
    checkLogLimits(limits);
    this.limits = limits;
  }

  enforceRetention(now: number): number {
    this.checkOpen();
    const data = this.data;
    const batches = data.batches;
    let drop = 0;
    const retentionMs = this.limits.retentionMs;
    if (retentionMs !== null) {
      while (drop < batches.length) {
        const batch = batches[drop]!;
        const newest = batch.maxTimestamp >= 0 ? batch.maxTimestamp : batch.appendedAt;
        if (now - newest <= retentionMs) break;
        drop++;
      }
    }
    const retentionBytes = this.limits.retentionBytes;
    if (retentionBytes !== null) {
      let left = data.bytes;
      for (let i = 0; i < drop; i++) left -= batches[i]!.bytes.length;
      while (drop < batches.length - 1 && left - batches[drop]!.bytes.length >= retentionBytes) left -= batches[drop++]!.bytes.length;
    }
    if (drop === 0) return 0;
    for (let i = 0; i < drop; i++) data.bytes -= batches[i]!.bytes.length;
    batches.splice(0, drop);
    data.startOffset = batches.length > 0 ? batches[0]!.baseOffset : data.nextOffset;
    return drop;
  }

  *compactionSteps(now: number, options: CompactionOptions): Generator<void, CompactionResult, void> {
    this.checkOpen();
    if (!(options.deleteRetentionMs >= 0)) throw new RangeError(`deleteRetentionMs ${options.deleteRetentionMs} must be >= 0`);
    const stepBytes = options.stepBytes ?? COMPACTION_STEP_BYTES;
    const data = this.data;
    const result = emptyCompactionResult(data.bytes);
    // 1. the latest offset of every key, over every batch as it is now
    const latest = new Map<string, bigint>();
    const snapshot = data.batches.slice();
    let read = 0;
    for (const batch of snapshot) {
      this.walkRecords(batch, (key, offset) => {
        if (key !== null) latest.set(key, offset);
      });
      read += batch.bytes.length;
      if (read >= stepBytes) {
        read = 0;
        yield;
        if (this.closed) return result;
      }
    }
    // 2. drop the batches none of whose records is kept; never the newest one
    const removed = new Set<StoredBatch>();
    for (let i = 0; i < snapshot.length - 1; i++) {
      const batch = snapshot[i]!;
      let kept = 0;
      let records = 0;
      let tombstones = 0;
      const expired = now - (batch.maxTimestamp >= 0 ? batch.maxTimestamp : batch.appendedAt) > options.deleteRetentionMs;
      const readable = this.walkRecords(batch, (key, offset, tombstone) => {
        records++;
        if (key === null || latest.get(key) !== offset) {
          if (key === null) kept++;
          return;
        }
        if (tombstone && expired) tombstones++;
        else kept++;
      });
      if (!readable) {
        result.batchesKeptOpaque++;
        continue;
      }
      if (kept > 0 || records === 0) continue;
      removed.add(batch);
      result.batchesRemoved++;
      result.recordsRemoved += records;
      result.tombstonesRemoved += tombstones;
    }
    if (removed.size > 0) {
      data.batches = data.batches.filter((batch) => !removed.has(batch));
      for (const batch of removed) data.bytes -= batch.bytes.length;
    }
    result.bytesAfter = data.bytes;
    return result;
  }

  /**
   * Calls `visit` with each record's key (latin1 of its bytes; null for a null key), offset and whether it
   * is a tombstone. False, having visited nothing, for a control batch or one whose records cannot be read.
   */
  private walkRecords(batch: StoredBatch, visit: (key: string | null, offset: bigint, tombstone: boolean) => void): boolean {
    const bytes = batch.bytes;
    if ((bytes.readInt16BE(ATTRIBUTES_AT) & CONTROL_FLAG) !== 0 || bytes.readInt32BE(RECORD_COUNT_AT) < 0) return false;
    const walk = this.walk;
    const found: Array<[string | null, bigint, boolean]> = [];
    try {
      walk.startBatch(bytes, DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES);
      while (walk.next()) {
        const key = walk.keyLength < 0 ? null : walk.area.toString('latin1', walk.keyStart, walk.keyStart + walk.keyLength);
        found.push([key, batch.baseOffset + BigInt(walk.offsetDelta), walk.valueLength < 0]);
      }
    } catch (error) {
      if (error instanceof CorruptBatchError) return false;
      throw error;
    } finally {
      walk.end();
    }
    for (const [key, offset, tombstone] of found) visit(key, offset, tombstone);
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.data.open = false;
  }

  destroy(): void {
    this.closed = true;
    const data = this.data;
    data.open = false;
    data.batches = [];
    data.bytes = 0;
    data.startOffset = data.nextOffset = 0n;
  }
}
