import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SyncScheduler } from '../sync.js';
import { CorruptBatchError } from '../../format/kafka/errors.js';
import { OffsetOutOfRangeError } from '../log-store.js';
import { PARTITION_SEGMENT_HEADER_BYTES } from './format.js';
import { PartitionLog, type PartitionLogOptions } from './partition-log.js';
import { asStored, batchId, encodeBatch, splitBatches, type TestBatch } from '../../format/kafka/test-batches.js';

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function temporaryDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-partition-'));
  createdDirs.push(dir);
  return dir;
}

function openLog(dir: string, extra: Partial<PartitionLogOptions> = {}, lines: string[] = []): PartitionLog {
  return PartitionLog.open({ dir, scheduler: new SyncScheduler('never'), logger: (line) => lines.push(line), ...extra });
}

interface Appended {
  batch: Buffer;
  baseOffset: bigint;
  recordCount: number;
}

/** Appends batches id first..first+count-1, each alone, with 1..4 records and varying sizes. */
function appendMany(log: PartitionLog, count: number, first = 0, spec: (id: number) => Partial<TestBatch> = () => ({})): Appended[] {
  const appended: Appended[] = [];
  for (let id = first; id < first + count; id++) {
    const recordCount = 1 + (id % 4);
    const batch = encodeBatch({ id, recordCount, recordBytes: 20 + ((id * 37) % 300), ...spec(id) });
    const result = log.append(batch, 1_000 + id);
    assert.equal(result.lastOffset - result.baseOffset + 1n, BigInt(batch.readInt32BE(57)));
    appended.push({ batch, baseOffset: result.baseOffset, recordCount: batch.readInt32BE(57) });
  }
  return appended;
}

function segmentFiles(dir: string, suffix = '.log'): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(suffix))
    .sort();
}

/** Reads the whole log from its start, one read() after another. */
function readAll(log: PartitionLog, maxBytes = 1000): Buffer[] {
  const batches: Buffer[] = [];
  let offset = log.logStartOffset;
  while (offset < log.highWatermark) {
    const bytes = log.read(offset, maxBytes);
    assert.ok(bytes.length > 0);
    for (const batch of splitBatches(bytes)) {
      batches.push(batch);
      offset = batch.readBigInt64BE(0) + BigInt(batch.readInt32BE(23)) + 1n;
    }
  }
  return batches;
}

function assertHolds(log: PartitionLog, appended: Appended[]): void {
  assert.deepEqual(
    readAll(log),
    appended.map((a) => asStored(a.batch, a.baseOffset)),
  );
}

test('batches read back byte for byte, with broker-assigned offsets, across segment rolls', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 2048, indexIntervalBytes: 256 });
  const appended = appendMany(log, 300);
  assert.ok(log.segmentCount > 20, `rolled into ${log.segmentCount} segments`);
  assert.equal(segmentFiles(dir).length, log.segmentCount);
  assert.equal(log.logStartOffset, 0n);
  let expected = 0n;
  for (const a of appended) {
    assert.equal(a.baseOffset, expected, 'offsets are contiguous');
    expected += BigInt(a.recordCount);
  }
  assert.equal(log.highWatermark, expected);
  assertHolds(log, appended); // before the end-of-turn flush: read() flushes what it needs
  log.flush();
  for (const a of appended.slice().reverse()) {
    const first = splitBatches(log.read(a.baseOffset, 1))[0]!;
    assert.deepEqual(first, asStored(a.batch, a.baseOffset));
  }
  assert.equal(
    log.sizeBytes,
    segmentFiles(dir).reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0),
  );
  log.close();
});

test('a multi-batch produce request gets contiguous offsets that respect each recordCount', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  log.append(encodeBatch({ id: 1, recordCount: 3 }), 0);
  const parts = [encodeBatch({ id: 2, recordCount: 5 }), encodeBatch({ id: 3, recordCount: 1 }), encodeBatch({ id: 4, recordCount: 7, attributes: 1 })];
  const result = log.append(Buffer.concat(parts), 0);
  assert.equal(result.baseOffset, 3n);
  assert.equal(result.lastOffset, 3n + 5n + 1n + 7n - 1n);
  assert.equal(result.logAppendTime, -1);
  assert.equal(log.highWatermark, 16n);
  const stored = splitBatches(log.read(3n, 1 << 20));
  assert.deepEqual(
    stored.map((b) => b.readBigInt64BE(0)),
    [3n, 8n, 9n],
  );
  assert.deepEqual(stored.map(batchId), [2, 3, 4]);
  assert.deepEqual(stored[2], asStored(parts[2]!, 9n), 'a compressed batch is stored as received');
  log.close();
});

