import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SyncScheduler } from '../sync.js';
import { CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX } from './compaction.js';
import { PartitionLog, type PartitionLogOptions } from './partition-log.js';
import { CompressionCodec, decodeBatchRecords, encodeBatch, readBatchHeader } from '../../format/kafka/records.js';
import { asStored, encodeBatch as encodeOpaqueBatch, splitBatches } from '../../format/kafka/test-batches.js';
import { zstdUnavailableReason } from '../../format/kafka/zstd.js';

const createdDirs: string[] = [];
after(() => {
  for (const dir of createdDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function temporaryDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-compaction-'));
  createdDirs.push(dir);
  return dir;
}

const SEGMENT_BYTES = 1024;
const INDEX_INTERVAL_BYTES = 200;
const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

function openLog(dir: string, extra: Partial<PartitionLogOptions> = {}, lines: string[] = []): PartitionLog {
  return PartitionLog.open({
    dir,
    scheduler: new SyncScheduler('never'),
    segmentBytes: SEGMENT_BYTES,
    indexIntervalBytes: INDEX_INTERVAL_BYTES,
    logger: (line) => lines.push(line),
    ...extra,
  });
}

/** A record as the tests see it: offset, key and value as strings (null stays null), timestamp. */
interface Seen {
  offset: bigint;
  key: string | null;
  value: string | null;
  timestamp: number;
}

const text = (bytes: Buffer | null): string | null => (bytes === null ? null : bytes.toString());
const bytesOf = (value: string | null): Buffer | null => (value === null ? null : Buffer.from(value));

/** Appends one batch of [key, value] pairs at `timestamp`; returns them with their offsets. */
function produce(
  log: PartitionLog,
  pairs: Array<[string | null, string | null]>,
  timestamp: number,
  compression: CompressionCodec = CompressionCodec.None,
): Seen[] {
  const batch = encodeBatch({
    compression,
    baseTimestamp: timestamp,
    producerId: 42n,
    producerEpoch: 1,
    baseSequence: 7,
    records: pairs.map(([key, value], i) => ({ key: bytesOf(key), value: bytesOf(value), timestampDelta: i })),
  });
  const { baseOffset } = log.append(batch, timestamp);
  return pairs.map(([key, value], i) => ({ offset: baseOffset + BigInt(i), key, value, timestamp: timestamp + i }));
}

/** Every stored batch, read from the log start with read() as a consumer would. */
function batchesOf(log: PartitionLog): Buffer[] {
  const batches: Buffer[] = [];
  let offset = log.logStartOffset;
  while (offset < log.highWatermark) {
    const bytes = log.read(offset, 700);
    if (bytes.length === 0) break;
    for (const batch of splitBatches(bytes)) {
      batches.push(Buffer.from(batch));
      offset = batch.readBigInt64BE(0) + BigInt(batch.readInt32BE(23)) + 1n;
    }
  }
  return batches;
}

function recordsOf(log: PartitionLog): Seen[] {
  const seen: Seen[] = [];
  for (const batch of batchesOf(log)) {
    const header = readBatchHeader(batch);
    for (const record of decodeBatchRecords(batch)) {
      seen.push({
        offset: header.baseOffset + BigInt(record.offsetDelta),
        key: text(record.key),
        value: text(record.value),
        timestamp: header.baseTimestamp + record.timestampDelta,
      });
    }
  }
  return seen;
}

/** What compaction must leave of `produced` when everything before `activeBase` is cleaned. */
function latestOnly(produced: Seen[], activeBase: bigint, tombstonesGone = false): Seen[] {
  const latest = new Map<string, bigint>();
  for (const record of produced) if (record.key !== null) latest.set(record.key, record.offset);
  return produced.filter(
    (record) => record.offset >= activeBase || record.key === null || (latest.get(record.key) === record.offset && !(tombstonesGone && record.value === null)),
  );
}

/** Produces rounds of values for keys k0..k(keys-1), a batch of 1..3 records at a time, one second apart. */
function produceRounds(log: PartitionLog, rounds: number, keys: number, compression: CompressionCodec = CompressionCodec.None): Seen[] {
  const produced: Seen[] = [];
  let n = 0;
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < keys;) {
      const size = Math.min(1 + (n % 3), keys - k);
      const pairs: Array<[string | null, string | null]> = [];
      for (let i = 0; i < size; i++, k++) pairs.push([`k${k}`, `value ${round} of k${k}, ${'x'.repeat((n * 7) % 40)}`]);
      produced.push(...produce(log, pairs, T0 + n * 1000, compression));
      n++;
    }
  }
  return produced;
}

