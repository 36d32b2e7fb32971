/**
 * Hostile Kafka clients growing the topic catalogue: one Metadata request naming 10,000 unknown topics (auto-
 * creation is on by default), one CreateTopics with 10,000 partitions, a Produce to thousands of new topics.
 * Each must stop at the broker's limits (--kafka-max-partitions-per-request, --kafka-max-partitions,
 * --kafka-max-topics) with Kafka's error codes, answer the request, and keep serving a canary publishing
 * with confirms on an AMQP connection. Raw frames (helpers/kafka-raw.ts).
 *
 * Worst canary latency measured (2 CPUs shared with five other helpers' work): 1.4 s while the one Metadata
 * request auto-created its 1,000 topics (each a directory, files and an fsynced topic.json, synchronously);
 * 0.3 s for the CreateTopics test. That is the cost the per-request limit bounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startTestBroker } from '../helpers/broker.js';
import { startCanary } from '../helpers/canary.js';
import { RawKafkaClient, encodeBatch } from '../helpers/kafka-raw.js';
import { underKafkaAttack } from '../helpers/kafka-attack.js';

const NONE = 0;
const POLICY_VIOLATION = 44;
const THROTTLING_QUOTA_EXCEEDED = 89;

function metadataFor(names: string[]) {
  return {
    topics: names.map((name) => ({ topicId: Buffer.alloc(16), name })),
    allowAutoTopicCreation: true,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  };
}

function topicDirectories(dataDir: string): number {
  return readdirSync(join(dataDir, 'streams'), { withFileTypes: true }).filter((e) => e.isDirectory()).length;
}

test('a Metadata request naming 10,000 unknown topics auto-creates at most the per-request limit and answers the rest with THROTTLING_QUOTA_EXCEEDED', async () => {
  const broker = await startTestBroker();
  const canary = await startCanary(broker.url);
  const client = await RawKafkaClient.connect(broker.kafkaPort);
  try {
    const names = Array.from({ length: 10_000 }, (_, i) => `bomb-${i}`);
    const response = await client.request(3, 9, metadataFor(names));
    assert.equal(response.topics.length, names.length, 'every topic asked for is answered');
    const created = response.topics.filter((t) => t.errorCode === NONE);
    const throttled = response.topics.filter((t) => t.errorCode === THROTTLING_QUOTA_EXCEEDED);
    assert.equal(created.length, 1000, 'the default --kafka-max-partitions-per-request (1 partition per auto-created topic)');
    assert.equal(throttled.length, 9000);
    assert.equal(broker.streams.partitionCount, 1000);
    assert.equal(topicDirectories(broker.dataDir), 1000, 'nothing is made on disk for a refused topic');
    await canary.check();
    // a topic already created is served as usual; a refused one can be created by a later request
    const again = await client.request(3, 9, metadataFor(['bomb-0', 'bomb-9999']));
    assert.deepEqual(
      again.topics.map((t) => t.errorCode),
      [NONE, NONE],
    );
  } finally {
    client.close();
    const report = await canary.stop();
    console.log(`canary: ${report.confirmed} confirmed, worst latency ${report.worstLatencyMs.toFixed(0)} ms`);
    await broker.stop();
  }
});

test('CreateTopics with 10,000 partitions is refused with POLICY_VIOLATION and creates nothing; the per-request budget spans the request', async () => {
  await underKafkaAttack({}, async ({ broker, client }) => {
    const topic = (name: string, numPartitions: number) => ({ name, numPartitions, replicationFactor: 1, assignments: [], configs: [] });
    const huge = await client.request(19, 7, { topics: [topic('huge', 10_000)], timeoutMs: 5000, validateOnly: false });
    assert.equal(huge.topics[0]!.errorCode, POLICY_VIOLATION);
    assert.match(huge.topics[0]!.errorMessage ?? '', /per-request/);
    assert.equal(broker.streams.topic('huge'), undefined);
    assert.equal(broker.streams.partitionCount, 0);
    // 600 + 600 in one request: the second passes the 1,000 left for the request (v7 knows code 89)
    const two = await client.request(19, 7, { topics: [topic('a', 600), topic('b', 600)], timeoutMs: 5000, validateOnly: false });
    assert.deepEqual(
      two.topics.map((t) => t.errorCode),
      [NONE, THROTTLING_QUOTA_EXCEEDED],
    );
    // a v5 client does not know 89: it gets POLICY_VIOLATION
    const old = await client.request(19, 5, { topics: [topic('c', 600), topic('d', 600)], timeoutMs: 5000, validateOnly: false });
    assert.deepEqual(
      old.topics.map((t) => t.errorCode),
      [NONE, POLICY_VIOLATION],
    );
    assert.equal(broker.streams.partitionCount, 1200);
  });
});

test('the total partition and topic limits refuse growth with POLICY_VIOLATION from CreateTopics, CreatePartitions, Metadata and Produce', async () => {
  await underKafkaAttack({ kafkaMaxPartitions: 60, kafkaMaxTopics: 3 }, async ({ broker, client }) => {
    const created = await client.request(19, 7, {
      topics: [{ name: 'big', numPartitions: 48, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    assert.equal(created.topics[0]!.errorCode, NONE);
    // 48 + 13 partitions pass the total of 60
    const grow = await client.request(37, 3, { topics: [{ name: 'big', count: 61, assignments: null }], timeoutMs: 5000, validateOnly: false });
    assert.equal(grow.results[0]!.errorCode, POLICY_VIOLATION);
    assert.match(grow.results[0]!.errorMessage ?? '', /--kafka-max-partitions/);
    // two more topics fit in the limit of 3, the third does not
    const meta = await client.request(3, 9, metadataFor(['m1', 'm2', 'm3']));
    assert.deepEqual(
      meta.topics.map((t) => t.errorCode),
      [NONE, NONE, POLICY_VIOLATION],
    );
    const batch = await encodeBatch({ records: [{ value: 'x' }] });
    const produced = await client.produce('p1', 0, batch);
    assert.equal(produced.errorCode, POLICY_VIOLATION);
    assert.equal(broker.streams.partitionCount, 50);
    // deleting a topic makes room again
    await client.request(20, 4, { topicNames: ['m1'], timeoutMs: 5000 } as never);
    const after = await client.request(3, 9, metadataFor(['m3']));
    assert.equal(after.topics[0]!.errorCode, NONE);
  });
});
