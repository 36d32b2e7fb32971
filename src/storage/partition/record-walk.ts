/**
 * Walking the records of one magic-2 batch without a JavaScript object per record, whatever the batch
 * claims. Layout of the records area: records.ts.
 *
 * A batch's header claims a record count and its compressed body may expand a thousandfold: a 22 KB zstd
 * body holding 38,000,000 seven-byte records decodes to 256 MiB, and one object per record made the heap
 * 4.8 GB. Here:
 *   - the records area is decompressed into one buffer, never past `maxDecompressedBytes` (the codecs stop
 *     there: compression.ts), and a batch that would pass it throws BatchTooLargeError;
 *   - a RecordWalk reads the records one at a time into its own fields (offsets, lengths, positions inside
 *     the area), so walking costs the area and nothing per record;
 *   - the count must match: the area must end exactly after the header's recordCount records, each exactly
 *     as long as its length says (as Kafka's DefaultRecord and LogValidator check), else CorruptBatchError.
 *
 * Produce validation (every batch, before it is appended), ListOffsets by timestamp and compaction walk
 * records this way.
 */
import { BatchTooLargeError, CorruptBatchError } from './errors.js';
import { decompressRecords, CompressionCodec, COMPRESSION_CODEC_MASK } from './compression.js';
import { ATTRIBUTES_AT, BATCH_HEADER_BYTES, BATCH_LENGTH_AT, BATCH_LENGTH_OVERHEAD, RECORD_COUNT_AT } from './record-batch.js';
import { ByteCursor } from './varint.js';

/**
 * Default bound on the uncompressed records area of one batch, 64 MiB: 64 times Kafka's default
 * max.message.bytes (1 MB, which bounds the compressed batch), so a well-compressed batch of text still
 * fits, while what a bomb can make the broker decompress and walk per batch stays bounded.
 */
export const DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES = 64 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
/**
 * Most records one batch may claim, 1,000,000: a hundred times librdkafka's default batch.num.messages
 * (10,000); Java producers' 16 KiB batches hold far fewer. It bounds the work of walking one batch (about
 * 50 ms for a million records on the test machine) whatever its records decompress to.
 */
export const MAX_RECORDS_PER_BATCH = 1_000_000;
/** Smallest encoded record: length, attributes, timestampDelta, offsetDelta, keyLength, valueLength, header count, 1 byte each. */
const MIN_RECORD_BYTES = 7;

/** The records area of `batch` (one whole batch), decompressed, at most `maxBytes`; throws for a malformed or oversized one. */
export function recordsArea(batch: Buffer, maxBytes: number): Buffer {
  const codec = batch.readInt16BE(ATTRIBUTES_AT) & COMPRESSION_CODEC_MASK;
  const body = batch.subarray(BATCH_HEADER_BYTES);
  const recordCount = batch.readInt32BE(RECORD_COUNT_AT);
  // a count past the limits is refused before anything is decompressed
  if (recordCount > MAX_RECORDS_PER_BATCH) throw new BatchTooLargeError(`batch claims ${recordCount} records, limit ${MAX_RECORDS_PER_BATCH}`);
  if (recordCount > maxBytes / MIN_RECORD_BYTES) {
    throw new BatchTooLargeError(`batch claims ${recordCount} records: at least ${recordCount * MIN_RECORD_BYTES} bytes, limit ${maxBytes}`);
  }
  if (codec === CompressionCodec.None) {
    if (body.length > maxBytes) throw new BatchTooLargeError(`records of ${body.length} bytes, limit ${maxBytes}`);
    return body;
  }
  return decompressRecords(codec, body, maxBytes);
}

/**
 * One pass over the records of one batch. next() moves to the next record and sets the fields below
 * (positions are inside `area`); it returns false after the last one, having checked that the area ends
 * there. Reuse one walk for many batches with start().
 */
export class RecordWalk {
  area: Buffer = EMPTY;
  private cursor = new ByteCursor(EMPTY);
  private count = 0;
  /** records read so far; the current record's index is index - 1 */
  read = 0;
  /** the whole current record, its length varint included: [recordStart, recordEnd) */
  recordStart = 0;
  recordEnd = 0;
  timestampDelta = 0;
  offsetDelta = 0;
  /** key bytes at [keyStart, keyStart + keyLength); keyLength -1: a null key */
  keyStart = 0;
  keyLength = -1;
  /** -1: a null value (a tombstone on a compacted topic) */
  valueLength = -1;

  /** Walks `batch` (one whole batch, header checked by the caller): decompresses its records area within `maxBytes`. */
  startBatch(batch: Buffer, maxBytes: number): this {
    return this.start(recordsArea(batch, maxBytes), batch.readInt32BE(RECORD_COUNT_AT));
  }

  /** Walks `recordCount` records that must fill `area` exactly. */
  start(area: Buffer, recordCount: number): this {
    if (recordCount < 0 || recordCount > area.length / MIN_RECORD_BYTES) {
      throw new CorruptBatchError(`recordCount ${recordCount} cannot fit in ${area.length} bytes of records`);
    }
    this.area = area;
    this.cursor = new ByteCursor(area);
    this.count = recordCount;
    this.read = 0;
    return this;
  }

