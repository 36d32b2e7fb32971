import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchTooLargeError, CorruptBatchError } from './errors.js';
import { CompressionCodec, codecName, decodeBatchRecords, encodeBatch, encodeRecord } from './records.js';
import { MAX_RECORDS_PER_BATCH, RecordWalk, walkProducedBatches } from './record-walk.js';
import { BATCH_HEADER_BYTES, RECORD_COUNT_AT } from './record-batch.js';
import { compressSync as lz4CompressBlock } from 'lz4-napi';
import { compressRecords } from './compression.js';
import { GZIP_STEP_BYTES, GzipSteps, gzipStepwise } from './compression-steps.js';
import { zstdUnavailableReason } from './zstd.js';

/** zstd needs node:zlib's (Node 22.15+, 23.8+): without it, its cases are left out (the skipped test below says so) */
const ZSTD_MISSING = zstdUnavailableReason();
const withZstd = (codec: CompressionCodec): boolean => codec !== CompressionCodec.Zstd || ZSTD_MISSING === null;
const CODECS = [CompressionCodec.None, CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4, CompressionCodec.Zstd].filter(withZstd);
const LIMIT = 1024 * 1024;
const STEPPED_CODECS = [CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4, CompressionCodec.Zstd].filter(withZstd);
/** the codec of the tests that need a compressed batch: zstd, or gzip where zstd is missing */
const COMPRESSED = ZSTD_MISSING === null ? CompressionCodec.Zstd : CompressionCodec.Gzip;

if (ZSTD_MISSING !== null) test('the zstd cases of these walks', { skip: ZSTD_MISSING }, () => {});

function sampleBatch(codec: CompressionCodec) {
  return encodeBatch({
    compression: codec,
    baseTimestamp: 1000,
    records: [
      { key: Buffer.from('a'), value: Buffer.from('one'), timestampDelta: 5 },
      { key: null, value: null, timestampDelta: 7, headers: [{ key: 'h', value: Buffer.from('x') }] },
      { key: Buffer.from('ccc'), value: Buffer.alloc(300, 1), timestampDelta: 9 },
    ],
  });
}

test("a walk sees the fields decodeBatchRecords decodes, for every codec, and each record's exact bytes", () => {
  for (const codec of CODECS) {
    const batch = sampleBatch(codec);
    const decoded = decodeBatchRecords(batch);
    const walk = new RecordWalk().startBatch(batch, LIMIT);
    for (const record of decoded) {
      assert.equal(walk.next(), true);
      assert.equal(walk.offsetDelta, record.offsetDelta);
      assert.equal(walk.timestampDelta, record.timestampDelta);
      assert.equal(walk.keyLength, record.key === null ? -1 : record.key.length);
      if (record.key !== null) assert.deepEqual(walk.area.subarray(walk.keyStart, walk.keyStart + walk.keyLength), record.key);
      assert.equal(walk.valueLength, record.value === null ? -1 : record.value.length);
      assert.deepEqual(walk.area.subarray(walk.recordStart, walk.recordEnd), record.bytes);
    }
    assert.equal(walk.next(), false);
  }
});

test('a record count that differs from the records is CorruptBatchError, whether fields or only lengths are read', () => {
  const area = Buffer.concat([encodeRecord({ key: null, value: Buffer.from('v') }, 0), encodeRecord({ key: null, value: null }, 1)]);
  for (const count of [1, 3]) {
    assert.throws(() => {
      const walk = new RecordWalk().start(area, count);
      while (walk.next());
    }, CorruptBatchError);
    const batch = encodeBatch({
      records: [
        { key: null, value: Buffer.from('v') },
        { key: null, value: null },
      ],
    });
    batch.writeInt32BE(count, RECORD_COUNT_AT);
    for (const readKeys of [true, false]) {
      assert.throws(
        () => walkProducedBatches(batch, LIMIT, { records: 0, allKeyed: true }, readKeys),
        CorruptBatchError,
        `count ${count}, readKeys ${readKeys}`,
      );
    }
  }
});

test('every truncation of a records area is refused, never read past', () => {
  const batch = sampleBatch(CompressionCodec.None);
  const area = batch.subarray(BATCH_HEADER_BYTES);
  for (let cut = 0; cut < area.length; cut++) {
    assert.throws(() => {
      const walk = new RecordWalk().start(area.subarray(0, cut), 3);
      while (walk.next());
    }, CorruptBatchError);
  }
});

