import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { crc32c } from '@node-rs/crc32';
import { CorruptBatchError } from './errors.js';
import { compressRecords, decompressRecords } from './compression.js';
import {
  CompressionCodec,
  batchKeysAllPresent,
  buildBatch,
  decodeBatchRecords,
  decodeRecordsArea,
  encodeBatch,
  encodeRecord,
  readBatchHeader,
  type DecodedRecord,
  type RecordInput,
} from './records.js';
import { zstdUnavailableReason } from './zstd.js';
import { ByteCursor, varintSize, varlongSize, writeVarint, writeVarlong } from './varint.js';
import { seededRandom as random } from '../../util/seeded-random.js';

const require = createRequire(import.meta.url);

/** zstd needs node:zlib's (Node 22.15+, 23.8+): without it, its cases are skipped or left out (saying so) */
const ZSTD_MISSING = zstdUnavailableReason();
const ALL_CODECS: ReadonlyArray<[string, CompressionCodec]> = [
  ['none', CompressionCodec.None],
  ['gzip', CompressionCodec.Gzip],
  ['snappy', CompressionCodec.Snappy],
  ['lz4', CompressionCodec.Lz4],
  ['zstd', CompressionCodec.Zstd],
];
/** the codecs this Node has */
const CODECS = ALL_CODECS.filter(([, codec]) => codec !== CompressionCodec.Zstd || ZSTD_MISSING === null);

if (ZSTD_MISSING !== null) test('the zstd cases of the codec loops below', { skip: ZSTD_MISSING }, () => {});

/** Records exercising every field: null and empty keys/values, headers, negative and large deltas, a big value. */
function sampleRecords(bigValueBytes = 200 * 1024): RecordInput[] {
  const big = Buffer.alloc(bigValueBytes);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 9)) & 0xff;
  return [
    { key: Buffer.from('user-1'), value: Buffer.from('{"name":"Ada"}'), headers: [{ key: 'trace', value: Buffer.from('abc') }] },
    { key: null, value: Buffer.from('no key'), timestampDelta: -3 },
    {
      key: Buffer.alloc(0),
      value: null,
      timestampDelta: 2 ** 40,
      headers: [
        { key: 'ünïcødé', value: null },
        { key: '', value: Buffer.alloc(0) },
      ],
    },
    { key: Buffer.from('user-1'), value: big, offsetDelta: 5, timestampDelta: 1 },
  ];
}

function assertSameRecords(decoded: DecodedRecord[], expected: RecordInput[]): void {
  assert.equal(decoded.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const got = decoded[i]!;
    const want = expected[i]!;
    assert.equal(got.offsetDelta, want.offsetDelta ?? i, `record ${i} offsetDelta`);
    assert.equal(got.timestampDelta, want.timestampDelta ?? 0, `record ${i} timestampDelta`);
    assert.deepEqual(got.key, want.key, `record ${i} key`);
    assert.deepEqual(got.value, want.value, `record ${i} value`);
    assert.deepEqual(got.headers, want.headers ?? [], `record ${i} headers`);
    assert.deepEqual(got.bytes, encodeRecord(want, i), `record ${i} bytes`);
  }
}

