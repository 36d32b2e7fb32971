import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileStorageEngine } from '../../storage/file-engine.js';
import { createLogger } from '../../log/logger.js';
import { StreamStore } from './topics.js';
import { EMPTY_GROUP_RETENTION_MS, GroupCoordinator, type JoinOutcome, type JoinRequest } from './groups.js';
import { INITIAL_REBALANCE_DELAY_MS } from './group-state.js';
import { OFFSET_LOG_FILE, OFFSET_LOG_HEADER_BYTES } from '../../storage/group-offset-log.js';
import type { FileGroupOffsetStore } from '../../storage/group-offsets-file.js';

const START = 1_000_000;

interface Harness {
  readonly dir: string;
  readonly groups: GroupCoordinator;
  readonly streams: StreamStore;
  /** the file engine's group-offset store the coordinator writes to */
  readonly offsets: FileGroupOffsetStore;
  /** moves the fake clock and runs the coordinator's timer once */
  advance(ms: number): void;
  close(): Promise<void>;
}

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postbox-groups-'));
  dirs.push(dir);
  return dir;
}

function open(dir = tempDir(), extra: { compactionMinBytes?: number } = {}): Harness {
  const logger = createLogger('silent');
  const engine = new FileStorageEngine({ dataDir: dir, fsync: 'always', logger });
  const scheduler = engine.durable;
  const streams = StreamStore.open({ engine, logger, autoCreateTopics: false, defaultPartitions: 1, retentionCheckMs: 60_000 });
  if (streams.topic('t') === undefined) streams.createTopic('t', 4, {});
  let now = START;
  const offsets = engine.meta.openGroupOffsets(extra);
  const groups = GroupCoordinator.open({ offsets, logger, streams, clock: () => now, timer: false });
  return {
    dir,
    groups,
    streams,
    offsets,
    advance(ms) {
      now += ms;
      groups.checkTimeouts(now);
    },
    async close() {
      await groups.close();
      await streams.close();
      await scheduler.close();
    },
  };
}

function request(over: Partial<JoinRequest> = {}): JoinRequest {
  return {
    groupId: 'g',
    memberId: '',
    groupInstanceId: null,
    clientId: 'client',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: Buffer.from('meta') }],
    requireKnownMemberId: false,
    ...over,
  };
}

/** whether the promise settled by the end of the next turn (an ordering check, not a timing one) */
async function peek<T>(promise: Promise<T>): Promise<T | undefined> {
  let value: T | undefined;
  void promise.then((v) => (value = v));
  await new Promise((resolve) => setImmediate(resolve));
  return value;
}

/**
 * Ends a join phase that started from Empty: members arriving during the initial delay extend it once
 * more (Kafka's InitialDelayedJoin), so two delays pass.
 */
function passInitialDelay(h: Harness): void {
  h.advance(INITIAL_REBALANCE_DELAY_MS);
  h.advance(INITIAL_REBALANCE_DELAY_MS);
}

/** one member joined and synced into a Stable generation */
async function stableMember(h: Harness, over: Partial<JoinRequest> = {}): Promise<JoinOutcome> {
  const joining = h.groups.join(request(over));
  h.advance(INITIAL_REBALANCE_DELAY_MS);
  const joined = await joining;
  assert.equal(joined.error, 'none');
  const synced = await h.groups.sync({
    groupId: 'g',
    generationId: joined.generationId,
    memberId: joined.memberId,
    groupInstanceId: null,
    protocolType: null,
    protocolName: null,
    assignments: [{ memberId: joined.memberId, assignment: Buffer.from('all'), partitions: null }],
  });
  assert.equal(synced.error, 'none');
  return joined;
}

test('the first member leads, and its JoinGroup waits out the initial rebalance delay', async () => {
  const h = open();
  try {
    const joining = h.groups.join(request());
    assert.equal(await peek(joining), undefined);
    assert.equal(h.groups.describeGroup('g')!.state, 'PreparingRebalance');
    h.advance(INITIAL_REBALANCE_DELAY_MS);
    const joined = await joining;
    assert.equal(joined.error, 'none');
    assert.equal(joined.generationId, 1);
    assert.equal(joined.leaderId, joined.memberId);
    assert.equal(joined.protocolName, 'range');
    assert.deepEqual(
      joined.members.map((m) => m.metadata.toString()),
      ['meta'],
    );
    assert.equal(h.groups.describeGroup('g')!.state, 'CompletingRebalance');
  } finally {
    await h.close();
  }
});

