/**
 * CreatePartitions, AlterConfigs and IncrementalAlterConfigs: through kafkajs admin, raw requests (kafkajs
 * has no incremental alter) and confluent-kafka; growing and altering are durable and apply live.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { startTestBroker, tempDataDir, waitFor, type TestBroker } from '../helpers/broker.js';
import { RawKafkaClient, encodeBatch } from '../helpers/kafka-raw.js';
import { findPython, findRepoFile, run } from '../helpers/external.js';
import {
  CREATE_PARTITIONS_API,
  CREATE_TOPICS_API,
  DESCRIBE_CONFIGS_API,
  ALTER_CONFIGS_API,
  INCREMENTAL_ALTER_CONFIGS_API,
} from '../../src/protocol/kafka/generated/messages.js';

const TOPIC_RESOURCE = 2;
const BROKER_RESOURCE = 4;
const NONE = 0;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const INVALID_PARTITIONS = 37;
const INVALID_REPLICA_ASSIGNMENT = 39;
const INVALID_CONFIG = 40;
const INVALID_REQUEST = 42;
const SET = 0;
const DELETE = 1;
const APPEND = 2;
const SUBTRACT = 3;

let broker: TestBroker;
let kafka: Kafka;
let admin: Admin;
let raw: RawKafkaClient;

function kafkaFor(port: number): Kafka {
  return new Kafka({ clientId: 'admin-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
}

before(async () => {
  broker = await startTestBroker({ kafkaRetentionCheckMs: 50 });
  kafka = kafkaFor(broker.kafkaPort);
  admin = kafka.admin();
  await admin.connect();
  raw = await RawKafkaClient.connect(broker.kafkaPort);
});
after(async () => {
  raw.close();
  await admin.disconnect();
  await broker.stop();
});

async function partitionCount(a: Admin, topic: string): Promise<number> {
  const { topics } = await a.fetchTopicMetadata({ topics: [topic] });
  return topics[0]!.partitions.length;
}

/** The topic's configs as DescribeConfigs reports them: name → [value, isDefault]. */
async function configsOf(a: Admin, topic: string): Promise<Map<string, [string, boolean]>> {
  const { resources } = await a.describeConfigs({ resources: [{ type: TOPIC_RESOURCE, name: topic }], includeSynonyms: false });
  return new Map(resources[0]!.configEntries.map((e) => [e.configName, [e.configValue, e.isDefault] as [string, boolean]]));
}

/** The error type kafkajs rejects with (e.g. 'INVALID_PARTITIONS'). */
async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as { type?: string }).type ?? String(err);
  }
  throw new Error('expected the request to be refused');
}

function incremental(topic: string, configs: Array<{ name: string; configOperation: number; value: string | null }>, validateOnly = false) {
  return raw.request(INCREMENTAL_ALTER_CONFIGS_API.apiKey, 1, { resources: [{ resourceType: TOPIC_RESOURCE, resourceName: topic, configs }], validateOnly });
}

test('createPartitions grows a topic: Metadata shows the new partitions at once, and a record produced to a new one reads back', async () => {
  const topic = 'grown';
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  await admin.createPartitions({ topicPartitions: [{ topic, count: 5 }] });
  assert.equal(await partitionCount(admin, topic), 5);
  assert.equal(broker.streams.topic(topic)!.partitions.length, 5);
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ partition: 4, key: 'k', value: 'on a new partition' }] });
  } finally {
    await producer.disconnect();
  }
  const records = await raw.readRecords(topic, 4, 0n, 1);
  assert.deepEqual(
    records.map((r) => [r.offset, r.key, r.value]),
    [[0n, 'k', 'on a new partition']],
  );
  const offsets = await admin.fetchTopicOffsets(topic);
  const highs = offsets.sort((a, b) => a.partition - b.partition).map((o) => o.high);
  assert.deepEqual(highs, ['0', '0', '0', '0', '1']);
});

