/**
 * Walking the records of one magic-2 batch without a JavaScript object per record, whatever the batch
 * claims. Layout of the records area: records.ts.
 *
 * A batch's header claims a record count and its compressed body may expand a thousandfold: a 22 KB zstd
 * body holding 38,000,000 seven-byte records decodes to 256 MiB, and one object per record made the heap
 * 4.8 GB. Here:
 *   - a header claiming more than MAX_RECORDS_PER_BATCH records, or more than fit in `maxDecompressedBytes`,
 *     is refused before anything is decompressed (BatchTooLargeError);
 *   - compressed records are decompressed a step at a time as the walk reads them: zstd and gzip 128 KiB
 *     of output per step, snappy one xerial block, lz4 one frame block (zstd.ts, compression-steps.ts),
 *     so a walk holds one step and one record. Output stops at `maxDecompressedBytes` (BatchTooLargeError).
 *     A batch whose records fit one step is walked as a whole area (the produce path's fast length check);
 *   - a RecordWalk reads the records one at a time into its own fields (offsets, lengths, positions), so
 *     walking costs nothing per record;
 *   - the count must match: the area must end exactly after the header's recordCount records, each exactly
 *     as long as its length says (as Kafka's DefaultRecord and LogValidator check), else CorruptBatchError.
 *
 * Produce validation (every batch, before it is appended), ListOffsets by timestamp and compaction walk
 * records this way.
 */
import { BatchTooLargeError, CorruptBatchError } from './errors.js';
import { decompressRecords, CompressionCodec, COMPRESSION_CODEC_MASK } from './compression.js';
import { ZstdSteps } from './zstd.js';
import { GzipSteps, Lz4Steps, SnappySteps, type DecompressionSteps } from './compression-steps.js';
import { ATTRIBUTES_AT, BATCH_HEADER_BYTES, BATCH_LENGTH_AT, BATCH_LENGTH_OVERHEAD, RECORD_COUNT_AT } from './record-batch.js';

/**
 * Default bound on the uncompressed records area of one batch, 64 MiB: 64 times Kafka's default
 * max.message.bytes (1 MB, which bounds the compressed batch), so a well-compressed batch of text still
 * fits, while what a bomb can make the broker decompress and walk per batch stays bounded.
 */
export const DEFAULT_MAX_DECOMPRESSED_BATCH_BYTES = 64 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
/** A carry buffer up to this size is kept between walks (larger ones, for one large record, are dropped). */
const CARRY_KEPT_BYTES = 256 * 1024;
/**
 * Most records one batch may claim, 1,000,000: a hundred times librdkafka's default batch.num.messages
 * (10,000); Java producers' 16 KiB batches hold far fewer. It bounds the work of walking one batch (about
 * 50 ms for a million records on the test machine) whatever its records decompress to.
 */
export const MAX_RECORDS_PER_BATCH = 1_000_000;
/** Smallest encoded record: length, attributes, timestampDelta, offsetDelta, keyLength, valueLength, header count, 1 byte each. */
const MIN_RECORD_BYTES = 7;

/** The header's record count, refused (before anything is decompressed) past the limits. */
function claimedRecords(batch: Buffer, maxBytes: number): number {
  const recordCount = batch.readInt32BE(RECORD_COUNT_AT);
  if (recordCount > MAX_RECORDS_PER_BATCH) throw new BatchTooLargeError(`batch claims ${recordCount} records, limit ${MAX_RECORDS_PER_BATCH}`);
  if (recordCount > maxBytes / MIN_RECORD_BYTES) {
    throw new BatchTooLargeError(`batch claims ${recordCount} records: at least ${recordCount * MIN_RECORD_BYTES} bytes, limit ${maxBytes}`);
  }
  return recordCount;
}

/** The records area of `batch` (one whole batch), decompressed, at most `maxBytes`; throws for a malformed or oversized one. */
export function recordsArea(batch: Buffer, maxBytes: number): Buffer {
  const codec = batch.readInt16BE(ATTRIBUTES_AT) & COMPRESSION_CODEC_MASK;
  const body = batch.subarray(BATCH_HEADER_BYTES);
  claimedRecords(batch, maxBytes);
  if (codec === CompressionCodec.None) {
    if (body.length > maxBytes) throw new BatchTooLargeError(`records of ${body.length} bytes, limit ${maxBytes}`);
    return body;
  }
  return decompressRecords(codec, body, maxBytes);
}

/** Largest zigzag value a number holds exactly (varlongs past it are corrupt: 140,000 years of ms). */
const MAX_SAFE_ZIGZAG = Number.MAX_SAFE_INTEGER;
/** Longest varint (int32) and varlong (int64), bytes. */
const MAX_VARINT_BYTES = 5;
const MAX_VARLONG_BYTES = 10;
/** The stepwise readers every walk shares (walks are synchronous and never interleave). */
const ZSTD_STEPS = new ZstdSteps();
const GZIP_STEPS = new GzipSteps();
const SNAPPY_STEPS = new SnappySteps();
const LZ4_STEPS = new Lz4Steps();