test('the partition leader epoch is written into each batch; the batch CRC stays valid', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { leaderEpoch: 7 });
  const batch = encodeBatch({ id: 1 });
  log.append(batch, 0);
  assert.deepEqual(log.read(0n, 100), asStored(batch, 0n, 7));
  log.close();
});

test('a read from the middle of a batch returns that whole batch; maxBytes bounds whole batches', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const appended = appendMany(log, 20, 0, () => ({ recordCount: 10, recordBytes: 100 }));
  const size = appended[0]!.batch.length;
  const middle = log.read(appended[5]!.baseOffset + 4n, 1);
  assert.deepEqual(middle, asStored(appended[5]!.batch, appended[5]!.baseOffset));
  const three = splitBatches(log.read(appended[5]!.baseOffset + 9n, size * 3 + size - 1));
  assert.deepEqual(three.map(batchId), [5, 6, 7], 'only whole batches, no partial fourth');
  const oversized = log.read(appended[2]!.baseOffset, 10);
  assert.equal(oversized.length, size, 'at least one whole batch even when larger than maxBytes');
  log.close();
});

/** The bytes a slice names, read through it (and the slice released). */
function sliceBytes(log: PartitionLog, offset: bigint, maxBytes: number, end: bigint): Buffer {
  const slice = log.slice(offset, maxBytes, end);
  if (slice === null) return Buffer.alloc(0);
  const bytes = Buffer.alloc(slice.length);
  slice.read(bytes, 0, 0, slice.length);
  slice.release();
  return bytes;
}

/** The batches of `bytes` whose base offset is below `end`. */
function batchesBelow(bytes: Buffer, end: bigint): Buffer {
  return Buffer.concat(splitBatches(bytes).filter((b) => b.readBigInt64BE(0) < end));
}

test('slice() names exactly the batches read() returns below an end offset, in sealed and active segments and across gaps', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 8 * 1024 });
  const appended = appendMany(log, 120);
  const last = appended[appended.length - 1]!;
  const hw = last.baseOffset + BigInt(last.recordCount);
  const ends = [hw, appended[60]!.baseOffset, appended[61]!.baseOffset + 1n, appended[119]!.baseOffset];
  for (const end of ends) {
    for (const maxBytes of [1, 200, 1000, 5000, 100_000]) {
      for (let i = 0; i < appended.length; i += 7) {
        for (const into of [0n, 1n]) {
          const offset = appended[i]!.baseOffset + (into < BigInt(appended[i]!.recordCount) ? into : 0n);
          const expected = offset >= end ? Buffer.alloc(0) : batchesBelow(log.read(offset, maxBytes), end);
          assert.deepEqual(sliceBytes(log, offset, maxBytes, end), expected, `offset ${offset}, maxBytes ${maxBytes}, end ${end}`);
        }
      }
    }
  }
  // a consumer reading on: each slice starts where the previous one ended, and together they are the log
  const whole: Buffer[] = [];
  let offset = 0n;
  while (offset < hw) {
    const bytes = sliceBytes(log, offset, 3000, hw);
    const batches = splitBatches(bytes);
    whole.push(...batches);
    const lastBatch = batches[batches.length - 1]!;
    offset = lastBatch.readBigInt64BE(0) + BigInt(lastBatch.readInt32BE(23)) + 1n;
  }
  assert.deepEqual(whole, readAll(log));
  assert.equal(log.slice(hw, 1000, hw), null, 'nothing at the end');
  assert.throws(() => log.slice(hw + 1n, 1000, hw + 1n), OffsetOutOfRangeError);
  log.close();
});

test('a slice of many batches reads a few blocks of headers, not the records', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 64 * 1024 * 1024 });
  appendMany(log, 4000, 0, () => ({ recordCount: 4, recordBytes: 500 }));
  log.flush();
  const before = log.readCounters.logBytesRead;
  const slice = log.slice(3n, 4 * 1024 * 1024, log.highWatermark)!;
  const read = log.readCounters.logBytesRead - before;
  assert.ok(slice.length > 2_000_000, `a slice of ${slice.length} bytes`);
  assert.ok(read < 64 * 1024, `${read} bytes read to find it (${JSON.stringify(log.readCounters)})`);
  slice.release();
  log.close();
});

test('a read at the high watermark is empty; below the log start or above the high watermark it throws', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  assert.equal(log.read(0n, 100).length, 0, 'an empty log');
  appendMany(log, 5);
  assert.equal(log.read(log.highWatermark, 100).length, 0);
  assert.throws(() => log.read(log.highWatermark + 1n, 100), OffsetOutOfRangeError);
  assert.throws(
    () => log.read(-1n, 100),
    (error: unknown) => error instanceof OffsetOutOfRangeError && error.code === 'OFFSET_OUT_OF_RANGE',
  );
  log.close();
});

