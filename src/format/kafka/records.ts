/**
 * The records inside a magic-2 RecordBatch: decoding them (decompressing first) and encoding whole
 * batches. The partition log itself never needs this; compaction and the Kafka wire layer do.
 * Fixed batch header: record-batch.ts. Codecs and their framings: compression.ts. Varints: varint.ts.
 *
 * Attributes (int16 at byte 21 of the batch):
 *
 *   bit  15 ........ 7      6          5          4           3            2   1   0
 *       +-----------------+----------+----------+-----------+------------+-----------+
 *       | unused (0)      | delete   | control  | transac-  | timestamp  | compression
 *       |                 | horizon  | batch    | tional    | type: 1 =  | 0 none 1 gzip
 *       |                 | (KIP-534)|          |           | LogAppend  | 2 snappy 3 lz4
 *       |                 |          |          |           | Time       | 4 zstd
 *       +-----------------+----------+----------+-----------+------------+-----------+
 *
 * The records area (batch bytes 61..end, decompressed as a whole when the codec is not "none") holds
 * recordCount records back to back, each:
 *
 *   +--------+------------+-----------+--------+-----------+---------+-----------+---------+---------+-------
 *   | length | attributes | timestamp | offset | keyLength | key     | value     | value   | header  | headers
 *   | varint | int8       | Delta     | Delta  | varint    | bytes   | Length    | bytes   | count   | ...
 *   | bytes  | (unused,0) | varlong   | varint | -1 = null |         | varint    |         | varint  |
 *   | after  |            | from base | from   |           |         | -1 = null |         |         |
 *   | it     |            | Timestamp | base   |           |         |           |         |         |
 *   +--------+------------+-----------+--------+-----------+---------+-----------+---------+---------+-------
 *
 *   each header:
 *   +-----------+-------------+-------------+-------------+
 *   | keyLength | key         | valueLength | value       |
 *   | varint    | UTF-8 bytes | varint      | bytes       |
 *   | >= 0      |             | -1 = null   |             |
 *   +-----------+-------------+-------------+-------------+
 *
 *   Record offset = batch baseOffset + offsetDelta; timestamp = batch baseTimestamp + timestampDelta.
 *   `length` must cover the record exactly, and the records must fill the area exactly (as Kafka's
 *   DefaultRecord checks). Everything is bounds-checked: malformed bytes throw CorruptBatchError.
 */

import { crc32c } from '@node-rs/crc32';
import { CompressionCodec, COMPRESSION_CODEC_MASK, compressRecords, decompressRecords, MAX_DECOMPRESSED_RECORDS_BYTES } from './compression.js';
import { CorruptBatchError } from './errors.js';
import {
  ATTRIBUTES_AT,
  BASE_OFFSET_AT,
  BASE_TIMESTAMP_AT,
  BATCH_HEADER_BYTES,
  BATCH_LENGTH_AT,
  BATCH_LENGTH_OVERHEAD,
  CRC_AT,
  LAST_OFFSET_DELTA_AT,
  MAGIC_AT,
  MAX_BATCH_BYTES,
  MAX_TIMESTAMP_AT,
  MIN_BATCH_LENGTH,
  PARTITION_LEADER_EPOCH_AT,
  PRODUCER_ID_AT,
  RECORD_BATCH_MAGIC,
  RECORD_COUNT_AT,
} from './record-batch.js';
import { ByteCursor, varintSize, varlongSize, writeVarint, writeVarlong } from './varint.js';

export { CompressionCodec, COMPRESSION_CODEC_MASK, MAX_DECOMPRESSED_RECORDS_BYTES, codecName } from './compression.js';