test('compaction keeps the latest value of every key across segments and leaves the active segment alone', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const produced = produceRounds(log, 6, 12);
  produced.push(
    ...produce(
      log,
      [
        [null, 'keyless 1'],
        ['k3', 'newest k3'],
        [null, 'keyless 2'],
      ],
      T0 + 99_000,
    ),
  );
  produced.push(...produceRounds(log, 1, 4));
  assert.ok(log.segmentCount > 4, `${log.segmentCount} segments`);
  const before = log.sizeBytes;
  const highWatermark = log.highWatermark;
  const activeBase = log.activeBaseOffset;
  const result = log.compact(T0 + 200_000, { deleteRetentionMs: HOUR });
  assert.deepEqual(recordsOf(log), latestOnly(produced, activeBase));
  assert.ok(result.recordsRemoved > 40, `${result.recordsRemoved} removed`);
  assert.equal(result.recordsRemoved, produced.length - latestOnly(produced, activeBase).length);
  assert.equal(result.segmentsExamined, log.segmentCount - 1 + result.segmentsRemoved);
  assert.ok(result.segmentsRewritten > 0);
  assert.equal(result.bytesBefore, before);
  assert.equal(result.bytesAfter, log.sizeBytes);
  assert.ok(log.sizeBytes < before / 2, `${before} → ${log.sizeBytes} bytes`);
  assert.equal(log.highWatermark, highWatermark, 'the high watermark never moves');
  assert.equal(log.activeBaseOffset, activeBase);
  assert.equal(log.logStartOffset, 0n, 'the log start offset never moves');
  const again = log.compact(T0 + 200_000, { deleteRetentionMs: HOUR });
  assert.equal(again.recordsRemoved, 0, 'a second pass finds nothing more');
  assert.equal(again.segmentsRewritten, 0, 'and rewrites nothing');
  const more = produce(log, [['k0', 'after compaction']], T0 + 300_000);
  assert.equal(more[0]!.offset, highWatermark, 'appends continue at the high watermark');
  log.close();
});

test('a pass in steps serves appends, rolls and retention between steps, and cleans exactly what was superseded when it began', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const before = produceRounds(log, 6, 12);
  const activeBase = log.activeBaseOffset;
  const steps = log.compactionSteps(T0 + 200_000, { deleteRetentionMs: HOUR });
  const during: Seen[] = [];
  let stepCount = 0;
  let n = 0;
  for (;;) {
    const next = steps.next();
    if (next.done === true) {
      assert.ok(next.value.recordsRemoved > 0);
      break;
    }
    stepCount++;
    // between steps: new values for old keys, enough to roll segments
    during.push(
      ...produce(
        log,
        [
          [`k${n % 12}`, `during ${n}`],
          [`k${(n + 5) % 12}`, `during ${n} too`],
        ],
        T0 + 100_000 + n,
      ),
    );
    n++;
  }
  assert.ok(stepCount > 5, `${stepCount} steps: one per segment read, one per segment cleaned`);
  assert.ok(log.activeBaseOffset > activeBase, 'the log rolled during the pass');
  const records = recordsOf(log);
  // below the old active base: exactly the records that were the latest of their key when the pass began
  assert.deepEqual(
    records.filter((r) => r.offset < activeBase),
    latestOnly(before, activeBase).filter((r) => r.offset < activeBase),
  );
  // everything from the old active segment on, including all that was appended during the pass, is there
  const all = [...before, ...during];
  assert.deepEqual(
    records.filter((r) => r.offset >= activeBase),
    all.filter((r) => r.offset >= activeBase),
  );
  // the next pass, run at once, ends where a single pass over everything would
  log.compact(T0 + 200_000, { deleteRetentionMs: HOUR });
  assert.deepEqual(recordsOf(log), latestOnly(all, log.activeBaseOffset));
  log.close();
});