test('a join that must know its member id gets member-id-required with a fresh id, and is admitted with it', async () => {
  const h = open();
  try {
    const first = await h.groups.join(request({ requireKnownMemberId: true, clientId: 'app' }));
    assert.equal(first.error, 'member-id-required');
    assert.match(first.memberId, /^app-[0-9a-f-]{36}$/);
    const again = h.groups.join(request({ requireKnownMemberId: true, memberId: first.memberId }));
    h.advance(INITIAL_REBALANCE_DELAY_MS);
    const joined = await again;
    assert.equal(joined.error, 'none');
    assert.equal(joined.memberId, first.memberId);
    const stranger = await h.groups.join(request({ memberId: 'made-up' }));
    assert.equal(stranger.error, 'unknown-member');
  } finally {
    await h.close();
  }
});

test('a second member rebalances the group: followers wait in SyncGroup for the leader, who saw both members', async () => {
  const h = open();
  try {
    const a = await stableMember(h);
    assert.equal(h.groups.heartbeat('g', a.memberId, a.generationId), 'none');
    const bJoining = h.groups.join(request({ protocols: [{ name: 'range', metadata: Buffer.from('b-meta') }] }));
    assert.equal(await peek(bJoining), undefined);
    assert.equal(h.groups.heartbeat('g', a.memberId, a.generationId), 'rebalance-in-progress');
    const aJoining = h.groups.join(request({ memberId: a.memberId }));
    const [aJoined, bJoined] = await Promise.all([aJoining, bJoining]);
    assert.equal(aJoined.generationId, 2);
    assert.equal(bJoined.generationId, 2);
    assert.equal(aJoined.leaderId, a.memberId);
    assert.deepEqual(aJoined.members.map((m) => m.metadata.toString()).sort(), ['b-meta', 'meta']);
    assert.deepEqual(bJoined.members, []);
    const bSync = h.groups.sync({
      groupId: 'g',
      generationId: 2,
      memberId: bJoined.memberId,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [],
    });
    assert.equal(await peek(bSync), undefined);
    const aSync = await h.groups.sync({
      groupId: 'g',
      generationId: 2,
      memberId: a.memberId,
      groupInstanceId: null,
      protocolType: 'consumer',
      protocolName: 'range',
      assignments: [
        { memberId: a.memberId, assignment: Buffer.from('0,1'), partitions: [{ topic: 't', partitions: [0, 1] }] },
        { memberId: bJoined.memberId, assignment: Buffer.from('2,3'), partitions: [{ topic: 't', partitions: [2, 3] }] },
      ],
    });
    assert.equal(aSync.assignment.toString(), '0,1');
    assert.equal((await bSync).assignment.toString(), '2,3');
    const view = h.groups.describeGroup('g')!;
    assert.equal(view.state, 'Stable');
    assert.deepEqual(view.members.map((m) => m.assignedPartitions?.[0]?.partitions).sort(), [
      [0, 1],
      [2, 3],
    ]);
    assert.equal(h.groups.heartbeat('g', a.memberId, 1), 'illegal-generation');
    assert.equal(h.groups.heartbeat('g', 'nobody', 2), 'unknown-member');
  } finally {
    await h.close();
  }
});

test('the chosen protocol is one every member supports, by vote; a member sharing none is refused', async () => {
  const h = open();
  try {
    const protocols = (...names: string[]) => names.map((name) => ({ name, metadata: Buffer.from(name) }));
    const a = h.groups.join(request({ protocols: protocols('roundrobin', 'range') }));
    const b = h.groups.join(request({ protocols: protocols('sticky', 'range', 'roundrobin') }));
    const c = h.groups.join(request({ protocols: protocols('range') }));
    const refused = await h.groups.join(request({ protocols: protocols('sticky') }));
    assert.equal(refused.error, 'inconsistent-protocol');
    const otherType = await h.groups.join(request({ protocolType: 'connect' }));
    assert.equal(otherType.error, 'inconsistent-protocol');
    h.advance(INITIAL_REBALANCE_DELAY_MS);
    assert.equal(await peek(a), undefined, 'members that arrived during the initial delay extend it');
    h.advance(INITIAL_REBALANCE_DELAY_MS);
    const outcomes = await Promise.all([a, b, c]);
    // candidates: range, roundrobin; votes: a roundrobin, b range, c range
    for (const o of outcomes) assert.equal(o.protocolName, 'range');
    const leader = outcomes.find((o) => o.members.length > 0)!;
    assert.deepEqual(
      leader.members.map((m) => m.metadata.toString()),
      ['range', 'range', 'range'],
    );
  } finally {
    await h.close();
  }
});