test('varints and varlongs round-trip at their boundaries; overlong, oversized or truncated ones are corrupt', () => {
  const ints = [0, 1, -1, 63, -64, 64, -65, 300, 8191, -8192, 2 ** 20, 2 ** 31 - 1, -(2 ** 31)];
  for (const value of ints) {
    const bytes = Buffer.alloc(varintSize(value));
    assert.equal(writeVarint(bytes, 0, value), bytes.length);
    const cursor = new ByteCursor(bytes);
    assert.equal(cursor.varint('v'), value);
    assert.equal(cursor.remaining, 0);
  }
  const three00 = Buffer.alloc(2);
  writeVarint(three00, 0, 300);
  assert.deepEqual(three00, Buffer.from([0xd8, 0x04]), 'zigzag 600 as base-128: d8 04');
  const longs = [0, -1, 2 ** 31, -(2 ** 35), 1_700_000_000_000, 2 ** 52 - 1, -(2 ** 52)];
  assert.throws(() => varlongSize(2 ** 52), RangeError);
  for (const value of longs) {
    const bytes = Buffer.alloc(varlongSize(value));
    writeVarlong(bytes, 0, value);
    assert.equal(new ByteCursor(bytes).varlong('v'), value);
  }
  const corrupt = (bytes: number[], read: (cursor: ByteCursor) => number): void =>
    assert.throws(() => read(new ByteCursor(Buffer.from(bytes))), CorruptBatchError, `bytes ${bytes.join(',')}`);
  corrupt([0x80], (c) => c.varint('v')); // truncated
  corrupt([0xff, 0xff, 0xff, 0xff, 0x1f], (c) => c.varint('v')); // more than 32 bits
  corrupt([0x80, 0x80, 0x80, 0x80, 0x80, 0x01], (c) => c.varint('v')); // 6 bytes
  corrupt(new Array<number>(10).fill(0xff).concat([0x01]), (c) => c.varlong('v')); // 11 bytes
  corrupt([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10], (c) => c.varlong('v')); // zigzag 2^53
  corrupt([], (c) => c.int8('v'));
  assert.throws(() => new ByteCursor(Buffer.alloc(3)).slice(4, 'v'), CorruptBatchError);
});

for (const [name, codec] of ALL_CODECS) {
  const skip = codec === CompressionCodec.Zstd && ZSTD_MISSING !== null ? ZSTD_MISSING : false;
  test(`a ${name} batch round-trips through encodeBatch and decodeBatchRecords with every header field`, { skip }, () => {
    const records = sampleRecords();
    const batch = encodeBatch({
      compression: codec,
      baseOffset: 1234n,
      partitionLeaderEpoch: 9,
      attributes: 0x10, // transactional
      baseTimestamp: 1_700_000_000_000,
      producerId: 77n,
      producerEpoch: 3,
      baseSequence: 40,
      records,
    });
    const header = readBatchHeader(batch);
    assert.equal(header.compression, codec);
    assert.equal(header.attributes, 0x10 | codec);
    assert.equal(header.baseOffset, 1234n);
    assert.equal(header.partitionLeaderEpoch, 9);
    assert.equal(header.lastOffsetDelta, 5, 'the largest offsetDelta');
    assert.equal(header.recordCount, 4);
    assert.equal(header.maxTimestamp, 1_700_000_000_000 + 2 ** 40, 'baseTimestamp + the largest timestampDelta');
    assert.deepEqual([header.producerId, header.producerEpoch, header.baseSequence], [77n, 3, 40]);
    assertSameRecords(decodeBatchRecords(batch), records);
    if (codec !== CompressionCodec.None) assert.ok(batch.length < 100 * 1024, `${name} compressed ${batch.length} bytes`);
  });
}

