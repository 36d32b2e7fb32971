/**
 * `postbox topics create|delete` and `postbox groups delete|reset-offsets` against a real broker, checked
 * from the Kafka side with kafkajs (the topic's partitions and configs, the group's committed offsets).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { cli, cliJson, cliOk, tableRows } from './helpers/cli-run.js';

let broker: TestBroker;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;

before(async () => {
  broker = await startTestBroker();
  kafka = new Kafka({ clientId: 'cli-admin-test', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer();
  await producer.connect();
});

after(async () => {
  await producer.disconnect();
  await admin.disconnect();
  await broker.stop();
});

/** The group's committed offsets of `topic`, partition by partition, as Kafka's OffsetFetch answers. */
async function committed(group: string, topic: string): Promise<string[]> {
  const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return t!.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.offset);
}

test('topics create makes a topic Kafka clients see, with its partitions and configs; delete removes it', async () => {
  const out = await cliOk(
    broker,
    'topics',
    'create',
    'adm-orders',
    '--partitions',
    '3',
    '--config',
    'retention.ms=3600000',
    '--config',
    'cleanup.policy=delete',
  );
  assert.equal(out, "created topic 'adm-orders' with 3 partitions\n");
  const metadata = await admin.fetchTopicMetadata({ topics: ['adm-orders'] });
  assert.equal(metadata.topics[0]!.partitions.length, 3);
  const configs = await admin.describeConfigs({
    resources: [{ type: 2, name: 'adm-orders', configNames: ['retention.ms', 'cleanup.policy'] }],
    includeSynonyms: false,
  });
  const entries = Object.fromEntries(configs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
  assert.deepEqual(entries, { 'retention.ms': '3600000', 'cleanup.policy': 'delete' });

  const again = await cli(broker, 'topics', 'create', 'adm-orders', '--partitions', '3');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^postbox topics create: .*adm-orders.*\(HTTP 409\)\n$/);
  assert.deepEqual(await cliJson(broker, 'topics', 'create', '--topic', 'adm-orders', '--if-not-exists'), { topic: 'adm-orders', result: 'exists' });

  assert.equal(await cliOk(broker, 'topics', 'delete', 'adm-orders'), "deleted topic 'adm-orders'\n");
  assert.ok(!(await admin.listTopics()).includes('adm-orders'));
  const missing = await cli(broker, 'topics', 'delete', 'adm-orders');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no topic 'adm-orders' \(HTTP 404\)\n$/);
});

test('groups reset-offsets prints the plan without --execute, and commits it with --execute', async () => {
  await cliOk(broker, 'topics', 'create', 'adm-reset', '--partitions', '2');
  const old = Date.parse('2026-01-01T00:00:00Z');
  const recent = Date.parse('2026-06-01T00:00:00Z');
  // two produce calls: two batches per partition, one old (offsets 0-3), one recent (offsets 4-5)
  await producer.send({
    topic: 'adm-reset',
    acks: -1,
    messages: [0, 0, 0, 0, 1, 1, 1, 1].map((partition, i) => ({ partition, value: `old-${i}`, timestamp: String(old) })),
  });
  await producer.send({
    topic: 'adm-reset',
    acks: -1,
    messages: [0, 0, 1, 1].map((partition, i) => ({ partition, value: `new-${i}`, timestamp: String(recent) })),
  });
  await admin.setOffsets({
    groupId: 'adm-billing',
    topic: 'adm-reset',
    partitions: [
      { partition: 0, offset: '1' },
      { partition: 1, offset: '2' },
    ],
  });

  const dry = await cli(broker, 'groups', 'reset-offsets', 'adm-billing', '--topic', 'adm-reset', '--to-latest');
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(
    tableRows(dry.stdout).map((r) => [r.group, r.topic, r.partition, r.current_offset, r.new_offset]),
    [
      ['adm-billing', 'adm-reset', '0', '1', '6'],
      ['adm-billing', 'adm-reset', '1', '2', '6'],
    ],
  );
  assert.equal(dry.stderr, "dry run: nothing changed; add --execute to reset the offsets of 2 partitions for consumer group 'adm-billing'\n");
  assert.deepEqual(await committed('adm-billing', 'adm-reset'), ['1', '2'], 'a dry run changes nothing');

  const executed = await cli(broker, 'groups', 'reset-offsets', 'adm-billing', '--topic', 'adm-reset', '--to-latest', '--execute');
  assert.equal(executed.code, 0, executed.stderr);
  assert.equal(executed.stderr, "reset the offsets of 2 partitions for consumer group 'adm-billing'\n");
  assert.deepEqual(await committed('adm-billing', 'adm-reset'), ['6', '6']);

  await cliOk(broker, 'groups', 'reset-offsets', 'adm-billing', '--all-topics', '--to-earliest', '--execute');
  assert.deepEqual(await committed('adm-billing', 'adm-reset'), ['0', '0']);

  const between = new Date(Date.parse('2026-03-01T00:00:00Z')).toISOString();
  await cliOk(broker, 'groups', 'reset-offsets', 'adm-billing', '--topic', 'adm-reset', '--to-datetime', between, '--execute');
  assert.deepEqual(await committed('adm-billing', 'adm-reset'), ['4', '4'], 'the first record at or after the time');

  // one partition only, and an offset past the end kept at the end (as kafka-consumer-groups does)
  const json = await cliJson(broker, 'groups', 'reset-offsets', 'adm-billing', '--topic', 'adm-reset:1', '--to-offset', '99', '--execute');
  assert.deepEqual(json, { group_id: 'adm-billing', dry_run: false, offsets: [{ topic: 'adm-reset', partition: 1, previous_offset: 4, offset: 6 }] });
  assert.deepEqual(await committed('adm-billing', 'adm-reset'), ['4', '6']);

  const noTarget = await cli(broker, 'groups', 'reset-offsets', 'adm-billing', '--topic', 'adm-reset');
  assert.equal(noTarget.code, 2);
  assert.match(noTarget.stderr, /^postbox groups reset-offsets: give one of --to-earliest, --to-latest, --to-offset, --to-datetime\n/);
  const noTopic = await cli(broker, 'groups', 'reset-offsets', 'adm-billing', '--topic', 'adm-absent', '--to-latest');
  assert.equal(noTopic.code, 1);
  assert.match(noTopic.stderr, /no topic 'adm-absent' \(HTTP 404\)\n$/);
});

test('groups reset-offsets refuses a group with members, and groups delete removes an empty group', async () => {
  await cliOk(broker, 'topics', 'create', 'adm-live', '--partitions', '1');
  const consumer = kafka.consumer({ groupId: 'adm-live-group' });
  await consumer.connect();
  try {
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.subscribe({ topic: 'adm-live', fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
    await joined;
    const refused = await cli(broker, 'groups', 'reset-offsets', 'adm-live-group', '--topic', 'adm-live', '--to-earliest', '--execute');
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^postbox groups reset-offsets: Assignments can only be reset if the group 'adm-live-group' is inactive, but the current state is \w+\. \(HTTP 409\)\n$/,
    );
    const busy = await cli(broker, 'groups', 'delete', 'adm-live-group');
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /has members \(HTTP 409\)\n$/);
  } finally {
    await consumer.disconnect();
  }
  await cliOk(broker, 'groups', 'reset-offsets', 'adm-live-group', '--topic', 'adm-live', '--to-earliest', '--execute');
  assert.equal(await cliOk(broker, 'groups', 'delete', 'adm-live-group'), "deleted consumer group 'adm-live-group'\n");
  assert.ok(!(await admin.listGroups()).groups.some((g) => g.groupId === 'adm-live-group'));
});