test('a pass in steps skips segments retention deleted meanwhile, and ends quietly when the log closes', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const produced = produceRounds(log, 6, 12);
  const steps = log.compactionSteps(T0 + 200_000, { deleteRetentionMs: HOUR });
  for (let i = 0; i < 3; i++) assert.equal(steps.next().done, false);
  const segmentsBefore = log.segmentCount;
  log.setLimits({ segmentBytes: SEGMENT_BYTES, retentionMs: null, retentionBytes: 3 * SEGMENT_BYTES });
  assert.ok(log.enforceRetention(T0 + 200_000) > 0);
  assert.ok(log.segmentCount < segmentsBefore);
  let next = steps.next();
  while (next.done !== true) next = steps.next();
  const start = log.logStartOffset;
  assert.deepEqual(
    recordsOf(log),
    latestOnly(produced, log.activeBaseOffset).filter((r) => r.offset >= start),
  );
  // a second pass, closed after its first step: the next step ends it without touching the closed log
  produceRounds(log, 2, 12);
  const closing = log.compactionSteps(T0 + 300_000, { deleteRetentionMs: HOUR });
  assert.equal(closing.next().done, false);
  log.close();
  assert.equal(closing.next().done, true);
  assert.equal(fs.readdirSync(dir).filter((name) => name.endsWith(CLEANED_FILE_SUFFIX) || name.endsWith(SWAP_FILE_SUFFIX)).length, 0);
});

test('a pass stopped in the middle of cleaning a segment (return(), close, or retention taking the segment) leaves no .cleaned file and loses nothing', () => {
  const leftovers = (dir: string): string[] => fs.readdirSync(dir).filter((name) => name.endsWith(CLEANED_FILE_SUFFIX) || name.endsWith(SWAP_FILE_SUFFIX));
  const options = { deleteRetentionMs: HOUR, stepBytes: 150 };
  /** steps until a .cleaned file exists: the pass is inside a segment's cleaning */
  const intoCleaning = (dir: string, steps: Generator<void, unknown, void>): void => {
    for (let i = 0; leftovers(dir).length === 0; i++) {
      assert.ok(i < 1000, 'the pass never started writing a cleaned segment');
      assert.equal(steps.next().done, false);
    }
  };
  for (const stop of ['return', 'close', 'retention'] as const) {
    const dir = temporaryDir();
    const log = openLog(dir, { segmentBytes: 4096 });
    const produced = produceRounds(log, 8, 12);
    const steps = log.compactionSteps(T0 + 200_000, options);
    intoCleaning(dir, steps);
    if (stop === 'return') {
      steps.return({} as never);
    } else if (stop === 'close') {
      log.close();
      assert.equal(steps.next().done, true, stop);
    } else {
      log.setLimits({ segmentBytes: 4096, retentionMs: null, retentionBytes: 1 });
      assert.ok(log.enforceRetention(T0) > 0);
      let next = steps.next();
      while (next.done !== true) next = steps.next();
    }
    assert.deepEqual(leftovers(dir), [], stop);
    const reopened = stop === 'close' ? openLog(dir, { segmentBytes: 4096 }) : log;
    if (stop === 'return') {
      assert.deepEqual(recordsOf(reopened), produced, 'nothing was cleaned yet: every record is there');
    } else {
      const start = reopened.logStartOffset;
      const records = recordsOf(reopened);
      // every latest record of its key from the log start on is still there
      for (const r of latestOnly(produced, reopened.activeBaseOffset))
        if (r.offset >= start)
          assert.ok(
            records.some((x) => x.offset === r.offset),
            `${stop}: offset ${r.offset}`,
          );
    }
    reopened.close();
    assert.deepEqual(leftovers(dir), [], stop);
  }
});

test('kept records keep their offsets; a rewritten batch keeps its baseOffset, lastOffsetDelta and producer fields', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const first = produce(
    log,
    [
      ['a', '1'],
      ['b', '1'],
      ['c', '1'],
      ['d', '1'],
    ],
    T0,
  );
  produce(
    log,
    [
      ['b', '2'],
      ['d', '2'],
    ],
    T0 + 10,
  );
  produceRounds(log, 3, 10); // fills and seals the first segment
  const original = batchesOf(log)[0]!;
  log.compact(T0, { deleteRetentionMs: HOUR });
  const rewritten = batchesOf(log)[0]!;
  const header = readBatchHeader(rewritten); // checks the fresh CRC too
  const originalHeader = readBatchHeader(original);
  assert.equal(header.baseOffset, originalHeader.baseOffset);
  assert.equal(header.lastOffsetDelta, 3, 'still ends where it ended');
  assert.equal(header.recordCount, 2);
  assert.deepEqual([header.producerId, header.producerEpoch, header.baseSequence], [42n, 1, 7]);
  assert.equal(header.baseTimestamp, T0);
  assert.equal(header.maxTimestamp, T0 + 2, 'the largest kept timestamp');
  assert.deepEqual(
    decodeBatchRecords(rewritten).map((r) => [header.baseOffset + BigInt(r.offsetDelta), text(r.key)]),
    [first[0], first[2]].map((r) => [r!.offset, r!.key]),
  );
  log.close();
});

