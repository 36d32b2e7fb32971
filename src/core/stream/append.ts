/**
 * Appending to a partition: the one way records enter a stream, whoever sends them (a Kafka Produce, the
 * management API's "produce a record"). Checks the batches (format, CRCs, size, every record walked within
 * the decompression limit, the compaction key rule, idempotent producers' sequence numbers), appends them to
 * the partition's log, records the producers' new state and the partition's produce counters, and asks for
 * the durability round that will make them visible. Nothing here knows a wire protocol: a refusal is an
 * error of the registry (src/errors/errors.ts) with its message, which each adapter turns into its own code.
 *
 * Allocation: one small array of producer identities per call when batches are idempotent; nothing per
 * record (record-walk.ts walks records without objects).
 */
import { Errors, type ErrorDef } from '../../errors/errors.js';
import { ATTRIBUTES_AT, MAGIC_AT, RECORD_BATCH_MAGIC, batchSizeAt, lastOffsetDeltaAt, validateBatches } from '../../format/kafka/record-batch.js';
import { COMPRESSION_CODEC_MASK, CompressionCodec } from '../../format/kafka/compression.js';
import { BatchTooLargeError, CorruptBatchError, UnsupportedCompressionError } from '../../format/kafka/errors.js';
import type { BatchesSummary } from '../../format/kafka/record-walk.js';
import { batchIdentity, type BatchIdentity } from './producer-state.js';
import type { Partition, StreamStore } from './topics.js';

/** The batches were appended: answer after `round`. */
export const APPEND_WRITTEN = 0;
/** A retry of an idempotent batch already written: nothing appended, `baseOffset` is the first copy's; answer after `round`. */
export const APPEND_DUPLICATE = 1;
/** Refused: `error` and `message` say why; nothing was appended. */
export const APPEND_REFUSED = 2;

/** appendBatches() flag: the sender cannot carry zstd batches (Kafka's Produce before v7, KIP-110). */
export const APPEND_NO_ZSTD = 1;

export interface AppendOutcome {
  status: typeof APPEND_WRITTEN | typeof APPEND_DUPLICATE | typeof APPEND_REFUSED;
  /** the first offset written (or the first copy's, for a duplicate); -1 when refused */
  baseOffset: bigint;
  /** records appended (0 unless written) */
  records: number;
  /** the durability round the answer waits for (written, duplicate); -1 when refused */
  round: number;
  /** why it was refused (null otherwise) */
  error: ErrorDef | null;
  message: string | null;
  /**
   * the refusal lasts as long as the process (this Node has no decoder for the batch's codec): an adapter
   * logs it once, not per request
   */
  lasting: boolean;
  /** the refusal is this append's write failing (worth an error line; a storage failed earlier is not) */
  writeFailed: boolean;
}

/** A fresh outcome for a caller to reuse. */
export function appendOutcome(): AppendOutcome {
  return { status: APPEND_REFUSED, baseOffset: -1n, records: 0, round: -1, error: null, message: null, lasting: false, writeFailed: false };
}

/** What the last walk of a request's records found (one at a time: appends run synchronously). */
const WALKED: BatchesSummary = { records: 0, allKeyed: true };

function refuse(out: AppendOutcome, error: ErrorDef, message: string, lasting = false): AppendOutcome {
  out.status = APPEND_REFUSED;
  out.error = error;
  out.message = message;
  out.lasting = lasting;
  return out;
}

/**
 * Appends one partition's record batches (as a producer sent them) and fills `out`. `records` may lie in a
 * buffer its owner reuses after this call (the Kafka connection's receive buffer): nothing keeps a reference
 * to it (the log copies or writes it; producer state keeps numbers only). Throws only what is not a refusal
 * (a bug); a failed write is a refusal with KAFKA_STORAGE_ERROR.
 */