test('a batch encoded by kafkajs (none, gzip) decodes to its records, and kafkajs decodes ours; uncompressed bytes are identical', async () => {
  const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (spec: object) => Promise<{ buffer: Buffer }> };
  const KafkaRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (spec: object) => unknown;
  const decodeKafkajsBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (decoder: unknown) => Promise<{
    records: Array<{ key: Buffer | null; value: Buffer | null; offset: string; timestamp: string; headers: Record<string, Buffer> }>;
  }>;
  const KafkaDecoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;
  const records: RecordInput[] = [
    { key: Buffer.from('a'), value: Buffer.from('first'), headers: [{ key: 'h1', value: Buffer.from('v1') }] },
    { key: null, value: Buffer.from('x'.repeat(5000)), offsetDelta: 1, timestampDelta: 15 },
    { key: Buffer.from('c'), value: null, offsetDelta: 2, timestampDelta: 30 },
  ];
  for (const [name, codec] of [
    ['none', 0],
    ['gzip', 1],
  ] as const) {
    const theirs = await RecordBatch({
      compression: codec,
      firstTimestamp: 1_600_000_000_000,
      maxTimestamp: 1_600_000_000_030,
      lastOffsetDelta: 2,
      records: records.map((r, i) =>
        KafkaRecord({
          offsetDelta: i,
          timestampDelta: r.timestampDelta ?? 0,
          key: r.key,
          value: r.value,
          headers: Object.fromEntries((r.headers ?? []).map((h) => [h.key, h.value])),
        }),
      ),
    });
    assertSameRecords(decodeBatchRecords(theirs.buffer), records);
    const ours = encodeBatch({
      compression: codec,
      partitionLeaderEpoch: 0,
      producerEpoch: 0,
      baseSequence: 0,
      baseTimestamp: 1_600_000_000_000,
      records,
    });
    if (codec === 0) assert.deepEqual(ours, theirs.buffer, 'byte-identical to kafkajs');
    const decoded = await decodeKafkajsBatch(new KafkaDecoder(ours));
    assert.deepEqual(
      decoded.records.map((r) => [r.offset, r.timestamp, r.key, r.value, r.headers]),
      records.map((r, i) => [
        String(i),
        String(1_600_000_000_000 + (r.timestampDelta ?? 0)),
        r.key,
        r.value,
        Object.fromEntries((r.headers ?? []).map((h) => [h.key, h.value])),
      ]),
      `kafkajs decodes our ${name} batch`,
    );
  }
});

test('snappy is xerial-framed (magic, version 1, 32 KiB blocks); raw snappy without the framing also decodes', () => {
  const data = Buffer.alloc(70 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i % 251) ^ (i >> 12);
  const framed = compressRecords(CompressionCodec.Snappy, data);
  assert.deepEqual(framed.subarray(0, 8), Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]));
  assert.equal(framed.readInt32BE(8), 1, 'version');
  assert.equal(framed.readInt32BE(12), 1, 'compatible version');
  const blockInputs: number[] = [];
  for (let at = 16; at < framed.length;) {
    const length = framed.readInt32BE(at);
    const block = framed.subarray(at + 4, at + 4 + length);
    blockInputs.push(decompressRecords(CompressionCodec.Snappy, block).length);
    at += 4 + length;
  }
  assert.deepEqual(blockInputs, [32 * 1024, 32 * 1024, 6 * 1024]);
  assert.deepEqual(decompressRecords(CompressionCodec.Snappy, framed), data);
  // a raw snappy buffer written by hand from the format description: length 9, literal "abc", copy 6 bytes at distance 3
  assert.equal(decompressRecords(CompressionCodec.Snappy, Buffer.from([0x09, 0x08, 0x61, 0x62, 0x63, 0x09, 0x03])).toString(), 'abcabcabc');
  // and a hand-built xerial stream of two such blocks
  const handFramed = Buffer.concat([
    Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]),
    Buffer.from([0, 0, 0, 7, 0x09, 0x08, 0x61, 0x62, 0x63, 0x09, 0x03]),
    Buffer.from([0, 0, 0, 9, 0x07, 0x18]), // length 7, one literal of 7 bytes
    Buffer.from('hello!!'),
  ]);
  assert.equal(decompressRecords(CompressionCodec.Snappy, handFramed).toString(), 'abcabcabchello!!');
});

function toolAvailable(tool: string): boolean {
  return spawnSync(tool, ['--version'], { encoding: 'utf8' }).status === 0;
}