test('a read at a removed offset returns the next batch that exists, inside a segment and across segments', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  produceRounds(log, 8, 9);
  log.compact(T0, { deleteRetentionMs: HOUR });
  const stored = batchesOf(log).map((batch) => {
    const header = readBatchHeader(batch);
    return { base: header.baseOffset, last: header.baseOffset + BigInt(header.lastOffsetDelta), maxTimestamp: header.maxTimestamp };
  });
  let gaps = 0;
  for (let offset = log.logStartOffset; offset < log.highWatermark; offset++) {
    const expected = stored.find((batch) => batch.last >= offset)!;
    if (expected.base > offset) gaps++;
    const got = splitBatches(log.read(offset, 1))[0]!;
    assert.equal(got.readBigInt64BE(0), expected.base, `read(${offset})`);
  }
  assert.ok(gaps > 50, `${gaps} offsets fell into gaps`);
  for (const batch of stored) {
    const expected = stored.find((other) => other.maxTimestamp >= batch.maxTimestamp)!;
    assert.equal(log.offsetForTimestamp(batch.maxTimestamp), expected.base, `offsetForTimestamp(${batch.maxTimestamp})`);
  }
  assert.equal(log.offsetForTimestamp(T0 + 10_000_000), null);
  log.close();
});

test('a tombstone is kept while its segment is younger than deleteRetentionMs, then removed', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const produced = produce(
    log,
    [
      ['gone', 'old value'],
      ['stays', 'v'],
    ],
    T0,
  );
  produced.push(...produce(log, [['gone', null]], T0 + 1000));
  produced.push(...produceRounds(log, 3, 10));
  const activeBase = log.activeBaseOffset;
  const young = log.compact(T0 + 1000 + HOUR, { deleteRetentionMs: HOUR });
  assert.equal(young.tombstonesRemoved, 0);
  const tombstone = recordsOf(log).filter((r) => r.key === 'gone');
  assert.deepEqual(
    tombstone.map((r) => r.value),
    [null],
    'the old value went, the tombstone stays',
  );
  assert.deepEqual(recordsOf(log), latestOnly(produced, activeBase));
  const old = log.compact(T0 + 60_000 + HOUR + 1, { deleteRetentionMs: HOUR });
  assert.equal(old.tombstonesRemoved, 1);
  assert.deepEqual(
    recordsOf(log).filter((r) => r.key === 'gone'),
    [],
  );
  assert.deepEqual(recordsOf(log), latestOnly(produced, activeBase, true));
  assert.ok(recordsOf(log).some((r) => r.key === 'stays'));
  log.close();
});

test('a segment that loses every record is deleted, except the first, which stays empty so logStartOffset holds', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const produced = produceRounds(log, 11, 6);
  const segmentsBefore = log.segmentCount;
  const activeBase = log.activeBaseOffset;
  const result = log.compact(T0, { deleteRetentionMs: HOUR });
  assert.ok(result.segmentsRemoved > 0, 'emptied segments go');
  assert.equal(log.segmentCount, segmentsBefore - result.segmentsRemoved);
  assert.equal(log.logStartOffset, 0n);
  assert.deepEqual(recordsOf(log), latestOnly(produced, activeBase));
  assert.equal(fs.statSync(path.join(dir, '00000000000000000000.log')).size, 16, 'the first segment is a header only');
  assert.equal(splitBatches(log.read(0n, 1))[0]!.readBigInt64BE(0), recordsOf(log)[0]!.offset, 'a read at the start finds the first batch left');
  log.close();
  const reopened = openLog(dir);
  assert.deepEqual(recordsOf(reopened), latestOnly(produced, activeBase));
  reopened.close();
});

