import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '@node-rs/crc32';
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, encodeSegmentHeader, writeRecordHeader } from './format.js';
import { scanSegmentRecords } from './segment-scan.js';
import { Segment } from './segment.js';

/** A segment image of `count` records of varying lengths, and each record's offset and payload. */
function segmentImage(count: number): { image: Buffer; records: Map<number, Buffer> } {
  const parts: Buffer[] = [encodeSegmentHeader(1)];
  const records = new Map<number, Buffer>();
  let at = SEGMENT_HEADER_BYTES;
  for (let n = 0; n < count; n++) {
    const payload = Buffer.alloc(5 + ((n * 37) % 200), n & 0xff);
    payload.writeUInt32BE(n, 0);
    const header = Buffer.alloc(RECORD_HEADER_BYTES);
    writeRecordHeader(header, 0, payload.length, crc32c(payload));
    parts.push(header, payload);
    records.set(at, payload);
    at += RECORD_HEADER_BYTES + payload.length;
  }
  return { image: Buffer.concat(parts), records };
}

/** xorshift32: a repeatable sequence, so a failure names its seed */
function random(seed: number): () => number {
  let state = seed || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

test('random flipped bytes each cost at most the one record they hit; every record kept is an original one at its offset', () => {
  const { image, records } = segmentImage(300);
  for (let seed = 1; seed <= 300; seed++) {
    const next = random(seed);
    const damaged = Buffer.from(image);
    const flips = 1 + Math.floor(next() * 3);
    for (let f = 0; f < flips; f++) {
      const at = SEGMENT_HEADER_BYTES + Math.floor(next() * (damaged.length - SEGMENT_HEADER_BYTES));
      damaged[at]! ^= 1 << Math.floor(next() * 8);
    }
    const segment = new Segment(1, 'x.seg', 'x.ack');
    const scan = scanSegmentRecords(damaged, damaged.length, segment);
    let kept = 0;
    for (let i = 0; i < segment.recordCount; i++) {
      if (segment.isAcked(i)) continue; // a skipped range
      const offset = segment.recordOffset(i);
      const length = segment.recordLength(i);
      const original = records.get(offset);
      assert.ok(original !== undefined, `seed ${seed}: a record at ${offset} that was never written`);
      assert.deepEqual(damaged.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + length), original, `seed ${seed}`);
      kept++;
    }
    assert.equal(kept, scan.records);
    assert.ok(records.size - kept <= flips, `seed ${seed}: ${flips} flip(s) cost ${records.size - kept} record(s)`);
    let skipped = 0;
    for (const range of scan.skipped) skipped += range.bytes;
    assert.ok(scan.validEnd <= damaged.length);
    assert.ok(skipped < damaged.length, `seed ${seed}`);
  }
});

test('a zero-filled hole in the middle is skipped and the records after it are kept', () => {
  const { image, records } = segmentImage(50);
  const offsets = [...records.keys()];
  const holeStart = offsets[20]!;
  const holeEnd = offsets[23]!;
  image.fill(0, holeStart, holeEnd);
  const segment = new Segment(1, 'x.seg', 'x.ack');
  const scan = scanSegmentRecords(image, image.length, segment);
  assert.deepEqual(scan.skipped, [{ offset: holeStart, bytes: holeEnd - holeStart, reason: 'invalid record length 0' }]);
  assert.equal(scan.records, 47);
  assert.equal(scan.validEnd, image.length);
});