test('a member that stops heartbeating is expired after its session timeout and the others rebalance without it', async () => {
  const h = open();
  try {
    const a = h.groups.join(request({ sessionTimeoutMs: 1000 }));
    const b = h.groups.join(request({ sessionTimeoutMs: 5000 }));
    passInitialDelay(h);
    const [aJoined, bJoined] = await Promise.all([a, b]);
    const sync = (o: JoinOutcome) =>
      h.groups.sync({
        groupId: 'g',
        generationId: o.generationId,
        memberId: o.memberId,
        groupInstanceId: null,
        protocolType: null,
        protocolName: null,
        assignments: [],
      });
    await Promise.all([sync(aJoined), sync(bJoined)]);
    assert.equal(h.groups.describeGroup('g')!.state, 'Stable');
    // b keeps heartbeating, a goes silent
    for (let i = 0; i < 4; i++) {
      h.advance(400);
      assert.equal(h.groups.heartbeat('g', bJoined.memberId, 1), i < 2 ? 'none' : 'rebalance-in-progress');
    }
    assert.deepEqual(
      h.groups.describeGroup('g')!.members.map((m) => m.memberId),
      [bJoined.memberId],
    );
    const rejoined = await h.groups.join(request({ memberId: bJoined.memberId, sessionTimeoutMs: 5000 }));
    assert.equal(rejoined.generationId, 2);
    assert.deepEqual(
      rejoined.members.map((m) => m.memberId),
      [bJoined.memberId],
    );
    assert.equal(h.groups.heartbeat('g', aJoined.memberId, 1), 'unknown-member');
  } finally {
    await h.close();
  }
});

/** two static members, 'inst-a' (the leader) and 'inst-b', Stable in generation 1 with assignments 'A' and 'B' */
async function staticPair(h: Harness): Promise<{ a: JoinOutcome; b: JoinOutcome }> {
  const aJoining = h.groups.join(
    request({ groupInstanceId: 'inst-a', requireKnownMemberId: true, protocols: [{ name: 'range', metadata: Buffer.from('a-meta') }] }),
  );
  const bJoining = h.groups.join(
    request({ groupInstanceId: 'inst-b', requireKnownMemberId: true, protocols: [{ name: 'range', metadata: Buffer.from('b-meta') }] }),
  );
  passInitialDelay(h);
  const [a, b] = await Promise.all([aJoining, bJoining]);
  assert.equal(a.error, 'none', 'a static member needs no member-id-required round');
  assert.equal(a.leaderId, a.memberId);
  assert.match(a.memberId, /^inst-a-/);
  const bSync = h.groups.sync({
    groupId: 'g',
    generationId: 1,
    memberId: b.memberId,
    groupInstanceId: 'inst-b',
    protocolType: null,
    protocolName: null,
    assignments: [],
  });
  const aSync = await h.groups.sync({
    groupId: 'g',
    generationId: 1,
    memberId: a.memberId,
    groupInstanceId: 'inst-a',
    protocolType: null,
    protocolName: null,
    assignments: [
      { memberId: a.memberId, assignment: Buffer.from('A'), partitions: null },
      { memberId: b.memberId, assignment: Buffer.from('B'), partitions: null },
    ],
  });
  assert.equal(aSync.assignment.toString(), 'A');
  assert.equal((await bSync).assignment.toString(), 'B');
  return { a, b };
}