test('reopening after compaction gives the same records, from the rewritten index files or by scanning', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const produced = produceRounds(log, 7, 11);
  const activeBase = log.activeBaseOffset;
  log.compact(T0, { deleteRetentionMs: HOUR });
  const expected = latestOnly(produced, activeBase);
  const highWatermark = log.highWatermark;
  log.close();
  const lines: string[] = [];
  const trusted = openLog(dir, {}, lines);
  assert.match(lines.join('\n'), /0 segment\(s\) scanned/);
  assert.deepEqual(recordsOf(trusted), expected);
  assert.equal(trusted.highWatermark, highWatermark);
  trusted.close();
  for (const name of fs.readdirSync(dir)) if (name.endsWith('.index')) fs.rmSync(path.join(dir, name));
  const scanLines: string[] = [];
  const scanned = openLog(dir, {}, scanLines);
  assert.doesNotMatch(scanLines.join('\n'), /byte\(s\) at position/, 'gaps and compacted batches are sound to the scan');
  assert.match(scanLines.join('\n'), /segment\(s\) scanned/);
  assert.deepEqual(recordsOf(scanned), expected);
  assert.equal(scanned.highWatermark, highWatermark);
  const more = produce(scanned, [['k1', 'later']], T0 + 1);
  assert.equal(more[0]!.offset, highWatermark);
  scanned.close();
});

test('offsets are never assigned twice when a crash leaves the active segment empty after compaction', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const first = log.activeBaseOffset;
  while (log.activeBaseOffset === first || log.segmentCount < 4) produce(log, [['z', 'again and again']], T0);
  const activeBase = log.activeBaseOffset;
  log.compact(T0, { deleteRetentionMs: HOUR });
  assert.equal(log.segmentCount, 2, 'every sealed batch was superseded: the first segment is empty, the rest gone');
  log.close();
  // as after a crash just after a roll: the newest segment exists, but none of its bytes reached the disk
  fs.truncateSync(path.join(dir, String(activeBase).padStart(20, '0') + '.log'), 0);
  const reopened = openLog(dir);
  assert.equal(reopened.highWatermark, activeBase, 'not the end of the compacted segment before it');
  assert.equal(produce(reopened, [['z', 'next']], T0)[0]!.offset, activeBase);
  reopened.close();
});

/** Copies every file of `from` into a fresh directory. */
function copyDir(from: string): string {
  const to = temporaryDir();
  for (const name of fs.readdirSync(from)) fs.copyFileSync(path.join(from, name), path.join(to, name));
  return to;
}

/**
 * Builds a log and closes it (`original`), then compacts a copy (`compacted`). Returns both directories,
 * the records each must hold, and the .log names compaction rewrote.
 */
function compactedPair(): { original: string; compacted: string; before: Seen[]; after: Seen[]; rewritten: string[] } {
  const original = temporaryDir();
  const log = openLog(original);
  const produced: Seen[] = [];
  for (let i = 0; i < 120; i++) {
    // eight keys written over and over, and every third batch a key written once, so every segment keeps something
    const pairs: Array<[string | null, string | null]> = [[`k${i % 8}`, `value ${i}`]];
    if (i % 3 === 0) pairs.push([`once-${i}`, `only value of once-${i}`]);
    produced.push(...produce(log, pairs, T0 + i));
  }
  const activeBase = log.activeBaseOffset;
  log.close();
  const compacted = copyDir(original);
  const compacting = openLog(compacted);
  compacting.compact(T0, { deleteRetentionMs: HOUR });
  compacting.close();
  const rewritten = fs
    .readdirSync(compacted)
    .filter((name) => name.endsWith('.log') && fs.statSync(path.join(compacted, name)).size !== fs.statSync(path.join(original, name)).size);
  assert.ok(rewritten.length >= 2, `${rewritten.length} segments rewritten`);
  return { original, compacted, before: produced, after: latestOnly(produced, activeBase), rewritten };
}

test('a crash leftover .cleaned file (never committed) is deleted at open; the original segment is intact', () => {
  const pair = compactedPair();
  const crashed = copyDir(pair.original);
  const name = pair.rewritten[1]!;
  // a complete rewrite and a torn one: neither was committed
  fs.copyFileSync(path.join(pair.compacted, name), path.join(crashed, name + CLEANED_FILE_SUFFIX));
  const torn = pair.rewritten[0]!;
  fs.writeFileSync(path.join(crashed, torn + CLEANED_FILE_SUFFIX), fs.readFileSync(path.join(pair.compacted, torn)).subarray(0, 100));
  const lines: string[] = [];
  const log = openLog(crashed, {}, lines);
  assert.ok(
    lines.some((line) => line.includes('uncommitted compaction rewrite')),
    lines.join('\n'),
  );
  assert.deepEqual(
    fs.readdirSync(crashed).filter((n) => n.endsWith(CLEANED_FILE_SUFFIX)),
    [],
  );
  assert.deepEqual(recordsOf(log), pair.before);
  log.compact(T0, { deleteRetentionMs: HOUR });
  assert.deepEqual(recordsOf(log), pair.after, 'and compaction runs again from scratch');
  log.close();
});

