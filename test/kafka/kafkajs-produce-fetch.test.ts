import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { CompressionTypes, Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { RawKafkaClient, decodeRecords, encodeBatch } from '../helpers/kafka-raw.js';

let broker: TestBroker;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;

before(async () => {
  broker = await startTestBroker();
  kafka = new Kafka({ clientId: 'postbox-test', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 3 } });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
});
after(async () => {
  await producer.disconnect();
  await admin.disconnect();
  await broker.stop();
});

/** Reads `count` records of `topic`-`partition` from `from` with a raw fetch (no consumer group). */
async function readAll(
  topic: string,
  partition: number,
  from: bigint,
  count: number,
): Promise<Array<{ offset: string; key: string | null; value: string | null; headers: Record<string, string> }>> {
  const raw = await RawKafkaClient.connect(broker.kafkaPort);
  try {
    const records = await raw.readRecords(topic, partition, from, count);
    return records.map((r) => ({ offset: String(r.offset), key: r.key, value: r.value, headers: r.headers }));
  } finally {
    raw.close();
  }
}

test('created topics are listed with their partitions, and creating one twice says it exists', async () => {
  assert.equal(await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }] }), true);
  assert.ok((await admin.listTopics()).includes('orders'));
  const meta = await admin.fetchTopicMetadata({ topics: ['orders'] });
  assert.equal(meta.topics[0]!.partitions.length, 3);
  // kafkajs resolves false when the broker answers TOPIC_ALREADY_EXISTS
  assert.equal(await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }] }), false);
});

test('records produced with keys come back in order with their keys, values and headers', async () => {
  await admin.createTopics({ topics: [{ topic: 'keyed', numPartitions: 1 }] });
  const messages = Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}`, headers: { n: String(i) } }));
  const [result] = await producer.send({ topic: 'keyed', acks: -1, messages });
  assert.equal(result!.errorCode, 0);
  assert.equal(result!.baseOffset, '0');
  const got = await readAll('keyed', 0, 0n, 50);
  assert.deepEqual(
    got.map((r) => [r.offset, r.key, r.value, r.headers.n]),
    messages.map((m, i) => [String(i), m.key, m.value, String(i)]),
  );
});

test('a keyed record always goes to the same partition of a multi-partition topic', async () => {
  await admin.createTopics({ topics: [{ topic: 'by-key', numPartitions: 4 }] });
  for (let round = 0; round < 3; round++) {
    await producer.send({ topic: 'by-key', acks: -1, messages: [{ key: 'customer-42', value: `r${round}` }] });
  }
  const offsets = await admin.fetchTopicOffsets('by-key');
  const nonEmpty = offsets.filter((o) => o.high !== '0');
  assert.equal(nonEmpty.length, 1);
  assert.equal(nonEmpty[0]!.high, '3');
});

for (const [name, codec] of [
  ['none', CompressionTypes.None],
  ['gzip', CompressionTypes.GZIP],
] as const) {
  test(`a ${name}-compressed batch is stored and served back as sent`, async () => {
    const topic = `codec-${name}`;
    await producer.send({
      topic,
      acks: -1,
      compression: codec,
      messages: Array.from({ length: 20 }, (_, i) => ({ key: null, value: `${name}-${i}`.repeat(10) })),
    });
    const got = await readAll(topic, 0, 0n, 20);
    assert.deepEqual(
      got.map((r) => r.value),
      Array.from({ length: 20 }, (_, i) => `${name}-${i}`.repeat(10)),
    );
  });
}

test('producing to an unknown topic creates it with the default partition count', async () => {
  await producer.send({ topic: 'auto-made', acks: 1, messages: [{ value: 'x' }] });
  const meta = await admin.fetchTopicMetadata({ topics: ['auto-made'] });
  assert.equal(meta.topics[0]!.partitions.length, 1);
});

test('fetching from an offset in the middle of a batch returns that batch, and the consumer starts at the offset', async () => {
  await producer.send({ topic: 'mid', acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}` })) });
  const raw = await RawKafkaClient.connect(broker.kafkaPort);
  try {
    const { records } = await raw.fetch('mid', 0, 4n);
    // the whole batch, from its first record (offset 0): the client skips what it did not ask for
    assert.deepEqual(
      (await decodeRecords(records)).map((r) => r.offset),
      [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n],
    );
  } finally {
    raw.close();
  }
  const got = await readAll('mid', 0, 4n, 6);
  assert.deepEqual(
    got.map((r) => r.offset),
    ['4', '5', '6', '7', '8', '9'],
  );
});

