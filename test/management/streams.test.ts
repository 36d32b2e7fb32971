/**
 * The Kafka side of the management API, driven by kafkajs: topics with partitions, high watermarks and
 * sizes after producing, consumer groups with members, assignments, committed offsets and lag.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { api, get } from './helpers.js';

/** quick heartbeats and fetches so the group settles in well under a second (kafkajs' minimum session timeout) */
const CONSUMER_SETTINGS = { sessionTimeout: 6000, rebalanceTimeout: 10_000, heartbeatInterval: 100, maxWaitTimeInMs: 100 };

describe('management API: Kafka topics and consumer groups', () => {
  let broker: TestBroker;
  let kafka: Kafka;
  let producer: Producer;
  let admin: Admin;
  const consumers: Consumer[] = [];

  before(async () => {
    broker = await startTestBroker();
    kafka = new Kafka({ clientId: 'mgmt-streams', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
    producer = kafka.producer();
    await producer.connect();
    admin = kafka.admin();
    await admin.connect();
  });
  after(async () => {
    for (const c of consumers) await c.disconnect().catch(() => undefined);
    await producer.disconnect();
    await admin.disconnect();
    await broker.stop();
  });

  async function waitForGroup(id: string, predicate: (g: any) => boolean): Promise<any> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await api(broker, 'GET', `/api/streams/groups/${encodeURIComponent(id)}`);
      if (r.status === 200 && predicate(r.body)) return r.body;
      if (Date.now() > deadline) throw new Error(`timed out waiting on group ${id}: ${JSON.stringify(r.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  test('a topic produced to with kafkajs shows its partitions, high watermarks, message count and size', async () => {
    await admin.createTopics({ topics: [{ topic: 'mgmt.events', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
    await producer.send({
      topic: 'mgmt.events',
      acks: -1,
      messages: Array.from({ length: 6 }, (_, i) => ({ partition: i % 2, key: `k${i}`, value: `event ${i}` })),
    });
    const topics = await get(broker, '/api/streams/topics');
    const t = topics.find((x: any) => x.name === 'mgmt.events');
    assert.ok(t, 'listed');
    assert.equal(t.partitions, 2);
    assert.deepEqual(t.configs, { 'retention.ms': '3600000' });
    assert.equal(t.messages, 6);
    assert.ok(t.size_bytes > 0);
    assert.deepEqual(
      t.partition_details.map((p: any) => [p.partition, p.log_start_offset, p.high_watermark]),
      [
        [0, 0, 3],
        [1, 0, 3],
      ],
    );
    assert.ok(t.partition_details.every((p: any) => p.segments >= 1 && p.size_bytes > 0));
    assert.deepEqual(await get(broker, '/api/streams/topics/mgmt.events'), t);
    assert.equal((await api(broker, 'GET', '/api/streams/topics/no-such-topic')).status, 404);
  });

  test('a consumer group shows its member, assignment, committed offsets and lag, which grows while nobody consumes', async () => {
    await admin.createTopics({ topics: [{ topic: 'mgmt.work', numPartitions: 1 }] });
    await producer.send({ topic: 'mgmt.work', acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `job ${i}` })) });
    const consumer = kafka.consumer({ groupId: 'mgmt-workers', ...CONSUMER_SETTINGS });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: 'mgmt.work', fromBeginning: true });
    await consumer.run({ eachMessage: async () => undefined });
    const caughtUp = await waitForGroup('mgmt-workers', (g) => g.state === 'Stable' && g.members.length === 1 && g.offsets.length === 1 && g.total_lag === 0);
    assert.equal(caughtUp.protocol_type, 'consumer');
    assert.equal(typeof caughtUp.protocol, 'string');
    const member = caughtUp.members[0];
    assert.equal(member.client_id, 'mgmt-streams');
    assert.equal(typeof member.member_id, 'string');
    assert.ok(member.client_host.length > 0);
    assert.deepEqual(member.assignments, [{ topic: 'mgmt.work', partitions: [0] }]);
    assert.deepEqual(caughtUp.offsets, [{ topic: 'mgmt.work', partition: 0, committed_offset: 10, high_watermark: 10, lag: 0 }]);
    assert.ok((await get(broker, '/api/streams/groups')).some((g: any) => g.group_id === 'mgmt-workers'));
    assert.equal((await api(broker, 'DELETE', '/api/streams/groups/mgmt-workers')).status, 409, 'a group with members stays');

    await consumer.disconnect();
    await waitForGroup('mgmt-workers', (g) => g.members.length === 0);
    await producer.send({ topic: 'mgmt.work', acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ value: `late job ${i}` })) });
    const behind = await get(broker, '/api/streams/groups/mgmt-workers');
    assert.equal(behind.state, 'Empty');
    assert.deepEqual(behind.offsets, [{ topic: 'mgmt.work', partition: 0, committed_offset: 10, high_watermark: 15, lag: 5 }]);
    assert.equal(behind.total_lag, 5);
    assert.equal((await api(broker, 'DELETE', '/api/streams/groups/mgmt-workers')).status, 204);
    assert.equal((await api(broker, 'GET', '/api/streams/groups/mgmt-workers')).status, 404);
  });

  test('a topic created over HTTP is usable by kafkajs, and deleted over HTTP it is gone', async () => {
    const created = await api(broker, 'PUT', '/api/streams/topics/mgmt.http', {
      body: { partitions: 3, configs: { 'cleanup.policy': 'delete', 'retention.ms': 60000 } },
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.partitions, 3);
    assert.deepEqual(created.body.configs, { 'cleanup.policy': 'delete', 'retention.ms': '60000' });
    const meta = await admin.fetchTopicMetadata({ topics: ['mgmt.http'] });
    assert.equal(meta.topics[0]!.partitions.length, 3);
    assert.equal((await api(broker, 'PUT', '/api/streams/topics/mgmt.http', { body: { partitions: 1 } })).status, 409);
    assert.equal((await api(broker, 'PUT', '/api/streams/topics/bad%20name', { body: { partitions: 1 } })).status, 400);
    assert.equal((await api(broker, 'PUT', '/api/streams/topics/mgmt.zero', { body: { partitions: 0 } })).status, 400);
    assert.equal((await api(broker, 'PUT', '/api/streams/topics/mgmt.cfg', { body: { configs: { 'retention.ms': 'soon' } } })).status, 400);
    await admin.setOffsets({ groupId: 'mgmt-http-readers', topic: 'mgmt.http', partitions: [{ partition: 0, offset: '0' }] });
    assert.deepEqual(
      (await get(broker, '/api/streams/groups/mgmt-http-readers')).offsets.map((o: { topic: string }) => o.topic),
      ['mgmt.http'],
    );
    assert.equal((await api(broker, 'DELETE', '/api/streams/topics/mgmt.http')).status, 204);
    assert.equal((await api(broker, 'GET', '/api/streams/topics/mgmt.http')).status, 404);
    // the group's only offsets were for the deleted topic: they went with it (kafkajs' setOffsets joined the
    // group, so it stays describable as Empty for a while, as any emptied group)
    const emptied = await get(broker, '/api/streams/groups/mgmt-http-readers');
    assert.deepEqual(emptied.offsets, []);
    assert.equal((await api(broker, 'DELETE', '/api/streams/topics/mgmt.http')).status, 404);
  });

  test('the overview counts topics and groups, and the aliveness test passes', async () => {
    const overview = await get(broker, '/api/overview');
    assert.ok(overview.streams.topics >= 2);
    assert.deepEqual(await get(broker, '/api/aliveness-test/%2F'), { status: 'ok' });
    assert.equal((await api(broker, 'GET', '/api/queues/%2F/aliveness-test')).status, 404, 'the test queue is removed again');
    assert.equal((await api(broker, 'GET', '/api/aliveness-test/no-such-vhost')).status, 404);
    assert.deepEqual(await get(broker, '/api/health/checks/virtual-hosts'), { status: 'ok' });
  });
});
