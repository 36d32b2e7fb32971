/**
 * An idempotent producer whose acks=-1 answer was lost retries the same batch (same producer id, epoch and
 * sequence). When the broker restarted in between, it must still know the batch is written: Kafka answers
 * a duplicate of one of the producer's last 5 batches with NONE and the offset the batch got the first
 * time, and appends nothing. Raw frames (helpers/kafka-raw.ts) so the retry is byte-for-byte the same batch.
 * Run over a clean close (in process) and over kill -9 (a child `postbox serve`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestBroker, tempDataDir } from '../helpers/broker.js';
import { spawnBroker, type BrokerProcess } from '../helpers/process.js';
import { RawKafkaClient, encodeBatch } from '../helpers/kafka-raw.js';

const TOPIC = 'idem-restart';
const ROLLING_TOPIC = 'idem-restart-rolling';
/** room for one of the ~220-byte batches below, not two: the second append rolls the segment */
const SMALL_SEGMENT_BYTES = 300;
const NONE = 0;

/** A broker on one data directory that can be brought down and up again; `port` is the current Kafka port. */
interface Restartable {
  readonly dataDir: string;
  readonly port: number;
  /** down (the way this variant goes down) and up again on the same data directory */
  restart(): Promise<void>;
  /** down for good, data directory removed */
  dispose(): Promise<void>;
}