test('offsetForTimestamp finds the first batch whose maxTimestamp reaches the time, in any segment', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 4096, indexIntervalBytes: 300 });
  // timestamps grow by 10 per batch, with a late straggler: batch 50 has maxTimestamp far ahead
  const appended = appendMany(log, 200, 0, (id) => ({ baseTimestamp: 10_000 + id * 10, maxTimestamp: id === 50 ? 10_000 + 1500 : 10_000 + id * 10 + 5 }));
  const check = (reopened: PartitionLog): void => {
    assert.equal(reopened.offsetForTimestamp(0), 0n);
    assert.equal(reopened.offsetForTimestamp(10_000 + 5), 0n);
    assert.equal(reopened.offsetForTimestamp(10_000 + 6), appended[1]!.baseOffset);
    assert.equal(reopened.offsetForTimestamp(10_000 + 30 * 10 + 1), appended[30]!.baseOffset);
    assert.equal(reopened.offsetForTimestamp(10_000 + 1200), appended[50]!.baseOffset, 'the straggler is found first');
    assert.equal(reopened.offsetForTimestamp(10_000 + 1501), appended[150]!.baseOffset);
    assert.equal(reopened.offsetForTimestamp(10_000 + 199 * 10 + 5), appended[199]!.baseOffset);
    assert.equal(reopened.offsetForTimestamp(10_000 + 199 * 10 + 6), null);
  };
  assert.ok(log.segmentCount > 5);
  check(log);
  log.close();
  const reopened = openLog(dir, { segmentBytes: 4096, indexIntervalBytes: 300 });
  check(reopened); // sealed segments now answer from their .timeindex files
  reopened.close();
});

test('retention by time deletes whole old segments, the active one last (rolled first, as Kafka), and advances logStartOffset', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 2048, retentionMs: 1000 });
  const appended = appendMany(log, 100, 0, (id) => ({ baseTimestamp: id < 50 ? 1_000 : 5_000 }));
  const before = log.segmentCount;
  const firstNew = appended[50]!.baseOffset;
  assert.equal(log.enforceRetention(1_900), 0, 'nothing is older than 1000 ms yet');
  const deleted = log.enforceRetention(4_000);
  assert.ok(deleted > 0);
  assert.equal(log.segmentCount, before - deleted);
  assert.ok(log.logStartOffset <= firstNew, 'no segment holding a new batch was deleted');
  const survivors = readAll(log);
  assert.equal(survivors[survivors.length - 1]!.readBigInt64BE(0), appended[99]!.baseOffset);
  assert.ok(survivors.filter((b) => batchId(b) < 50).length < 50 * 0.2, 'the old segments are (almost all) gone');
  assert.throws(() => log.read(0n, 100), OffsetOutOfRangeError);
  assert.equal(segmentFiles(dir).length, log.segmentCount);
  assert.equal(segmentFiles(dir, '.index').filter((n) => n.slice(0, 20) < segmentFiles(dir)[0]!.slice(0, 20)).length, 0, 'their index files went too');
  const everything = log.enforceRetention(1_000_000);
  assert.equal(log.segmentCount, 1, 'an empty active segment is left');
  assert.ok(everything > 0);
  const end = appended[99]!.baseOffset + BigInt(appended[99]!.recordCount);
  assert.equal(log.highWatermark, end);
  assert.equal(log.logStartOffset, end, 'the expired active segment went too: nothing is left to read');
  assert.equal(log.read(end, 100).length, 0);
  assert.equal(log.enforceRetention(2_000_000), 0, 'an empty active segment is never deleted');
  log.close();
  const reopened = openLog(dir);
  assert.equal(reopened.logStartOffset, log.logStartOffset);
  reopened.close();
});

test('retention by time deletes an expired active segment of a quiet log, and appends go on after it', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { retentionMs: 1000 });
  const appended = appendMany(log, 10, 0, () => ({ baseTimestamp: 500 }));
  assert.equal(log.segmentCount, 1, 'a single, active segment');
  assert.equal(log.enforceRetention(1_400), 0, 'not expired yet');
  assert.equal(log.enforceRetention(1_600), 1);
  const end = appended[9]!.baseOffset + BigInt(appended[9]!.recordCount);
  assert.equal(log.logStartOffset, end);
  assert.equal(segmentFiles(dir).length, 1, 'only the new, empty active segment file is left');
  const next = log.append(encodeBatch({ id: 10, baseTimestamp: 2_000 }), 2_000);
  assert.equal(next.baseOffset, end, 'offsets continue where they stopped');
  log.close();
  const reopened = openLog(dir);
  assert.equal(reopened.logStartOffset, end);
  assert.equal(batchId(readAll(reopened)[0]!), 10);
  reopened.close();
});