test('list offsets answers earliest, latest and by timestamp', async () => {
  const topic = 'timed';
  const t0 = Date.now();
  await producer.send({ topic, acks: -1, messages: [{ value: 'a', timestamp: String(t0 - 10_000) }] });
  await producer.send({ topic, acks: -1, messages: [{ value: 'b', timestamp: String(t0) }] });
  await producer.send({ topic, acks: -1, messages: [{ value: 'c', timestamp: String(t0 + 10_000) }] });
  const [latest] = await admin.fetchTopicOffsets(topic);
  assert.equal(latest!.low, '0');
  assert.equal(latest!.high, '3');
  const [byTime] = await admin.fetchTopicOffsetsByTimestamp(topic, t0 - 1);
  assert.equal(byTime!.offset, '1');
  const [pastEnd] = await admin.fetchTopicOffsetsByTimestamp(topic, t0 + 60_000);
  assert.equal(pastEnd!.offset, '3');
});

test('deleting a topic removes it from the listing', async () => {
  await admin.createTopics({ topics: [{ topic: 'short-lived', numPartitions: 2 }] });
  await admin.deleteTopics({ topics: ['short-lived'] });
  assert.ok(!(await admin.listTopics()).includes('short-lived'));
});

test("deleting a topic drops the groups' committed offsets for it: a topic created again under its name starts without them", async () => {
  await admin.createTopics({ topics: [{ topic: 'reborn', numPartitions: 2 }] });
  await admin.createTopics({ topics: [{ topic: 'survivor', numPartitions: 1 }] });
  await admin.setOffsets({
    groupId: 'reborn-readers',
    topic: 'reborn',
    partitions: [
      { partition: 0, offset: '0' },
      { partition: 1, offset: '0' },
    ],
  });
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic: 'reborn', acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `old-${i}` })) });
    await producer.send({ topic: 'survivor', acks: -1, messages: [{ value: 'stays' }] });
    await admin.setOffsets({
      groupId: 'reborn-readers',
      topic: 'reborn',
      partitions: [
        { partition: 0, offset: '10' },
        { partition: 1, offset: '0' },
      ],
    });
    await admin.setOffsets({ groupId: 'reborn-readers', topic: 'survivor', partitions: [{ partition: 0, offset: '1' }] });
    const committed = async (topic: string): Promise<string[]> =>
      (await admin.fetchOffsets({ groupId: 'reborn-readers', topics: [topic] }))[0]!.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.offset);
    assert.deepEqual(await committed('reborn'), ['10', '0']);
    await admin.deleteTopics({ topics: ['reborn'] });
    await admin.createTopics({ topics: [{ topic: 'reborn', numPartitions: 2 }] });
    assert.deepEqual(await committed('reborn'), ['-1', '-1'], 'no committed offsets for the new topic');
    assert.deepEqual(await committed('survivor'), ['1'], "the group's offsets for other topics stay");
  } finally {
    await producer.disconnect();
  }
});

