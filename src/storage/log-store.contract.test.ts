/**
 * The LogStore contract (log-store.ts), one test body run over every engine (ARCHITECTURE.md habit 6): the
 * file engine (PartitionLog in a temporary directory, one batch per segment so that segment-granular
 * retention and compaction act on the same units as the memory engine's batches) and the memory engine.
 * What only files have (recovery after a crash, torn writes, index files) is tested in
 * partition/partition-log*.test.ts and partition/compaction.test.ts, file-only.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../log/logger.js';
import { FileStorageEngine } from './file-engine.js';
import { MemoryStorageEngine } from './memory/engine.js';
import { MIN_LOG_SEGMENT_BYTES, OffsetOutOfRangeError, type LogLimits, type LogStore, type StorageEngine } from './stores.js';
import { CorruptBatchError } from '../format/kafka/errors.js';
import { decodeBatchRecords, encodeBatch, readBatchHeader } from '../format/kafka/records.js';
import { splitBatches } from '../format/kafka/test-batches.js';
import { MIN_PARTITION_SEGMENT_BYTES } from './partition/partition-log.js';
import { MAX_PARTITION_SEGMENT_BYTES } from './partition/partition-recovery.js';
import { MAX_LOG_SEGMENT_BYTES } from './log-store.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface EngineUnderTest {
  readonly name: string;
  /** a fresh engine and the place a topic's partitions go */
  make(): { engine: StorageEngine; topic: string };
}

const ENGINES: EngineUnderTest[] = [
  {
    name: 'file',
    make() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-log-store-'));
      dirs.push(dir);
      return { engine: new FileStorageEngine({ dataDir: dir, fsync: 'never', logger: createLogger('silent') }), topic: dir };
    },
  },
  { name: 'memory', make: () => ({ engine: new MemoryStorageEngine(), topic: 'topic' }) },
];

/** Every batch in a segment of its own in the file engine (a batch larger than segment.bytes gets one). */
const ONE_BATCH_PER_SEGMENT: LogLimits = { segmentBytes: MIN_LOG_SEGMENT_BYTES, segmentMs: null, retentionMs: null, retentionBytes: null };
const T0 = 1_700_000_000_000;

/** A batch of records `key=value` (a key of '' is a null key), all at `timestamp`. */
function batchOf(pairs: ReadonlyArray<readonly [string, string | null]>, timestamp: number): Buffer {
  return encodeBatch({
    baseTimestamp: timestamp,
    maxTimestamp: timestamp,
    records: pairs.map(([key, value]) => ({ key: key === '' ? null : Buffer.from(key), value: value === null ? null : Buffer.from(value) })),
  });
}

/** The records in `bytes` (whole batches) as offset:key=value strings. */
function recordsIn(bytes: Buffer): string[] {
  const out: string[] = [];
  for (const batch of splitBatches(bytes)) {
    const header = readBatchHeader(batch);
    for (const r of decodeBatchRecords(batch))
      out.push(`${header.baseOffset + BigInt(r.offsetDelta)}:${r.key?.toString() ?? ''}=${r.value?.toString() ?? 'null'}`);
  }
  return out;
}

/** Every batch from `offset` to the end, read on from each read's end (a read may stop at a storage unit's end). */
function readAll(log: LogStore, offset: bigint): Buffer {
  const parts: Buffer[] = [];
  for (;;) {
    const bytes = log.read(offset, 1 << 20);
    if (bytes.length === 0) return Buffer.concat(parts);
    parts.push(Buffer.from(bytes));
    offset = log.lastReadEnd;
  }
}