/** The stepwise reader of `codec`'s records area `body`, started; null for no compression or an unknown codec. */
function stepsFor(codec: number, body: Buffer, maxBytes: number): DecompressionSteps | null {
  switch (codec) {
    case CompressionCodec.Zstd:
      return ZSTD_STEPS.start(body, maxBytes);
    case CompressionCodec.Gzip:
      return GZIP_STEPS.start(body, maxBytes);
    case CompressionCodec.Snappy:
      return SNAPPY_STEPS.start(body, maxBytes);
    case CompressionCodec.Lz4:
      return LZ4_STEPS.start(body, maxBytes);
    default:
      return null;
  }
}

/**
 * One pass over the records of one batch. next() moves to the next record and sets the fields below
 * (positions are inside `area`, valid until the next call); it returns false after the last one, having
 * checked that the records end there. Reuse one walk for many batches.
 *
 * A compressed batch is read a step of output at a time (a chunk of at most 128 KiB for zstd and gzip, a
 * block for snappy and lz4): `area` is then the current step, or a carry buffer joining the end of one
 * step with the next when a record spans them (it grows to the largest record), so the walk holds about
 * one step and one record, not the whole area. A batch whose whole area is its first step is walked as a
 * whole area (`whole`), all within the same limit (startBatch's `maxBytes`).
 */
export class RecordWalk {
  /** the bytes the current record's positions refer to */
  area: Buffer = EMPTY;
  /** next unread byte of `area` */
  private position = 0;
  /** the rest of the records area still to come (null: `area` holds all of it) */
  private chunks: DecompressionSteps | null = null;
  /** joins a record split across two chunks */
  private carry: Buffer = EMPTY;
  /** read position and end while one record's fields are parsed */
  private at = 0;
  private limit = 0;
  private count = 0;
  /** records read so far; the current record's index is read - 1 */
  read = 0;
  /** the whole current record, its length varint included: [recordStart, recordEnd) of `area` */
  recordStart = 0;
  recordEnd = 0;
  timestampDelta = 0;
  offsetDelta = 0;
  /** key bytes at [keyStart, keyStart + keyLength) of `area`; keyLength -1: a null key */
  keyStart = 0;
  keyLength = -1;
  /** -1: a null value (a tombstone on a compacted topic) */
  valueLength = -1;

  /**
   * Walks `batch` (one whole batch, header checked by the caller), its records decompressed within
   * `maxBytes`. `whole`: decompress the whole area first (for callers that keep positions across records).
   */
  startBatch(batch: Buffer, maxBytes: number, whole = false): this {
    const codec = batch.readInt16BE(ATTRIBUTES_AT) & COMPRESSION_CODEC_MASK;
    if (codec === CompressionCodec.None || whole) return this.start(recordsArea(batch, maxBytes), batch.readInt32BE(RECORD_COUNT_AT));
    const recordCount = claimedRecords(batch, maxBytes);
    const steps = stepsFor(codec, batch.subarray(BATCH_HEADER_BYTES), maxBytes);
    if (steps === null) return this.start(recordsArea(batch, maxBytes), recordCount); // (throws: unknown codec)
    const first = steps.next() ?? EMPTY;
    // records that fit one step are a whole area (a view of the step, read before the reader is used again)
    if (steps.finished) return this.start(first, recordCount);
    this.reset(first, recordCount);
    this.chunks = steps;
    return this;
  }

  /** Walks `recordCount` records that must fill `area` exactly. */
  start(area: Buffer, recordCount: number): this {
    if (recordCount < 0 || recordCount > area.length / MIN_RECORD_BYTES) {
      throw new CorruptBatchError(`recordCount ${recordCount} cannot fit in ${area.length} bytes of records`);
    }
    this.reset(area, recordCount);
    return this;
  }

  /** Lets go of the last batch's bytes (its area, a chunk, and a carry larger than one chunk). */
  end(): void {
    this.reset(EMPTY, 0);
    if (this.carry.length > CARRY_KEPT_BYTES) this.carry = EMPTY;
  }

  /** Whether the whole records area is in `area` (not read a chunk at a time). */
  get whole(): boolean {
    return this.chunks === null;
  }

  private reset(area: Buffer, recordCount: number): void {
    this.area = area;
    this.position = 0;
    this.chunks = null;
    this.count = recordCount;
    this.read = 0;
  }

