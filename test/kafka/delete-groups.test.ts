/**
 * DeleteGroups (api key 42): kafkajs' admin.deleteGroups and raw requests over every served version. A
 * deleted group's committed offsets are gone for good: after a restart and after kill -9 right after the
 * answer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { startTestBroker, tempDataDir, waitFor, type TestBroker } from '../helpers/broker.js';
import { spawnBroker } from '../helpers/process.js';
import { RawKafkaClient } from '../helpers/kafka-raw.js';

const CONSUMER_SETTINGS = { sessionTimeout: 6000, rebalanceTimeout: 10_000, heartbeatInterval: 100, maxWaitTimeInMs: 100 };
/** Deadline guard for waits (not a timing assertion). */
const WAIT_MS = 20_000;
const NONE = 0;
const INVALID_GROUP_ID = 24;
const NON_EMPTY_GROUP = 68;
const GROUP_ID_NOT_FOUND = 69;
const DELETE_GROUPS = 42;

function kafkaFor(port: number): Kafka {
  return new Kafka({ clientId: 'delete-groups-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING });
}

async function withAdmin<T>(kafka: Kafka, body: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await body(admin);
  } finally {
    await admin.disconnect();
  }
}

async function produce(kafka: Kafka, topic: string, values: string[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: values.map((value) => ({ partition: 0, value })) });
  } finally {
    await producer.disconnect();
  }
}

/** Consumes `count` messages with `groupId` from where the group's committed offsets say, then leaves. */
async function consume(kafka: Kafka, groupId: string, topic: string, count: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId, ...CONSUMER_SETTINGS });
  const seen: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value?.toString() ?? '') });
    await waitFor(() => seen.length >= count, WAIT_MS, `${count} messages for ${groupId}`);
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

/** The group's committed offset of each partition of `topic` ('-1' when none), as kafkajs reports it. */
async function committed(admin: Admin, groupId: string, topic: string): Promise<string[]> {
  const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return result!.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.offset);
}

/** kafkajs rejects deleteGroups when any group failed; the per-group codes are on the error. */
async function deleteErrors(admin: Admin, groupIds: string[]): Promise<Array<[string, number]>> {
  try {
    await admin.deleteGroups(groupIds);
  } catch (err) {
    const groups = (err as { groups?: Array<{ groupId: string; errorCode: number }> }).groups;
    assert.ok(groups !== undefined, `deleteGroups failed without per-group results: ${(err as Error).message}`);
    return groups.map((g) => [g.groupId, g.errorCode]);
  }
  return [];
}

test('ApiVersions advertises DeleteGroups v0 to v2', async () => {
  const broker = await startTestBroker();
  try {
    const raw = await RawKafkaClient.connect(broker.kafkaPort);
    const versions = await raw.request(18, 3, { clientSoftwareName: 'raw', clientSoftwareVersion: '1' });
    raw.close();
    assert.deepEqual(
      versions.apiKeys.filter((a) => a.apiKey === DELETE_GROUPS).map((a) => [a.minVersion, a.maxVersion]),
      [[0, 2]],
    );
  } finally {
    await broker.stop();
  }
});