test('a restarted static member takes its old place without a rebalance: new member id, same generation and assignment, old id fenced', async () => {
  const h = open();
  try {
    const { a, b } = await staticPair(h);
    const rejoined = await h.groups.join(
      request({ groupInstanceId: 'inst-b', requireKnownMemberId: true, protocols: [{ name: 'range', metadata: Buffer.from('b-meta') }] }),
    );
    assert.equal(rejoined.error, 'none');
    assert.notEqual(rejoined.memberId, b.memberId);
    assert.equal(rejoined.generationId, 1, 'no new generation');
    assert.equal(rejoined.leaderId, a.memberId);
    assert.deepEqual(rejoined.members, []);
    assert.equal(h.groups.describeGroup('g')!.state, 'Stable');
    assert.equal(h.groups.heartbeat('g', a.memberId, 1, 'inst-a'), 'none', 'the other member is not disturbed');
    const synced = await h.groups.sync({
      groupId: 'g',
      generationId: 1,
      memberId: rejoined.memberId,
      groupInstanceId: 'inst-b',
      protocolType: null,
      protocolName: null,
      assignments: [],
    });
    assert.equal(synced.error, 'none');
    assert.equal(synced.assignment.toString(), 'B', "the old member's assignment");
    assert.equal(h.groups.heartbeat('g', b.memberId, 1, 'inst-b'), 'fenced-instance-id');
    assert.equal(h.groups.heartbeat('g', b.memberId, 1), 'unknown-member');
    assert.equal(h.groups.heartbeat('g', rejoined.memberId, 1, 'inst-b'), 'none');
    assert.equal(h.groups.heartbeat('g', rejoined.memberId, 1, 'inst-unknown'), 'unknown-member', 'an instance id the group does not know names nobody');
    assert.deepEqual(
      h.groups
        .describeGroup('g')!
        .members.map((m) => m.memberId)
        .sort(),
      [a.memberId, rejoined.memberId].sort(),
    );
    // the leader restarting: the answer names the old leader id, so the new one does not assign
    const leader = await h.groups.join(request({ groupInstanceId: 'inst-a', protocols: [{ name: 'range', metadata: Buffer.from('a-meta') }] }));
    assert.equal(leader.generationId, 1);
    assert.equal(leader.leaderId, a.memberId);
    assert.notEqual(leader.memberId, a.memberId);
    assert.equal(h.groups.describeGroup('g')!.state, 'Stable');
    const leaderSync = await h.groups.sync({
      groupId: 'g',
      generationId: 1,
      memberId: leader.memberId,
      groupInstanceId: 'inst-a',
      protocolType: null,
      protocolName: null,
      assignments: [],
    });
    assert.equal(leaderSync.assignment.toString(), 'A');
    const leave = h.groups.leave('g', [{ memberId: a.memberId, groupInstanceId: 'inst-a' }]);
    assert.equal(leave.members[0]!.error, 'fenced-instance-id', 'the old id cannot make the new one leave');
  } finally {
    await h.close();
  }
});

test('a restarted static member with a new subscription, or during a rebalance, rebalances the group; an expired one frees its instance id', async () => {
  const h = open();
  try {
    const { a, b } = await staticPair(h);
    const changed = h.groups.join(request({ groupInstanceId: 'inst-b', protocols: [{ name: 'range', metadata: Buffer.from('b-meta-2') }] }));
    assert.equal(await peek(changed), undefined);
    assert.equal(h.groups.describeGroup('g')!.state, 'PreparingRebalance');
    assert.equal(h.groups.heartbeat('g', a.memberId, 1, 'inst-a'), 'rebalance-in-progress');
    const aAgain = h.groups.join(request({ memberId: a.memberId, groupInstanceId: 'inst-a', protocols: [{ name: 'range', metadata: Buffer.from('a-meta') }] }));
    const [bNew, aNew] = await Promise.all([changed, aAgain]);
    assert.equal(bNew.generationId, 2);
    assert.equal(aNew.leaderId, a.memberId);
    assert.deepEqual(aNew.members.map((m) => [m.groupInstanceId, m.metadata.toString()]).sort(), [
      ['inst-a', 'a-meta'],
      ['inst-b', 'b-meta-2'],
    ]);
    // the old b, still waiting in a join it sent before the restart was noticed, is fenced
    const stale = await h.groups.join(request({ memberId: b.memberId, groupInstanceId: 'inst-b' }));
    assert.equal(stale.error, 'fenced-instance-id');
    // b goes away without LeaveGroup (static members do not send one): its session expires, and inst-b is free
    const sync = (o: JoinOutcome, instance: string) =>
      h.groups.sync({
        groupId: 'g',
        generationId: 2,
        memberId: o.memberId,
        groupInstanceId: instance,
        protocolType: null,
        protocolName: null,
        assignments: [],
      });
    await Promise.all([sync(aNew, 'inst-a'), sync(bNew, 'inst-b')]);
    for (let i = 0; i < 12; i++) {
      h.advance(1000);
      h.groups.heartbeat('g', a.memberId, h.groups.describeGroup('g')!.generationId, 'inst-a');
    }
    assert.deepEqual(
      h.groups.describeGroup('g')!.members.map((m) => m.memberId),
      [a.memberId],
    );
    const fresh = h.groups.join(request({ groupInstanceId: 'inst-b', requireKnownMemberId: true }));
    assert.equal(await peek(fresh), undefined, 'joins as a new member: a rebalance');
  } finally {
    await h.close();
  }
});