test('segmentMs rolls the active segment once a batch is more than segmentMs newer than its first, also after a reopen', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentMs: 1000 });
  log.append(encodeBatch({ id: 0, baseTimestamp: 10_000 }), 10_000);
  log.append(encodeBatch({ id: 1, baseTimestamp: 11_000 }), 11_000);
  assert.equal(log.segmentCount, 1, 'exactly segmentMs later: no roll');
  log.append(encodeBatch({ id: 2, baseTimestamp: 11_001 }), 11_001);
  assert.equal(log.segmentCount, 2, 'past segmentMs: rolled');
  log.append(encodeBatch({ id: 3, baseTimestamp: 11_500 }), 11_500);
  assert.equal(log.segmentCount, 2, 'the new segment counts from its own first batch');
  log.close();
  const reopened = openLog(dir, { segmentMs: 1000 });
  reopened.append(encodeBatch({ id: 4, baseTimestamp: 12_001 }), 12_001);
  assert.equal(reopened.segmentCount, 2, 'the reopened active segment still counts from 11001');
  reopened.append(encodeBatch({ id: 5, baseTimestamp: 12_002 }), 12_002);
  assert.equal(reopened.segmentCount, 3);
  reopened.setLimits({ segmentBytes: 1024 * 1024, retentionMs: null, retentionBytes: null, segmentMs: null });
  reopened.append(encodeBatch({ id: 6, baseTimestamp: 99_000 }), 99_000);
  assert.equal(reopened.segmentCount, 3, 'segmentMs null: no roll by age');
  assert.deepEqual(readAll(reopened).map(batchId), [0, 1, 2, 3, 4, 5, 6]);
  reopened.close();
  // batches without a timestamp (-1): segmentMs counts by the clock from the segment's first append
  const untimed = openLog(temporaryDir(), { segmentMs: 1000 });
  const noTime = (id: number) => encodeBatch({ id, baseTimestamp: -1, maxTimestamp: -1 });
  untimed.append(noTime(0), 50_000);
  untimed.append(noTime(1), 51_000);
  assert.equal(untimed.segmentCount, 1, 'exactly segmentMs after the first append: no roll');
  untimed.append(noTime(2), 51_001);
  assert.equal(untimed.segmentCount, 2);
  untimed.close();
});

test('retention by size deletes the oldest segments while the rest still hold retentionBytes', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 2048, retentionBytes: 10_000 });
  const appended = appendMany(log, 200);
  const total = log.sizeBytes;
  assert.ok(total > 30_000);
  const deleted = log.enforceRetention(0);
  assert.ok(deleted > 0);
  assert.ok(log.sizeBytes >= 10_000, `kept ${log.sizeBytes}`);
  assert.ok(log.sizeBytes < 10_000 + 2048 + 400, `kept ${log.sizeBytes}: at most one segment more than needed`);
  const firstKept = appended.find((a) => a.baseOffset === log.logStartOffset);
  assert.ok(firstKept, 'logStartOffset is the base offset of a batch');
  assertHolds(log, appended.slice(appended.indexOf(firstKept)));
  assert.equal(log.enforceRetention(0), 0, 'idempotent');
  log.close();
});

test('reopening after close keeps every batch, trusts the index files and appends after the end', () => {
  const dir = temporaryDir();
  const options = { segmentBytes: 4096, indexIntervalBytes: 512 };
  const log = openLog(dir, options);
  const appended = appendMany(log, 150);
  log.close();
  assert.equal(segmentFiles(dir, '.index').length, segmentFiles(dir).length);
  const lines: string[] = [];
  const reopened = openLog(dir, options, lines);
  assert.match(lines.join('\n'), new RegExp(`${segmentFiles(dir).length} index\\(es\\) trusted, 0 segment\\(s\\) scanned`));
  assertHolds(reopened, appended);
  const more = appendMany(reopened, 30, 1000);
  assert.equal(more[0]!.baseOffset, appended[149]!.baseOffset + BigInt(appended[149]!.recordCount));
  reopened.close();
  const again = openLog(dir, options);
  assertHolds(again, [...appended, ...more]);
  again.close();
});