test('describe configs reports explicit and default topic configs', async () => {
  await admin.createTopics({ topics: [{ topic: 'configured', numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
  const described = await admin.describeConfigs({ resources: [{ type: 2, name: 'configured' }], includeSynonyms: false });
  const entries = described.resources[0]!.configEntries;
  const retention = entries.find((e) => e.configName === 'retention.ms');
  assert.equal(retention?.configValue, '3600000');
  assert.equal(retention?.isDefault, false);
  assert.equal(entries.find((e) => e.configName === 'cleanup.policy')?.configValue, 'delete');
});

test('an idempotent producer gets offsets once per record', async () => {
  const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await idempotent.connect();
  try {
    for (let i = 0; i < 5; i++) await idempotent.send({ topic: 'idem', acks: -1, messages: [{ value: `i${i}` }] });
  } finally {
    await idempotent.disconnect();
  }
  const [offsets] = await admin.fetchTopicOffsets('idem');
  assert.equal(offsets!.high, '5');
});

test('a retried idempotent batch is not written twice, and a sequence gap is refused', async () => {
  await admin.createTopics({ topics: [{ topic: 'idem-retry', numPartitions: 1 }] });
  const raw = await RawKafkaClient.connect(broker.kafkaPort);
  try {
    const first = await encodeBatch({ records: [{ value: 'a' }, { value: 'b' }], producerId: 7n, producerEpoch: 0, firstSequence: 0 });
    assert.deepEqual(await raw.produce('idem-retry', 0, first), { errorCode: 0, baseOffset: 0n });
    // the same batch again, as a producer retries when the answer was lost: same offset, nothing appended
    assert.deepEqual(await raw.produce('idem-retry', 0, first), { errorCode: 0, baseOffset: 0n });
    const next = await encodeBatch({ records: [{ value: 'c' }], producerId: 7n, producerEpoch: 0, firstSequence: 2 });
    assert.deepEqual(await raw.produce('idem-retry', 0, next), { errorCode: 0, baseOffset: 2n });
    const gap = await encodeBatch({ records: [{ value: 'e' }], producerId: 7n, producerEpoch: 0, firstSequence: 5 });
    assert.equal((await raw.produce('idem-retry', 0, gap)).errorCode, 45); // OUT_OF_ORDER_SEQUENCE_NUMBER
    // a new epoch restarts the sequence; the old epoch is fenced off from then on
    const bumped = await encodeBatch({ records: [{ value: 'd' }], producerId: 7n, producerEpoch: 1, firstSequence: 0 });
    assert.deepEqual(await raw.produce('idem-retry', 0, bumped), { errorCode: 0, baseOffset: 3n });
    const stale = await encodeBatch({ records: [{ value: 'f' }], producerId: 7n, producerEpoch: 0, firstSequence: 3 });
    assert.equal((await raw.produce('idem-retry', 0, stale)).errorCode, 47); // INVALID_PRODUCER_EPOCH
    const values = (await raw.readRecords('idem-retry', 0, 0n, 4)).map((r) => r.value);
    assert.deepEqual(values, ['a', 'b', 'c', 'd']);
    const { highWatermark } = await raw.fetch('idem-retry', 0, 0n);
    assert.equal(highWatermark, 4n);
  } finally {
    raw.close();
  }
});

test('a corrupt batch is refused with CORRUPT_MESSAGE and the connection keeps serving', async () => {
  const raw = await RawKafkaClient.connect(broker.kafkaPort);
  try {
    const batch = await encodeBatch({ records: [{ value: 'intact' }] });
    batch[batch.length - 1] = batch.readUInt8(batch.length - 1) ^ 0xff; // the CRC no longer matches
    assert.equal((await raw.produce('corrupt-target', 0, batch)).errorCode, 2);
    const good = await encodeBatch({ records: [{ value: 'intact' }] });
    assert.deepEqual(await raw.produce('corrupt-target', 0, good), { errorCode: 0, baseOffset: 0n });
  } finally {
    raw.close();
  }
});

test('large produce requests from several connections at once land intact, and large fetches return them byte for byte', async () => {
  // each request is ~300 KB, so it spans many socket chunks (assembled in the broker's shared produce buffer),
  // and each fetch answer carries record sets far above the size sent without copying (pooled read buffers)
  const topic = 'large-concurrent';
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  const producers = await Promise.all(
    [0, 1, 2].map(async () => {
      const p = kafka.producer();
      await p.connect();
      return p;
    }),
  );
  const value = (who: number, round: number, i: number): string =>
    `${who}:${round}:${i}:`.padEnd(3000, String.fromCharCode(97 + ((who * 7 + round * 3 + i) % 26)));
  const rounds = 6;
  const perRequest = 100;
  try {
    await Promise.all(
      producers.map(async (p, who) => {
        for (let round = 0; round < rounds; round++) {
          await p.send({ topic, acks: -1, messages: Array.from({ length: perRequest }, (_, i) => ({ key: `${who}`, value: value(who, round, i) })) });
        }
      }),
    );
  } finally {
    await Promise.all(producers.map((p) => p.disconnect()));
  }
  const total = producers.length * rounds * perRequest;
  for (let pass = 0; pass < 2; pass++) {
    const got = await readAll(topic, 0, 0n, total);
    assert.equal(got.length, total);
    // every record exactly once, and each producer's records in the order it sent them
    const expected = new Set<string>();
    for (let who = 0; who < producers.length; who++)
      for (let round = 0; round < rounds; round++) for (let i = 0; i < perRequest; i++) expected.add(value(who, round, i));
    for (const r of got) assert.ok(expected.delete(r.value!), `unexpected or repeated record ${r.value?.slice(0, 20)}`);
    assert.equal(expected.size, 0);
    for (let who = 0; who < producers.length; who++) {
      const mine = got.filter((r) => r.key === `${who}`).map((r) => r.value);
      assert.deepEqual(
        mine,
        Array.from({ length: rounds * perRequest }, (_, n) => value(who, Math.floor(n / perRequest), n % perRequest)),
      );
    }
  }
});
