import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchTooLargeError, CorruptBatchError } from './errors.js';
import { CompressionCodec, codecName, decodeBatchRecords, encodeBatch, encodeRecord } from './records.js';
import { MAX_RECORDS_PER_BATCH, RecordWalk, walkProducedBatches } from './record-walk.js';
import { BATCH_HEADER_BYTES, RECORD_COUNT_AT } from './record-batch.js';

const CODECS = [CompressionCodec.None, CompressionCodec.Gzip, CompressionCodec.Snappy, CompressionCodec.Lz4, CompressionCodec.Zstd];
const LIMIT = 1024 * 1024;

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

test('a walk sees the fields decodeBatchRecords decodes, for every codec, and each record\'s exact bytes', () => {
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
    const batch = encodeBatch({ records: [{ key: null, value: Buffer.from('v') }, { key: null, value: null }] });
    batch.writeInt32BE(count, RECORD_COUNT_AT);
    for (const readKeys of [true, false]) {
      assert.throws(() => walkProducedBatches(batch, LIMIT, { records: 0, allKeyed: true }, readKeys), CorruptBatchError, `count ${count}, readKeys ${readKeys}`);
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
  const batch = sampleBatch(CompressionCodec.Zstd);
  const claims = Buffer.from(batch);
  claims.writeInt32BE(MAX_RECORDS_PER_BATCH + 1, RECORD_COUNT_AT);
  assert.throws(() => new RecordWalk().startBatch(claims, 1 << 30), BatchTooLargeError);
  // the records fit in 1 KiB of limit only when they are fewer than 1024 / 7
  claims.writeInt32BE(200, RECORD_COUNT_AT);
  assert.throws(() => new RecordWalk().startBatch(claims, 1024), BatchTooLargeError);
  // decompressing past the limit
  for (const codec of CODECS) {
    assert.throws(() => {
      const walk = new RecordWalk().startBatch(sampleBatch(codec), 100);
      while (walk.next());
    }, BatchTooLargeError, codecName(codec));
  }
});

test('the produced-batches walk reports whether every record has a key', () => {
  const summary = { records: 0, allKeyed: true };
  walkProducedBatches(Buffer.concat([sampleBatch(CompressionCodec.Lz4), sampleBatch(CompressionCodec.None)]), LIMIT, summary);
  assert.deepEqual(summary, { records: 6, allKeyed: false });
  walkProducedBatches(encodeBatch({ records: [{ key: Buffer.from('k'), value: null }] }), LIMIT, summary);
  assert.deepEqual(summary, { records: 1, allKeyed: true });
});

test('zstd records split across 128 KiB chunks (inside a length, a key, a value) are walked exactly as decoded', () => {
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const shapes = [
    // many small records: chunk boundaries fall inside their length varints and fields
    Array.from({ length: 60_000 }, (_, i) => ({ key: i % 3 === 0 ? null : Buffer.from(`k${i}`), value: Buffer.alloc(random(20), i), timestampDelta: i })),
    // records larger than a chunk, of varied sizes
    Array.from({ length: 12 }, (_, i) => ({ key: Buffer.alloc(random(300_000), 1), value: i % 4 === 0 ? null : Buffer.alloc(random(400_000), 2), timestampDelta: i * 3 })),
  ];
  for (const records of shapes) {
    const batch = encodeBatch({ compression: CompressionCodec.Zstd, records });
    const decoded = decodeBatchRecords(batch, { maxDecompressedBytes: 64 << 20 });
    const walk = new RecordWalk().startBatch(batch, 64 << 20);
    assert.equal(walk.whole, false, 'read a chunk at a time');
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