export function appendBatches(streams: StreamStore, partition: Partition, records: Buffer, flags: number, out: AppendOutcome): AppendOutcome {
  out.baseOffset = -1n;
  out.records = 0;
  out.round = -1;
  out.error = null;
  out.message = null;
  out.lasting = false;
  out.writeFailed = false;
  const failure = streams.storageFailure;
  if (failure !== null) return refuse(out, Errors.KAFKA_STORAGE_ERROR, `storage failed: ${failure.message}`);
  if (records.length === 0) return refuse(out, Errors.CORRUPT_RECORD, 'no record batch');
  // the legacy message formats (v0/v1) keep their magic byte at the same position as RecordBatch v2
  if (records.length > MAGIC_AT && records.readInt8(MAGIC_AT) !== RECORD_BATCH_MAGIC) {
    return refuse(
      out,
      Errors.UNSUPPORTED_RECORD_FORMAT,
      `record batch magic ${records.readInt8(MAGIC_AT)} is not supported (only magic 2, Kafka 0.11+ clients)`,
    );
  }
  try {
    validateBatches(records);
  } catch (err) {
    return refuse(out, Errors.CORRUPT_RECORD, (err as Error).message);
  }
  const config = partition.topic.config;
  let identities: Array<BatchIdentity | null> | null = null;
  let batches = 0;
  for (let at = 0; at < records.length; batches++) {
    const size = batchSizeAt(records, at);
    if ((flags & APPEND_NO_ZSTD) !== 0 && (records.readInt16BE(at + ATTRIBUTES_AT) & COMPRESSION_CODEC_MASK) === CompressionCodec.Zstd) {
      return refuse(out, Errors.UNSUPPORTED_COMPRESSION, 'zstd batches need a newer protocol version (Kafka: Produce v7 or later)');
    }
    if (size > config.maxMessageBytes) {
      return refuse(out, Errors.MESSAGE_TOO_LARGE, `batch of ${size} bytes is larger than max.message.bytes ${config.maxMessageBytes}`);
    }
    const id = batchIdentity(records, at);
    if (id !== null) {
      const check = partition.producers.check(id);
      switch (check.kind) {
        case 'duplicate':
          // a retry of a batch already written: same answer as the first time, nothing appended; the first
          // copy may still wait for its fsync, so the answer waits for the newest round
          out.status = APPEND_DUPLICATE;
          out.baseOffset = check.baseOffset;
          out.round = streams.durabilityRound();
          return out;
        case 'fenced':
          return refuse(out, Errors.PRODUCER_FENCED, `producer epoch ${check.got} is older than the current ${check.current}`);
        case 'out-of-order':
          return refuse(out, Errors.OUT_OF_ORDER_SEQUENCE, `expected sequence ${check.expected}, got ${check.got}`);
        case 'new':
          break;
      }
      identities ??= new Array<BatchIdentity | null>(batches).fill(null);
    }
    if (identities !== null) identities.push(id);
    at += size;
  }
  try {
    // every record, decompressed within the broker's limit, without an object per record (record-walk.ts)
    streams.walkProducedRecords(records, WALKED, config.cleanupCompact);
  } catch (err) {
    if (err instanceof UnsupportedCompressionError) return refuse(out, Errors.UNSUPPORTED_COMPRESSION, err.message, true);
    if (err instanceof BatchTooLargeError) return refuse(out, Errors.MESSAGE_TOO_LARGE, err.message);
    if (err instanceof CorruptBatchError) return refuse(out, Errors.CORRUPT_RECORD, err.message);
    throw err;
  }
  // compaction keeps the latest record per key: a keyless record has nothing to be kept by
  if (config.cleanupCompact && !WALKED.allKeyed) return refuse(out, Errors.INVALID_RECORD, 'Compacted topic cannot accept message without key.');
  let result;
  try {
    result = partition.log.append(records, Date.now(), true); // validateBatches() above checked every CRC
  } catch (err) {
    refuse(out, err instanceof CorruptBatchError ? Errors.CORRUPT_RECORD : Errors.KAFKA_STORAGE_ERROR, `append failed: ${(err as Error).message}`);
    out.writeFailed = true;
    return out;
  }
  // the partition's produce rates: two field increments per append, none per record
  const counters = partition.counters;
  counters.recordsIn += WALKED.records;
  counters.bytesIn += records.length;
  if (identities !== null) {
    let offset = result.baseOffset;
    let i = 0;
    for (let at = 0; at < records.length; i++) {
      const id = identities[i];
      if (id !== null && id !== undefined) partition.producers.record(id, offset);
      offset += BigInt(lastOffsetDeltaAt(records, at)) + 1n;
      at += batchSizeAt(records, at);
    }
  }
  out.status = APPEND_WRITTEN;
  out.baseOffset = result.baseOffset;
  out.records = WALKED.records;
  out.round = streams.appended(partition);
  return out;
}
