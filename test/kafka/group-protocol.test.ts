/** Consumer-group APIs over raw Kafka frames: the error codes and version differences clients rely on. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker, delay, type TestBroker } from '../helpers/broker.js';
import { RawKafkaClient, consumerAssignment } from '../helpers/kafka-raw.js';
import type { JoinGroupRequest, JoinGroupResponse, SyncGroupRequest } from '../../src/protocol/kafka/generated/messages.js';

const FIND_COORDINATOR = 10;
const JOIN_GROUP = 11;
const HEARTBEAT = 12;
const LEAVE_GROUP = 13;
const SYNC_GROUP = 14;
const DESCRIBE_GROUPS = 15;
const LIST_GROUPS = 16;
const OFFSET_COMMIT = 8;
const OFFSET_FETCH = 9;

const NONE = 0;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const OFFSET_METADATA_TOO_LARGE = 12;
const COORDINATOR_NOT_AVAILABLE = 15;
const ILLEGAL_GENERATION = 22;
const INCONSISTENT_GROUP_PROTOCOL = 23;
const INVALID_GROUP_ID = 24;
const UNKNOWN_MEMBER_ID = 25;
const INVALID_SESSION_TIMEOUT = 26;
const REBALANCE_IN_PROGRESS = 27;
const MEMBER_ID_REQUIRED = 79;

let broker: TestBroker;
const clients: RawKafkaClient[] = [];

before(async () => {
  broker = await startTestBroker();
  broker.streams.createTopic('t', 2, {});
});
after(async () => {
  for (const c of clients) c.close();
  await broker.stop();
});

async function client(clientId: string): Promise<RawKafkaClient> {
  const c = await RawKafkaClient.connect(broker.kafkaPort, clientId);
  clients.push(c);
  return c;
}

function joinBody(groupId: string, memberId: string, sessionTimeoutMs = 10_000, protocolType = 'consumer'): JoinGroupRequest {
  return {
    groupId,
    sessionTimeoutMs,
    rebalanceTimeoutMs: 5000,
    memberId,
    groupInstanceId: null,
    protocolType,
    protocols: [{ name: 'range', metadata: Buffer.from('subscription') }],
    reason: null,
  };
}

function syncBody(groupId: string, joined: JoinGroupResponse, assignments: SyncGroupRequest['assignments'] = []): SyncGroupRequest {
  return { groupId, generationId: joined.generationId, memberId: joined.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments };
}

/** JoinGroup v5 as a new member: MEMBER_ID_REQUIRED first, then the join with the id it was given. */
async function joinV5(c: RawKafkaClient, groupId: string, sessionTimeoutMs: number): Promise<JoinGroupResponse> {
  const first = await c.request(JOIN_GROUP, 5, joinBody(groupId, '', sessionTimeoutMs));
  assert.equal(first.errorCode, MEMBER_ID_REQUIRED);
  assert.notEqual(first.memberId, '');
  const joined = await c.request(JOIN_GROUP, 5, joinBody(groupId, first.memberId, sessionTimeoutMs));
  assert.equal(joined.errorCode, NONE);
  return joined;
}

/** One member joined (v3, no member id dance) and synced alone: a Stable group. */
async function soloMember(groupId: string): Promise<{ c: RawKafkaClient; joined: JoinGroupResponse }> {
  const c = await client(`solo-${groupId}`);
  const joined = await c.request(JOIN_GROUP, 3, joinBody(groupId, ''));
  assert.equal(joined.errorCode, NONE);
  const synced = await c.request(SYNC_GROUP, 3, syncBody(groupId, joined, [{ memberId: joined.memberId, assignment: consumerAssignment({ t: [0, 1] }) }]));
  assert.equal(synced.errorCode, NONE);
  return { c, joined };
}

test('FindCoordinator names this broker for groups, batched from v4, and has no transaction coordinator', async () => {
  const c = await client('finder');
  const v0 = await c.request(FIND_COORDINATOR, 0, { key: 'g', keyType: 0, coordinatorKeys: [] });
  assert.deepEqual([v0.errorCode, v0.nodeId, v0.host, v0.port], [NONE, 0, '127.0.0.1', broker.kafkaPort]);
  const txn = await c.request(FIND_COORDINATOR, 3, { key: 'tx', keyType: 1, coordinatorKeys: [] });
  assert.equal(txn.errorCode, COORDINATOR_NOT_AVAILABLE);
  const v4 = await c.request(FIND_COORDINATOR, 4, { key: '', keyType: 0, coordinatorKeys: ['a', 'b'] });
  assert.deepEqual(
    v4.coordinators.map((x) => [x.key, x.errorCode, x.nodeId, x.port]),
    [
      ['a', NONE, 0, broker.kafkaPort],
      ['b', NONE, 0, broker.kafkaPort],
    ],
  );
});