test('a member that does not rejoin within the rebalance timeout is left out of the next generation', async () => {
  const h = open();
  try {
    const a = await stableMember(h, { rebalanceTimeoutMs: 2000 });
    const b = h.groups.join(request({ rebalanceTimeoutMs: 2000 }));
    // a heartbeats (so its session stays alive) but never rejoins
    for (let t = 0; t < 2000; t += 500) {
      assert.equal(h.groups.heartbeat('g', a.memberId, 1), 'rebalance-in-progress');
      h.advance(500);
    }
    const joined = await b;
    assert.equal(joined.error, 'none');
    assert.equal(joined.leaderId, joined.memberId);
    assert.deepEqual(
      joined.members.map((m) => m.memberId),
      [joined.memberId],
    );
    assert.equal(h.groups.heartbeat('g', a.memberId, 1), 'unknown-member');
  } finally {
    await h.close();
  }
});

test('a member waiting in SyncGroup hears rebalance-in-progress when a new member arrives before the leader assigns', async () => {
  const h = open();
  try {
    const a = h.groups.join(request());
    const b = h.groups.join(request());
    passInitialDelay(h);
    const [aj, bj] = await Promise.all([a, b]);
    const follower = aj.members.length > 0 ? bj : aj;
    const waiting = h.groups.sync({
      groupId: 'g',
      generationId: 1,
      memberId: follower.memberId,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: [],
    });
    void h.groups.join(request());
    assert.equal((await waiting).error, 'rebalance-in-progress');
    assert.equal(h.groups.describeGroup('g')!.state, 'PreparingRebalance');
  } finally {
    await h.close();
  }
});

test('the last member leaving empties the group, which is forgotten a while later when nothing was committed', async () => {
  const h = open();
  try {
    const a = await stableMember(h);
    const left = h.groups.leave('g', [
      { memberId: a.memberId, groupInstanceId: null },
      { memberId: 'ghost', groupInstanceId: null },
    ]);
    assert.deepEqual(
      left.members.map((m) => m.error),
      ['none', 'unknown-member'],
    );
    const emptied = h.groups.describeGroup('g')!;
    assert.deepEqual([emptied.state, emptied.protocolType, emptied.generationId, emptied.members.length], ['Empty', 'consumer', 2, 0]);
    h.advance(EMPTY_GROUP_RETENTION_MS);
    assert.equal(h.groups.describeGroup('g'), null);
    assert.deepEqual(h.groups.listGroups(), []);
  } finally {
    await h.close();
  }
});

test('offsets commit standalone to an Empty group, but only from the current generation while it has members', async () => {
  const h = open();
  try {
    const standalone = await h.groups.commitOffsets({
      groupId: 'g',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      offsets: [{ topic: 't', partition: 0, offset: 5n, leaderEpoch: -1, metadata: null }],
    });
    assert.deepEqual(
      standalone.map((r) => r.error),
      ['none'],
    );
    assert.equal(h.groups.describeGroup('g')!.state, 'Empty');
    const a = await stableMember(h);
    const commit = (generationId: number, memberId: string) =>
      h.groups.commitOffsets({
        groupId: 'g',
        generationId,
        memberId,
        groupInstanceId: null,
        offsets: [{ topic: 't', partition: 1, offset: 7n, leaderEpoch: 3, metadata: 'm' }],
      });
    assert.deepEqual(
      (await commit(-1, '')).map((r) => r.error),
      ['unknown-member'],
    );
    assert.deepEqual(
      (await commit(0, a.memberId)).map((r) => r.error),
      ['illegal-generation'],
    );
    assert.deepEqual(
      (await commit(a.generationId, 'ghost')).map((r) => r.error),
      ['unknown-member'],
    );
    assert.deepEqual(
      (await commit(a.generationId, a.memberId)).map((r) => r.error),
      ['none'],
    );
    const unknown = await h.groups.commitOffsets({
      groupId: 'g',
      generationId: a.generationId,
      memberId: a.memberId,
      groupInstanceId: null,
      offsets: [
        { topic: 'nope', partition: 0, offset: 1n, leaderEpoch: -1, metadata: null },
        { topic: 't', partition: 9, offset: 1n, leaderEpoch: -1, metadata: null },
      ],
    });
    assert.deepEqual(
      unknown.map((r) => r.error),
      ['unknown-partition', 'unknown-partition'],
    );
    const fetched = h.groups.fetchOffsets('g', [{ topic: 't', partitions: [0, 1, 2] }]);
    assert.deepEqual(fetched, [
      {
        topic: 't',
        partitions: [
          { partition: 0, offset: 5n, leaderEpoch: -1, metadata: null },
          { partition: 1, offset: 7n, leaderEpoch: 3, metadata: 'm' },
          { partition: 2, offset: -1n, leaderEpoch: -1, metadata: null },
        ],
      },
    ]);
    assert.equal(h.groups.fetchOffsets('g', null)[0]!.partitions.length, 2);
    assert.deepEqual(h.groups.fetchOffsets('other', null), []);
  } finally {
    await h.close();
  }
});

