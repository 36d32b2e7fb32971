/**
 * The stream core (topics, appendBatches, readSlice, offsetForTime, idempotent producers) over every storage
 * engine: the same behaviour whether a partition's LogStore is the file engine's PartitionLog or the
 * memory engine's MemoryLogStore (ARCHITECTURE.md habit 6: one test body over every engine).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../log/logger.js';
import { FileStorageEngine } from '../../storage/file-engine.js';
import { MemoryStorageEngine } from '../../storage/memory/engine.js';
import type { StorageEngine } from '../../storage/stores.js';
import { decodeBatchRecords, encodeBatch } from '../../format/kafka/records.js';
import { splitBatches } from '../../format/kafka/test-batches.js';
import { Errors } from '../../errors/errors.js';
import { APPEND_DUPLICATE, APPEND_REFUSED, APPEND_WRITTEN, appendBatches, appendOutcome } from './append.js';
import { offsetForTime } from './browse.js';
import { StreamStore } from './topics.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

const ENGINES: Array<{ name: string; make: (dataDir: string) => StorageEngine }> = [
  { name: 'file', make: (dataDir) => new FileStorageEngine({ dataDir, fsync: 'always', logger: createLogger('silent') }) },
  { name: 'memory', make: () => new MemoryStorageEngine() },
];
const T0 = 1_700_000_000_000;

async function withStreams(make: (dataDir: string) => StorageEngine, body: (streams: StreamStore) => Promise<void>): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-append-engines-'));
  dirs.push(dataDir);
  const engine = make(dataDir);
  const streams = StreamStore.open({ engine, logger: createLogger('silent'), autoCreateTopics: false, defaultPartitions: 1, retentionCheckMs: 60_000 });
  try {
    await body(streams);
  } finally {
    await streams.close();
    await engine.close();
  }
}

function values(batches: Buffer): string[] {
  return splitBatches(batches).flatMap((batch) => decodeBatchRecords(batch).map((r) => r.value?.toString() ?? 'null'));
}

for (const { name, make } of ENGINES) {
  test(`${name} engine: appended records become readable once their durability round completes`, () =>
    withStreams(make, async (streams) => {
      const partition = streams.createTopic('t', 1, {}).partitions[0]!;
      const outcome = appendBatches(
        streams,
        partition,
        encodeBatch({
          baseTimestamp: T0,
          records: [
            { key: null, value: Buffer.from('a') },
            { key: null, value: Buffer.from('b') },
          ],
        }),
        0,
        appendOutcome(),
      );
      assert.equal(outcome.status, APPEND_WRITTEN);
      assert.equal(outcome.baseOffset, 0n);
      assert.equal(outcome.records, 2);
      assert.equal(partition.readSlice(0n, 1 << 20), null, 'nothing is visible before the round');
      await streams.whenDurable(outcome.round);
      assert.equal(partition.highWatermark, 2n);
      const slice = partition.readSlice(0n, 1 << 20);
      assert.ok(slice !== null);
      const bytes = Buffer.alloc(slice.length);
      slice.read(bytes, 0, 0, slice.length);
      slice.release();
      assert.deepEqual(values(bytes), ['a', 'b']);
      assert.equal(partition.log.lastReadEnd, 2n);
    }));

  test(`${name} engine: a time lookup finds the first record at or after the time`, () =>
    withStreams(make, async (streams) => {
      const partition = streams.createTopic('t', 1, {}).partitions[0]!;
      const batch = encodeBatch({
        baseTimestamp: T0,
        records: [0, 10, 20].map((delta) => ({ key: null, value: Buffer.from(String(delta)), timestampDelta: delta })),
      });
      await streams.whenDurable(appendBatches(streams, partition, batch, 0, appendOutcome()).round);
      assert.deepEqual(offsetForTime(partition, T0 + 5, 1 << 20), { offset: 1n, timestamp: BigInt(T0 + 10) });
      assert.deepEqual(offsetForTime(partition, T0 + 21, 1 << 20), { offset: -1n, timestamp: -1n });
    }));

  test(`${name} engine: an idempotent producer's retry is answered with the first offset and a gap is refused`, () =>
    withStreams(make, async (streams) => {
      const partition = streams.createTopic('t', 1, {}).partitions[0]!;
      const produce = (sequence: number, value: string): Buffer =>
        encodeBatch({ baseTimestamp: T0, producerId: 7n, producerEpoch: 0, baseSequence: sequence, records: [{ key: null, value: Buffer.from(value) }] });
      assert.equal(appendBatches(streams, partition, produce(0, 'x'), 0, appendOutcome()).status, APPEND_WRITTEN);
      const second = appendBatches(streams, partition, produce(1, 'y'), 0, appendOutcome());
      const retry = appendBatches(streams, partition, produce(1, 'y'), 0, appendOutcome());
      assert.equal(retry.status, APPEND_DUPLICATE);
      assert.equal(retry.baseOffset, second.baseOffset);
      const gap = appendBatches(streams, partition, produce(5, 'z'), 0, appendOutcome());
      assert.equal(gap.status, APPEND_REFUSED);
      assert.equal(gap.error, Errors.OUT_OF_ORDER_SEQUENCE);
      await streams.whenDurable(retry.round);
      assert.equal(partition.highWatermark, 2n);
    }));

  test(`${name} engine: retention through the stream store moves the partition's log start`, () =>
    withStreams(make, async (streams) => {
      const topic = streams.createTopic('t', 1, { 'retention.ms': '1000', 'segment.bytes': '100' });
      const partition = topic.partitions[0]!;
      for (let i = 0; i < 3; i++) {
        const outcome = appendBatches(
          streams,
          partition,
          encodeBatch({ baseTimestamp: T0 + i * 1000, records: [{ key: null, value: Buffer.alloc(120, i) }] }),
          0,
          appendOutcome(),
        );
        await streams.whenDurable(outcome.round);
      }
      streams.runRetention(T0 + 2500);
      assert.equal(partition.log.logStartOffset, 2n);
    }));
}