  /** At least `needed` unread bytes in `area`, pulling chunks as needed; false when the records end first. */
  private fill(needed: number): boolean {
    while (this.area.length - this.position < needed) {
      const chunks = this.chunks;
      if (chunks === null) return false;
      const rest = this.area.length - this.position;
      // the unread rest moves to the start of the carry before the next chunk overwrites the chunk buffer
      if (rest > 0 && this.area.buffer !== this.carry.buffer) {
        if (this.carry.length < rest) this.carry = Buffer.allocUnsafe(Math.max(rest, CARRY_KEPT_BYTES));
        this.area.copy(this.carry, 0, this.position, this.area.length);
      } else if (rest > 0) {
        this.carry.copy(
          this.carry,
          0,
          this.area.byteOffset - this.carry.byteOffset + this.position,
          this.area.byteOffset - this.carry.byteOffset + this.area.length,
        );
      }
      const chunk = chunks.next();
      if (chunk === null) {
        this.chunks = null;
        this.area = rest > 0 ? this.carry.subarray(0, rest) : EMPTY;
        this.position = 0;
        return this.area.length >= needed;
      }
      if (rest === 0) {
        this.area = chunk;
      } else {
        if (this.carry.length < rest + chunk.length) {
          const larger = Buffer.allocUnsafe(Math.max(rest + chunk.length, 2 * this.carry.length));
          this.carry.copy(larger, 0, 0, rest);
          this.carry = larger;
        }
        chunk.copy(this.carry, rest);
        this.area = this.carry.subarray(0, rest + chunk.length);
      }
      this.position = 0;
    }
    return true;
  }

  private varint(what: string): number {
    const area = this.area;
    let unsigned = 0;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.at >= this.limit) throw new CorruptBatchError(`record ${this.read}: ${what} runs past the record`);
      const byte = area[this.at++]!;
      if (i === MAX_VARINT_BYTES - 1) {
        if (byte > 0x0f) throw new CorruptBatchError(`record ${this.read}: ${what} longer than 32 bits`);
        unsigned += byte * 0x10000000;
        break;
      }
      unsigned |= (byte & 0x7f) << (7 * i);
      if (byte < 0x80) {
        unsigned >>>= 0;
        break;
      }
    }
    return unsigned % 2 === 0 ? unsigned / 2 : -(unsigned + 1) / 2;
  }

  private varlong(what: string): number {
    const area = this.area;
    let unsigned = 0;
    let weight = 1;
    for (let i = 0; i < MAX_VARLONG_BYTES; i++) {
      if (this.at >= this.limit) throw new CorruptBatchError(`record ${this.read}: ${what} runs past the record`);
      const byte = area[this.at++]!;
      unsigned += (byte & 0x7f) * weight;
      if (unsigned > MAX_SAFE_ZIGZAG) throw new CorruptBatchError(`record ${this.read}: ${what} outside the safe integer range`);
      if (byte < 0x80) return unsigned % 2 === 0 ? unsigned / 2 : -(unsigned + 1) / 2;
      weight *= 128;
    }
    throw new CorruptBatchError(`record ${this.read}: ${what} longer than ${MAX_VARLONG_BYTES} bytes`);
  }

  /** Reads the next record's length and makes the whole record available: its [start, end) in `area`. */
  private nextRecord(): boolean {
    if (this.read === this.count) {
      if (this.fill(1)) throw new CorruptBatchError(`byte(s) after the last of the ${this.count} record(s) the batch claims`);
      return false;
    }
    this.fill(MAX_VARINT_BYTES);
    this.at = this.position;
    this.limit = this.area.length;
    const length = this.varint('length');
    if (length < MIN_RECORD_BYTES - 1) throw new CorruptBatchError(`record ${this.read}: length ${length}`);
    const prefix = this.at - this.position;
    if (!this.fill(prefix + length)) throw new CorruptBatchError(`record ${this.read} of ${length} bytes runs past the records`);
    this.recordStart = this.position;
    this.recordEnd = this.position + prefix + length;
    this.at = this.position + prefix;
    this.limit = this.recordEnd;
    this.position = this.recordEnd;
    this.read++;
    return true;
  }

  /**
   * Moves to the next record checking only its length (the fields are not read and keep their values):
   * enough to check the count and the record boundaries, at a fraction of next()'s cost.
   */
  skip(): boolean {
    return this.nextRecord();
  }

  next(): boolean {
    if (!this.nextRecord()) return false;
    this.at += 1; // attributes (unused)
    this.timestampDelta = this.varlong('timestampDelta');
    this.offsetDelta = this.varint('offsetDelta');
    const keyLength = this.varint('key length');
    if (keyLength < -1 || keyLength > this.limit - this.at) throw new CorruptBatchError(`record ${this.read - 1}: key length ${keyLength}`);
    this.keyStart = this.at;
    this.keyLength = keyLength;
    if (keyLength > 0) this.at += keyLength;
    const valueLength = this.varint('value length');
    if (valueLength < -1 || valueLength > this.limit - this.at) throw new CorruptBatchError(`record ${this.read - 1}: value length ${valueLength}`);
    this.valueLength = valueLength;
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
      } else if (walk.whole) {
        checkRecordLengths(walk.area, batches.readInt32BE(at + RECORD_COUNT_AT));
        walk.read = batches.readInt32BE(at + RECORD_COUNT_AT);
      } else {
        while (walk.skip());
      }
      summary.records += walk.read;
      at += size;
    }
  } finally {
    walk.end(); // the request's bytes (or their decompressed copy) are not kept past the walk
  }
}