function runTool(tool: string, args: string[], input: Buffer): Buffer {
  const result = spawnSync(tool, args, { input, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, `${tool} ${args.join(' ')}: ${String(result.stderr)}`);
  return result.stdout;
}

test('lz4 frames from the lz4 command-line tool decode (content size, block and content checksums), and it decodes ours', (t) => {
  if (!toolAvailable('lz4')) return t.skip('no lz4 command');
  const data = Buffer.concat(sampleRecords(300 * 1024).map((r, i) => encodeRecord(r, i)));
  for (const args of [['-c'], ['-c', '--content-size', '-BX', '-B4'], ['-c', '--no-frame-crc', '-B7'], ['-c', '-BD', '-B5']]) {
    assert.deepEqual(decompressRecords(CompressionCodec.Lz4, runTool('lz4', args, data)), data, `lz4 ${args.join(' ')}`);
  }
  assert.deepEqual(runTool('lz4', ['-d', '-c'], compressRecords(CompressionCodec.Lz4, data)), data);
});

test('zstd frames from the zstd command-line tool decode (with and without content size), and it decodes ours', { skip: ZSTD_MISSING ?? false }, (t) => {
  if (!toolAvailable('zstd')) return t.skip('no zstd command');
  const data = Buffer.concat(sampleRecords(600 * 1024).map((r, i) => encodeRecord(r, i)));
  for (const args of [
    ['-c', '-q'],
    ['-c', '-q', '--no-content-size', '-19'],
    ['-c', '-q', '--no-check'],
  ]) {
    assert.deepEqual(decompressRecords(CompressionCodec.Zstd, runTool('zstd', args, data)), data, `zstd ${args.join(' ')}`);
  }
  const twoFrames = Buffer.concat([runTool('zstd', ['-c', '-q'], data.subarray(0, 1000)), runTool('zstd', ['-c', '-q'], data.subarray(1000))]);
  assert.deepEqual(decompressRecords(CompressionCodec.Zstd, twoFrames), data, 'concatenated frames');
  assert.deepEqual(runTool('zstd', ['-d', '-c', '-q'], compressRecords(CompressionCodec.Zstd, data)), data);
});

test('kafkajs with codec plugins built on these codecs reads our snappy, lz4 and zstd batches and writes ones we read', async () => {
  const kafkajs = require('kafkajs') as { CompressionCodecs: Record<number, () => object> };
  const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (spec: object) => Promise<{ buffer: Buffer }> };
  const KafkaRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (spec: object) => unknown;
  const decodeKafkajsBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (decoder: unknown) => Promise<{ records: Array<{ value: Buffer }> }>;
  const KafkaDecoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;
  const saved = { ...kafkajs.CompressionCodecs };
  try {
    for (const codec of [CompressionCodec.Snappy, CompressionCodec.Lz4, CompressionCodec.Zstd].filter(
      (c) => c !== CompressionCodec.Zstd || ZSTD_MISSING === null,
    )) {
      kafkajs.CompressionCodecs[codec] = () => ({
        compress: async (encoder: { buffer: Buffer }) => compressRecords(codec, encoder.buffer),
        decompress: async (buffer: Buffer) => decompressRecords(codec, buffer),
      });
      const values = ['one', 'two', 'three'].map((v) => Buffer.from(v.repeat(1000)));
      const theirs = await RecordBatch({
        compression: codec,
        lastOffsetDelta: 2,
        records: values.map((value, i) => KafkaRecord({ offsetDelta: i, key: Buffer.from(`k${i}`), value })),
      });
      assert.deepEqual(
        decodeBatchRecords(theirs.buffer).map((r) => r.value),
        values,
      );
      const ours = encodeBatch({ compression: codec, records: values.map((value, i) => ({ key: Buffer.from(`k${i}`), value })) });
      assert.deepEqual(
        (await decodeKafkajsBatch(new KafkaDecoder(ours))).records.map((r) => r.value),
        values,
      );
    }
  } finally {
    Object.assign(kafkajs.CompressionCodecs, saved);
  }
});