test('a committed offset becomes visible only once the fsync covering it completed', async () => {
  const h = open();
  try {
    const committing = h.groups.commitOffsets({
      groupId: 'g',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      offsets: [{ topic: 't', partition: 0, offset: 42n, leaderEpoch: -1, metadata: null }],
    });
    assert.equal(h.groups.fetchOffsets('g', [{ topic: 't', partitions: [0] }])[0]!.partitions[0]!.offset, -1n);
    await committing;
    assert.equal(h.groups.fetchOffsets('g', [{ topic: 't', partitions: [0] }])[0]!.partitions[0]!.offset, 42n);
  } finally {
    await h.close();
  }
});

test('committed offsets survive a reopen, and a torn tail of the offsets log is cut off at open', async () => {
  const first = open();
  const dir = first.dir;
  const commit = (h: Harness, offset: bigint) =>
    h.groups.commitOffsets({
      groupId: 'g',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      offsets: [{ topic: 't', partition: 2, offset, leaderEpoch: -1, metadata: 'kept' }],
    });
  await commit(first, 10n);
  await commit(first, 11n);
  await first.close();
  const file = path.join(dir, 'groups', OFFSET_LOG_FILE);
  const goodBytes = fs.statSync(file).size;
  // a commit the crash interrupted: half a record (a length promising more bytes than there are)
  const torn = Buffer.from([0, 0, 0, 200, 1, 2, 3, 4, 1, 0]);
  fs.appendFileSync(file, torn);
  const second = open(dir);
  try {
    assert.equal(fs.statSync(file).size, goodBytes);
    assert.deepEqual(second.groups.fetchOffsets('g', null), [{ topic: 't', partitions: [{ partition: 2, offset: 11n, leaderEpoch: -1, metadata: 'kept' }] }]);
    assert.equal((await commit(second, 12n))[0]!.error, 'none');
  } finally {
    await second.close();
  }
  const third = open(dir);
  try {
    assert.equal(third.groups.fetchOffsets('g', null)[0]!.partitions[0]!.offset, 12n);
  } finally {
    await third.close();
  }
});

test("forgetting a deleted topic drops every group's offsets for it, durably; a group left with none is gone", async () => {
  const first = open();
  const dir = first.dir;
  first.streams.createTopic('u', 1, {});
  const commit = (h: Harness, groupId: string, topic: string, offset: bigint) =>
    h.groups.commitOffsets({
      groupId,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      offsets: [{ topic, partition: 0, offset, leaderEpoch: -1, metadata: null }],
    });
  await commit(first, 'both', 't', 4n);
  await commit(first, 'both', 'u', 6n);
  await commit(first, 'only-t', 't', 9n);
  await first.groups.forgetTopic('t');
  const check = (h: Harness): void => {
    assert.deepEqual(h.groups.fetchOffsets('both', null), [{ topic: 'u', partitions: [{ partition: 0, offset: 6n, leaderEpoch: -1, metadata: null }] }]);
    assert.deepEqual(h.groups.fetchOffsets('only-t', null), []);
    assert.equal(h.groups.describeGroup('only-t'), null, 'no offsets and no members: gone');
  };
  check(first);
  await first.close();
  const reopened = open(dir);
  try {
    check(reopened);
  } finally {
    await reopened.close();
  }
});