test('JoinGroup v4+ hands a new member its id with MEMBER_ID_REQUIRED; v3 and older join at once', async () => {
  const c = await client('joiner');
  const v4 = await c.request(JOIN_GROUP, 4, joinBody('ids', ''));
  assert.equal(v4.errorCode, MEMBER_ID_REQUIRED);
  assert.match(v4.memberId, /^joiner-/);
  assert.equal(v4.generationId, -1);
  const v3 = await c.request(JOIN_GROUP, 3, joinBody('ids-old', ''));
  assert.equal(v3.errorCode, NONE);
  assert.equal(v3.leader, v3.memberId);
  assert.equal(v3.protocolName, 'range');
  assert.deepEqual(
    v3.members.map((m) => m.memberId),
    [v3.memberId],
  );
  const v7 = await c.request(JOIN_GROUP, 7, joinBody('ids-old', 'made-up-member'));
  assert.equal(v7.errorCode, UNKNOWN_MEMBER_ID);
  assert.equal(v7.protocolName, null);
});

test('JoinGroup refuses an empty group id, a session timeout out of range and a different protocol type', async () => {
  const c = await client('refused');
  assert.equal((await c.request(JOIN_GROUP, 5, joinBody('', ''))).errorCode, INVALID_GROUP_ID);
  assert.equal((await c.request(JOIN_GROUP, 5, joinBody('short', '', 10))).errorCode, INVALID_SESSION_TIMEOUT);
  await soloMember('typed');
  assert.equal((await c.request(JOIN_GROUP, 3, joinBody('typed', '', 10_000, 'connect'))).errorCode, INCONSISTENT_GROUP_PROTOCOL);
});

test('a member that joins and then goes silent is expired after its session timeout; the member still heartbeating rebalances without it', async () => {
  const silent = await client('silent');
  const alive = await client('alive');
  const [s, a] = await Promise.all([joinV5(silent, 'expiry', 500), joinV5(alive, 'expiry', 10_000)]);
  assert.equal(s.generationId, a.generationId);
  const leader = s.leader === s.memberId ? s : a;
  const assignments = [
    { memberId: s.memberId, assignment: consumerAssignment({ t: [0] }) },
    { memberId: a.memberId, assignment: consumerAssignment({ t: [1] }) },
  ];
  const [sSync, aSync] = await Promise.all([
    silent.request(SYNC_GROUP, 3, syncBody('expiry', s, leader === s ? assignments : [])),
    alive.request(SYNC_GROUP, 3, syncBody('expiry', a, leader === a ? assignments : [])),
  ]);
  assert.deepEqual(sSync.assignment, assignments[0]!.assignment);
  assert.deepEqual(aSync.assignment, assignments[1]!.assignment);
  const view = broker.groups.describeGroup('expiry')!;
  assert.equal(view.state, 'Stable');
  assert.deepEqual(
    view.members.map((m) => m.assignedPartitions).sort((x, y) => x![0]!.partitions[0]! - y![0]!.partitions[0]!),
    [[{ topic: 't', partitions: [0] }], [{ topic: 't', partitions: [1] }]],
  );

  // from here on the silent member sends nothing; the other heartbeats until it is told to rejoin
  const deadline = Date.now() + 15_000;
  let code = NONE;
  while (code === NONE) {
    if (Date.now() > deadline) throw new Error('the silent member was never expired');
    await delay(50);
    code = (await alive.request(HEARTBEAT, 3, { groupId: 'expiry', generationId: a.generationId, memberId: a.memberId, groupInstanceId: null })).errorCode;
  }
  assert.equal(code, REBALANCE_IN_PROGRESS);
  const rejoined = await alive.request(JOIN_GROUP, 5, joinBody('expiry', a.memberId, 10_000));
  assert.equal(rejoined.errorCode, NONE);
  assert.equal(rejoined.generationId, a.generationId + 1);
  assert.equal(rejoined.leader, a.memberId);
  assert.deepEqual(
    rejoined.members.map((m) => m.memberId),
    [a.memberId],
  );
  const late = await silent.request(HEARTBEAT, 3, { groupId: 'expiry', generationId: s.generationId, memberId: s.memberId, groupInstanceId: null });
  assert.equal(late.errorCode, UNKNOWN_MEMBER_ID);
  const described = await alive.request(DESCRIBE_GROUPS, 5, { groups: ['expiry'], includeAuthorizedOperations: false });
  assert.equal(described.groups[0]!.groupState, 'CompletingRebalance');
  assert.deepEqual(
    described.groups[0]!.members.map((m) => [m.memberId, m.clientId, m.clientHost]),
    [[a.memberId, 'alive', '/127.0.0.1']],
  );
});