test('a count not above the current one is INVALID_PARTITIONS, an unknown topic UNKNOWN_TOPIC_OR_PARTITION, and validateOnly changes nothing', async () => {
  const topic = 'not-shrunk';
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  assert.equal(await rejection(admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] })), 'INVALID_PARTITIONS');
  assert.equal(await rejection(admin.createPartitions({ topicPartitions: [{ topic: 'no-such-topic', count: 2 }] })), 'UNKNOWN_TOPIC_OR_PARTITION');
  await admin.createPartitions({ topicPartitions: [{ topic, count: 6 }], validateOnly: true });
  assert.equal(await partitionCount(admin, topic), 3);

  // raw, to see every per-topic answer of one request: each topic gets its own, the good one goes through
  const response = await raw.request(CREATE_PARTITIONS_API.apiKey, 3, {
    topics: [
      { name: topic, count: 3, assignments: null },
      { name: 'no-such-topic', count: 4, assignments: null },
      { name: topic, count: 4, assignments: null },
    ],
    timeoutMs: 1000,
    validateOnly: false,
  });
  // a topic named twice is refused both times (Kafka's rule), whatever the counts
  assert.deepEqual(
    response.results.map((r) => [r.name, r.errorCode]),
    [
      [topic, INVALID_REQUEST],
      ['no-such-topic', UNKNOWN_TOPIC_OR_PARTITION],
      [topic, INVALID_REQUEST],
    ],
  );
  const same = await raw.request(CREATE_PARTITIONS_API.apiKey, 0, {
    topics: [{ name: topic, count: 3, assignments: null }],
    timeoutMs: 1000,
    validateOnly: false,
  });
  assert.equal(same.results[0]!.errorCode, INVALID_PARTITIONS);
  assert.match(same.results[0]!.errorMessage ?? '', /already has 3 partitions/);
  assert.equal(await partitionCount(admin, topic), 3);
});

test('explicit assignments are accepted when every new partition names this broker alone, else INVALID_REPLICA_ASSIGNMENT', async () => {
  const topic = 'assigned';
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  const grow = (count: number, assignments: number[][]) =>
    raw.request(CREATE_PARTITIONS_API.apiKey, 1, {
      topics: [{ name: topic, count, assignments: assignments.map((brokerIds) => ({ brokerIds })) }],
      timeoutMs: 1000,
      validateOnly: false,
    });
  for (const bad of [[[0]], [[0], [1]], [[0], [0, 0]], [[0], []]]) {
    const { results } = await grow(3, bad);
    assert.equal(results[0]!.errorCode, INVALID_REPLICA_ASSIGNMENT, JSON.stringify(bad));
    assert.ok((results[0]!.errorMessage ?? '').length > 0);
  }
  assert.equal(await partitionCount(admin, topic), 1);
  const { results } = await grow(3, [[0], [0]]);
  assert.deepEqual(results, [{ name: topic, errorCode: NONE, errorMessage: null }]);
  assert.equal(await partitionCount(admin, topic), 3);
});