test('a committed swap interrupted at any step is finished at open and never loses a kept record', () => {
  const pair = compactedPair();
  const steps: Array<[string, (dir: string, name: string) => void]> = [
    [
      'swap file written, old index files still there',
      (dir, name) => {
        fs.copyFileSync(path.join(pair.compacted, name), path.join(dir, name + SWAP_FILE_SUFFIX));
      },
    ],
    [
      'swap file written, .index removed, .timeindex not yet',
      (dir, name) => {
        fs.copyFileSync(path.join(pair.compacted, name), path.join(dir, name + SWAP_FILE_SUFFIX));
        fs.rmSync(path.join(dir, name.replace(/\.log$/, '.index')));
      },
    ],
    [
      'renamed over the .log, index files not yet rewritten',
      (dir, name) => {
        fs.copyFileSync(path.join(pair.compacted, name), path.join(dir, name));
        fs.rmSync(path.join(dir, name.replace(/\.log$/, '.index')));
        fs.rmSync(path.join(dir, name.replace(/\.log$/, '.timeindex')));
      },
    ],
  ];
  for (const [step, crash] of steps) {
    const crashed = copyDir(pair.original);
    // the segments before the interrupted one were swapped completely
    const interrupted = pair.rewritten[1]!;
    for (const name of fs.readdirSync(pair.compacted)) {
      if (name.endsWith('.log') && name < interrupted) {
        for (const suffix of ['.log', '.index', '.timeindex']) {
          const file = name.replace(/\.log$/, suffix);
          fs.copyFileSync(path.join(pair.compacted, file), path.join(crashed, file));
        }
      }
    }
    crash(crashed, interrupted);
    const lines: string[] = [];
    const log = openLog(crashed, {}, lines);
    assert.deepEqual(
      fs.readdirSync(crashed).filter((n) => n.endsWith(SWAP_FILE_SUFFIX)),
      [],
      step,
    );
    const records = recordsOf(log);
    for (const kept of pair.after)
      assert.ok(
        records.some((r) => r.offset === kept.offset && r.value === kept.value),
        `${step}: offset ${kept.offset}`,
      );
    log.compact(T0, { deleteRetentionMs: HOUR });
    assert.deepEqual(recordsOf(log), pair.after, `${step}: compaction completes`);
    log.close();
    const reopened = openLog(crashed);
    assert.deepEqual(recordsOf(reopened), pair.after, `${step}: after reopening`);
    reopened.close();
  }
});

for (const [name, codec] of [
  ['gzip', CompressionCodec.Gzip],
  ['zstd', CompressionCodec.Zstd],
  ['snappy', CompressionCodec.Snappy],
  ['lz4', CompressionCodec.Lz4],
] as const) {
  // zstd needs node:zlib's (Node 22.15+, 23.8+)
  const skip = codec === CompressionCodec.Zstd ? (zstdUnavailableReason() ?? false) : false;
  test(`${name} batches compact correctly and keep their codec`, { skip }, () => {
    const dir = temporaryDir();
    const log = openLog(dir, { segmentBytes: 2048 });
    const produced = produceRounds(log, 12, 15, codec);
    const activeBase = log.activeBaseOffset;
    const result = log.compact(T0, { deleteRetentionMs: HOUR });
    assert.ok(result.segmentsRewritten > 0);
    assert.deepEqual(recordsOf(log), latestOnly(produced, activeBase));
    for (const batch of batchesOf(log)) assert.equal(readBatchHeader(batch).compression, codec);
    log.close();
    const reopened = openLog(dir, { segmentBytes: 2048 });
    assert.deepEqual(recordsOf(reopened), latestOnly(produced, activeBase));
    reopened.close();
  });
}