/** Resolves once the engine's durable rounds passed `round`. */
async function roundDone(engine: StorageEngine, round: number): Promise<void> {
  for (let i = 0; i < 1000 && engine.durable.completedRound < round; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(engine.durable.completedRound >= round, `round ${round} completed`);
}

function logStoreContract(engineUnderTest: EngineUnderTest): void {
  const name = engineUnderTest.name;

  /** Runs `body` over a fresh log of a fresh engine, closing both after it. */
  async function withLog(limits: LogLimits, body: (log: LogStore, engine: StorageEngine) => Promise<void> | void): Promise<void> {
    const { engine, topic } = engineUnderTest.make();
    const log = engine.openLogStore(topic, 0, { limits, logger: () => undefined });
    try {
      await body(log, engine);
    } finally {
      log.close();
      await engine.close();
    }
  }

  test(`${name} engine: appends get consecutive offsets from 0, endOffset follows, and the log grows by each batch`, () =>
    withLog(ONE_BATCH_PER_SEGMENT, (log) => {
      assert.equal(log.endOffset, 0n);
      assert.equal(log.logStartOffset, 0n);
      const first = batchOf(
        [
          ['a', '1'],
          ['b', '2'],
          ['c', '3'],
        ],
        T0,
      );
      const second = batchOf([['d', '4']], T0);
      assert.deepEqual(log.append(first, T0), { baseOffset: 0n, lastOffset: 2n, logAppendTime: -1 });
      const before = log.sizeBytes;
      // two batches in one request: consecutive offsets, one result
      const result = log.append(
        Buffer.concat([
          second,
          batchOf(
            [
              ['e', '5'],
              ['f', '6'],
            ],
            T0,
          ),
        ]),
        T0,
      );
      assert.equal(result.baseOffset, 3n);
      assert.equal(result.lastOffset, 5n);
      assert.equal(log.endOffset, 6n);
      assert.ok(
        log.sizeBytes >=
          before +
            second.length +
            batchOf(
              [
                ['e', '5'],
                ['f', '6'],
              ],
              T0,
            ).length,
        'sizeBytes counts every stored byte',
      );
      assert.deepEqual(recordsIn(readAll(log, 0n)), ['0:a=1', '1:b=2', '2:c=3', '3:d=4', '4:e=5', '5:f=6']);
    }));

  test(`${name} engine: a request with one malformed batch appends nothing`, () =>
    withLog(ONE_BATCH_PER_SEGMENT, (log) => {
      const good = batchOf([['a', '1']], T0);
      const bad = Buffer.from(batchOf([['b', '2']], T0));
      bad.writeUInt8(bad.readUInt8(bad.length - 1) ^ 0xff, bad.length - 1); // the CRC no longer matches
      assert.throws(() => log.append(Buffer.concat([good, bad]), T0), CorruptBatchError);
      assert.equal(log.endOffset, 0n);
      assert.equal(log.read(0n, 1 << 20).length, 0);
    }));

  test(`${name} engine: a read returns whole batches from the one holding the offset, at least one, within the budget`, () =>
    withLog(ONE_BATCH_PER_SEGMENT, (log) => {
      const batches = [0, 1, 2, 3].map((i) =>
        batchOf(
          [
            [`k${i}`, `v${i}a`],
            [`k${i}`, `v${i}b`],
          ],
          T0 + i,
        ),
      );
      for (const batch of batches) log.append(batch, T0);
      // offset 3 is the second record of the second batch: the read starts with that whole batch
      const one = log.read(3n, 1);
      assert.deepEqual(recordsIn(one), ['2:k1=v1a', '3:k1=v1b']);
      assert.equal(log.lastReadEnd, 4n);
      const stored = splitBatches(one)[0]!;
      assert.equal(stored.readBigInt64BE(0), 2n, 'the base offset is rewritten');
      assert.equal(stored.readInt32BE(12), 0, 'the partition leader epoch is set');
      assert.deepEqual(stored.subarray(17), batches[1]!.subarray(17), 'the rest is the batch as sent, CRC included');
      const budget = batches[0]!.length + batches[1]!.length;
      const within = log.read(0n, budget);
      assert.ok(within.length <= budget, 'more than one batch only within the budget');
      assert.equal(log.lastReadEnd, BigInt(2 * splitBatches(within).length));
      assert.deepEqual(recordsIn(readAll(log, 0n)).length, 8, 'reading on from each end gives every record');
      assert.equal(log.read(8n, 1 << 20).length, 0, 'nothing at the end');
      assert.throws(() => log.read(9n, 1), OffsetOutOfRangeError);
    }));

  test(`${name} engine: a slice holds the bytes a read returns, only batches below the end given, and is null at it`, () =>
    withLog({ ...ONE_BATCH_PER_SEGMENT, segmentBytes: 1 << 20 }, (log) => {
      for (let i = 0; i < 4; i++) log.append(batchOf([[`k${i}`, `v${i}`]], T0), T0);
      const read = log.read(1n, 1 << 20);
      const slice = log.slice(1n, 1 << 20, 3n);
      assert.ok(slice !== null);
      const bytes = Buffer.alloc(slice.length);
      slice.read(bytes, 0, 0, slice.length);
      slice.release();
      assert.deepEqual(recordsIn(bytes), ['1:k1=v1', '2:k2=v2']);
      assert.deepEqual(bytes, read.subarray(0, bytes.length));
      assert.equal(log.lastReadEnd, 3n);
      assert.equal(log.slice(3n, 1 << 20, 3n), null);
      assert.equal(log.slice(4n, 1 << 20, 4n), null);
      assert.throws(() => log.slice(5n, 1, 5n), OffsetOutOfRangeError);
    }));

  test(`${name} engine: offsetForTimestamp finds the first batch whose newest record is at or after the time`, () =>
    withLog(ONE_BATCH_PER_SEGMENT, (log) => {
      log.append(
        batchOf(
          [
            ['a', '1'],
            ['b', '2'],
          ],
          T0 + 1000,
        ),
        T0,
      );
      log.append(batchOf([['c', '3']], T0 + 2000), T0);
      log.append(batchOf([['d', '4']], T0 + 3000), T0);
      assert.equal(log.offsetForTimestamp(0), 0n);
      assert.equal(log.offsetForTimestamp(T0 + 1000), 0n);
      assert.equal(log.offsetForTimestamp(T0 + 1500), 2n);
      assert.equal(log.offsetForTimestamp(T0 + 3000), 3n);
      assert.equal(log.offsetForTimestamp(T0 + 3001), null);
    }));

  test(`${name} engine: the recent appends start at the oldest batch appended since the time, within the byte bound`, () =>
    withLog(ONE_BATCH_PER_SEGMENT, (log) => {
      log.append(batchOf([['a', '1']], T0), T0);
      log.append(batchOf([['b', '2']], T0), T0 + 1000);
      log.append(batchOf([['c', '3']], T0), T0 + 2000);
      assert.equal(log.baseOffsetAppendedSince(T0 + 500, Number.MAX_SAFE_INTEGER), 1n);
      assert.equal(log.baseOffsetAppendedSince(0, Number.MAX_SAFE_INTEGER), 0n);
      assert.equal(log.baseOffsetAppendedSince(0, 1), 2n, 'the newest batch at least');
    }));

  test(`${name} engine: retention by time drops what is older than retention.ms and moves the log start`, () =>
    withLog({ ...ONE_BATCH_PER_SEGMENT, retentionMs: 1500 }, (log) => {
      log.append(batchOf([['a', '1']], T0 + 1000), T0 + 1000);
      log.append(batchOf([['b', '2']], T0 + 2000), T0 + 2000);
      log.append(batchOf([['c', '3']], T0 + 3000), T0 + 3000);
      assert.equal(log.enforceRetention(T0 + 3400), 1);
      assert.equal(log.logStartOffset, 1n);
      assert.equal(log.enforceRetention(T0 + 3600), 1);
      assert.equal(log.logStartOffset, 2n);
      assert.throws(() => log.read(1n, 1 << 20), OffsetOutOfRangeError);
      assert.deepEqual(recordsIn(readAll(log, 2n)), ['2:c=3']);
      assert.equal(log.endOffset, 3n, 'the end never moves back');
    }));

  test(`${name} engine: retention by bytes drops the oldest while the rest still hold retention.bytes, never the newest`, () =>
    withLog(ONE_BATCH_PER_SEGMENT, (log) => {
      const batches = [0, 1, 2, 3].map((i) => batchOf([[`k${i}`, `v${i}`]], T0));
      for (const batch of batches) log.append(batch, T0);
      log.setLimits({ ...ONE_BATCH_PER_SEGMENT, retentionBytes: batches[0]!.length });
      assert.equal(log.enforceRetention(T0), 3);
      assert.equal(log.logStartOffset, 3n);
      assert.ok(log.sizeBytes >= batches[0]!.length);
      assert.deepEqual(recordsIn(readAll(log, 3n)), ['3:k3=v3']);
      log.setLimits({ ...ONE_BATCH_PER_SEGMENT, retentionBytes: 0 });
      assert.equal(log.enforceRetention(T0), 0, 'the newest is kept');
    }));

  test(`${name} engine: limits out of range are refused and change nothing`, () =>
    withLog(ONE_BATCH_PER_SEGMENT, (log) => {
      assert.throws(() => log.setLimits({ ...ONE_BATCH_PER_SEGMENT, retentionMs: -1 }), RangeError);
      assert.throws(() => log.setLimits({ ...ONE_BATCH_PER_SEGMENT, retentionBytes: -5 }), RangeError);
      log.append(batchOf([['a', '1']], T0), T0);
      assert.equal(log.enforceRetention(T0 + 10 ** 9), 0, 'still no retention');
    }));

  test(`${name} engine: compaction keeps the latest record of each key at its offset and leaves the log start`, () =>
    withLog(ONE_BATCH_PER_SEGMENT, (log) => {
      log.append(batchOf([['a', 'old']], T0), T0);
      log.append(batchOf([['b', '1']], T0), T0);
      log.append(batchOf([['a', 'new']], T0), T0);
      log.append(batchOf([['c', '1']], T0), T0);
      const steps = log.compactionSteps(T0, { deleteRetentionMs: 3_600_000 });
      let step = steps.next();
      while (step.done !== true) step = steps.next();
      assert.equal(step.value.recordsRemoved, 1);
      assert.equal(log.logStartOffset, 0n);
      assert.deepEqual(recordsIn(readAll(log, 0n)), ['1:b=1', '2:a=new', '3:c=1']);
      assert.equal(log.endOffset, 4n);
    }));

  test(`${name} engine: a tombstone stays until delete.retention.ms passed, then compaction removes it`, () =>
    withLog(ONE_BATCH_PER_SEGMENT, (log) => {
      log.append(batchOf([['a', '1']], T0), T0);
      log.append(batchOf([['a', null]], T0), T0);
      log.append(batchOf([['b', '1']], T0), T0);
      const compact = (now: number): number => {
        const steps = log.compactionSteps(now, { deleteRetentionMs: 1000 });
        let step = steps.next();
        while (step.done !== true) step = steps.next();
        return step.value.tombstonesRemoved;
      };
      assert.equal(compact(T0 + 500), 0);
      assert.deepEqual(recordsIn(readAll(log, 0n)), ['1:a=null', '2:b=1']);
      assert.equal(compact(T0 + 5000), 1);
      assert.deepEqual(recordsIn(readAll(log, 0n)), ['2:b=1']);
    }));

  test(`${name} engine: an append is covered by the next durability round, which completes`, () =>
    withLog(ONE_BATCH_PER_SEGMENT, async (log, engine) => {
      log.append(batchOf([['a', '1']], T0), T0);
      const round = engine.durable.requestRound();
      assert.ok(round > 0);
      await roundDone(engine, round);
      assert.equal(engine.durable.failure, null);
    }));

  test(`${name} engine: a closed log refuses reads, and a deleted one keeps nothing`, async () => {
    const { engine, topic } = engineUnderTest.make();
    const log = engine.openLogStore(topic, 0, { limits: ONE_BATCH_PER_SEGMENT, logger: () => undefined });
    log.append(batchOf([['a', '1']], T0), T0);
    log.close();
    assert.throws(() => log.read(0n, 1));
    const again = engine.openLogStore(topic, 0, { limits: ONE_BATCH_PER_SEGMENT, logger: () => undefined });
    assert.equal(again.endOffset, 1n, 'reopened within the engine, it holds what it held');
    again.destroy();
    const fresh = engine.openLogStore(topic, 0, { limits: ONE_BATCH_PER_SEGMENT, logger: () => undefined });
    assert.equal(fresh.endOffset, 0n);
    fresh.close();
    await engine.close();
  });

  test(`${name} engine: partitions past a count that are not open are removed`, async () => {
    const { engine, topic } = engineUnderTest.make();
    for (let p = 0; p < 3; p++) {
      const log = engine.openLogStore(topic, p, { limits: ONE_BATCH_PER_SEGMENT, logger: () => undefined });
      log.append(batchOf([['a', String(p)]], T0), T0);
      log.close();
    }
    assert.deepEqual(engine.removeLogStoresFrom(topic, 1).sort(), [1, 2]);
    const kept = engine.openLogStore(topic, 0, { limits: ONE_BATCH_PER_SEGMENT, logger: () => undefined });
    const removed = engine.openLogStore(topic, 2, { limits: ONE_BATCH_PER_SEGMENT, logger: () => undefined });
    assert.equal(kept.endOffset, 1n);
    assert.equal(removed.endOffset, 0n);
    kept.close();
    removed.close();
    await engine.close();
  });
}

for (const engine of ENGINES) logStoreContract(engine);

test('file engine only: the segment.bytes range of the contract is the one the partition log takes', () => {
  assert.equal(MIN_PARTITION_SEGMENT_BYTES, MIN_LOG_SEGMENT_BYTES);
  assert.equal(MAX_PARTITION_SEGMENT_BYTES, MAX_LOG_SEGMENT_BYTES);
});