test('createTopics with a manual assignment: this broker alone per partition is accepted, anything else refused as a KRaft controller does', async () => {
  const nodeId = (await admin.describeCluster()).brokers[0]!.nodeId;
  await admin.createTopics({
    topics: [
      {
        topic: 'manual',
        replicaAssignment: [
          { partition: 0, replicas: [nodeId] },
          { partition: 1, replicas: [nodeId] },
        ],
      },
    ],
  });
  assert.equal(await partitionCount(admin, 'manual'), 2);
  const create = (name: string, assignments: Array<[number, number[]]>, numPartitions = -1, replicationFactor = -1) =>
    raw.request(CREATE_TOPICS_API.apiKey, 4, {
      topics: [
        { name, numPartitions, replicationFactor, assignments: assignments.map(([partitionIndex, brokerIds]) => ({ partitionIndex, brokerIds })), configs: [] },
      ],
      timeoutMs: 1000,
      validateOnly: false,
    });
  const cases: Array<[string, Array<[number, number[]]>, number, number, number]> = [
    ['unknown-broker', [[0, [nodeId + 7]]], -1, -1, INVALID_REPLICA_ASSIGNMENT],
    ['repeated-broker', [[0, [nodeId, nodeId]]], -1, -1, INVALID_REPLICA_ASSIGNMENT],
    ['no-replicas', [[0, []]], -1, -1, INVALID_REPLICA_ASSIGNMENT],
    [
      'gap',
      [
        [0, [nodeId]],
        [2, [nodeId]],
      ],
      -1,
      -1,
      INVALID_REPLICA_ASSIGNMENT,
    ],
    ['with-count', [[0, [nodeId]]], 1, -1, INVALID_REQUEST],
    ['with-factor', [[0, [nodeId]]], -1, 1, INVALID_REQUEST],
  ];
  for (const [name, assignments, numPartitions, replicationFactor, expected] of cases) {
    const { topics } = await create(name, assignments, numPartitions, replicationFactor);
    assert.equal(topics[0]!.errorCode, expected, name);
    assert.ok((topics[0]!.errorMessage ?? '').length > 0, name);
  }
  const names = await admin.listTopics();
  for (const [name] of cases) assert.ok(!names.includes(name), `${name} was not created`);
});

test('max.message.bytes bounds the whole batch as Kafka does, its 12-byte offset and length prefix included', async () => {
  // one record, no key, no headers, a 400-byte value, uncompressed: a 61-byte batch header and a 409-byte record
  const BATCH = 470;
  const topic = 'bounded';
  await admin.createTopics({ topics: [{ topic, configEntries: [{ name: 'max.message.bytes', value: String(BATCH) }] }] });
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ value: 'v'.repeat(400) }] });
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: TOPIC_RESOURCE, name: topic, configEntries: [{ name: 'max.message.bytes', value: String(BATCH - 1) }] }],
    });
    assert.equal(await rejection(producer.send({ topic, acks: -1, messages: [{ value: 'v'.repeat(400) }] })), 'MESSAGE_TOO_LARGE');
    await producer.send({ topic, acks: -1, messages: [{ value: 'v'.repeat(399) }] });
  } finally {
    await producer.disconnect();
  }
  const offsets = await admin.fetchTopicOffsets(topic);
  assert.equal(offsets[0]!.high, '2');
});

test("describeConfigs of the broker reports its settings under Kafka's names, read-only; another broker id is INVALID_REQUEST", async () => {
  const nodeId = String((await admin.describeCluster()).brokers[0]!.nodeId);
  const { resources } = await admin.describeConfigs({ resources: [{ type: BROKER_RESOURCE, name: nodeId }], includeSynonyms: false });
  const entries = new Map(resources[0]!.configEntries.map((e) => [e.configName, e]));
  assert.equal(entries.get('num.partitions')!.configValue, '1');
  assert.equal(entries.get('auto.create.topics.enable')!.configValue, 'true');
  assert.equal(entries.get('broker.id')!.configValue, nodeId);
  assert.equal(entries.get('advertised.listeners')!.configValue, `PLAINTEXT://127.0.0.1:${broker.kafkaPort}`);
  assert.equal(entries.get('log.retention.check.interval.ms')!.configValue, '50');
  assert.equal(entries.get('message.max.bytes')!.configValue, '1048588');
  assert.equal(entries.get('num.partitions')!.readOnly, true);
  // only the keys asked for
  const some = await admin.describeConfigs({
    resources: [{ type: BROKER_RESOURCE, name: nodeId, configNames: ['log.segment.bytes'] }],
    includeSynonyms: false,
  });
  assert.deepEqual(
    some.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]),
    [['log.segment.bytes', String(64 * 1024 * 1024)]],
  );
  // kafkajs sends a broker resource to that broker; the raw client asks this one about another
  const other = await raw.request(DESCRIBE_CONFIGS_API.apiKey, 1, {
    resources: [
      { resourceType: BROKER_RESOURCE, resourceName: String(Number(nodeId) + 5), configurationKeys: null },
      { resourceType: BROKER_RESOURCE, resourceName: '', configurationKeys: ['num.partitions'] },
    ],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  assert.equal(other.results[0]!.errorCode, INVALID_REQUEST);
  assert.match(other.results[0]!.errorMessage ?? '', /Unexpected broker id/);
  assert.deepEqual(
    other.results[1]!.configs.map((c) => [c.name, c.value]),
    [['num.partitions', '1']],
    'the empty name means this broker',
  );
});