async function inProcess(): Promise<Restartable> {
  const dataDir = tempDataDir('postbox-idem-restart-');
  let broker = await startTestBroker({ dataDir });
  return {
    dataDir,
    get port() {
      return broker.kafkaPort;
    },
    async restart() {
      await broker.close();
      broker = await startTestBroker({ dataDir });
    },
    async dispose() {
      await broker.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function killed(): Promise<Restartable> {
  const dataDir = tempDataDir('postbox-idem-kill-');
  let child: BrokerProcess = await spawnBroker(dataDir);
  return {
    dataDir,
    get port() {
      return child.kafkaPort;
    },
    async restart() {
      child.child.kill('SIGKILL');
      assert.equal(await child.exited, 'SIGKILL');
      child = await spawnBroker(dataDir);
    },
    async dispose() {
      child.child.kill('SIGKILL');
      await child.exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function initProducerId(client: RawKafkaClient): Promise<{ producerId: bigint; producerEpoch: number }> {
  const response = await client.request(22, 4, { transactionalId: null, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 });
  assert.equal(response.errorCode, NONE);
  assert.ok(response.producerId >= 0n, `a producer id: ${response.producerId}`);
  return { producerId: response.producerId, producerEpoch: response.producerEpoch };
}

async function retriedBatchesAreNotWrittenTwiceAcrossARestart(broker: Restartable): Promise<void> {
  let client = await RawKafkaClient.connect(broker.port);
  // a plain record first, so the idempotent batches' offsets are not the defaults a broken answer would carry
  assert.deepEqual(await client.produce(TOPIC, 0, await encodeBatch({ records: [{ value: 'plain' }] }), -1), { errorCode: NONE, baseOffset: 0n });
  const producer = await initProducerId(client);
  const first = await encodeBatch({ records: [{ value: 'a0' }, { value: 'a1' }, { value: 'a2' }], ...producer, firstSequence: 0 });
  const second = await encodeBatch({ records: [{ value: 'b0' }, { value: 'b1' }], ...producer, firstSequence: 3 });
  assert.deepEqual(await client.produce(TOPIC, 0, first, -1), { errorCode: NONE, baseOffset: 1n });
  assert.deepEqual(await client.produce(TOPIC, 0, second, -1), { errorCode: NONE, baseOffset: 4n });
  client.close();

  await broker.restart();
  client = await RawKafkaClient.connect(broker.port);
  try {
    // both retries, byte for byte: NONE with the offsets they got before the restart, nothing appended
    assert.deepEqual(await client.produce(TOPIC, 0, second, -1), { errorCode: NONE, baseOffset: 4n });
    assert.deepEqual(await client.produce(TOPIC, 0, first, -1), { errorCode: NONE, baseOffset: 1n });
    assert.equal((await client.fetch(TOPIC, 0, 0n)).highWatermark, 6n);
    // the producer's sequence survived too: a gap is still refused (OUT_OF_ORDER_SEQUENCE_NUMBER)...
    const gap = await encodeBatch({ records: [{ value: 'gap' }], ...producer, firstSequence: 7 });
    assert.equal((await client.produce(TOPIC, 0, gap, -1)).errorCode, 45);
    // ...and the next sequence (5 records sent so far) is appended after them
    const next = await encodeBatch({ records: [{ value: 'c0' }], ...producer, firstSequence: 5 });
    assert.deepEqual(await client.produce(TOPIC, 0, next, -1), { errorCode: NONE, baseOffset: 6n });

    const { highWatermark } = await client.fetch(TOPIC, 0, 0n);
    assert.equal(highWatermark, 7n);
    const records = await client.readToEnd(TOPIC, 0, 0n);
    assert.deepEqual(
      records.map((r) => [r.offset, r.value]),
      [
        [0n, 'plain'],
        [1n, 'a0'],
        [2n, 'a1'],
        [3n, 'a2'],
        [4n, 'b0'],
        [5n, 'b1'],
        [6n, 'c0'],
      ],
    );

    // a producer starting after the restart gets a fresh id: reusing the old one would make its first
    // batch look like a retry of the old producer's and be dropped
    const fresh = await initProducerId(client);
    assert.notEqual(fresh.producerId, producer.producerId);
  } finally {
    client.close();
  }
}

/**
 * The segment holding the batch was sealed before the restart (the next append rolled it): recovery must
 * not look at the active segment alone, or the producer is unknown after the restart and its retry written again.
 */
async function aRetryOfABatchInASealedSegmentIsNotWrittenTwice(broker: Restartable): Promise<void> {
  let client = await RawKafkaClient.connect(broker.port);
  const created = await client.request(19, 4, {
    topics: [
      {
        name: ROLLING_TOPIC,
        numPartitions: 1,
        replicationFactor: 1,
        assignments: [],
        configs: [{ name: 'segment.bytes', value: String(SMALL_SEGMENT_BYTES) }],
      },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  assert.equal(created.topics[0]!.errorCode, NONE);
  const producer = await initProducerId(client);
  const batch = await encodeBatch({ records: [{ value: 'idempotent'.padEnd(150, '.') }], ...producer, firstSequence: 0 });
  assert.deepEqual(await client.produce(ROLLING_TOPIC, 0, batch, -1), { errorCode: NONE, baseOffset: 0n });
  // another producer's append does not fit: the segment rolls, the idempotent batch is in a sealed one
  assert.deepEqual(await client.produce(ROLLING_TOPIC, 0, await encodeBatch({ records: [{ value: 'plain'.padEnd(150, '.') }] }), -1), {
    errorCode: NONE,
    baseOffset: 1n,
  });
  client.close();

  await broker.restart();
  const segments = readdirSync(join(broker.dataDir, 'streams', ROLLING_TOPIC, '0')).filter((f) => f.endsWith('.log'));
  assert.ok(segments.length >= 2, `the partition rolled: ${segments.join(', ')}`);
  client = await RawKafkaClient.connect(broker.port);
  try {
    assert.deepEqual(await client.produce(ROLLING_TOPIC, 0, batch, -1), { errorCode: NONE, baseOffset: 0n });
    assert.equal((await client.fetch(ROLLING_TOPIC, 0, 0n)).highWatermark, 2n);
    const next = await encodeBatch({ records: [{ value: 'next' }], ...producer, firstSequence: 1 });
    assert.deepEqual(await client.produce(ROLLING_TOPIC, 0, next, -1), { errorCode: NONE, baseOffset: 2n });
    const values = (await client.readToEnd(ROLLING_TOPIC, 0, 0n)).map((r) => r.value?.replace(/\.+$/, ''));
    assert.deepEqual(values, ['idempotent', 'plain', 'next']);
  } finally {
    client.close();
  }
}

const VARIANTS = [
  { how: 'the broker closes and restarts', start: inProcess },
  { how: 'the broker is killed with kill -9 and restarts', start: killed },
] as const;

for (const { how, start } of VARIANTS) {
  test(`a retried idempotent batch is answered with its original offset and not written again after ${how}`, async () => {
    const broker = await start();
    try {
      await retriedBatchesAreNotWrittenTwiceAcrossARestart(broker);
    } finally {
      await broker.dispose();
    }
  });

  test(`a retried idempotent batch whose segment was sealed is not written again after ${how}`, async () => {
    const broker = await start();
    try {
      await aRetryOfABatchInASealedSegmentIsNotWrittenTwice(broker);
    } finally {
      await broker.dispose();
    }
  });
}
