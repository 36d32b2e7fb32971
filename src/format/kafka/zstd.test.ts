import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BatchTooLargeError, CorruptBatchError, UnsupportedCompressionError } from './errors.js';
import { CompressionCodec, compressRecords, decompressRecords } from './compression.js';
import { ZSTD_OUTPUT_CHUNK_BYTES, ZstdSteps, zstdAvailable, zstdFrames, zstdUnavailableReason } from './zstd.js';

/** these cases need zstd in node:zlib (Node 22.15+, 23.8+) */
const skip = zstdUnavailableReason() ?? false;

function sample(bytes: number): Buffer {
  const data = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 31) & 0xff) ^ (i >> 9);
  return data;
}

/** Every step of `data` through one reader, copied; and the largest output the reader handed out at once. */
function stepwise(steps: ZstdSteps, data: Buffer, maxBytes: number): { output: Buffer; largest: number } {
  steps.start(data, maxBytes);
  const parts: Buffer[] = [];
  let largest = 0;
  for (let step = steps.next(); step !== null; step = steps.next()) {
    largest = Math.max(largest, step.length);
    parts.push(Buffer.from(step));
  }
  return { output: Buffer.concat(parts), largest };
}

test('zstd decodes several frames back to back and skippable frames, whole and a step at a time', { skip }, () => {
  const data = sample(5 * ZSTD_OUTPUT_CHUNK_BYTES + 321);
  const skippable = Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
  const stream = Buffer.concat([
    compressRecords(CompressionCodec.Zstd, data.subarray(0, 1000)),
    skippable,
    compressRecords(CompressionCodec.Zstd, data.subarray(1000, 200_000)),
    compressRecords(CompressionCodec.Zstd, data.subarray(200_000)),
  ]);
  assert.deepEqual(decompressRecords(CompressionCodec.Zstd, stream), data);
  const { output, largest } = stepwise(new ZstdSteps(), stream, data.length);
  assert.deepEqual(output, data);
  assert.ok(largest <= ZSTD_OUTPUT_CHUNK_BYTES, `a step is at most ${ZSTD_OUTPUT_CHUNK_BYTES} bytes (${largest})`);
});

test('every truncation of a zstd stream, and bytes after its last frame, are CorruptBatchError; the next decode is sound', { skip }, () => {
  const data = sample(300_000);
  const stream = Buffer.concat([compressRecords(CompressionCodec.Zstd, data.subarray(0, 1000)), compressRecords(CompressionCodec.Zstd, data.subarray(1000))]);
  const steps = new ZstdSteps();
  for (let cut = 0; cut < stream.length; cut += cut < 64 ? 1 : 97) {
    const truncated = stream.subarray(0, cut);
    assert.throws(() => decompressRecords(CompressionCodec.Zstd, truncated), CorruptBatchError, `whole, cut at ${cut}`);
    assert.throws(() => stepwise(steps, truncated, 1 << 20), CorruptBatchError, `stepwise, cut at ${cut}`);
  }
  for (const trailing of [[0x00], [0x28, 0xb5, 0x2f], [1, 2, 3, 4, 5, 6]]) {
    const withTrailing = Buffer.concat([stream, Buffer.from(trailing)]);
    assert.throws(() => decompressRecords(CompressionCodec.Zstd, withTrailing), CorruptBatchError, `trailing ${trailing.length} byte(s)`);
  }
  // a frame whose block contents are damaged: the decoder reports it, and the reader then decodes a sound stream
  const damaged = Buffer.from(stream);
  for (let i = stream.length - 2000; i < stream.length - 1000; i += 7) damaged[i]! ^= 0x5a;
  assert.throws(() => stepwise(steps, damaged, 1 << 20), CorruptBatchError);
  assert.deepEqual(stepwise(steps, stream, 1 << 20).output, data);
});

test('a zstd bomb stops at the limit: the reader hands out no more than the limit plus one step, then BatchTooLargeError', { skip }, () => {
  const zeros = Buffer.alloc(64 * 1024 * 1024);
  const bomb = compressRecords(CompressionCodec.Zstd, zeros);
  assert.ok(bomb.length < 64 * 1024, `the bomb is small (${bomb.length} bytes)`);
  const limit = 1024 * 1024;
  const steps = new ZstdSteps().start(bomb, limit);
  let out = 0;
  assert.throws(() => {
    for (let step = steps.next(); step !== null; step = steps.next()) out += step.length;
  }, BatchTooLargeError);
  assert.ok(out <= limit, `handed out ${out} bytes before refusing`);
  assert.throws(() => decompressRecords(CompressionCodec.Zstd, bomb, limit), BatchTooLargeError);
  assert.equal(decompressRecords(CompressionCodec.Zstd, bomb, zeros.length).length, zeros.length, 'at exactly the limit');
});

test('zstdFrames reads the declared content size of every frame, or -1 when one leaves it out', { skip }, (t) => {
  const data = sample(70_000);
  // node:zlib's one-shot compressor declares the size; the zstd tool does not when it reads a pipe
  const ours = compressRecords(CompressionCodec.Zstd, data);
  assert.equal(zstdFrames(ours), data.length);
  assert.equal(zstdFrames(Buffer.concat([ours, ours])), 2 * data.length);
  const tool = spawnSync('zstd', ['-c', '-q'], { input: data });
  if (tool.error !== undefined || tool.status !== 0) return t.skip('no zstd command');
  assert.equal(zstdFrames(tool.stdout), -1);
  assert.equal(zstdFrames(Buffer.concat([ours, tool.stdout])), -1);
  assert.deepEqual(decompressRecords(CompressionCodec.Zstd, Buffer.concat([ours, tool.stdout])), Buffer.concat([data, data]));
});

test(
  'where node:zlib has no zstd, zstd calls throw UnsupportedCompressionError (a CorruptBatchError) and nothing else breaks',
  { skip: zstdAvailable() ? 'this Node has zstd (the broker test with zstd removed covers it)' : false },
  () => {
    assert.throws(() => compressRecords(CompressionCodec.Zstd, Buffer.from('x')), UnsupportedCompressionError);
    assert.throws(() => decompressRecords(CompressionCodec.Zstd, Buffer.from('x')), UnsupportedCompressionError);
    assert.throws(
      () => new ZstdSteps().start(Buffer.from('x'), 100),
      (error: unknown) => error instanceof CorruptBatchError && error instanceof UnsupportedCompressionError,
    );
    assert.deepEqual(decompressRecords(CompressionCodec.Gzip, compressRecords(CompressionCodec.Gzip, Buffer.from('still here'))), Buffer.from('still here'));
  },
);

test('one reader decodes stream after stream: after a complete one without a reset, after one left half read with one', { skip }, () => {
  const steps = new ZstdSteps();
  const streams = [sample(1000), sample(3 * ZSTD_OUTPUT_CHUNK_BYTES + 5), sample(20_000).reverse()].map((data) => ({
    data,
    zstd: compressRecords(CompressionCodec.Zstd, data),
  }));
  for (let round = 0; round < 3; round++) {
    for (const { data, zstd } of streams) assert.deepEqual(stepwise(steps, zstd, data.length).output, data, `round ${round}, ${data.length} bytes`);
    // left after its first step (a walk that stopped early): the next stream still decodes from its start
    steps.start(streams[1]!.zstd, streams[1]!.data.length);
    assert.equal(steps.next()!.length, ZSTD_OUTPUT_CHUNK_BYTES);
  }
  assert.deepEqual(stepwise(steps, streams[2]!.zstd, streams[2]!.data.length).output, streams[2]!.data);
});