test('a batch claiming more records than the limits allow is BatchTooLargeError before anything is decompressed', () => {
  const batch = sampleBatch(COMPRESSED);
  const claims = Buffer.from(batch);
  claims.writeInt32BE(MAX_RECORDS_PER_BATCH + 1, RECORD_COUNT_AT);
  assert.throws(() => new RecordWalk().startBatch(claims, 1 << 30), BatchTooLargeError);
  // the records fit in 1 KiB of limit only when they are fewer than 1024 / 7
  claims.writeInt32BE(200, RECORD_COUNT_AT);
  assert.throws(() => new RecordWalk().startBatch(claims, 1024), BatchTooLargeError);
  // decompressing past the limit
  for (const codec of CODECS) {
    assert.throws(
      () => {
        const walk = new RecordWalk().startBatch(sampleBatch(codec), 100);
        while (walk.next());
      },
      BatchTooLargeError,
      codecName(codec),
    );
  }
});

test('the produced-batches walk reports whether every record has a key', () => {
  const summary = { records: 0, allKeyed: true };
  walkProducedBatches(Buffer.concat([sampleBatch(CompressionCodec.Lz4), sampleBatch(CompressionCodec.None)]), LIMIT, summary);
  assert.deepEqual(summary, { records: 6, allKeyed: false });
  walkProducedBatches(encodeBatch({ records: [{ key: Buffer.from('k'), value: null }] }), LIMIT, summary);
  assert.deepEqual(summary, { records: 1, allKeyed: true });
});

test('compressed records split across steps (inside a length, a key, a value) are walked exactly as decoded, for every codec', () => {
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const shapes = [
    // many small records: chunk boundaries fall inside their length varints and fields
    Array.from({ length: 60_000 }, (_, i) => ({ key: i % 3 === 0 ? null : Buffer.from(`k${i}`), value: Buffer.alloc(random(20), i), timestampDelta: i })),
    // records larger than a chunk, of varied sizes
    Array.from({ length: 12 }, (_, i) => ({
      key: Buffer.alloc(random(300_000), 1),
      value: i % 4 === 0 ? null : Buffer.alloc(random(400_000), 2),
      timestampDelta: i * 3,
    })),
  ];
  for (const [records, codec] of shapes.flatMap((shape) => STEPPED_CODECS.map((codec) => [shape, codec] as const))) {
    const batch = encodeBatch({ compression: codec, records });
    const decoded = decodeBatchRecords(batch, { maxDecompressedBytes: 64 << 20 });
    const walk = new RecordWalk().startBatch(batch, 64 << 20);
    assert.equal(walk.whole, false, `${codecName(codec)}: read a step at a time`);
    for (const record of decoded) {
      assert.equal(walk.next(), true);
      assert.equal(walk.timestampDelta, record.timestampDelta);
      assert.equal(walk.keyLength, record.key === null ? -1 : record.key.length);
      if (record.key !== null) assert.ok(walk.area.subarray(walk.keyStart, walk.keyStart + walk.keyLength).equals(record.key));
      assert.equal(walk.valueLength, record.value === null ? -1 : record.value.length);
      assert.ok(walk.area.subarray(walk.recordStart, walk.recordEnd).equals(record.bytes));
    }
    assert.equal(walk.next(), false);
    // and the lengths-only walk agrees on the count
    const summary = { records: 0, allKeyed: true };
    walkProducedBatches(batch, 64 << 20, summary, false);
    assert.equal(summary.records, records.length);
  }
});

/** A batch of `count` seven-byte records compressed with `codec` (a bomb: a small body, a large area). */
function sevenByteRecords(codec: CompressionCodec, count: number): Buffer {
  const record = encodeRecord({ key: null, value: null }, 0); // length 6, then 6 bytes: the smallest record
  const area = Buffer.allocUnsafe(count * record.length);
  for (let at = 0; at < area.length; at += record.length) record.copy(area, at);
  const header = encodeBatch({ records: [{ key: null, value: null }] }).subarray(0, BATCH_HEADER_BYTES);
  const batch = Buffer.concat([header, compressRecords(codec, area)]);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt16BE(codec, 21);
  batch.writeInt32BE(count, RECORD_COUNT_AT);
  return batch;
}