test('batchKeysAllPresent is false as soon as one record of one batch has a null key', () => {
  const keyed = encodeBatch({
    records: [
      { key: Buffer.from('a'), value: null },
      { key: Buffer.alloc(0), value: Buffer.from('v') },
    ],
  });
  const unkeyed = encodeBatch({
    compression: ZSTD_MISSING === null ? CompressionCodec.Zstd : CompressionCodec.Gzip,
    records: [
      { key: Buffer.from('a'), value: null },
      { key: null, value: Buffer.from('v') },
    ],
  });
  assert.equal(batchKeysAllPresent(keyed), true, 'an empty key is a key');
  assert.equal(batchKeysAllPresent(Buffer.concat([keyed, keyed])), true);
  assert.equal(batchKeysAllPresent(Buffer.concat([keyed, unkeyed])), false);
  assert.throws(() => batchKeysAllPresent(Buffer.concat([keyed, unkeyed.subarray(0, 70)])), CorruptBatchError);
});

test('a compacted batch (fewer records than lastOffsetDelta + 1, gaps in offsetDelta) decodes', () => {
  const kept = [
    encodeRecord({ key: Buffer.from('k1'), value: Buffer.from('v'), offsetDelta: 2 }, 0),
    encodeRecord({ key: Buffer.from('k2'), value: null, offsetDelta: 7 }, 0),
  ];
  const batch = buildBatch({ compression: CompressionCodec.Gzip, lastOffsetDelta: 9, baseTimestamp: 5 }, Buffer.concat(kept), 2);
  assert.equal(readBatchHeader(batch).lastOffsetDelta, 9);
  assert.deepEqual(
    decodeBatchRecords(batch).map((r) => r.offsetDelta),
    [2, 7],
  );
});

test('malformed records are CorruptBatchError: bad lengths, trailing bytes, impossible counts, CRC and size mismatches', () => {
  const good = encodeRecord({ key: Buffer.from('key'), value: Buffer.from('value'), headers: [{ key: 'h', value: Buffer.from('x') }] }, 0);
  const cases: Array<[string, Buffer, number]> = [
    ['record length past the area', Buffer.concat([Buffer.from([0x7e]), good.subarray(1)]), 1],
    ['negative record length', Buffer.concat([Buffer.from([0x01]), good.subarray(1)]), 1],
    ['record length shorter than its fields', Buffer.concat([Buffer.from([good[0]! - 2]), good.subarray(1)]), 1],
    ['bytes after the last record', Buffer.concat([good, Buffer.from([0])]), 1],
    ['fewer records than recordCount', good, 2],
    ['recordCount beyond what the bytes can hold', good, 1_000_000],
    ['key length -2', Buffer.from([0x0c, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00]), 1],
    ['header count beyond the record', Buffer.from([0x0c, 0x00, 0x00, 0x00, 0x01, 0x01, 0x7e]), 1],
    ['negative header key length', Buffer.from([0x0e, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x01, 0x01]), 1],
    ['empty area', Buffer.alloc(0), 1],
  ];
  for (const [name, area, count] of cases) assert.throws(() => decodeRecordsArea(area, count), CorruptBatchError, name);
  const batch = encodeBatch({ records: [{ key: Buffer.from('k'), value: Buffer.from('v') }] });
  const flipped = Buffer.from(batch);
  flipped[flipped.length - 1]! ^= 1;
  assert.throws(() => decodeBatchRecords(flipped), /CRC/);
  assert.throws(() => decodeBatchRecords(batch.subarray(0, batch.length - 1)), CorruptBatchError, 'shorter than batchLength');
  assert.throws(() => decodeBatchRecords(Buffer.concat([batch, batch])), CorruptBatchError, 'two batches where one is expected');
  const unknownCodec = Buffer.from(batch);
  unknownCodec.writeInt16BE(6, 21);
  assert.throws(() => decodeBatchRecords(withCrc(unknownCodec)), /unsupported compression codec 6/);
  assert.throws(() => buildBatch({}, Buffer.alloc(0), 0), RangeError, 'no records and no lastOffsetDelta');
});