/** Attributes bit 3: timestamps are the broker's LogAppendTime, not the producer's CreateTime. */
export const TIMESTAMP_TYPE_LOG_APPEND_TIME = 0x08;
/** Attributes bit 4: the batch belongs to a transaction. */
export const TRANSACTIONAL_FLAG = 0x10;
/** Attributes bit 5: a control batch (transaction markers), whose records are not user data. */
export const CONTROL_FLAG = 0x20;
/** Attributes bit 6: baseTimestamp holds the delete horizon of a cleaned batch (KIP-534). */
export const DELETE_HORIZON_FLAG = 0x40;

/** Byte offsets of the header fields record-batch.ts does not name. */
const PRODUCER_EPOCH_AT = PRODUCER_ID_AT + 8;
const BASE_SEQUENCE_AT = PRODUCER_ID_AT + 10;
/** Smallest encoded record: length, attributes, timestampDelta, offsetDelta, keyLength, valueLength, header count, 1 byte each. */
const MIN_RECORD_BYTES = 7;
/** Smallest encoded header: keyLength and valueLength, 1 byte each. */
const MIN_HEADER_BYTES = 2;

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/**
 * One record of a batch. key, value, header values and `bytes` are views into the batch (or into its
 * decompressed records area), not copies: copy them to keep them past the batch's lifetime.
 */
export interface DecodedRecord {
  attributes: number;
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  /** The whole encoded record, its length varint included: re-encodable byte for byte. */
  bytes: Buffer;
}