  /**
   * Moves to the next record checking only its length (the fields are not read and keep their values):
   * enough to check the count and the record boundaries, at a fraction of next()'s cost.
   */
  skip(): boolean {
    const cursor = this.cursor;
    if (this.read === this.count) return this.atEnd();
    const start = cursor.position;
    const length = cursor.varint('record length');
    if (length < MIN_RECORD_BYTES - 1) throw new CorruptBatchError(`record ${this.read}: length ${length}`);
    cursor.need(length, 'record');
    cursor.position += length;
    this.recordStart = start;
    this.recordEnd = cursor.position;
    this.read++;
    return true;
  }

  private atEnd(): false {
    if (this.cursor.position !== this.area.length) {
      throw new CorruptBatchError(`${this.area.length - this.cursor.position} byte(s) after the last of ${this.count} record(s) the batch claims`);
    }
    return false;
  }

  next(): boolean {
    const cursor = this.cursor;
    if (this.read === this.count) {
      if (cursor.position !== this.area.length) {
        throw new CorruptBatchError(`${this.area.length - cursor.position} byte(s) after the last of ${this.count} record(s) the batch claims`);
      }
      return false;
    }
    const start = cursor.position;
    const length = cursor.varint('record length');
    if (length < MIN_RECORD_BYTES - 1) throw new CorruptBatchError(`record ${this.read}: length ${length}`);
    cursor.need(length, 'record');
    const end = cursor.position + length;
    cursor.end = end; // nothing of the record may be read past its own length
    cursor.position += 1; // attributes (unused)
    this.timestampDelta = cursor.varlong('record timestampDelta');
    this.offsetDelta = cursor.varint('record offsetDelta');
    const keyLength = cursor.varint('record key length');
    if (keyLength < -1) throw new CorruptBatchError(`record ${this.read}: key length ${keyLength}`);
    this.keyStart = cursor.position;
    this.keyLength = keyLength;
    if (keyLength > 0) cursor.need(keyLength, 'record key');
    if (keyLength > 0) cursor.position += keyLength;
    const valueLength = cursor.varint('record value length');
    if (valueLength < -1 || valueLength > end - cursor.position) throw new CorruptBatchError(`record ${this.read}: value length ${valueLength}`);
    this.valueLength = valueLength;
    cursor.end = this.area.length;
    cursor.position = end;
    this.recordStart = start;
    this.recordEnd = end;
    this.read++;
    return true;
  }
}

/**
 * What RecordWalk.skip() checks, in one loop for the produce hot path: `count` records whose length varints
 * (at least MIN_RECORD_BYTES - 1 each) chain exactly to the end of `area`.
 */
function checkRecordLengths(area: Buffer, count: number): void {
  const end = area.length;
  let at = 0;
  for (let i = 0; i < count; i++) {
    let unsigned = 0;
    let shift = 0;
    let byte = 0x80;
    while (byte >= 0x80) {
      if (at >= end || shift > 28) throw new CorruptBatchError(`record ${i}: bad length varint`);
      byte = area[at++]!;
      unsigned |= (byte & 0x7f) << shift;
      shift += 7;
    }
    unsigned >>>= 0;
    const length = (unsigned & 1) === 0 ? unsigned / 2 : -(unsigned + 1) / 2;
    if (length < MIN_RECORD_BYTES - 1 || length > end - at) throw new CorruptBatchError(`record ${i}: length ${length} does not fit`);
    at += length;
  }
  if (at !== end) throw new CorruptBatchError(`${end - at} byte(s) after the last of ${count} record(s) the batch claims`);
}

/** Walks every record of every batch of a produce request's batches (headers and CRCs checked before). */
export interface BatchesSummary {
  records: number;
  /** every record has a non-null key (a compacted topic refuses the others) */
  allKeyed: boolean;
}

const producedWalk = new RecordWalk();

/**
 * Walks every record of the concatenated batches `batches` (headers already validated): each batch's
 * records must match its recordCount and fit `maxDecompressedBytes` once decompressed. With `readKeys`
 * each record's fields are read (summary.allKeyed is then meaningful); without, only record lengths (the
 * hot path of a topic that is not compacted: about 10 ns a record instead of 50). Throws CorruptBatchError
 * or BatchTooLargeError. Synchronous, one walk at a time: the walk object is shared.
 */
export function walkProducedBatches(batches: Buffer, maxDecompressedBytes: number, summary: BatchesSummary, readKeys = true): void {
  summary.records = 0;
  summary.allKeyed = true;
  const walk = producedWalk;
  let at = 0;
  try {
    while (at < batches.length) {
      const size = BATCH_LENGTH_OVERHEAD + batches.readInt32BE(at + BATCH_LENGTH_AT);
      walk.startBatch(batches.subarray(at, at + size), maxDecompressedBytes);
      if (readKeys) {
        while (walk.next()) if (walk.keyLength < 0) summary.allKeyed = false;
      } else {
        checkRecordLengths(walk.area, batches.readInt32BE(at + RECORD_COUNT_AT));
        walk.read = batches.readInt32BE(at + RECORD_COUNT_AT);
      }
      summary.records += walk.read;
      at += size;
    }
  } finally {
    walk.start(EMPTY, 0); // the request's bytes (or their decompressed copy) are not kept past the walk
  }
}