test('missing or damaged index files are rebuilt by scanning, with the same answers', () => {
  const dir = temporaryDir();
  const options = { segmentBytes: 4096, indexIntervalBytes: 512 };
  const log = openLog(dir, options);
  const appended = appendMany(log, 150, 0, (id) => ({ baseTimestamp: id * 100 }));
  log.close();
  const indexes = segmentFiles(dir, '.index');
  fs.rmSync(path.join(dir, indexes[1]!));
  const damaged = path.join(dir, segmentFiles(dir, '.timeindex')[2]!);
  const bytes = fs.readFileSync(damaged);
  bytes[bytes.length - 3]! ^= 0x10;
  fs.writeFileSync(damaged, bytes);
  const lines: string[] = [];
  const reopened = openLog(dir, options, lines);
  assert.match(lines.join('\n'), /2 segment\(s\) scanned/);
  assertHolds(reopened, appended);
  assert.equal(reopened.offsetForTimestamp(120 * 100), appended[120]!.baseOffset);
  reopened.close();
  assert.equal(segmentFiles(dir, '.index').length, segmentFiles(dir).length, 'rewritten');
});

// ---- torn and corrupt tails ---------------------------------------------------------------------

function lastSegmentPath(dir: string): string {
  const logs = segmentFiles(dir);
  return path.join(dir, logs[logs.length - 1]!);
}

/** Positions of the batches of the last segment file. */
function batchPositions(file: string): number[] {
  const bytes = fs.readFileSync(file);
  const positions: number[] = [];
  for (let at = PARTITION_SEGMENT_HEADER_BYTES; at < bytes.length; at += 12 + bytes.readInt32BE(at + 8)) positions.push(at);
  return positions;
}

function damageAndReopen(
  damage: (file: string, positions: number[]) => void,
  options: Partial<PartitionLogOptions> = {},
  reopenOptions: Partial<PartitionLogOptions> = {},
) {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 8192, ...options });
  const appended = appendMany(log, 60);
  log.close();
  const file = lastSegmentPath(dir);
  const positions = batchPositions(file);
  damage(file, positions);
  const lines: string[] = [];
  const reopened = openLog(dir, { segmentBytes: 8192, ...reopenOptions }, lines);
  return { dir, appended, positions, lines, log: reopened, kept: appended.length - positions.length };
}

test('a segment cut in the middle of a batch loses that batch only, with a log line', () => {
  const result = damageAndReopen((file, positions) => fs.truncateSync(file, positions[positions.length - 1]! + 30));
  const expected = result.appended.slice(0, -1);
  assertHolds(result.log, expected);
  assert.ok(
    result.lines.some((line) => /dropped 30 byte\(s\)/.test(line)),
    result.lines.join('\n'),
  );
  const next = appendMany(result.log, 2, 500);
  assert.equal(next[0]!.baseOffset, result.appended[59]!.baseOffset, 'the lost offsets are assigned again');
  result.log.close();
  const again = openLog(result.dir, { segmentBytes: 8192 });
  assertHolds(again, [...expected, ...next]);
  again.close();
});

test('a corrupt last batch (CRC) is dropped even when the index files look intact', () => {
  const result = damageAndReopen((file, positions) => {
    const bytes = fs.readFileSync(file);
    bytes[positions[positions.length - 1]! + 70]! ^= 0x01;
    fs.writeFileSync(file, bytes);
  });
  assertHolds(result.log, result.appended.slice(0, -1));
  assert.ok(
    result.lines.some((line) => line.includes('CRC mismatch')),
    result.lines.join('\n'),
  );
  result.log.close();
});

test('after a crash (no index written), a corrupt batch in the middle costs only that batch: the later ones keep their offsets', () => {
  const errors: string[] = [];
  const result = damageAndReopen(
    (file) => {
      fs.rmSync(file.replace(/\.log$/, '.index'));
      const bytes = fs.readFileSync(file);
      bytes[batchPositions(file)[3]! + 20]! ^= 0x80; // inside the CRC-covered attributes/lastOffsetDelta
      fs.writeFileSync(file, bytes);
    },
    {},
    { errorLogger: (line) => errors.push(line) },
  );
  const damaged = result.kept + 3;
  const expected = result.appended.filter((_, n) => n !== damaged);
  assertHolds(result.log, expected);
  const highWatermark = result.appended[59]!.baseOffset + BigInt(result.appended[59]!.recordCount);
  assert.equal(result.log.highWatermark, highWatermark, 'no offset is reused');
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /DAMAGED at position \d+ .*skipped \d+ byte\(s\), kept in .*\.damaged-\d+/);
  const side = fs.readdirSync(result.dir).filter((name) => name.includes('.damaged-'));
  assert.equal(side.length, 1);
  const damagedBatch = result.appended[damaged]!;
  assert.equal(fs.statSync(path.join(result.dir, side[0]!)).size, damagedBatch.batch.length, 'exactly the damaged batch is set aside');
  assert.ok(segmentFiles(result.dir).includes(String(result.appended[damaged + 1]!.baseOffset).padStart(20, '0') + '.log'), 'split at the next batch');
  // a read inside the gap answers with the next batch; appends go on after the high watermark
  const gap = result.log.read(damagedBatch.baseOffset, 1);
  assert.equal(gap.readBigInt64BE(0), result.appended[damaged + 1]!.baseOffset);
  const more = appendMany(result.log, 3, 700);
  assert.equal(more[0]!.baseOffset, highWatermark);
  result.log.close();
  const again = openLog(result.dir, { segmentBytes: 8192 });
  assertHolds(again, [...expected, ...more]);
  again.close();
});