test('Heartbeat and SyncGroup name stale generations and strangers as Kafka does', async () => {
  const { c, joined } = await soloMember('fences');
  const heartbeat = (generationId: number, memberId: string) => c.request(HEARTBEAT, 0, { groupId: 'fences', generationId, memberId, groupInstanceId: null });
  assert.equal((await heartbeat(joined.generationId, joined.memberId)).errorCode, NONE);
  assert.equal((await heartbeat(joined.generationId - 1, joined.memberId)).errorCode, ILLEGAL_GENERATION);
  assert.equal((await heartbeat(joined.generationId, 'stranger')).errorCode, UNKNOWN_MEMBER_ID);
  assert.equal(
    (await c.request(HEARTBEAT, 4, { groupId: 'no-such-group', generationId: 1, memberId: 'm', groupInstanceId: null })).errorCode,
    UNKNOWN_MEMBER_ID,
  );
  const stale = await c.request(SYNC_GROUP, 5, { ...syncBody('fences', joined), generationId: joined.generationId + 1 });
  assert.equal(stale.errorCode, ILLEGAL_GENERATION);
  const wrongName = await c.request(SYNC_GROUP, 5, { ...syncBody('fences', joined), protocolType: 'consumer', protocolName: 'roundrobin' });
  assert.equal(wrongName.errorCode, INCONSISTENT_GROUP_PROTOCOL);
  const again = await c.request(SYNC_GROUP, 5, { ...syncBody('fences', joined), protocolType: 'consumer', protocolName: 'range' });
  assert.deepEqual([again.errorCode, again.protocolType, again.protocolName], [NONE, 'consumer', 'range']);
  assert.deepEqual(again.assignment, consumerAssignment({ t: [0, 1] }));
});

test('OffsetCommit checks generation and member for an active group, and partitions and metadata size', async () => {
  const { c, joined } = await soloMember('commits');
  const commit = (generationIdOrMemberEpoch: number, memberId: string, partitionIndex = 0, topic = 't', committedMetadata: string | null = 'note') =>
    c.request(OFFSET_COMMIT, 8, {
      groupId: 'commits',
      generationIdOrMemberEpoch,
      memberId,
      groupInstanceId: null,
      retentionTimeMs: -1n,
      topics: [{ name: topic, partitions: [{ partitionIndex, committedOffset: 17n, committedLeaderEpoch: 4, commitTimestamp: -1n, committedMetadata }] }],
    });
  const codeOf = async (p: ReturnType<typeof commit>) => (await p).topics[0]!.partitions[0]!.errorCode;
  assert.equal(await codeOf(commit(joined.generationId + 1, joined.memberId)), ILLEGAL_GENERATION);
  assert.equal(await codeOf(commit(joined.generationId, 'stranger')), UNKNOWN_MEMBER_ID);
  assert.equal(await codeOf(commit(-1, '')), UNKNOWN_MEMBER_ID, 'no standalone commits while the group has members');
  assert.equal(await codeOf(commit(joined.generationId, joined.memberId, 7)), UNKNOWN_TOPIC_OR_PARTITION);
  assert.equal(await codeOf(commit(joined.generationId, joined.memberId, 0, 'missing-topic')), UNKNOWN_TOPIC_OR_PARTITION);
  assert.equal(await codeOf(commit(joined.generationId, joined.memberId, 0, 't', 'x'.repeat(5000))), OFFSET_METADATA_TOO_LARGE);
  assert.equal(await codeOf(commit(joined.generationId, joined.memberId)), NONE);
  const fetched = await c.request(OFFSET_FETCH, 7, { groupId: 'commits', topics: [{ name: 't', partitionIndexes: [0, 1] }], groups: [], requireStable: false });
  assert.deepEqual(
    fetched.topics[0]!.partitions.map((p) => [p.partitionIndex, p.committedOffset, p.committedLeaderEpoch, p.metadata, p.errorCode]),
    [
      [0, 17n, 4, 'note', NONE],
      [1, -1n, -1, '', NONE],
    ],
  );
});

