/**
 * Reading and writing a partition's records for people rather than consumers: the management API's message
 * browser (a few records from an offset, the newest N, or a time, with keys, headers and values) and its
 * "produce a test record". Protocol-neutral; the Kafka adapter's ListOffsets uses the same time lookup.
 *
 * Browsing reads whole batches with PartitionLog.read() a step of BROWSE_READ_BYTES at a time (a batch
 * larger than that is read whole, once: max.message.bytes bounds it), walks each batch's records with a
 * RecordWalk (a compressed batch is decompressed a step at a time within the broker's
 * maxDecompressedBatchBytes), and keeps only a bounded preview of each key, value and header value. Every
 * bound is per request: records returned, preview bytes returned, log bytes read.
 */
import { BatchTooLargeError, CorruptBatchError, UnsupportedCompressionError } from '../../format/kafka/errors.js';
import { RecordWalk } from '../../format/kafka/record-walk.js';
import { batchSizeAt, BATCH_LENGTH_OVERHEAD } from '../../format/kafka/record-batch.js';
import {
  CONTROL_FLAG,
  TIMESTAMP_TYPE_LOG_APPEND_TIME,
  decodeRecordsArea,
  encodeBatch,
  readBatchHeader,
  type RecordHeader,
} from '../../format/kafka/records.js';
import { BrokerError, Errors } from '../../errors/errors.js';
import { APPEND_REFUSED, appendBatches, appendOutcome } from './append.js';
import type { Partition, StreamStore, Topic } from './topics.js';

/** Log bytes one read step asks for, 256 KiB: a few hundred small records, one page of a browser. */
export const BROWSE_READ_BYTES = 256 * 1024;

/** What one browse may return and read (the caller clamps what a request asks for to these). */
export interface BrowseLimits {
  /** records returned, at most */
  readonly maxRecords: number;
  /** preview bytes returned (keys, values, header values as kept), at most; the first record always fits */
  readonly maxBytes: number;
  /** bytes of one key, value or header value kept in a preview */
  readonly previewBytes: number;
  /** log bytes read from this partition, at most (besides one whole batch larger than that) */
  readonly scanBytes: number;
  /** bound on one batch's records once decompressed (the broker's maxDecompressedBatchBytes) */
  readonly maxDecompressedBytes: number;
  /**
   * Keep the newest records within the limits (read on to the high watermark, dropping the oldest kept
   * ones), instead of stopping at the first limit reached: "the newest N" when N of them do not fit.
   */
  readonly keepNewest?: boolean;
}

function recordBytes(r: BrowsedRecord): number {
  let n = previewSize(r.key) + previewSize(r.value);
  for (const h of r.headers) n += Buffer.byteLength(h.key) + previewSize(h.value);
  return n;
}

/** The first bytes of a key, value or header value, and how long the whole is. */
export interface BytesPreview {
  /** at most BrowseLimits.previewBytes of the start (a copy: the log's buffers are not kept) */
  readonly bytes: Buffer;
  /** the whole value's length, bytes */
  readonly size: number;
}

export interface BrowsedRecord {
  readonly partition: number;
  readonly offset: bigint;
  /** ms since the epoch: CreateTime, or LogAppendTime when the batch says so */
  readonly timestamp: number;
  readonly timestampType: 'CreateTime' | 'LogAppendTime';
  readonly key: BytesPreview | null;
  readonly value: BytesPreview | null;
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: BytesPreview | null }>;
  /** the encoded record's size, bytes (its share of the batch, uncompressed) */
  readonly size: number;
}

export interface BrowseResult {
  readonly records: BrowsedRecord[];
  /** the offset after the last record looked at (where a "next page" starts) */
  nextOffset: bigint;
  /** a limit (records, bytes or log bytes read) stopped the read before the high watermark */
  limited: boolean;
  /** preview bytes returned */
  bytes: number;
  /** batches that could not be read within the limits (corrupt, or too large once decompressed), skipped */
  skippedBatches: number;
  /** log bytes read */
  scanned: number;
}

/** One walk shared by every browse and time lookup (they run synchronously, one at a time). */
const WALK = new RecordWalk();

function preview(bytes: Buffer | null, limit: number): BytesPreview | null {
  if (bytes === null) return null;
  return { bytes: Buffer.from(bytes.subarray(0, Math.min(limit, bytes.length))), size: bytes.length };
}

function previewSize(p: BytesPreview | null): number {
  return p === null ? 0 : p.bytes.length;
}