test('garbage and zero-filled tails are dropped', () => {
  for (const tail of [Buffer.from('not a batch, just noise'), Buffer.alloc(4096)]) {
    const result = damageAndReopen((file) => fs.appendFileSync(file, tail));
    assertHolds(result.log, result.appended);
    assert.ok(
      result.lines.some((line) => line.includes(`dropped ${tail.length} byte(s)`)),
      result.lines.join('\n'),
    );
    result.log.close();
  }
});

test('a sealed segment cut inside its last batch is damage: that batch is set aside, the segments after it are kept', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 2048 });
  const appended = appendMany(log, 80);
  log.close();
  const logs = segmentFiles(dir);
  const torn = path.join(dir, logs[2]!);
  fs.rmSync(torn.replace(/\.log$/, '.index'));
  const positions = batchPositions(torn);
  fs.truncateSync(torn, positions[positions.length - 1]! + 5);
  const errors: string[] = [];
  const reopened = openLog(dir, { segmentBytes: 2048, errorLogger: (line) => errors.push(line) });
  assert.equal(reopened.segmentCount, logs.length);
  const cutBase = BigInt(path.basename(logs[3]!, '.log'));
  const lost = appended.findIndex((a) => a.baseOffset + BigInt(a.recordCount) === cutBase);
  assertHolds(
    reopened,
    appended.filter((_, n) => n !== lost),
  );
  assert.ok(
    errors.some((line) => line.includes('DAMAGED') && line.includes('skipped 5 byte(s)')),
    errors.join('\n'),
  );
  assert.ok(fs.existsSync(`${torn}.damaged-${positions[positions.length - 1]!}`));
  reopened.close();
});

test('an empty segment file left by a crash during a roll is removed, and the one before it is active again', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 2048 });
  const appended = appendMany(log, 30);
  const highWatermark = log.highWatermark;
  log.close();
  const empty = path.join(dir, String(highWatermark).padStart(20, '0') + '.log');
  fs.writeFileSync(empty, Buffer.alloc(0));
  const lines: string[] = [];
  const reopened = openLog(dir, { segmentBytes: 2048 }, lines);
  assert.ok(
    lines.some((line) => line.includes('is empty')),
    lines.join('\n'),
  );
  assert.equal(reopened.highWatermark, highWatermark);
  const more = appendMany(reopened, 5, 100);
  assertHolds(reopened, [...appended, ...more]);
  reopened.close();
});

test('a segment whose header is damaged but whose batches check out keeps them; the header is rewritten', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 2048 });
  const appended = appendMany(log, 40);
  log.close();
  const damaged = path.join(dir, segmentFiles(dir)[1]!);
  const bytes = fs.readFileSync(damaged);
  bytes[9] = bytes.readUInt8(9) ^ 0x01; // the base offset in the header
  fs.writeFileSync(damaged, bytes);
  const errors: string[] = [];
  const reopened = openLog(dir, { segmentBytes: 2048, errorLogger: (line) => errors.push(line) });
  assertHolds(reopened, appended);
  assert.ok(
    errors.some((line) => line.includes('DAMAGED header (header names base offset')),
    errors.join('\n'),
  );
  assert.ok(fs.existsSync(`${damaged}.damaged-0`));
  reopened.close();
  const again = openLog(dir, { segmentBytes: 2048, errorLogger: (line) => errors.push(line) });
  assertHolds(again, appended);
  again.close();
});

test('a segment with a bad header and no sound batch is moved aside; offsets never go back below it', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 2048 });
  appendMany(log, 40);
  const highWatermark = log.highWatermark;
  log.close();
  const last = lastSegmentPath(dir);
  const bytes = fs.readFileSync(last);
  bytes[0] = 0x51;
  bytes[PARTITION_SEGMENT_HEADER_BYTES + 20] = bytes.readUInt8(PARTITION_SEGMENT_HEADER_BYTES + 20) ^ 0x01; // and the first batch fails its CRC
  fs.writeFileSync(last, bytes);
  const lines: string[] = [];
  const reopened = openLog(dir, { segmentBytes: 2048 }, lines);
  assert.ok(fs.existsSync(last + '.corrupt'));
  assert.ok(
    lines.some((line) => line.includes('moved aside')),
    lines.join('\n'),
  );
  const lastBase = BigInt(path.basename(last, '.log'));
  assert.ok(reopened.highWatermark > lastBase && reopened.highWatermark <= highWatermark);
  reopened.append(encodeBatch({ id: 9 }), 0);
  reopened.close();
});

