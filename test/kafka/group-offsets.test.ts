/** Committed offsets: durable across restarts and kill -9, and honoured by consumers and kafkajs' admin tools. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, tempDataDir, waitFor, type TestBroker } from '../helpers/broker.js';
import { spawnBroker } from '../helpers/process.js';
import { RawKafkaClient } from '../helpers/kafka-raw.js';

const CONSUMER_SETTINGS = { sessionTimeout: 6000, rebalanceTimeout: 10_000, heartbeatInterval: 100, maxWaitTimeInMs: 100 };
/** Deadline guard for waits (not a timing assertion). */
const WAIT_MS = 20_000;

function kafkaFor(port: number): Kafka {
  return new Kafka({ clientId: 'offsets-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING });
}

/** Consumes with `groupId` until `count` messages arrived; returns them as "partition:offset:value". */
async function consume(kafka: Kafka, groupId: string, topic: string, count: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId, ...CONSUMER_SETTINGS });
  const seen: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push(`${partition}:${message.offset}:${message.value?.toString() ?? ''}`);
      },
    });
    await waitFor(() => seen.length >= count, WAIT_MS, `${count} messages for ${groupId}`);
  } finally {
    await consumer.disconnect();
  }
  return seen.sort();
}

async function committed(kafka: Kafka, groupId: string, topic: string): Promise<Array<[number, string]>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return result!.partitions.map((p): [number, string] => [p.partition, p.offset]).sort((a, b) => a[0] - b[0]);
  } finally {
    await admin.disconnect();
  }
}

async function produce(kafka: Kafka, topic: string, messages: Array<{ partition: number; value: string }>): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
}

test('committed offsets survive a broker restart, and a consumer rejoining continues after them without re-reading', async () => {
  const dataDir = tempDataDir();
  let broker: TestBroker = await startTestBroker({ dataDir });
  try {
    let kafka = kafkaFor(broker.kafkaPort);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'kept', numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    await produce(
      kafka,
      'kept',
      [0, 1, 0, 1, 0, 1].map((partition, i) => ({ partition, value: `old-${i}` })),
    );
    assert.equal((await consume(kafka, 'keeper', 'kept', 6)).length, 6);
    await waitFor(
      () => broker.groups.fetchOffsets('keeper', [{ topic: 'kept', partitions: [0, 1] }])[0]!.partitions.every((p) => p.offset === 3n),
      WAIT_MS,
      'the commits',
    );

    await broker.close();
    broker = await startTestBroker({ dataDir });
    kafka = kafkaFor(broker.kafkaPort);
    assert.deepEqual(await committed(kafka, 'keeper', 'kept'), [
      [0, '3'],
      [1, '3'],
    ]);
    await produce(
      kafka,
      'kept',
      [0, 1, 0, 1].map((partition, i) => ({ partition, value: `new-${i}` })),
    );
    // offsets only grow within a partition, so a re-read old record would have arrived before these
    assert.deepEqual(await consume(kafka, 'keeper', 'kept', 4), ['0:3:new-0', '0:4:new-2', '1:3:new-1', '1:4:new-3']);
  } finally {
    await broker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('an offset commit acknowledged before kill -9 is there after the restart', async () => {
  const dataDir = tempDataDir();
  let child = await spawnBroker(dataDir);
  try {
    const admin = kafkaFor(child.kafkaPort).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'crash', numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
    const raw = await RawKafkaClient.connect(child.kafkaPort);
    const answer = await raw.request(8, 8, {
      groupId: 'survivor',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1n,
      topics: [
        {
          name: 'crash',
          partitions: [0, 1, 2].map((p) => ({
            partitionIndex: p,
            committedOffset: BigInt(100 + p),
            committedLeaderEpoch: -1,
            commitTimestamp: -1n,
            committedMetadata: `p${p}`,
          })),
        },
      ],
    });
    assert.deepEqual(
      answer.topics[0]!.partitions.map((p) => p.errorCode),
      [0, 0, 0],
    );
    raw.close();
    child.child.kill('SIGKILL');
    await child.exited;

    child = await spawnBroker(dataDir);
    const again = await RawKafkaClient.connect(child.kafkaPort);
    const fetched = await again.request(9, 6, { groupId: 'survivor', topics: null, groups: [], requireStable: false });
    again.close();
    assert.deepEqual(
      fetched.topics.map((t) => [t.name, t.partitions.map((p) => [p.partitionIndex, p.committedOffset, p.metadata])]),
      [
        [
          'crash',
          [
            [0, 100n, 'p0'],
            [1, 101n, 'p1'],
            [2, 102n, 'p2'],
          ],
        ],
      ],
    );
  } finally {
    child.child.kill('SIGKILL');
    await child.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("kafkajs' setOffsets and resetOffsets move an idle group's offsets, and its next consumer starts there", async () => {
  const broker = await startTestBroker();
  try {
    const kafka = kafkaFor(broker.kafkaPort);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'tools', numPartitions: 2 }], waitForLeaders: true });
      await produce(kafka, 'tools', [
        { partition: 0, value: 'a' },
        { partition: 0, value: 'b' },
        { partition: 0, value: 'c' },
        { partition: 1, value: 'd' },
      ]);
      await admin.setOffsets({
        groupId: 'tools-group',
        topic: 'tools',
        partitions: [
          { partition: 0, offset: '2' },
          { partition: 1, offset: '1' },
        ],
      });
      assert.deepEqual(await committed(kafka, 'tools-group', 'tools'), [
        [0, '2'],
        [1, '1'],
      ]);
      assert.deepEqual(
        broker.groups.committedOffsets('tools-group').map((o) => [o.partition, o.committedOffset, o.highWatermark, o.lag]),
        [
          [0, 2n, 3n, 1n],
          [1, 1n, 1n, 0n],
        ],
      );
      assert.deepEqual(await consume(kafka, 'tools-group', 'tools', 1), ['0:2:c']);

      // resetOffsets stores kafkajs' "earliest" sentinel (-2), which its consumers resolve at start
      await admin.resetOffsets({ groupId: 'tools-group', topic: 'tools', earliest: true });
      assert.deepEqual(await committed(kafka, 'tools-group', 'tools'), [
        [0, '-2'],
        [1, '-2'],
      ]);
      assert.deepEqual(await consume(kafka, 'tools-group', 'tools', 4), ['0:0:a', '0:1:b', '0:2:c', '1:0:d']);
    } finally {
      await admin.disconnect();
    }
  } finally {
    await broker.stop();
  }
});