test('the offsets log is compacted once it outgrows its live content, keeping every latest offset', async () => {
  const h = open(undefined, { compactionMinBytes: 2048 });
  const dir = h.dir;
  for (let i = 0; i < 200; i++) {
    const results = await h.groups.commitOffsets({
      groupId: `g${i % 3}`,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      offsets: [0, 1, 2, 3].map((partition) => ({ topic: 't', partition, offset: BigInt(i * 10 + partition), leaderEpoch: -1, metadata: null })),
    });
    assert.ok(results.every((r) => r.error === 'none'));
  }
  assert.ok(h.offsets.compactions > 0, 'compacted at least once');
  assert.ok(h.offsets.logBytes < 2 * 2048 + 1024, `log stays bounded (${h.offsets.logBytes} bytes)`);
  const expected = (g: number) => {
    const last = [197, 198, 199].find((i) => i % 3 === g)!;
    return [{ topic: 't', partitions: [0, 1, 2, 3].map((p) => ({ partition: p, offset: BigInt(last * 10 + p), leaderEpoch: -1, metadata: null })) }];
  };
  for (const g of [0, 1, 2]) assert.deepEqual(h.groups.fetchOffsets(`g${g}`, null), expected(g));
  await h.close();
  const reopened = open(dir);
  try {
    for (const g of [0, 1, 2]) assert.deepEqual(reopened.groups.fetchOffsets(`g${g}`, null), expected(g));
    assert.ok(fs.statSync(path.join(dir, 'groups', OFFSET_LOG_FILE)).size > OFFSET_LOG_HEADER_BYTES);
  } finally {
    await reopened.close();
  }
});

test('lag is the high watermark minus the committed offset, and deleting an empty group forgets its offsets durably', async () => {
  const h = open();
  const dir = h.dir;
  await h.groups.commitOffsets({
    groupId: 'g',
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    offsets: [{ topic: 't', partition: 3, offset: 0n, leaderEpoch: -1, metadata: null }],
  });
  const [view] = h.groups.committedOffsets('g');
  assert.equal(view!.highWatermark, h.streams.topic('t')!.partitions[3]!.highWatermark);
  assert.equal(view!.lag, view!.highWatermark! - 0n);
  const a = await stableMember(h);
  assert.equal(await h.groups.deleteGroup('g'), 'non-empty-group');
  h.groups.leave('g', [{ memberId: a.memberId, groupInstanceId: null }]);
  assert.equal(await h.groups.deleteGroup('g'), 'none');
  assert.equal(await h.groups.deleteGroup('g'), 'group-not-found');
  await h.close();
  const reopened = open(dir);
  try {
    assert.equal(reopened.groups.describeGroup('g'), null);
  } finally {
    await reopened.close();
  }
});

test('deleting a group: an empty id is invalid, a member still joining makes it non-empty, and a deletion already under way leaves nothing to delete', async () => {
  const h = open();
  try {
    assert.equal(await h.groups.deleteGroup(''), 'invalid-group-id');
    assert.equal(await h.groups.deleteGroup('nobody'), 'group-not-found');
    // a first JoinGroup waiting out the initial delay is a member
    const joining = h.groups.join(request());
    assert.equal(await h.groups.deleteGroup('g'), 'non-empty-group');
    h.advance(INITIAL_REBALANCE_DELAY_MS);
    const joined = await joining;
    h.groups.leave('g', [{ memberId: joined.memberId, groupInstanceId: null }]);
    await h.groups.commitOffsets({
      groupId: 'g',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      offsets: [{ topic: 't', partition: 0, offset: 4n, leaderEpoch: -1, metadata: null }],
    });
    const first = h.groups.deleteGroup('g');
    const second = h.groups.deleteGroup('g');
    assert.deepEqual(await Promise.all([first, second]), ['none', 'group-not-found']);
    assert.equal(h.groups.describeGroup('g'), null);
    assert.deepEqual(h.groups.listGroups(), []);
    assert.deepEqual(h.groups.fetchOffsets('g', [{ topic: 't', partitions: [0] }])[0]!.partitions[0]!.offset, -1n);
  } finally {
    await h.close();
  }
});
