/**
 * Kafka authorization: a SASL user's configure/write/read permissions in the Kafka vhost decide what it may
 * do with topics and groups (write: produce; read: fetch, offsets and groups; configure: create, delete,
 * alter), refused with Kafka's codes, and Metadata lists only the topics it may describe. Real clients
 * (kafkajs, kcat) where a user sees it, raw requests for the exact codes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { requireCommand, run } from '../helpers/external.js';
import { managementApi, putUser, rawPlain, rawScram } from '../helpers/kafka-sasl.js';
import { encodeBatch, RawKafkaClient } from '../helpers/kafka-raw.js';
import { KafkaErrorCode } from '../../src/protocol/kafka/errors.js';

let broker: TestBroker;
let httpUrl: string;

before(async () => {
  broker = await startTestBroker({ kafkaDefaultPartitions: 1 });
  httpUrl = `http://127.0.0.1:${broker.httpPort}`;
  // writer: produces to orders*; reader: reads orders and uses the group reader-*; nobody: no access to '/'
  await putUser(httpUrl, 'writer', 'w-pass', { configure: '', write: '^orders', read: '' });
  await putUser(httpUrl, 'reader', 'r-pass', { configure: '', write: '', read: '^orders$|^reader-' });
  await putUser(httpUrl, 'maker', 'm-pass', { configure: '^made', write: '^made', read: '^made' });
  const vhost = await managementApi(httpUrl, 'PUT', '/api/vhosts/elsewhere');
  assert.ok(vhost.status === 201 || vhost.status === 204);
  await putUser(httpUrl, 'nobody', 'n-pass', { configure: '.*', write: '.*', read: '.*' }, 'elsewhere');
  await broker.streams.createTopic('orders', 1, {});
  await broker.streams.createTopic('secret', 1, {});
});
after(async () => {
  await broker.stop();
});

function kafkajs(username: string, password: string): Kafka {
  return new Kafka({
    clientId: 'acl-test',
    brokers: [`127.0.0.1:${broker.kafkaPort}`],
    sasl: { mechanism: 'scram-sha-256', username, password } as SASLOptions,
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
  });
}

async function authenticated(user: string, password: string): Promise<RawKafkaClient> {
  const client = await RawKafkaClient.connect(broker.kafkaPort);
  assert.equal(await rawScram(client, 'SCRAM-SHA-512', user, password), 0);
  return client;
}

test('a user without write on a topic gets TOPIC_AUTHORIZATION_FAILED from kafkajs send; one with write produces', async () => {
  const denied = kafkajs('reader', 'r-pass').producer();
  await denied.connect();
  try {
    await assert.rejects(denied.send({ topic: 'orders', messages: [{ value: 'x' }] }), (err: Error & { type?: string }) => {
      assert.equal(err.type, 'TOPIC_AUTHORIZATION_FAILED', `${err.name}: ${err.message}`);
      return true;
    });
  } finally {
    await denied.disconnect();
  }
  const allowed = kafkajs('writer', 'w-pass').producer();
  await allowed.connect();
  await allowed.send({ topic: 'orders', messages: [{ value: 'from-writer' }] });
  await allowed.disconnect();
});

test('Metadata lists only the topics the user may describe; a user with no access to the Kafka vhost sees none', async () => {
  const listed = async (user: string, password: string): Promise<string[]> => {
    const admin = kafkajs(user, password).admin();
    await admin.connect();
    try {
      return (await admin.listTopics()).sort();
    } finally {
      await admin.disconnect();
    }
  };
  assert.deepEqual(await listed('writer', 'w-pass'), ['orders']);
  assert.deepEqual(await listed('reader', 'r-pass'), ['orders']);
  assert.deepEqual(await listed('nobody', 'n-pass'), []);
  // the loopback guest (full permissions in '/') sees everything, as before
  const guest = new Kafka({ clientId: 'acl-test', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
  const admin = guest.admin();
  await admin.connect();
  try {
    const all = await admin.listTopics();
    assert.ok(all.includes('orders') && all.includes('secret'), all.join(','));
  } finally {
    await admin.disconnect();
  }
});

test('kcat as a user without read cannot consume: the broker answers TOPIC_AUTHORIZATION_FAILED', async () => {
  const kcat = await requireCommand('kcat', '-V', 'install it with `apt-get install kcat`');
  const sasl = ['-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', 'sasl.username=writer', '-X', 'sasl.password=w-pass'];
  const result = await run(kcat, ['-b', `127.0.0.1:${broker.kafkaPort}`, '-C', '-t', 'orders', '-o', 'beginning', '-e', '-m', '5', ...sasl]);
  assert.match(result.stderr, /Topic authorization failed/i, result.stderr);
  assert.equal(result.stdout, '');
});

test('Fetch and ListOffsets need read on the topic; Produce needs write (raw codes per partition)', async () => {
  const writer = await authenticated('writer', 'w-pass');
  const reader = await authenticated('reader', 'r-pass');
  try {
    const fetched = await writer.fetch('orders', 0, 0n);
    assert.equal(fetched.errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
    assert.equal(fetched.records, null);
    assert.equal((await reader.fetch('orders', 0, 0n)).errorCode, KafkaErrorCode.NONE);
    const offsets = await writer.request(2, 1, {
      replicaId: -1,
      isolationLevel: 0,
      timeoutMs: 5000,
      topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n, maxNumOffsets: 1 }] }],
    });
    assert.equal(offsets.topics[0]!.partitions[0]!.errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
    const batch = await encodeBatch({ records: [{ value: 'no' }] });
    assert.equal((await reader.produce('orders', 0, batch)).errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
    // a topic the user may describe by name but not the other way round: Metadata says so per topic
    const metadata = await reader.request(3, 4, {
      topics: [{ topicId: Buffer.alloc(16), name: 'secret' }],
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    assert.equal(metadata.topics[0]!.errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
    assert.deepEqual(metadata.topics[0]!.partitions, []);
  } finally {
    writer.close();
    reader.close();
  }
});

test('creating a topic needs configure: CreateTopics is refused, and auto-creation on produce does not happen without it', async () => {
  const writer = await authenticated('writer', 'w-pass');
  const maker = await authenticated('maker', 'm-pass');
  try {
    const created = await writer.request(19, 4, {
      topics: [{ name: 'orders-new', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: 5000,
      validateOnly: false,
    });
    assert.equal(created.topics[0]!.errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
    const batch = await encodeBatch({ records: [{ value: 'v' }] });
    assert.equal((await writer.produce('orders-auto', 0, batch)).errorCode, KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    assert.equal(broker.streams.topic('orders-auto'), undefined);
    // with configure the same produce auto-creates the topic
    assert.equal((await maker.produce('made-auto', 0, batch)).errorCode, KafkaErrorCode.NONE);
    assert.notEqual(broker.streams.topic('made-auto'), undefined);
    const deleted = await writer.request(20, 4, { topics: [], topicNames: ['orders'], timeoutMs: 5000 });
    assert.equal(deleted.responses[0]!.errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
    assert.notEqual(broker.streams.topic('orders'), undefined);
    const partitions = await writer.request(37, 2, { topics: [{ name: 'orders', count: 4, assignments: null }], timeoutMs: 5000, validateOnly: false });
    assert.equal(partitions.results[0]!.errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
    const altered = await writer.request(44, 0, {
      resources: [{ resourceType: 2, resourceName: 'orders', configs: [{ name: 'retention.ms', configOperation: 0, value: '1000' }] }],
      validateOnly: false,
    });
    assert.equal(altered.responses[0]!.errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
    const broker4 = await writer.request(44, 0, {
      resources: [{ resourceType: 4, resourceName: '0', configs: [{ name: 'log.retention.ms', configOperation: 0, value: '1' }] }],
      validateOnly: false,
    });
    assert.equal(broker4.responses[0]!.errorCode, KafkaErrorCode.CLUSTER_AUTHORIZATION_FAILED);
  } finally {
    writer.close();
    maker.close();
  }
});

test('a group needs read on its name: JoinGroup, OffsetFetch and OffsetCommit are refused with GROUP_AUTHORIZATION_FAILED', async () => {
  const reader = await authenticated('reader', 'r-pass');
  try {
    const join = await reader.request(11, 5, {
      groupId: 'not-mine',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: '',
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: Buffer.alloc(0) }],
      reason: null,
    });
    assert.equal(join.errorCode, KafkaErrorCode.GROUP_AUTHORIZATION_FAILED);
    const fetched = await reader.request(9, 5, { groupId: 'not-mine', topics: null, groups: [], requireStable: false });
    assert.equal(fetched.errorCode, KafkaErrorCode.GROUP_AUTHORIZATION_FAILED);
    const commit = await reader.request(8, 2, {
      groupId: 'not-mine',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1n,
      topics: [
        { name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 0n, committedLeaderEpoch: -1, commitTimestamp: -1n, committedMetadata: null }] },
      ],
    });
    assert.equal(commit.topics[0]!.partitions[0]!.errorCode, KafkaErrorCode.GROUP_AUTHORIZATION_FAILED);
    // its own group, a topic it may not read: the topic is refused
    const commitSecret = await reader.request(8, 2, {
      groupId: 'reader-1',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1n,
      topics: [
        { name: 'secret', partitions: [{ partitionIndex: 0, committedOffset: 0n, committedLeaderEpoch: -1, commitTimestamp: -1n, committedMetadata: null }] },
        { name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 0n, committedLeaderEpoch: -1, commitTimestamp: -1n, committedMetadata: null }] },
      ],
    });
    assert.deepEqual(
      commitSecret.topics.map((t) => t.partitions[0]!.errorCode),
      [KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED, KafkaErrorCode.NONE],
    );
  } finally {
    reader.close();
  }
});

test('kafkajs consumes in a group its user may read, and cannot join one it may not', async () => {
  const kafka = kafkajs('reader', 'r-pass');
  const consumer = kafka.consumer({ groupId: 'reader-group' });
  await consumer.connect();
  await consumer.subscribe({ topic: 'orders', fromBeginning: true });
  const first = await new Promise<string>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error('nothing consumed')), 20_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        clearTimeout(guard);
        resolve(message.value!.toString());
      },
    });
  });
  await consumer.disconnect();
  assert.equal(first, 'from-writer');

  const refused = kafka.consumer({ groupId: 'someone-elses', retry: { retries: 0 } });
  await refused.connect();
  await refused.subscribe({ topic: 'orders', fromBeginning: true });
  const crashed = new Promise<Error>((resolve) => refused.on(refused.events.CRASH, (e) => resolve(e.payload.error)));
  void refused.run({ eachMessage: async () => {} });
  const error = (await crashed) as Error & { type?: string };
  await refused.disconnect();
  assert.equal(error.type, 'GROUP_AUTHORIZATION_FAILED', `${error.name}: ${error.message}`);
});

test('permissions changed while connected apply to the next request', async () => {
  const reader = await authenticated('reader', 'r-pass');
  try {
    assert.equal((await reader.fetch('orders', 0, 0n)).errorCode, KafkaErrorCode.NONE);
    await putUser(httpUrl, 'reader', 'r-pass', { configure: '', write: '', read: '^nothing$' });
    assert.equal((await reader.fetch('orders', 0, 0n)).errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
  } finally {
    await putUser(httpUrl, 'reader', 'r-pass', { configure: '', write: '', read: '^orders$|^reader-' });
    reader.close();
  }
});

test('--kafka-vhost: permissions in that vhost apply, not those in /', async () => {
  const other = await startTestBroker({ kafkaVhost: 'streams' });
  try {
    const url = `http://127.0.0.1:${other.httpPort}`;
    assert.ok([201, 204].includes((await managementApi(url, 'PUT', '/api/vhosts/streams')).status));
    await putUser(url, 'in-slash', 'p1', { configure: '.*', write: '.*', read: '.*' }, '/');
    await putUser(url, 'in-streams', 'p2', { configure: '.*', write: '.*', read: '.*' }, 'streams');
    const batch = await encodeBatch({ records: [{ value: 'v' }] });
    const a = await RawKafkaClient.connect(other.kafkaPort);
    const b = await RawKafkaClient.connect(other.kafkaPort);
    try {
      assert.equal(await rawPlain(a, 'in-slash', 'p1'), 0);
      assert.equal(await rawPlain(b, 'in-streams', 'p2'), 0);
      assert.equal((await a.produce('t', 0, batch)).errorCode, KafkaErrorCode.TOPIC_AUTHORIZATION_FAILED);
      assert.equal((await b.produce('t', 0, batch)).errorCode, KafkaErrorCode.NONE);
    } finally {
      a.close();
      b.close();
    }
  } finally {
    await other.stop();
  }
});

test("an idempotent producer needs write on some topic (InitProducerId, KIP-679), and describing the broker's configs needs the administrator or monitoring tag", async () => {
  await putUser(httpUrl, 'watcher', 'x-pass', { configure: '', write: '', read: '^orders$' });
  const tagged = await managementApi(httpUrl, 'PUT', '/api/users/watcher', { password: 'x-pass', tags: 'monitoring' });
  assert.equal(tagged.status, 204);
  const writer = await authenticated('writer', 'w-pass');
  const reader = await authenticated('reader', 'r-pass');
  const watcher = await authenticated('watcher', 'x-pass');
  try {
    const init = { transactionalId: null, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 };
    assert.equal((await reader.request(22, 1, init)).errorCode, KafkaErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    const granted = await writer.request(22, 1, init);
    assert.equal(granted.errorCode, KafkaErrorCode.NONE);
    assert.ok(granted.producerId >= 0n);
    const broker0 = { resources: [{ resourceType: 4, resourceName: '', configurationKeys: null }], includeSynonyms: false, includeDocumentation: false };
    const refused = await writer.request(32, 1, broker0);
    assert.equal(refused.results[0]!.errorCode, KafkaErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    assert.deepEqual(refused.results[0]!.configs, []);
    const described = await watcher.request(32, 1, broker0);
    assert.equal(described.results[0]!.errorCode, KafkaErrorCode.NONE);
    assert.ok(described.results[0]!.configs.length > 0);
  } finally {
    writer.close();
    reader.close();
    watcher.close();
  }
});