test('a walk over any codec holds one step of decompressed records, never the whole area', () => {
  for (const codec of STEPPED_CODECS) {
    const batch = sevenByteRecords(codec, 1_000_000); // 7 MB of records
    const walk = new RecordWalk().startBatch(batch, 64 << 20);
    assert.equal(walk.whole, false, codecName(codec));
    let largest = 0;
    while (walk.skip()) largest = Math.max(largest, walk.area.length);
    assert.equal(walk.read, 1_000_000);
    // a step is 128 KiB (zstd, gzip), one 32 KiB xerial block (snappy) or one block of the lz4 frame (4 MiB,
    // the largest the format allows, in the frames lz4-napi writes; 64 KiB in Kafka's), plus a carried record
    const step = codec === CompressionCodec.Lz4 ? 4 << 20 : 128 * 1024;
    assert.ok(largest <= step + 16, `${codecName(codec)}: largest area held ${largest} bytes`);
    walk.end();
  }
});

test('an lz4 frame of linked blocks (each may copy from the block before) is walked as decoded', () => {
  const records = Array.from({ length: 20_000 }, (_, i) => ({ key: Buffer.from(`key-${i % 500}`), value: Buffer.from(`value ${i % 700} `.repeat(3)) }));
  const area = Buffer.concat(records.map((record, i) => encodeRecord(record, i)));
  // a frame written by hand: FLG 0x40 (version 01, blocks linked, no checksums), BD 0x40 (64 KiB blocks)
  const parts: Buffer[] = [Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x40, 0x40, 0x00])];
  const blockBytes = 64 * 1024;
  for (let at = 0; at < area.length; at += blockBytes) {
    const input = area.subarray(at, Math.min(area.length, at + blockBytes));
    const dictionary = area.subarray(Math.max(0, at - blockBytes), at);
    const block = (at === 0 ? lz4CompressBlock(input) : lz4CompressBlock(input, dictionary)).subarray(4); // (size prefix dropped)
    const size = Buffer.alloc(4);
    size.writeUInt32LE(block.length, 0);
    parts.push(size, block);
  }
  parts.push(Buffer.alloc(4)); // end mark
  const plain = encodeBatch({ records });
  const frame = Buffer.concat(parts);
  const batch = Buffer.concat([plain.subarray(0, BATCH_HEADER_BYTES), frame]);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt16BE(CompressionCodec.Lz4, 21);
  const walk = new RecordWalk().startBatch(batch, 64 << 20);
  assert.equal(walk.whole, false);
  for (let i = 0; i < records.length; i++) {
    assert.equal(walk.next(), true);
    assert.ok(walk.area.subarray(walk.keyStart, walk.keyStart + walk.keyLength).equals(records[i]!.key), `record ${i}`);
  }
  assert.equal(walk.next(), false);
});

test('malformed gzip, snappy and lz4 records are CorruptBatchError on the stepwise walk, and the next walk is sound', () => {
  for (const codec of [CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4]) {
    const batch = sevenByteRecords(codec, 200_000);
    for (const cut of [BATCH_HEADER_BYTES + 20, Math.floor(batch.length / 2), batch.length - 3]) {
      const truncated = Buffer.from(batch.subarray(0, cut));
      truncated.writeInt32BE(truncated.length - 12, 8);
      assert.throws(
        () => {
          const walk = new RecordWalk().startBatch(truncated, 64 << 20);
          while (walk.skip());
        },
        CorruptBatchError,
        `${codecName(codec)} cut at ${cut}`,
      );
    }
    const summary = { records: 0, allKeyed: true };
    walkProducedBatches(batch, 64 << 20, summary, false);
    assert.equal(summary.records, 200_000, codecName(codec));
  }
});

test("gzip records decompress stepwise through zlib's engine on this Node, and as one whole step without it", () => {
  assert.equal(gzipStepwise(), true, 'the probe found the zlib internals behaving');
  const area = Buffer.alloc(5 * GZIP_STEP_BYTES + 77);
  for (let i = 0; i < area.length; i++) area[i] = (i * 13) & 0xff;
  const body = compressRecords(CompressionCodec.Gzip, area);
  for (const stepwise of [true, false]) {
    const steps = new GzipSteps(stepwise).start(body, area.length);
    const parts: Buffer[] = [];
    for (let step = steps.next(); step !== null; step = steps.next()) parts.push(Buffer.from(step));
    assert.equal(parts.length, stepwise ? 6 : 1);
    assert.ok(Buffer.concat(parts).equals(area));
    assert.throws(() => {
      const limited = new GzipSteps(stepwise).start(body, area.length - 1);
      while (limited.next() !== null);
    }, BatchTooLargeError);
  }
});
