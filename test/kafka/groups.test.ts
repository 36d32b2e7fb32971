/** Consumer groups through kafkajs against a real broker: partitions split, rebalance, describe and list. */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { AssignerProtocol, Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';

/** Consumer settings: kafkajs' minimum session timeout, and quick heartbeats and fetches so a rebalance
 * is noticed within a fraction of a second instead of kafkajs' default 3 s heartbeat / 5 s fetch wait. */
const CONSUMER_SETTINGS = { sessionTimeout: 6000, rebalanceTimeout: 10_000, heartbeatInterval: 100, maxWaitTimeInMs: 100 };
/** Deadline guard for waits (not a timing assertion). */
const WAIT_MS = 20_000;

let broker: TestBroker;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const consumers: Consumer[] = [];

before(async () => {
  broker = await startTestBroker();
  kafka = client('groups-test');
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer();
  await producer.connect();
});
after(async () => {
  for (const c of consumers) await c.disconnect().catch(() => undefined);
  await producer.disconnect();
  await admin.disconnect();
  await broker.stop();
});

function client(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
}

interface Member {
  readonly consumer: Consumer;
  /** partitions of `topic` in the member's latest assignment */
  assigned(): number[];
  /** partitions of the messages it received */
  readonly receivedFrom: number[];
}

async function startMember(groupId: string, topic: string, clientId = 'groups-test'): Promise<Member> {
  const consumer = client(clientId).consumer({ groupId, ...CONSUMER_SETTINGS });
  consumers.push(consumer);
  let assignment: Record<string, number[]> = {};
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    assignment = event.payload.memberAssignment;
  });
  const receivedFrom: number[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition }) => {
      receivedFrom.push(partition);
    },
  });
  return { consumer, assigned: () => [...(assignment[topic] ?? [])].sort(), receivedFrom };
}

test('two consumers in one group split a four-partition topic, and the one left gets all four when the other leaves', async () => {
  await admin.createTopics({ topics: [{ topic: 'split', numPartitions: 4 }], waitForLeaders: true });
  const a = await startMember('split-group', 'split');
  await waitFor(() => a.assigned().length === 4, WAIT_MS, 'the first consumer to own every partition');
  const b = await startMember('split-group', 'split');
  await waitFor(() => a.assigned().length === 2 && b.assigned().length === 2, WAIT_MS, 'the two consumers to split the partitions');
  assert.deepEqual([...a.assigned(), ...b.assigned()].sort(), [0, 1, 2, 3]);

  await producer.send({ topic: 'split', messages: [0, 1, 2, 3].map((partition) => ({ partition, value: `to ${partition}` })) });
  await waitFor(() => a.receivedFrom.length + b.receivedFrom.length === 4, WAIT_MS, 'the four messages');
  assert.ok(
    a.receivedFrom.every((p) => a.assigned().includes(p)),
    'a consumed only its own partitions',
  );
  assert.ok(
    b.receivedFrom.every((p) => b.assigned().includes(p)),
    'b consumed only its own partitions',
  );

  await a.consumer.disconnect();
  await waitFor(() => b.assigned().length === 4, WAIT_MS, 'the remaining consumer to get every partition');
  assert.deepEqual(b.assigned(), [0, 1, 2, 3]);
  const view = broker.groups.describeGroup('split-group')!;
  assert.equal(view.members.length, 1);
  await b.consumer.disconnect();
});

test("describeGroups and listGroups show a running group's members with client ids, hosts and assignments", async () => {
  await admin.createTopics({ topics: [{ topic: 'described', numPartitions: 2 }], waitForLeaders: true });
  const alpha = await startMember('described-group', 'described', 'alpha');
  const beta = await startMember('described-group', 'described', 'beta');
  await waitFor(
    () => alpha.assigned().length === 1 && beta.assigned().length === 1 && broker.groups.describeGroup('described-group')?.state === 'Stable',
    WAIT_MS,
    'a stable group of two',
  );
  const { groups } = await admin.describeGroups(['described-group']);
  const group = groups[0]!;
  assert.equal(group.state, 'Stable');
  assert.equal(group.protocolType, 'consumer');
  assert.equal(group.protocol, 'RoundRobinAssigner');
  const members = [...group.members].sort((x, y) => x.clientId.localeCompare(y.clientId));
  assert.deepEqual(
    members.map((m) => [m.clientId, m.clientHost]),
    [
      ['alpha', '/127.0.0.1'],
      ['beta', '/127.0.0.1'],
    ],
  );
  const assigned = members.map((m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)!.assignment['described']!);
  assert.deepEqual(assigned.flat().sort(), [0, 1]);
  assert.deepEqual(assigned[0], alpha.assigned());

  const listed = await admin.listGroups();
  assert.ok(listed.groups.some((g) => g.groupId === 'described-group' && g.protocolType === 'consumer'));

  // the management view carries the same members, with the assignment read as topic partitions
  const view = broker.groups.describeGroup('described-group')!;
  assert.deepEqual(
    view.members.map((m) => m.assignedPartitions?.map((t) => t.topic)),
    [['described'], ['described']],
  );
  await alpha.consumer.disconnect();
  await beta.consumer.disconnect();
  const afterwards = await admin.describeGroups(['described-group']);
  assert.equal(afterwards.groups[0]!.state, 'Empty');
  assert.deepEqual(afterwards.groups[0]!.members, []);
});