test('deleting an empty group removes it and its offsets from listGroups, describeGroups and fetchOffsets, also after a restart; the id then starts over', async () => {
  const dataDir = tempDataDir();
  let broker: TestBroker = await startTestBroker({ dataDir });
  try {
    let kafka = kafkaFor(broker.kafkaPort);
    await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: 'ledger', numPartitions: 1 }], waitForLeaders: true }));
    await produce(kafka, 'ledger', ['a', 'b', 'c']);
    assert.deepEqual(await consume(kafka, 'accounting', 'ledger', 3), ['a', 'b', 'c']);
    await waitFor(
      () => broker.groups.fetchOffsets('accounting', [{ topic: 'ledger', partitions: [0] }])[0]!.partitions[0]!.offset === 3n,
      WAIT_MS,
      'the commit',
    );
    // a second group, standalone commits only, that must not be touched
    await withAdmin(kafka, (admin) => admin.setOffsets({ groupId: 'bystander', topic: 'ledger', partitions: [{ partition: 0, offset: '1' }] }));

    await withAdmin(kafka, async (admin) => {
      assert.deepEqual((await admin.listGroups()).groups.map((g) => g.groupId).sort(), ['accounting', 'bystander']);
      assert.deepEqual(await admin.deleteGroups(['accounting']), [{ groupId: 'accounting', errorCode: NONE }]);
      assert.deepEqual(
        (await admin.listGroups()).groups.map((g) => g.groupId),
        ['bystander'],
      );
      assert.deepEqual(await committed(admin, 'accounting', 'ledger'), ['-1']);
      assert.deepEqual(await committed(admin, 'bystander', 'ledger'), ['1']);
      const [described] = (await admin.describeGroups(['accounting'])).groups;
      assert.equal(described!.state, 'Dead');
      assert.deepEqual(described!.members, []);
    });

    await broker.close();
    broker = await startTestBroker({ dataDir });
    kafka = kafkaFor(broker.kafkaPort);
    await withAdmin(kafka, async (admin) => {
      assert.deepEqual(
        (await admin.listGroups()).groups.map((g) => g.groupId),
        ['bystander'],
      );
      assert.deepEqual(await committed(admin, 'accounting', 'ledger'), ['-1']);
      assert.deepEqual(await committed(admin, 'bystander', 'ledger'), ['1']);
    });
    // with nothing committed, a consumer of the same group id reads from the beginning again, and commits
    assert.deepEqual(await consume(kafka, 'accounting', 'ledger', 3), ['a', 'b', 'c']);
    await withAdmin(kafka, async (admin) => {
      await waitFor(
        () => broker.groups.fetchOffsets('accounting', [{ topic: 'ledger', partitions: [0] }])[0]!.partitions[0]!.offset === 3n,
        WAIT_MS,
        'the new commit',
      );
      assert.deepEqual(await committed(admin, 'accounting', 'ledger'), ['3']);
      assert.deepEqual((await admin.listGroups()).groups.map((g) => g.groupId).sort(), ['accounting', 'bystander']);
    });
  } finally {
    await broker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a group with a live consumer is not deleted (NON_EMPTY_GROUP) and keeps its offsets; an unknown group is GROUP_ID_NOT_FOUND', async () => {
  const broker = await startTestBroker();
  try {
    const kafka = kafkaFor(broker.kafkaPort);
    await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: 'live', numPartitions: 1 }], waitForLeaders: true }));
    await produce(kafka, 'live', ['x', 'y']);
    const consumer = kafka.consumer({ groupId: 'busy', ...CONSUMER_SETTINGS });
    const seen: string[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: 'live', fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value?.toString() ?? '') });
      await waitFor(() => seen.length === 2, WAIT_MS, 'both messages');
      await waitFor(() => broker.groups.fetchOffsets('busy', [{ topic: 'live', partitions: [0] }])[0]!.partitions[0]!.offset === 2n, WAIT_MS, 'the commit');
      await withAdmin(kafka, async (admin) => {
        assert.deepEqual(await deleteErrors(admin, ['busy']), [['busy', NON_EMPTY_GROUP]]);
        assert.deepEqual(await deleteErrors(admin, ['no-such-group']), [['no-such-group', GROUP_ID_NOT_FOUND]]);
        assert.deepEqual(await committed(admin, 'busy', 'live'), ['2']);
        assert.equal((await admin.describeGroups(['busy'])).groups[0]!.state, 'Stable');
      });
      // the consumer is unharmed: it still receives
      await produce(kafka, 'live', ['z']);
      await waitFor(() => seen.length === 3, WAIT_MS, 'the message after the refused deletion');
    } finally {
      await consumer.disconnect();
    }
    // once it has left, the group can go
    await withAdmin(kafka, async (admin) => {
      assert.deepEqual(await admin.deleteGroups(['busy']), [{ groupId: 'busy', errorCode: NONE }]);
      assert.deepEqual(await committed(admin, 'busy', 'live'), ['-1']);
    });
  } finally {
    await broker.stop();
  }
});