test('alterConfigs replaces the whole set of explicit configs: a config not listed goes back to its default', async () => {
  const topic = 'replaced';
  await admin.createTopics({
    topics: [
      {
        topic,
        configEntries: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'max.message.bytes', value: '2000' },
        ],
      },
    ],
  });
  await admin.alterConfigs({
    validateOnly: false,
    resources: [
      {
        type: TOPIC_RESOURCE,
        name: topic,
        configEntries: [
          { name: 'retention.ms', value: '3600000' },
          { name: 'max.message.bytes', value: '500' },
        ],
      },
    ],
  });
  const configs = await configsOf(admin, topic);
  assert.deepEqual(configs.get('retention.ms'), ['3600000', false]);
  assert.deepEqual(configs.get('max.message.bytes'), ['500', false]);
  assert.deepEqual(configs.get('cleanup.policy'), ['delete', true]);
  // applied live: the smaller max.message.bytes refuses a batch the old one let through; keyless is fine again
  const producer = kafka.producer();
  await producer.connect();
  try {
    assert.equal(await rejection(producer.send({ topic, acks: -1, messages: [{ value: 'x'.repeat(1000) }] })), 'MESSAGE_TOO_LARGE');
    await producer.send({ topic, acks: -1, messages: [{ value: 'small, no key' }] });
  } finally {
    await producer.disconnect();
  }
});

test('alterConfigs refuses unknown names and bad values with INVALID_CONFIG, broker resources with INVALID_REQUEST, and validateOnly changes nothing', async () => {
  const topic = 'guarded';
  await admin.createTopics({ topics: [{ topic, configEntries: [{ name: 'retention.ms', value: '1000000' }] }] });
  const alter = (configEntries: Array<{ name: string; value: string }>, validateOnly = false) =>
    admin.alterConfigs({ validateOnly, resources: [{ type: TOPIC_RESOURCE, name: topic, configEntries }] });
  assert.equal(await rejection(alter([{ name: 'no.such.config', value: '1' }])), 'INVALID_CONFIG');
  assert.equal(await rejection(alter([{ name: 'retention.ms', value: 'soon' }])), 'INVALID_CONFIG');
  assert.equal(await rejection(alter([{ name: 'cleanup.policy', value: 'shred' }])), 'INVALID_CONFIG');
  assert.equal(await rejection(alter([{ name: 'segment.bytes', value: '1' }])), 'INVALID_CONFIG');
  await alter([{ name: 'retention.ms', value: '5' }], true);
  assert.deepEqual((await configsOf(admin, topic)).get('retention.ms'), ['1000000', false]);
  assert.equal(
    await rejection(
      admin.alterConfigs({ validateOnly: false, resources: [{ type: BROKER_RESOURCE, name: '0', configEntries: [{ name: 'log.retention.ms', value: '1' }] }] }),
    ),
    'INVALID_REQUEST',
  );

  // raw: one answer per resource; an unknown resource type or missing topic does not stop the others
  const response = await raw.request(ALTER_CONFIGS_API.apiKey, 2, {
    resources: [
      { resourceType: 99, resourceName: 'x', configs: [] },
      { resourceType: TOPIC_RESOURCE, resourceName: 'no-such-topic', configs: [] },
      { resourceType: BROKER_RESOURCE, resourceName: '0', configs: [{ name: 'num.io.threads', value: '2' }] },
      {
        resourceType: TOPIC_RESOURCE,
        resourceName: topic,
        configs: [
          { name: 'retention.ms', value: '1' },
          { name: 'retention.ms', value: '2' },
        ],
      },
      { resourceType: TOPIC_RESOURCE, resourceName: topic, configs: [{ name: 'retention.ms', value: '2000000' }] },
    ],
    validateOnly: false,
  });
  assert.deepEqual(
    response.responses.map((r) => r.errorCode),
    [INVALID_REQUEST, UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST, INVALID_REQUEST, INVALID_REQUEST],
  );
  assert.match(response.responses[2]!.errorMessage ?? '', /config file/);
  const alone = await raw.request(ALTER_CONFIGS_API.apiKey, 0, {
    resources: [{ resourceType: TOPIC_RESOURCE, resourceName: topic, configs: [{ name: 'retention.ms', value: '2000000' }] }],
    validateOnly: false,
  });
  assert.deepEqual(alone.responses, [{ errorCode: NONE, errorMessage: null, resourceType: TOPIC_RESOURCE, resourceName: topic }]);
  assert.deepEqual((await configsOf(admin, topic)).get('retention.ms'), ['2000000', false]);
});