test('OffsetFetch reads every offset of a group with null topics, and several groups at once from v8', async () => {
  const c = await client('fetcher');
  const standalone = await c.request(OFFSET_COMMIT, 2, {
    groupId: 'standalone',
    generationIdOrMemberEpoch: -1,
    memberId: '',
    groupInstanceId: null,
    retentionTimeMs: -1n,
    topics: [{ name: 't', partitions: [{ partitionIndex: 1, committedOffset: 3n, committedLeaderEpoch: -1, commitTimestamp: -1n, committedMetadata: null }] }],
  });
  assert.equal(standalone.topics[0]!.partitions[0]!.errorCode, NONE);
  const all = await c.request(OFFSET_FETCH, 2, { groupId: 'standalone', topics: null, groups: [], requireStable: false });
  assert.deepEqual(
    all.topics.map((t) => [t.name, t.partitions.map((p) => [p.partitionIndex, p.committedOffset])]),
    [['t', [[1, 3n]]]],
  );
  const v0 = await c.request(OFFSET_FETCH, 0, { groupId: 'standalone', topics: [{ name: 't', partitionIndexes: [1] }], groups: [], requireStable: false });
  assert.equal(v0.topics[0]!.partitions[0]!.committedOffset, 3n);
  const batched = await c.request(OFFSET_FETCH, 8, {
    groupId: '',
    topics: [],
    groups: [
      { groupId: 'standalone', memberId: null, memberEpoch: -1, topics: null },
      { groupId: 'nobody', memberId: null, memberEpoch: -1, topics: [{ name: 't', partitionIndexes: [0] }] },
    ],
    requireStable: false,
  });
  assert.deepEqual(
    batched.groups.map((g) => [g.groupId, g.errorCode, g.topics.map((t) => t.partitions.map((p) => p.committedOffset))]),
    [
      ['standalone', NONE, [[3n]]],
      ['nobody', NONE, [[-1n]]],
    ],
  );
});

test('LeaveGroup answers per member from v3 and with one top-level code before; the group left empty is Empty, an unknown one Dead', async () => {
  const { c, joined } = await soloMember('leavers');
  const v0 = await c.request(LEAVE_GROUP, 0, { groupId: 'leavers', memberId: 'stranger', members: [] });
  assert.equal(v0.errorCode, UNKNOWN_MEMBER_ID);
  const v3 = await c.request(LEAVE_GROUP, 3, {
    groupId: 'leavers',
    memberId: '',
    members: [
      { memberId: joined.memberId, groupInstanceId: null, reason: null },
      { memberId: 'stranger', groupInstanceId: null, reason: null },
    ],
  });
  assert.equal(v3.errorCode, NONE);
  assert.deepEqual(
    v3.members.map((m) => [m.memberId, m.errorCode]),
    [
      [joined.memberId, NONE],
      ['stranger', UNKNOWN_MEMBER_ID],
    ],
  );
  const described = await c.request(DESCRIBE_GROUPS, 0, { groups: ['leavers', 'never-seen'], includeAuthorizedOperations: false });
  assert.deepEqual(
    described.groups.map((g) => [g.groupId, g.errorCode, g.groupState, g.protocolType, g.members.length]),
    [
      ['leavers', NONE, 'Empty', 'consumer', 0],
      // Kafka describes a group it does not know as Dead, without an error
      ['never-seen', NONE, 'Dead', '', 0],
    ],
  );
});

test('ListGroups lists groups with their protocol type, and filters by state from v4', async () => {
  await soloMember('listed-stable');
  const c = await client('lister');
  await c.request(OFFSET_COMMIT, 8, {
    groupId: 'listed-empty',
    generationIdOrMemberEpoch: -1,
    memberId: '',
    groupInstanceId: null,
    retentionTimeMs: -1n,
    topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, commitTimestamp: -1n, committedMetadata: null }] }],
  });
  const v0 = await c.request(LIST_GROUPS, 0, { statesFilter: [], typesFilter: [] });
  const byId = new Map(v0.groups.map((g) => [g.groupId, g.protocolType]));
  assert.equal(byId.get('listed-stable'), 'consumer');
  assert.equal(byId.get('listed-empty'), '');
  const stable = await c.request(LIST_GROUPS, 4, { statesFilter: ['Stable'], typesFilter: [] });
  const ids = stable.groups.map((g) => g.groupId);
  assert.ok(ids.includes('listed-stable'));
  assert.ok(!ids.includes('listed-empty'));
  assert.ok(stable.groups.every((g) => g.groupState === 'Stable'));
  const consumerType = await c.request(LIST_GROUPS, 5, { statesFilter: ['empty'], typesFilter: ['consumer'] });
  assert.deepEqual(consumerType.groups, []);
  const classic = await c.request(LIST_GROUPS, 5, { statesFilter: ['empty'], typesFilter: ['classic'] });
  assert.ok(classic.groups.some((g) => g.groupId === 'listed-empty' && g.groupType === 'classic'));
});