test('a decompression bomb past maxDecompressedBytes is corrupt for every codec, before it is allocated', () => {
  const zeros = Buffer.alloc(8 * 1024 * 1024);
  for (const [name, codec] of CODECS.slice(1)) {
    const bomb = compressRecords(codec, zeros);
    assert.throws(() => decompressRecords(codec, bomb, 1024 * 1024), CorruptBatchError, name);
    assert.equal(decompressRecords(codec, bomb, zeros.length).length, zeros.length, `${name} at exactly the limit`);
  }
  // a raw snappy preamble claiming 4 GiB
  assert.throws(() => decompressRecords(CompressionCodec.Snappy, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00])), CorruptBatchError);
});

/** One random mutation of `batch`; with `fixCrc`, the CRC (and batchLength) are recomputed so decoding gets past them. */
function mutate(batch: Buffer, next: () => number, fixCrc: boolean): Buffer {
  let bytes = Buffer.from(batch);
  const pick = (limit: number): number => Math.floor(next() * limit);
  switch (pick(6)) {
    case 0: // flip a few bits in the records area
      for (let i = 1 + pick(4); i > 0; i--) bytes[61 + pick(bytes.length - 61)]! ^= 1 << pick(8);
      break;
    case 1: // overwrite a byte anywhere after the CRC with a random value
      bytes[21 + pick(bytes.length - 21)] = pick(256);
      break;
    case 2: // truncate
      bytes = bytes.subarray(0, 21 + pick(bytes.length - 21));
      break;
    case 3: // insert random bytes in the records area
      bytes = Buffer.concat([
        bytes.subarray(0, 61 + pick(bytes.length - 61)),
        Buffer.from(Array.from({ length: 1 + pick(8) }, () => pick(256))),
        bytes.subarray(61),
      ]);
      break;
    case 4: // a random recordCount
      bytes.writeInt32BE(next() < 0.5 ? pick(40) : pick(2 ** 32) | 0, 57);
      break;
    default: // a random batchLength
      bytes.writeInt32BE(pick(2 ** 32) | 0, 8);
      fixCrc = next() < 0.5 && fixCrc;
      return fixCrc ? withCrc(bytes) : bytes;
  }
  if (!fixCrc || bytes.length < 61) return bytes;
  bytes.writeInt32BE(bytes.length - 12, 8);
  return withCrc(bytes);
}

function withCrc(bytes: Buffer): Buffer {
  if (bytes.length >= 21) bytes.writeUInt32BE(crc32c(bytes.subarray(21)), 17);
  return bytes;
}

test('fuzz: random mutations of valid batches of every codec decode or throw CorruptBatchError, nothing else', () => {
  const iterations = 2500;
  for (const [name, codec] of CODECS) {
    const next = random(0xc0ffee + codec);
    const bases = [
      encodeBatch({ compression: codec, baseTimestamp: 0, records: sampleRecords(3000) }),
      encodeBatch({ compression: codec, baseTimestamp: 0, records: [{ key: Buffer.from('k'), value: Buffer.from('v') }] }),
    ];
    let decoded = 0;
    let corrupt = 0;
    for (let i = 0; i < iterations; i++) {
      const mutated = mutate(bases[i % bases.length]!, next, next() < 0.9);
      try {
        decodeBatchRecords(mutated);
        decoded++;
      } catch (error) {
        if (!(error instanceof CorruptBatchError)) {
          assert.fail(`${name} iteration ${i}: ${(error as Error).name}: ${(error as Error).message}\n${mutated.toString('hex')}`);
        }
        corrupt++;
      }
      try {
        batchKeysAllPresent(mutated);
      } catch (error) {
        if (!(error instanceof CorruptBatchError)) assert.fail(`${name} iteration ${i} (batchKeysAllPresent): ${(error as Error).message}`);
      }
    }
    assert.equal(decoded + corrupt, iterations);
    assert.ok(corrupt > iterations / 4, `${name}: ${corrupt} of ${iterations} mutations were corrupt`);
  }
});