test('incremental alter: SET and DELETE change one config each, APPEND and SUBTRACT edit cleanup.policy, and other configs stay', async () => {
  const topic = 'incremental';
  await admin.createTopics({ topics: [{ topic, configEntries: [{ name: 'retention.bytes', value: '1000000' }] }] });
  const ok = async (configs: Parameters<typeof incremental>[1], validateOnly = false) => {
    const { responses } = await incremental(topic, configs, validateOnly);
    assert.deepEqual(
      responses.map((r) => [r.errorCode, r.errorMessage]),
      [[NONE, null]],
    );
  };
  await ok([{ name: 'retention.ms', configOperation: SET, value: '120000' }]);
  let configs = await configsOf(admin, topic);
  assert.deepEqual(configs.get('retention.ms'), ['120000', false]);
  assert.deepEqual(configs.get('retention.bytes'), ['1000000', false]);

  await ok([{ name: 'cleanup.policy', configOperation: APPEND, value: 'compact' }]);
  assert.deepEqual((await configsOf(admin, topic)).get('cleanup.policy'), ['delete,compact', false]);
  assert.equal(broker.streams.topic(topic)!.config.cleanupCompact, true);
  await ok([{ name: 'cleanup.policy', configOperation: APPEND, value: 'compact' }]);
  assert.deepEqual((await configsOf(admin, topic)).get('cleanup.policy'), ['delete,compact', false]);
  await ok([{ name: 'cleanup.policy', configOperation: SUBTRACT, value: 'delete' }]);
  assert.deepEqual((await configsOf(admin, topic)).get('cleanup.policy'), ['compact', false]);
  assert.equal(broker.streams.topic(topic)!.config.cleanupDelete, false);

  await ok([{ name: 'retention.bytes', configOperation: DELETE, value: null }], true);
  assert.deepEqual((await configsOf(admin, topic)).get('retention.bytes'), ['1000000', false]);
  await ok([{ name: 'retention.bytes', configOperation: DELETE, value: null }]);
  configs = await configsOf(admin, topic);
  assert.deepEqual(configs.get('retention.bytes'), ['-1', true]);
  assert.deepEqual(configs.get('retention.ms'), ['120000', false]);
  assert.deepEqual(configs.get('cleanup.policy'), ['compact', false]);

  // refused, each with nothing changed: unknown name, bad value, APPEND to a non-list, an empty policy, a bad operation
  const refusals: Array<[Parameters<typeof incremental>[1], number]> = [
    [[{ name: 'no.such.config', configOperation: SET, value: '1' }], INVALID_CONFIG],
    [[{ name: 'retention.ms', configOperation: SET, value: '-7' }], INVALID_CONFIG],
    [[{ name: 'retention.ms', configOperation: APPEND, value: '5' }], INVALID_CONFIG],
    [[{ name: 'cleanup.policy', configOperation: SUBTRACT, value: 'compact' }], INVALID_CONFIG],
    [[{ name: 'retention.ms', configOperation: SET, value: null }], INVALID_CONFIG],
    [[{ name: 'retention.ms', configOperation: 9, value: '5' }], INVALID_REQUEST],
  ];
  for (const [changes, code] of refusals) {
    const { responses } = await incremental(topic, changes);
    assert.equal(responses[0]!.errorCode, code, JSON.stringify(changes));
    assert.ok((responses[0]!.errorMessage ?? '').length > 0);
  }
  assert.deepEqual(broker.streams.topic(topic)!.explicitConfigs, { 'retention.ms': '120000', 'cleanup.policy': 'compact' });
  const unknown = await raw.request(INCREMENTAL_ALTER_CONFIGS_API.apiKey, 0, {
    resources: [{ resourceType: TOPIC_RESOURCE, resourceName: 'no-such-topic', configs: [{ name: 'retention.ms', configOperation: SET, value: '1' }] }],
    validateOnly: false,
  });
  assert.equal(unknown.responses[0]!.errorCode, UNKNOWN_TOPIC_OR_PARTITION);
});