test('batches whose records do not decode are kept as they are, and the rest still compacts', () => {
  const dir = temporaryDir();
  const log = openLog(dir);
  const opaque = encodeOpaqueBatch({ id: 7, recordCount: 2, recordBytes: 40 });
  const { baseOffset } = log.append(opaque, T0);
  // a batch with a timestamp no clock gives (2^62 ms) that loses one of its records: kept whole
  const farFuture = encodeBatch({
    baseTimestamp: 2 ** 62,
    records: [
      { key: Buffer.from('k0'), value: null },
      { key: Buffer.from('far'), value: Buffer.from('x') },
    ],
  });
  const { baseOffset: farOffset } = log.append(farFuture, T0);
  const produced = produceRounds(log, 5, 8);
  const activeBase = log.activeBaseOffset;
  const result = log.compact(T0, { deleteRetentionMs: HOUR });
  assert.equal(result.batchesKeptOpaque, 2);
  const stored = batchesOf(log);
  assert.deepEqual(stored[0], asStored(opaque, baseOffset), 'byte for byte as appended');
  assert.deepEqual(stored[1], asStored(farFuture, farOffset, 0));
  assert.deepEqual(
    stored.slice(2).flatMap((batch) => decodeBatchRecords(batch).map((r) => text(r.value))),
    latestOnly(produced, activeBase).map((r) => r.value),
  );
  log.close();
});

test('compaction waits for sealed segments whose fsync or index files are still pending', async () => {
  const dir = temporaryDir();
  const scheduler = new SyncScheduler('always');
  const log = openLog(dir, { scheduler });
  const produced = produceRounds(log, 5, 8);
  const activeBase = log.activeBaseOffset;
  assert.equal(log.compact(T0, { deleteRetentionMs: HOUR }).segmentsExamined, 0, 'nothing sealed is durable yet');
  const round = scheduler.requestRound();
  await new Promise<void>((resolve) => {
    scheduler.addListener({ onDurable: (done) => void (done >= round && resolve()) });
  });
  await new Promise((resolve) => setImmediate(resolve)); // the flush that writes the sealed index files
  const result = log.compact(T0, { deleteRetentionMs: HOUR });
  assert.ok(result.segmentsExamined > 0);
  assert.deepEqual(recordsOf(log), latestOnly(produced, activeBase));
  await scheduler.close();
  log.close();
  const reopened = openLog(dir);
  assert.deepEqual(recordsOf(reopened), latestOnly(produced, activeBase));
  reopened.close();
});

test('random appends, compactions and reopenings always leave exactly the latest record of every key', () => {
  let state = 12345;
  const next = (limit: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % limit;
  };
  const dir = temporaryDir();
  let log = openLog(dir, { segmentBytes: 1500 });
  const produced: Seen[] = [];
  let compactedBefore = 0n;
  for (let step = 0; step < 300; step++) {
    const action = next(20);
    if (action === 0) {
      compactedBefore = log.activeBaseOffset;
      log.compact(T0, { deleteRetentionMs: 10 * HOUR });
      const expected = latestOnly(produced, compactedBefore);
      const got = recordsOf(log);
      // everything cleaned so far obeys the rule; records after the last pass are all still there
      for (const record of expected)
        assert.ok(
          got.some((r) => r.offset === record.offset && r.value === record.value),
          `step ${step}: ${record.offset} kept`,
        );
      for (const record of got)
        assert.ok(
          produced.some((r) => r.offset === record.offset && r.value === record.value && r.key === record.key),
          `step ${step}: ${record.offset} was produced`,
        );
      assert.ok(
        got.every((r, i) => i === 0 || r.offset > got[i - 1]!.offset),
        'offsets only grow',
      );
    } else if (action === 1) {
      log.close();
      log = openLog(dir, { segmentBytes: 1500 });
    } else {
      const pairs: Array<[string | null, string | null]> = [];
      for (let i = 1 + next(4); i > 0; i--) pairs.push([next(15) === 0 ? null : `key${next(25)}`, next(10) === 0 ? null : `v${step}-${i}`]);
      produced.push(...produce(log, pairs, T0 + step, next(3) === 0 ? CompressionCodec.Gzip : CompressionCodec.None));
    }
  }
  compactedBefore = log.activeBaseOffset;
  log.compact(T0, { deleteRetentionMs: 10 * HOUR });
  assert.deepEqual(recordsOf(log), latestOnly(produced, compactedBefore));
  log.close();
});