/**
 * Records of `partition` from offset `start` (clamped into [log start, high watermark)), below the high
 * watermark, with `timestamp` (ms, or null) skipping the records before the first one at or after it.
 * Reads forward until a limit is reached or the high watermark.
 */
export function browsePartition(partition: Partition, start: bigint, fromTimestamp: number | null, limits: BrowseLimits): BrowseResult {
  const log = partition.log;
  const end = partition.highWatermark;
  let offset = start < log.logStartOffset ? log.logStartOffset : start;
  const result: BrowseResult = { records: [], nextOffset: offset > end ? end : offset, limited: false, bytes: 0, skippedBatches: 0, scanned: 0 };
  let seekingTime = fromTimestamp !== null;
  const keepNewest = limits.keepNewest === true;
  while (offset < end) {
    const full = !keepNewest && (result.records.length >= limits.maxRecords || (result.records.length > 0 && result.bytes >= limits.maxBytes));
    if (full || result.scanned >= limits.scanBytes) {
      result.limited = true;
      break;
    }
    const chunk = log.read(offset, Math.min(BROWSE_READ_BYTES, Math.max(1, limits.scanBytes - result.scanned)));
    if (chunk.length === 0) break;
    result.scanned += chunk.length;
    let at = 0;
    let stop = false;
    while (at + BATCH_LENGTH_OVERHEAD <= chunk.length && !stop) {
      const size = batchSizeAt(chunk, at);
      const batch = chunk.subarray(at, at + size);
      at += size;
      let header;
      try {
        header = readBatchHeader(batch);
      } catch (err) {
        if (!(err instanceof CorruptBatchError)) throw err;
        result.skippedBatches++;
        continue;
      }
      const batchEnd = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
      if (header.baseOffset >= end) {
        stop = true;
        break;
      }
      if ((header.attributes & CONTROL_FLAG) !== 0 || batchEnd <= offset) {
        offset = batchEnd > offset ? batchEnd : offset;
        result.nextOffset = offset;
        continue;
      }
      const logAppendTime = (header.attributes & TIMESTAMP_TYPE_LOG_APPEND_TIME) !== 0;
      try {
        WALK.startBatch(batch, limits.maxDecompressedBytes);
        while (WALK.next()) {
          const recordOffset = header.baseOffset + BigInt(WALK.offsetDelta);
          if (recordOffset < offset) continue;
          if (recordOffset >= end) break;
          const timestamp = logAppendTime ? header.maxTimestamp : header.baseTimestamp + WALK.timestampDelta;
          result.nextOffset = recordOffset + 1n;
          if (seekingTime) {
            if (timestamp < fromTimestamp!) continue;
            seekingTime = false;
          }
          if (!keepNewest && (result.records.length >= limits.maxRecords || (result.records.length > 0 && result.bytes >= limits.maxBytes))) {
            result.nextOffset = recordOffset;
            result.limited = true;
            stop = true;
            break;
          }
          const record = decodeRecordsArea(WALK.area.subarray(WALK.recordStart, WALK.recordEnd), 1)[0]!;
          const key = preview(record.key, limits.previewBytes);
          const value = preview(record.value, limits.previewBytes);
          const headers = record.headers.map((h: RecordHeader) => ({ key: h.key, value: preview(h.value, limits.previewBytes) }));
          const kept: BrowsedRecord = {
            partition: partition.index,
            offset: recordOffset,
            timestamp,
            timestampType: logAppendTime ? 'LogAppendTime' : 'CreateTime',
            key,
            value,
            headers,
            size: WALK.recordEnd - WALK.recordStart,
          };
          result.records.push(kept);
          result.bytes += recordBytes(kept);
          // the newest within the limits: the oldest kept ones make room (the newest one always stays)
          while (keepNewest && result.records.length > 1 && (result.records.length > limits.maxRecords || result.bytes > limits.maxBytes)) {
            result.bytes -= recordBytes(result.records.shift()!);
            result.limited = true;
          }
        }
      } catch (err) {
        if (!(err instanceof CorruptBatchError) && !(err instanceof BatchTooLargeError)) throw err;
        result.skippedBatches++;
      } finally {
        WALK.end();
      }
      if (!stop) {
        offset = batchEnd;
        result.nextOffset = offset > end ? end : offset;
      }
    }
    if (stop) break;
  }
  return result;
}