test('each version answers per group in one request: deleted, unknown, empty id, and a name repeated answered once', async () => {
  const broker = await startTestBroker();
  try {
    const kafka = kafkaFor(broker.kafkaPort);
    await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic: 'versions', numPartitions: 2 }], waitForLeaders: true }));
    const raw = await RawKafkaClient.connect(broker.kafkaPort);
    try {
      for (const version of [0, 1, 2]) {
        const groupId = `g-v${version}`;
        const commit = await raw.request(8, 8, {
          groupId,
          generationIdOrMemberEpoch: -1,
          memberId: '',
          groupInstanceId: null,
          retentionTimeMs: -1n,
          topics: [
            {
              name: 'versions',
              partitions: [0, 1].map((p) => ({
                partitionIndex: p,
                committedOffset: 5n,
                committedLeaderEpoch: -1,
                commitTimestamp: -1n,
                committedMetadata: null,
              })),
            },
          ],
        });
        assert.deepEqual(
          commit.topics[0]!.partitions.map((p) => p.errorCode),
          [NONE, NONE],
        );
        const answer = await raw.request(DELETE_GROUPS, version, { groupsNames: [groupId, 'unknown', '', groupId] });
        assert.equal(answer.throttleTimeMs, 0);
        assert.deepEqual(
          answer.results.map((r) => [r.groupId, r.errorCode]),
          [
            [groupId, NONE],
            ['unknown', GROUP_ID_NOT_FOUND],
            ['', INVALID_GROUP_ID],
          ],
          `version ${version}`,
        );
        const again = await raw.request(DELETE_GROUPS, version, { groupsNames: [groupId] });
        assert.deepEqual(
          again.results.map((r) => [r.groupId, r.errorCode]),
          [[groupId, GROUP_ID_NOT_FOUND]],
        );
        const fetched = await raw.request(9, 6, { groupId, topics: null, groups: [], requireStable: false });
        assert.deepEqual(fetched.topics, []);
        // OffsetFetch v8 (batched groups) sees nothing either
        const batched = await raw.request(9, 8, {
          groupId: '',
          topics: [],
          groups: [{ groupId, memberId: null, memberEpoch: -1, topics: null }],
          requireStable: false,
        });
        assert.deepEqual(
          batched.groups.map((g) => [g.groupId, g.topics.length, g.errorCode]),
          [[groupId, 0, NONE]],
        );
      }
      // an empty request is an empty answer
      assert.deepEqual((await raw.request(DELETE_GROUPS, 2, { groupsNames: [] })).results, []);
      const listed = await raw.request(16, 4, { statesFilter: [], typesFilter: [] });
      assert.deepEqual(listed.groups, []);
    } finally {
      raw.close();
    }
  } finally {
    await broker.stop();
  }
});

test('a group deleted right before kill -9 is still deleted after the restart', async () => {
  const dataDir = tempDataDir();
  let child = await spawnBroker(dataDir);
  try {
    await withAdmin(kafkaFor(child.kafkaPort), (admin) => admin.createTopics({ topics: [{ topic: 'doomed', numPartitions: 3 }], waitForLeaders: true }));
    const raw = await RawKafkaClient.connect(child.kafkaPort);
    for (const groupId of ['victim', 'survivor']) {
      const commit = await raw.request(8, 8, {
        groupId,
        generationIdOrMemberEpoch: -1,
        memberId: '',
        groupInstanceId: null,
        retentionTimeMs: -1n,
        topics: [
          {
            name: 'doomed',
            partitions: [0, 1, 2].map((p) => ({
              partitionIndex: p,
              committedOffset: BigInt(10 + p),
              committedLeaderEpoch: -1,
              commitTimestamp: -1n,
              committedMetadata: null,
            })),
          },
        ],
      });
      assert.deepEqual(
        commit.topics[0]!.partitions.map((p) => p.errorCode),
        [NONE, NONE, NONE],
      );
    }
    const answer = await raw.request(DELETE_GROUPS, 2, { groupsNames: ['victim'] });
    assert.deepEqual(
      answer.results.map((r) => [r.groupId, r.errorCode]),
      [['victim', NONE]],
    );
    // no clean shutdown: whatever was not fsynced before the answer is lost here
    child.child.kill('SIGKILL');
    await child.exited;
    raw.close();

    child = await spawnBroker(dataDir);
    const again = await RawKafkaClient.connect(child.kafkaPort);
    try {
      const victim = await again.request(9, 6, { groupId: 'victim', topics: null, groups: [], requireStable: false });
      assert.deepEqual(victim.topics, []);
      const survivor = await again.request(9, 6, { groupId: 'survivor', topics: null, groups: [], requireStable: false });
      assert.deepEqual(
        survivor.topics.map((t) => [t.name, t.partitions.map((p) => p.committedOffset)]),
        [['doomed', [10n, 11n, 12n]]],
      );
      const listed = await again.request(16, 4, { statesFilter: [], typesFilter: [] });
      assert.deepEqual(
        listed.groups.map((g) => g.groupId),
        ['survivor'],
      );
      const described = await again.request(15, 5, { groups: ['victim'], includeAuthorizedOperations: false });
      assert.equal(described.groups[0]!.groupState, 'Dead');
    } finally {
      again.close();
    }
  } finally {
    child.child.kill('SIGKILL');
    await child.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});