test('random flipped bytes in a scanned segment cost at most the batches they hit; every batch kept is the original at its offset', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 1 << 20 });
  const appended = appendMany(log, 80);
  log.close();
  const file = lastSegmentPath(dir);
  const image = fs.readFileSync(file);
  const expected = new Map(appended.map((a) => [a.baseOffset, asStored(a.batch, a.baseOffset)]));
  let state = 7;
  const next = (): number => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
  for (let round = 0; round < 150; round++) {
    for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name));
    const damaged = Buffer.from(image);
    const flips = 1 + Math.floor(next() * 3);
    const flipsAt: number[] = [];
    for (let f = 0; f < flips; f++) {
      const at = PARTITION_SEGMENT_HEADER_BYTES + Math.floor(next() * (damaged.length - PARTITION_SEGMENT_HEADER_BYTES));
      damaged[at]! ^= 1 << Math.floor(next() * 8);
      flipsAt.push(at);
    }
    fs.writeFileSync(file, damaged); // no index files: the segment is scanned, as after a crash
    const reopened = openLog(dir, { segmentBytes: 1 << 20, errorLogger: () => {} });
    let kept = 0;
    let offset = reopened.logStartOffset;
    while (offset < reopened.highWatermark) {
      const batches = splitBatches(reopened.read(offset, 1 << 20));
      assert.ok(batches.length > 0);
      for (const batch of batches) {
        const base = batch.readBigInt64BE(0);
        // partitionLeaderEpoch (bytes 12..15) is outside the batch CRC, as in Kafka: a flip there is not detectable
        const original = Buffer.from(expected.get(base) ?? Buffer.alloc(0));
        if (original.length >= 16) batch.copy(original, 12, 12, 16);
        assert.deepEqual(batch, original, `round ${round}: the batch at offset ${base} (flips at ${flipsAt.join(', ')})`);
        kept++;
        offset = base + BigInt(batch.readInt32BE(23)) + 1n;
      }
    }
    assert.ok(appended.length - kept <= flips, `round ${round}: ${flips} flip(s) cost ${appended.length - kept} batch(es)`);
    reopened.close();
  }
});

test('a segment or index file in an unknown format version stops the open and changes nothing', () => {
  for (const suffix of ['.log', '.index', '.timeindex']) {
    const dir = temporaryDir();
    const log = openLog(dir, { segmentBytes: 2048 });
    appendMany(log, 40);
    log.close();
    const file = path.join(dir, segmentFiles(dir)[1]!.replace(/\.log$/, suffix));
    const bytes = fs.readFileSync(file);
    bytes.writeUInt16BE(99, 4);
    fs.writeFileSync(file, bytes);
    const before = new Map(fs.readdirSync(dir).map((name) => [name, fs.readFileSync(path.join(dir, name))]));
    assert.throws(
      () => openLog(dir, { segmentBytes: 2048 }),
      (error: Error) => error.message.includes(file) && error.message.includes('version 99 (this Postbox reads 1)'),
      suffix,
    );
    const after = new Map(fs.readdirSync(dir).map((name) => [name, fs.readFileSync(path.join(dir, name))]));
    assert.deepEqual(after, before, `${suffix}: the directory is as it was`);
  }
});

// ---- validation ---------------------------------------------------------------------------------

test('a batch with a bad CRC, magic, length or record count is rejected and nothing of the request is appended', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  appendMany(log, 3);
  const highWatermark = log.highWatermark;
  const size = log.sizeBytes;
  const good = encodeBatch({ id: 1, recordCount: 2 });
  const corruptions: Array<[string, (batch: Buffer) => void]> = [
    ['CRC mismatch', (b) => (b[70]! ^= 1)],
    ['CRC mismatch', (b) => (b[17]! ^= 1)],
    ['unsupported magic', (b) => b.writeInt8(1, 16)],
    ['invalid batchLength', (b) => b.writeInt32BE(10, 8)],
    ['bytes claimed', (b) => b.writeInt32BE(b.length, 8)],
    ['does not match recordCount', (b) => b.writeInt32BE(5, 23)],
    ['invalid recordCount', (b) => b.writeInt32BE(0, 57)],
  ];
  for (const [message, corrupt] of corruptions) {
    const bad = Buffer.from(good);
    corrupt(bad);
    const request = Buffer.concat([good, bad]); // the valid first batch must not be appended either
    assert.throws(
      () => log.append(request, 0),
      (error: unknown) => error instanceof CorruptBatchError && error.code === 'CORRUPT_MESSAGE' && error.message.includes(message),
      message,
    );
  }
  assert.throws(() => log.append(Buffer.alloc(0), 0), CorruptBatchError);
  assert.throws(() => log.append(good.subarray(0, 40), 0), CorruptBatchError);
  assert.equal(log.highWatermark, highWatermark);
  assert.equal(log.sizeBytes, size);
  assert.equal(log.append(good, 0).baseOffset, highWatermark);
  log.close();
});