/**
 * Kafka's ListOffsets by time: the offset of the first record (below the high watermark) whose timestamp
 * is at or after `timestamp`, and that record's timestamp; offset -1 when there is none. The time index
 * finds the first batch whose newest record is recent enough; its records are walked for the first match.
 * A stored batch that cannot be walked within the limits is passed over.
 */
export function offsetForTime(
  partition: Partition,
  timestamp: number,
  maxDecompressedBytes: number,
  onUnsupportedCompression?: (err: Error) => void,
): { offset: bigint; timestamp: bigint } {
  const log = partition.log;
  let found = log.offsetForTimestamp(timestamp);
  while (found !== null && found < partition.highWatermark) {
    const batch = log.read(found, 1);
    if (batch.length === 0) break;
    const header = readBatchHeader(batch.subarray(0, batchSizeAt(batch, 0)));
    try {
      WALK.startBatch(batch.subarray(0, header.size), maxDecompressedBytes);
      while (WALK.next()) {
        const recordTimestamp = header.baseTimestamp + WALK.timestampDelta;
        if (recordTimestamp < timestamp) continue;
        const offset = header.baseOffset + BigInt(WALK.offsetDelta);
        if (offset < found) continue;
        return offset < partition.highWatermark ? { offset, timestamp: BigInt(recordTimestamp) } : { offset: -1n, timestamp: -1n };
      }
    } catch (err) {
      // a stored batch that cannot be walked within the limits (stored before them, or damaged): its records
      // are not looked at, and the lookup goes on with the next batch
      if (!(err instanceof CorruptBatchError) && !(err instanceof BatchTooLargeError)) throw err;
      if (err instanceof UnsupportedCompressionError) {
        // one in a codec this Node cannot read (zstd before Node 22.15): when its newest record is recent
        // enough, the answer is its first offset, which a consumer reads from without missing a record
        // (skipping the batch would leave its records at and after the time out of the answer)
        onUnsupportedCompression?.(err);
        if (header.maxTimestamp >= timestamp) {
          const first = header.baseOffset > found ? header.baseOffset : found;
          return first < partition.highWatermark ? { offset: first, timestamp: BigInt(header.baseTimestamp) } : { offset: -1n, timestamp: -1n };
        }
      }
    } finally {
      WALK.end();
    }
    found = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
  }
  return { offset: -1n, timestamp: -1n };
}

// ---------------------------------------------------------------- producing one record

export interface RecordToProduce {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly RecordHeader[];
  /** null: by key (Kafka's default partitioner, murmur2), round robin for a record without key */
  readonly partition: number | null;
}

/** Round robin over a topic's partitions for records without key (the default partitioner's sticky choice is per producer). */
let roundRobin = 0;

/** Kafka's murmur2 (the Java client's Utils.murmur2), so a key lands where a Java producer would put it. */
export function murmur2(data: Buffer): number {
  const length = data.length;
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest === 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) {
    h ^= data[whole]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition a record goes to: the one asked for, by key as Kafka's default partitioner, or round robin. */
export function choosePartition(topic: Topic, record: RecordToProduce): Partition {
  const count = topic.partitions.length;
  if (record.partition !== null) {
    const p = topic.partitions[record.partition];
    if (p === undefined) throw new BrokerError(Errors.UNKNOWN_TOPIC, `Topic '${topic.name}' has no partition ${record.partition} (it has ${count}).`);
    return p;
  }
  if (record.key !== null) return topic.partitions[(murmur2(record.key) & 0x7fffffff) % count]!;
  roundRobin = (roundRobin + 1) % count;
  return topic.partitions[roundRobin]!;
}

/**
 * Appends one record as its own batch (CreateTime now, no compression, no producer id) and resolves with
 * its partition and offset once it is durable, as an acks=-1 produce is answered. The topic's rules apply:
 * max.message.bytes, and a compacted topic refuses a record without key.
 */
export async function produceRecord(streams: StreamStore, topic: Topic, record: RecordToProduce): Promise<{ partition: number; offset: bigint }> {
  const partition = choosePartition(topic, record);
  const batch = encodeBatch({ records: [{ key: record.key, value: record.value, headers: record.headers }] });
  // the one way records enter a partition (append.ts): the checks, counters and durability round of a Produce
  const result = appendBatches(streams, partition, batch, 0, appendOutcome());
  if (result.status === APPEND_REFUSED) throw new BrokerError(result.error!, result.message ?? 'refused');
  await streams.whenDurable(result.round);
  return { partition: partition.index, offset: result.baseOffset };
}