test('retention.ms lowered by alterConfigs deletes the old segments on the next retention pass', async () => {
  const topic = 'shortened';
  const segmentBytes = { name: 'segment.bytes', value: '1024' };
  await admin.createTopics({ topics: [{ topic, configEntries: [segmentBytes] }] });
  const producer = kafka.producer();
  await producer.connect();
  try {
    const old = String(Date.now() - 3_600_000);
    for (let i = 0; i < 20; i++) await producer.send({ topic, acks: -1, messages: [{ value: `old-${i}-`.padEnd(100, 'x'), timestamp: old }] });
    for (let i = 0; i < 20; i++) await producer.send({ topic, acks: -1, messages: [{ value: `new-${i}-`.padEnd(100, 'x') }] });
  } finally {
    await producer.disconnect();
  }
  const log = broker.streams.topic(topic)!.partitions[0]!.log;
  broker.streams.runRetention(Date.now());
  assert.equal(log.logStartOffset, 0n, 'the default 7-day retention deleted hour-old records');
  // replace semantics: segment.bytes is listed again so it stays
  await admin.alterConfigs({
    validateOnly: false,
    resources: [{ type: TOPIC_RESOURCE, name: topic, configEntries: [segmentBytes, { name: 'retention.ms', value: '60000' }] }],
  });
  await waitFor(() => log.logStartOffset > 0n, 10_000, 'retention to delete the old segments');
  broker.streams.runRetention(Date.now());
  const start = log.logStartOffset;
  const rest = await raw.readRecords(topic, 0, start, Number(40n - start));
  assert.equal(rest.filter((r) => r.value!.startsWith('new-')).length, 20);
});

test('a quiet topic whose records are all past retention.ms is emptied, the active segment too; segment.ms rolls by record age', async () => {
  const topic = 'quiet';
  // no retention while the segments are counted (the timed retention pass could otherwise delete them
  // between two sends on a slow machine); the default 7 days come back by the AlterConfigs below
  await admin.createTopics({
    topics: [
      {
        topic,
        configEntries: [
          { name: 'segment.ms', value: '60000' },
          { name: 'retention.ms', value: '-1' },
        ],
      },
    ],
  });
  const producer = kafka.producer();
  await producer.connect();
  const DAY = 86_400_000;
  try {
    const first = Date.now() - 9 * DAY;
    await producer.send({ topic, acks: -1, messages: [{ value: 'a', timestamp: String(first) }] });
    await producer.send({ topic, acks: -1, messages: [{ value: 'b', timestamp: String(first + 60_000) }] });
    const log = broker.streams.topic(topic)!.partitions[0]!.log;
    assert.equal(log.segmentCount, 1, 'exactly segment.ms after the first record: same segment');
    await producer.send({ topic, acks: -1, messages: [{ value: 'c', timestamp: String(first + 60_001) }] });
    assert.equal(log.segmentCount, 2, 'past segment.ms: a new segment');
    // AlterConfigs replaces a topic's configs (as Kafka's): retention.ms is the default again
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: TOPIC_RESOURCE, name: topic, configEntries: [{ name: 'segment.ms', value: '60000' }] }],
    });
    // every record is 9 days old, past the default 7-day retention: both segments go, the active one too
    await waitFor(() => log.logStartOffset === 3n, 10_000, 'retention to delete the expired active segment');
  } finally {
    await producer.disconnect();
  }
  const [offsets] = await admin.fetchTopicOffsets(topic);
  assert.deepEqual([offsets!.low, offsets!.high], ['3', '3']);
  assert.deepEqual((await configsOf(admin, topic)).get('segment.ms'), ['60000', false]);
});

