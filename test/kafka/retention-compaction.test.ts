import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';
import { RawKafkaClient } from '../helpers/kafka-raw.js';

/** Small segments so a few records fill several of them (retention and compaction work on sealed segments). */
const SEGMENT_BYTES = '1024';

let broker: TestBroker;
let admin: Admin;
let producer: Producer;
let raw: RawKafkaClient;

before(async () => {
  broker = await startTestBroker({ kafkaRetentionCheckMs: 50 });
  const kafka = new Kafka({ clientId: 'retention-test', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer();
  await producer.connect();
  raw = await RawKafkaClient.connect(broker.kafkaPort);
});
after(async () => {
  raw.close();
  await producer.disconnect();
  await admin.disconnect();
  await broker.stop();
});

async function earliest(topic: string): Promise<bigint> {
  const [offsets] = await admin.fetchTopicOffsets(topic);
  return BigInt(offsets!.low);
}

test('retention.bytes deletes the oldest whole segments, and a fetch below the new start is out of range', async () => {
  const topic = 'retained-by-size';
  await admin.createTopics({
    topics: [
      {
        topic,
        numPartitions: 1,
        configEntries: [
          { name: 'segment.bytes', value: SEGMENT_BYTES },
          { name: 'retention.bytes', value: '2048' },
        ],
      },
    ],
  });
  for (let i = 0; i < 40; i++) await producer.send({ topic, acks: -1, messages: [{ value: `record-${i}-`.padEnd(100, 'x') }] });
  await waitFor(() => broker.streams.topic(topic)!.partitions[0]!.log.logStartOffset > 0n, 10_000, 'retention to delete a segment');
  // one more pass by hand: after it nothing is left to delete until the next append
  broker.streams.runRetention(Date.now());
  const start = await earliest(topic);
  assert.ok(start > 0n && start < 40n, `log start ${start}`);
  assert.ok(broker.streams.topic(topic)!.partitions[0]!.log.sizeBytes >= 2048, 'retention deleted below retention.bytes');
  const { errorCode } = await raw.fetch(topic, 0, 0n);
  assert.equal(errorCode, 1); // OFFSET_OUT_OF_RANGE
  // what is left is the newest records, intact and in order
  const rest = await raw.readRecords(topic, 0, start, Number(40n - start));
  assert.deepEqual(
    rest.map((r) => r.offset),
    Array.from({ length: rest.length }, (_, i) => start + BigInt(i)),
  );
  assert.equal(rest[rest.length - 1]!.value, 'record-39-'.padEnd(100, 'x'));
});

test('retention.ms deletes segments whose newest record is older than the limit', async () => {
  const topic = 'retained-by-time';
  await admin.createTopics({
    topics: [
      {
        topic,
        numPartitions: 1,
        configEntries: [
          { name: 'segment.bytes', value: SEGMENT_BYTES },
          { name: 'retention.ms', value: '60000' },
        ],
      },
    ],
  });
  const old = Date.now() - 3_600_000;
  for (let i = 0; i < 20; i++) await producer.send({ topic, acks: -1, messages: [{ value: `old-${i}-`.padEnd(100, 'x'), timestamp: String(old) }] });
  for (let i = 0; i < 20; i++) await producer.send({ topic, acks: -1, messages: [{ value: `new-${i}-`.padEnd(100, 'x') }] });
  await waitFor(() => broker.streams.topic(topic)!.partitions[0]!.log.logStartOffset > 0n, 10_000, 'retention to delete old segments');
  // the timer may have passed while old segments were still being sealed: one more pass by hand deletes
  // every old segment, after which nothing is left to delete (no timer pass can move the start under us)
  broker.streams.runRetention(Date.now());
  const start = await earliest(topic);
  const rest = await raw.readRecords(topic, 0, start, Number(40n - start));
  // every record still there is from a segment that holds new records; every new record is still there
  assert.equal(rest.filter((r) => r.value!.startsWith('new-')).length, 20);
  assert.ok(start <= 20n, `log start ${start} passed the new records`);
});

test('cleanup.policy=compact keeps the latest value per key and drops keys deleted by a tombstone', async () => {
  const topic = 'compacted';
  await admin.createTopics({
    topics: [
      {
        topic,
        numPartitions: 1,
        configEntries: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'segment.bytes', value: SEGMENT_BYTES },
          { name: 'delete.retention.ms', value: '0' },
        ],
      },
    ],
  });
  const latest = new Map<string, string | null>();
  for (let round = 0; round < 6; round++) {
    for (const key of ['alpha', 'beta', 'gamma', 'delta']) {
      const value = `${key}-v${round}-`.padEnd(80, '.');
      latest.set(key, value);
      await producer.send({ topic, acks: -1, messages: [{ key, value }] });
    }
  }
  await producer.send({ topic, acks: -1, messages: [{ key: 'gamma', value: null }] });
  latest.delete('gamma');
  // filler with distinct keys rolls the segment holding the tombstone so compaction reaches it
  for (let i = 0; i < 30; i++) await producer.send({ topic, acks: -1, messages: [{ key: `filler-${i}`, value: 'f'.repeat(80) }] });
  const end = 6 * 4 + 1 + 30;
  let records = await raw.readToEnd(topic, 0, await earliest(topic));
  const deadline = Date.now() + 10_000;
  while (records.some((r) => r.key === 'gamma') || records.filter((r) => r.key === 'alpha').length > 1) {
    assert.ok(Date.now() < deadline, 'compaction did not remove the superseded records in time');
    await new Promise((r) => setTimeout(r, 50));
    records = await raw.readToEnd(topic, 0, await earliest(topic));
  }
  const byKey = new Map<string, Array<string | null>>();
  for (const r of records) if (r.key !== null && !r.key.startsWith('filler-')) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r.value]);
  assert.deepEqual(Object.fromEntries([...byKey].map(([k, v]) => [k, v])), Object.fromEntries([...latest].map(([k, v]) => [k, [v]])));
  // offsets are kept: the records left have the offsets they were given, in increasing order
  const offsets = records.map((r) => r.offset);
  assert.deepEqual(
    offsets,
    [...offsets].sort((a, b) => (a < b ? -1 : 1)),
  );
  assert.equal(records[records.length - 1]!.offset, BigInt(end - 1));
});

test('a compacted topic refuses a record without a key (INVALID_RECORD)', async () => {
  const topic = 'compacted-strict';
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
  await assert.rejects(producer.send({ topic, acks: -1, messages: [{ value: 'no key' }] }), (err: { type?: string }) => err.type === 'INVALID_RECORD');
  const [offsets] = await admin.fetchTopicOffsets(topic);
  assert.equal(offsets!.high, '0');
});

test('an unknown topic config is refused with INVALID_CONFIG and nothing is created', async () => {
  await assert.rejects(
    admin.createTopics({ topics: [{ topic: 'badly-configured', configEntries: [{ name: 'retention.msec', value: '1' }] }] }),
    (err: { errors?: Array<{ type?: string }> }) => err.errors?.[0]?.type === 'INVALID_CONFIG',
  );
  assert.equal(broker.streams.topic('badly-configured'), undefined);
});
