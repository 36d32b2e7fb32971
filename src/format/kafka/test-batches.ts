/**
 * Test helper: encodes a Kafka RecordBatch v2 (layout in record-batch.ts) with a correct CRC-32C. The
 * records area is arbitrary bytes (the log never parses records); its first 4 bytes carry `id` so a
 * test can tell batches apart.
 */

import { crc32c } from '@node-rs/crc32';
import {
  ATTRIBUTES_AT,
  BASE_TIMESTAMP_AT,
  BATCH_HEADER_BYTES,
  BATCH_LENGTH_AT,
  BATCH_LENGTH_OVERHEAD,
  CRC_AT,
  LAST_OFFSET_DELTA_AT,
  MAGIC_AT,
  MAX_TIMESTAMP_AT,
  PRODUCER_ID_AT,
  RECORD_BATCH_MAGIC,
  RECORD_COUNT_AT,
} from './record-batch.js';

export interface TestBatch {
  /** Written into the first 4 record bytes. */
  id: number;
  recordCount?: number;
  /** Bytes of the records area (at least 4). */
  recordBytes?: number;
  baseTimestamp?: number;
  maxTimestamp?: number;
  /** Attributes, e.g. 1 for gzip: the log must not care. */
  attributes?: number;
}

export function encodeBatch(spec: TestBatch): Buffer {
  const recordCount = spec.recordCount ?? 1;
  const recordBytes = Math.max(4, spec.recordBytes ?? 32);
  const batch = Buffer.alloc(BATCH_HEADER_BYTES + recordBytes);
  batch.writeBigInt64BE(-1n, 0); // whatever a client sends: the broker rewrites it
  batch.writeInt32BE(batch.length - BATCH_LENGTH_OVERHEAD, BATCH_LENGTH_AT);
  batch.writeInt32BE(-1, 12);
  batch.writeInt8(RECORD_BATCH_MAGIC, MAGIC_AT);
  batch.writeInt16BE(spec.attributes ?? 0, ATTRIBUTES_AT);
  batch.writeInt32BE(recordCount - 1, LAST_OFFSET_DELTA_AT);
  const baseTimestamp = spec.baseTimestamp ?? 1_700_000_000_000;
  batch.writeBigInt64BE(BigInt(baseTimestamp), BASE_TIMESTAMP_AT);
  batch.writeBigInt64BE(BigInt(spec.maxTimestamp ?? baseTimestamp), MAX_TIMESTAMP_AT);
  batch.writeBigInt64BE(-1n, PRODUCER_ID_AT);
  batch.writeInt16BE(-1, PRODUCER_ID_AT + 8);
  batch.writeInt32BE(-1, PRODUCER_ID_AT + 10);
  batch.writeInt32BE(recordCount, RECORD_COUNT_AT);
  for (let i = BATCH_HEADER_BYTES; i < batch.length; i++) batch[i] = (spec.id * 13 + i) & 0xff;
  batch.writeUInt32BE(spec.id >>> 0, BATCH_HEADER_BYTES);
  batch.writeUInt32BE(crc32c(batch.subarray(ATTRIBUTES_AT)), CRC_AT);
  return batch;
}

/** The batches in `bytes` (as returned by PartitionLog.read), split. */
export function splitBatches(bytes: Buffer): Buffer[] {
  const batches: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = BATCH_LENGTH_OVERHEAD + bytes.readInt32BE(at + BATCH_LENGTH_AT);
    batches.push(bytes.subarray(at, at + size));
    at += size;
  }
  return batches;
}

export function batchId(batch: Buffer): number {
  return batch.readUInt32BE(BATCH_HEADER_BYTES);
}

/** The batch with the broker-written fields (baseOffset, partitionLeaderEpoch) set as the log sets them. */
export function asStored(batch: Buffer, baseOffset: bigint, leaderEpoch = 0): Buffer {
  const copy = Buffer.from(batch);
  copy.writeBigInt64BE(baseOffset, 0);
  copy.writeInt32BE(leaderEpoch, 12);
  return copy;
}