test('grown partitions and altered configs survive a broker restart, and a stray partition directory past the count is removed', async () => {
  const dataDir = tempDataDir();
  let other = await startTestBroker({ dataDir });
  try {
    let otherAdmin = kafkaFor(other.kafkaPort).admin();
    await otherAdmin.connect();
    await otherAdmin.createTopics({ topics: [{ topic: 'kept', numPartitions: 1, configEntries: [{ name: 'retention.bytes', value: '123456' }] }] });
    await otherAdmin.createPartitions({ topicPartitions: [{ topic: 'kept', count: 3 }] });
    await otherAdmin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: TOPIC_RESOURCE,
          name: 'kept',
          configEntries: [
            { name: 'retention.ms', value: '999000' },
            { name: 'cleanup.policy', value: 'delete,compact' },
          ],
        },
      ],
    });
    const otherRaw = await RawKafkaClient.connect(other.kafkaPort);
    const produced = await otherRaw.produce('kept', 2, await encodeBatch({ records: [{ key: 'k', value: 'before the restart' }] }));
    otherRaw.close();
    assert.equal(produced.errorCode, NONE);
    await otherAdmin.disconnect();

    await other.close();
    // what a grow interrupted before its topic.json landed leaves behind: removed at open, not served
    const stray = join(dataDir, 'streams', 'kept', '3');
    mkdirSync(stray);
    writeFileSync(join(stray, 'junk'), 'x');
    other = await startTestBroker({ dataDir });
    assert.equal(existsSync(stray), false);
    otherAdmin = kafkaFor(other.kafkaPort).admin();
    await otherAdmin.connect();
    try {
      assert.equal(await partitionCount(otherAdmin, 'kept'), 3);
      const configs = await configsOf(otherAdmin, 'kept');
      assert.deepEqual(configs.get('retention.ms'), ['999000', false]);
      assert.deepEqual(configs.get('cleanup.policy'), ['delete,compact', false]);
      assert.deepEqual(configs.get('retention.bytes'), ['-1', true]);
      const config = other.streams.topic('kept')!.config;
      assert.equal(config.retentionMs, 999000);
      assert.equal(config.cleanupCompact, true);
      const again = await RawKafkaClient.connect(other.kafkaPort);
      try {
        assert.deepEqual(
          (await again.readRecords('kept', 2, 0n, 1)).map((r) => r.value),
          ['before the restart'],
        );
      } finally {
        again.close();
      }
    } finally {
      await otherAdmin.disconnect();
    }
  } finally {
    await other.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('confluent-kafka grows a topic and alters its configs; refusals come back as INVALID_PARTITIONS, INVALID_CONFIG, INVALID_REQUEST', async () => {
  const python = await findPython('confluent_kafka', 'install it with `apt-get install python3-confluent-kafka`');
  const { code, stdout, stderr } = await run(python, [findRepoFile('test/compat/kafka_confluent_admin.py'), String(broker.kafkaPort)]);
  assert.equal(code, 0, `kafka_confluent_admin.py failed (exit ${String(code)}):\n${stdout}\n${stderr}`);
  assert.deepEqual(stdout.trim().split('\n'), [
    'grown to 3',
    'shrink refused INVALID_PARTITIONS',
    'altered',
    'unknown config INVALID_CONFIG',
    'broker config INVALID_REQUEST',
  ]);
});