/** The fixed header of a magic-2 batch, decoded. */
export interface BatchHeader {
  baseOffset: bigint;
  /** 12 + batchLength: the bytes the batch occupies. */
  size: number;
  partitionLeaderEpoch: number;
  crc: number;
  attributes: number;
  compression: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/** A record to encode; offsetDelta defaults to its index in the batch, timestampDelta to 0. */
export interface RecordInput {
  offsetDelta?: number;
  timestampDelta?: number;
  attributes?: number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: readonly RecordHeader[];
}

/** The batch header fields an encoder chooses; every one has a default. */
export interface BatchFields {
  /** Default 0: a producer's batch; the log assigns the real one. */
  baseOffset?: bigint;
  /** Default -1, as producers send it. */
  partitionLeaderEpoch?: number;
  /** Attribute bits 3-6 (timestamp type, transactional, control); bits 0-2 come from `compression`. */
  attributes?: number;
  /** Default: attributes bits 0-2, i.e. none. */
  compression?: CompressionCodec;
  /** Default: the largest record offsetDelta. */
  lastOffsetDelta?: number;
  /** Default: Date.now(). */
  baseTimestamp?: number;
  /** Default: baseTimestamp + the largest record timestampDelta. */
  maxTimestamp?: number;
  /** Default -1 (no idempotence); producerEpoch and baseSequence likewise. */
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
}

export interface EncodeBatchParams extends BatchFields {
  records: readonly RecordInput[];
}

export interface DecodeOptions {
  /** Bound on the decompressed records area (default MAX_DECOMPRESSED_RECORDS_BYTES). */
  maxDecompressedBytes?: number;
}

/**
 * Checks that `batch` is exactly one sound magic-2 batch (length, magic, CRC-32C) and decodes its
 * header. Unlike record-batch.ts's checkBatchHeader it accepts recordCount below lastOffsetDelta + 1,
 * which a compacted batch has.
 */
export function readBatchHeader(batch: Buffer): BatchHeader {
  if (batch.length < BATCH_HEADER_BYTES) throw new CorruptBatchError(`batch of ${batch.length} bytes is shorter than its header`);
  const batchLength = batch.readInt32BE(BATCH_LENGTH_AT);
  if (batchLength < MIN_BATCH_LENGTH || BATCH_LENGTH_OVERHEAD + batchLength !== batch.length) {
    throw new CorruptBatchError(`batchLength ${batchLength} does not describe a ${batch.length}-byte batch`);
  }
  const magic = batch.readInt8(MAGIC_AT);
  if (magic !== RECORD_BATCH_MAGIC) throw new CorruptBatchError(`unsupported magic ${magic}`);
  const crc = batch.readUInt32BE(CRC_AT);
  if (crc32c(batch.subarray(ATTRIBUTES_AT)) !== crc) throw new CorruptBatchError('batch CRC mismatch');
  const attributes = batch.readInt16BE(ATTRIBUTES_AT);
  const recordCount = batch.readInt32BE(RECORD_COUNT_AT);
  const lastOffsetDelta = batch.readInt32BE(LAST_OFFSET_DELTA_AT);
  if (recordCount < 0) throw new CorruptBatchError(`invalid recordCount ${recordCount}`);
  if (lastOffsetDelta < 0) throw new CorruptBatchError(`invalid lastOffsetDelta ${lastOffsetDelta}`);
  return {
    baseOffset: batch.readBigInt64BE(BASE_OFFSET_AT),
    size: batch.length,
    partitionLeaderEpoch: batch.readInt32BE(PARTITION_LEADER_EPOCH_AT),
    crc,
    attributes,
    compression: attributes & COMPRESSION_CODEC_MASK,
    lastOffsetDelta,
    baseTimestamp: Number(batch.readBigInt64BE(BASE_TIMESTAMP_AT)),
    maxTimestamp: Number(batch.readBigInt64BE(MAX_TIMESTAMP_AT)),
    producerId: batch.readBigInt64BE(PRODUCER_ID_AT),
    producerEpoch: batch.readInt16BE(PRODUCER_EPOCH_AT),
    baseSequence: batch.readInt32BE(BASE_SEQUENCE_AT),
    recordCount,
  };
}

/** The records of one magic-2 batch (exactly one batch in `batch`), decompressed as needed. */
export function decodeBatchRecords(batch: Buffer, options: DecodeOptions = {}): DecodedRecord[] {
  const header = readBatchHeader(batch);
  const area = decompressRecords(header.compression, batch.subarray(BATCH_HEADER_BYTES), options.maxDecompressedBytes ?? MAX_DECOMPRESSED_RECORDS_BYTES);
  return decodeRecordsArea(area, header.recordCount);
}

/** Decodes `recordCount` records filling `area` exactly. */
export function decodeRecordsArea(area: Buffer, recordCount: number): DecodedRecord[] {
  if (recordCount > area.length / MIN_RECORD_BYTES) {
    throw new CorruptBatchError(`recordCount ${recordCount} cannot fit in ${area.length} bytes of records`);
  }
  const cursor = new ByteCursor(area);
  const records: DecodedRecord[] = new Array<DecodedRecord>(recordCount);
  for (let i = 0; i < recordCount; i++) records[i] = decodeRecord(cursor, i);
  if (cursor.remaining !== 0) throw new CorruptBatchError(`${cursor.remaining} byte(s) after the last of ${recordCount} record(s)`);
  return records;
}

function decodeRecord(cursor: ByteCursor, index: number): DecodedRecord {
  const start = cursor.position;
  const length = cursor.varint(`record ${index} length`);
  if (length < 0) throw new CorruptBatchError(`record ${index}: negative length ${length}`);
  cursor.need(length, `record ${index}`);
  const bodyStart = cursor.position;
  const outerEnd = cursor.end;
  cursor.end = bodyStart + length; // nothing of the record may be read past its own length
  const attributes = cursor.int8(`record ${index} attributes`);
  const timestampDelta = cursor.varlong(`record ${index} timestampDelta`);
  const offsetDelta = cursor.varint(`record ${index} offsetDelta`);
  const key = nullableBytes(cursor, `record ${index} key`);
  const value = nullableBytes(cursor, `record ${index} value`);
  const headerCount = cursor.varint(`record ${index} header count`);
  if (headerCount < 0 || headerCount > cursor.remaining / MIN_HEADER_BYTES) {
    throw new CorruptBatchError(`record ${index}: invalid header count ${headerCount}`);
  }
  const headers: RecordHeader[] = new Array<RecordHeader>(headerCount);
  for (let h = 0; h < headerCount; h++) {
    const keyLength = cursor.varint(`record ${index} header ${h} key length`);
    if (keyLength < 0) throw new CorruptBatchError(`record ${index} header ${h}: negative key length ${keyLength}`);
    const headerKey = cursor.slice(keyLength, `record ${index} header ${h} key`).toString('utf8');
    headers[h] = { key: headerKey, value: nullableBytes(cursor, `record ${index} header ${h} value`) };
  }
  if (cursor.remaining !== 0) throw new CorruptBatchError(`record ${index}: ${cursor.remaining} byte(s) past its fields inside its length`);
  cursor.end = outerEnd;
  return { attributes, offsetDelta, timestampDelta, key, value, headers, bytes: cursor.bytes.subarray(start, cursor.position) };
}

function nullableBytes(cursor: ByteCursor, what: string): Buffer | null {
  const length = cursor.varint(`${what} length`);
  if (length === -1) return null;
  if (length < -1) throw new CorruptBatchError(`${what}: invalid length ${length}`);
  return cursor.slice(length, what);
}

/**
 * True when every record of every batch in `batches` (one or more, concatenated as in a produce
 * request) has a non-null key: a compacted topic must reject the others (Kafka answers
 * INVALID_RECORD). Throws CorruptBatchError for malformed batches or records.
 */
export function batchKeysAllPresent(batches: Buffer, options: DecodeOptions = {}): boolean {
  let at = 0;
  while (at < batches.length) {
    if (batches.length - at < BATCH_HEADER_BYTES) throw new CorruptBatchError(`${batches.length - at} byte(s) after the last batch`);
    const size = BATCH_LENGTH_OVERHEAD + batches.readInt32BE(at + BATCH_LENGTH_AT);
    if (size < BATCH_HEADER_BYTES || size > batches.length - at) throw new CorruptBatchError(`batch at byte ${at} claims ${size} bytes`);
    for (const record of decodeBatchRecords(batches.subarray(at, at + size), options)) if (record.key === null) return false;
    at += size;
  }
  return true;
}

// ---- encoding --------------------------------------------------------------------------------------

function nullableSize(bytes: Buffer | null): number {
  return bytes === null ? varintSize(-1) : varintSize(bytes.length) + bytes.length;
}

/** The encoded bytes of one record (length varint included). */
export function encodeRecord(record: RecordInput, defaultOffsetDelta: number): Buffer {
  const offsetDelta = record.offsetDelta ?? defaultOffsetDelta;
  const timestampDelta = record.timestampDelta ?? 0;
  const headers = record.headers ?? [];
  const headerKeys = headers.map((header) => Buffer.from(header.key, 'utf8'));
  let bodySize = 1 + varlongSize(timestampDelta) + varintSize(offsetDelta) + nullableSize(record.key) + nullableSize(record.value);
  bodySize += varintSize(headers.length);
  for (let h = 0; h < headers.length; h++) {
    bodySize += varintSize(headerKeys[h]!.length) + headerKeys[h]!.length + nullableSize(headers[h]!.value);
  }
  const bytes = Buffer.allocUnsafe(varintSize(bodySize) + bodySize);
  let at = writeVarint(bytes, 0, bodySize);
  bytes.writeInt8(record.attributes ?? 0, at++);
  at = writeVarlong(bytes, at, timestampDelta);
  at = writeVarint(bytes, at, offsetDelta);
  at = writeNullable(bytes, at, record.key);
  at = writeNullable(bytes, at, record.value);
  at = writeVarint(bytes, at, headers.length);
  for (let h = 0; h < headers.length; h++) {
    at = writeNullable(bytes, at, headerKeys[h]!);
    at = writeNullable(bytes, at, headers[h]!.value);
  }
  return bytes;
}

function writeNullable(bytes: Buffer, at: number, value: Buffer | null): number {
  if (value === null) return writeVarint(bytes, at, -1);
  at = writeVarint(bytes, at, value.length);
  value.copy(bytes, at);
  return at + value.length;
}

/**
 * A whole magic-2 batch with a correct CRC-32C, its records compressed with `compression`. Defaults
 * are listed on BatchFields; with no records, lastOffsetDelta must be given.
 */
export function encodeBatch(params: EncodeBatchParams): Buffer {
  const records = params.records;
  const encoded = records.map((record, i) => encodeRecord(record, i));
  let largestOffsetDelta = -1;
  let largestTimestampDelta = 0;
  for (let i = 0; i < records.length; i++) {
    largestOffsetDelta = Math.max(largestOffsetDelta, records[i]!.offsetDelta ?? i);
    largestTimestampDelta = Math.max(largestTimestampDelta, records[i]!.timestampDelta ?? 0);
  }
  const baseTimestamp = params.baseTimestamp ?? Date.now();
  return buildBatch(
    {
      ...params,
      baseTimestamp,
      lastOffsetDelta: params.lastOffsetDelta ?? largestOffsetDelta,
      maxTimestamp: params.maxTimestamp ?? baseTimestamp + largestTimestampDelta,
    },
    Buffer.concat(encoded),
    records.length,
  );
}

/**
 * A batch around already-encoded records (`recordsArea`, uncompressed, `recordCount` records): used
 * by compaction to re-wrap the records it keeps byte for byte.
 */
export function buildBatch(fields: BatchFields, recordsArea: Buffer, recordCount: number): Buffer {
  const attributes = fields.attributes ?? 0;
  const compression = fields.compression ?? ((attributes & COMPRESSION_CODEC_MASK) as CompressionCodec);
  const lastOffsetDelta = fields.lastOffsetDelta ?? recordCount - 1;
  if (lastOffsetDelta < 0) throw new RangeError(`lastOffsetDelta ${lastOffsetDelta}: a batch needs records or an explicit lastOffsetDelta`);
  const body = compressRecords(compression, recordsArea);
  const size = BATCH_HEADER_BYTES + body.length;
  if (size > MAX_BATCH_BYTES) throw new RangeError(`batch of ${size} bytes exceeds ${MAX_BATCH_BYTES}`);
  const baseTimestamp = fields.baseTimestamp ?? Date.now();
  const batch = Buffer.allocUnsafe(size);
  batch.writeBigInt64BE(fields.baseOffset ?? 0n, BASE_OFFSET_AT);
  batch.writeInt32BE(size - BATCH_LENGTH_OVERHEAD, BATCH_LENGTH_AT);
  batch.writeInt32BE(fields.partitionLeaderEpoch ?? -1, PARTITION_LEADER_EPOCH_AT);
  batch.writeInt8(RECORD_BATCH_MAGIC, MAGIC_AT);
  batch.writeInt16BE((attributes & ~COMPRESSION_CODEC_MASK) | compression, ATTRIBUTES_AT);
  batch.writeInt32BE(lastOffsetDelta, LAST_OFFSET_DELTA_AT);
  batch.writeBigInt64BE(BigInt(baseTimestamp), BASE_TIMESTAMP_AT);
  batch.writeBigInt64BE(BigInt(fields.maxTimestamp ?? baseTimestamp), MAX_TIMESTAMP_AT);
  batch.writeBigInt64BE(fields.producerId ?? -1n, PRODUCER_ID_AT);
  batch.writeInt16BE(fields.producerEpoch ?? -1, PRODUCER_EPOCH_AT);
  batch.writeInt32BE(fields.baseSequence ?? -1, BASE_SEQUENCE_AT);
  batch.writeInt32BE(recordCount, RECORD_COUNT_AT);
  body.copy(batch, BATCH_HEADER_BYTES);
  batch.writeUInt32BE(crc32c(batch.subarray(ATTRIBUTES_AT)), CRC_AT);
  return batch;
}