test('a batch larger than the write buffer is written directly and gets a segment of its own', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 64 * 1024 });
  const small = log.append(encodeBatch({ id: 1 }), 0);
  const bigBatch = encodeBatch({ id: 2, recordCount: 3, recordBytes: 600 * 1024 });
  const big = log.append(bigBatch, 0);
  const after = log.append(encodeBatch({ id: 3 }), 0);
  assert.equal(log.segmentCount, 3);
  assert.deepEqual(log.read(big.baseOffset + 1n, 10), asStored(bigBatch, big.baseOffset));
  assert.equal(batchId(log.read(small.baseOffset, 10)), 1);
  assert.equal(batchId(log.read(after.baseOffset, 10)), 3);
  log.close();
  const reopened = openLog(dir, { segmentBytes: 64 * 1024, verifyAllOnOpen: true });
  assert.deepEqual(readAll(reopened, 10).map(batchId), [1, 2, 3]);
  reopened.close();
});

// ---- group commit -------------------------------------------------------------------------------

test('a round requested after an append completes only once the batch is on disk; sealed indexes follow', async () => {
  const dir = temporaryDir();
  const scheduler = new SyncScheduler('always');
  const log = openLog(dir, { scheduler, segmentBytes: 2048 });
  const durable: number[] = [];
  scheduler.addListener({ onDurable: (round) => durable.push(round) });
  const appended = appendMany(log, 10);
  const round = scheduler.requestRound();
  assert.equal(durable.length, 0, 'nothing is durable during the turn of the append');
  await new Promise<void>((resolve) => {
    const check = (): void => (durable.includes(round) ? resolve() : void setTimeout(check, 1));
    check();
  });
  const onDisk = segmentFiles(dir).reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
  assert.equal(onDisk, log.sizeBytes, 'every appended byte was written before the round completed');
  const more = appendMany(log, 40, 10);
  await scheduler.close();
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(segmentFiles(dir, '.index').length >= segmentFiles(dir).length - 1, 'sealed segments got their index files');
  log.close();
  const reopened = openLog(dir, { segmentBytes: 2048 });
  assertHolds(reopened, [...appended, ...more]);
  reopened.close();
});

test('destroy removes every file and the directory', () => {
  const dir = path.join(temporaryDir(), 'topic-0');
  const log = openLog(dir, { segmentBytes: 2048 });
  appendMany(log, 40);
  log.destroy();
  assert.equal(fs.existsSync(dir), false);
  assert.throws(() => log.append(encodeBatch({ id: 1 }), 0), /destroyed/);
});

test('the recovery start for producer state goes back over recently appended segments, bounded by bytes', () => {
  const dir = temporaryDir();
  const log = openLog(dir, { segmentBytes: 2048, indexIntervalBytes: 256 });
  appendMany(log, 60);
  log.flush();
  assert.ok(log.segmentCount >= 4, `rolled into ${log.segmentCount} segments`);
  // appendMany appends batch n at time 1000 + n
  // every segment appended to since time 0: with room for everything, the scan starts at the log start
  assert.equal(log.baseOffsetAppendedSince(0, Number.MAX_SAFE_INTEGER), log.logStartOffset);
  // every sealed segment last appended to before `since`: only the active segment
  assert.equal(log.baseOffsetAppendedSince(1_000 + 60, Number.MAX_SAFE_INTEGER), log.activeBaseOffset);
  // a byte bound smaller than the active segment plus the one before it: only the active segment
  assert.equal(log.baseOffsetAppendedSince(0, 1), log.activeBaseOffset);
  // a bound of two full segments and the active one reaches back two sealed segments, not further
  const twoBack = log.baseOffsetAppendedSince(0, 2 * 2048 + 2048);
  assert.ok(twoBack > log.logStartOffset && twoBack < log.activeBaseOffset, `started at ${twoBack}`);
  log.close();
});
