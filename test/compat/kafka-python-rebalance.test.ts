/**
 * Consumer-group rebalances through the Python Kafka clients from Debian (.ci/run installs them):
 * confluent-kafka (librdkafka 2.0.2) and kafka-python 2.0.2. test/compat/kafka_rebalance.py runs two
 * members of one group on a 4-partition topic and prints what each was assigned and received; this file
 * checks it. test/compat/kafka_static_member.py restarts a static member (group.instance.id) with
 * confluent-kafka. The scripts' waits are guards; nothing here asserts on time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBroker } from '../helpers/broker.js';
import { findPython, findRepoFile, run } from '../helpers/external.js';

const ALL = [0, 1, 2, 3];
const PER_PARTITION = 3;

interface RebalanceReport {
  alone: number[];
  split: { a: number[]; b: number[] };
  /** partition (as a string) → values, in the order received */
  beforeLeave: { a: Record<string, string[]>; b: Record<string, string[]> };
  afterLeave: number[];
  afterLeaveReceived: Record<string, string[]>;
}

async function runRebalance(module: string, hint: string, flavour: string): Promise<RebalanceReport> {
  const python = await findPython(module, hint);
  const broker = await startTestBroker();
  try {
    const { code, stdout, stderr } = await run(python, [findRepoFile('test/compat/kafka_rebalance.py'), String(broker.kafkaPort), flavour]);
    assert.equal(code, 0, `kafka_rebalance.py ${flavour} failed (exit ${String(code)}):\n${stdout}\n${stderr}`);
    const lines = stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1]!) as RebalanceReport;
  } finally {
    await broker.stop();
  }
}

function produced(phase: string, partition: number): string[] {
  return Array.from({ length: PER_PARTITION }, (_, i) => `${phase}-p${partition}-${i}`);
}

function checkRebalance(report: RebalanceReport): void {
  // the first member, alone in the group, owns every partition
  assert.deepEqual(report.alone, ALL);

  // the second member joining splits the partitions: both get some, none twice, all covered
  const { a, b } = report.split;
  assert.ok(a.length > 0 && b.length > 0, `both members own partitions: ${JSON.stringify(report.split)}`);
  assert.deepEqual(
    a.filter((p) => b.includes(p)),
    [],
    `disjoint: ${JSON.stringify(report.split)}`,
  );
  assert.deepEqual([...a, ...b].sort(), ALL);

  // each member fetched exactly its own partitions, in order, and nothing of the other's
  for (const [member, owned] of [
    ['a', a],
    ['b', b],
  ] as const) {
    const received = report.beforeLeave[member];
    assert.deepEqual(Object.keys(received).map(Number).sort(), owned, `${member} received from its partitions only`);
    for (const p of owned) assert.deepEqual(received[String(p)], produced('before', p), `${member} partition ${p}`);
  }

  // after the second member left, the first owns every partition again and resumes each at the committed
  // offsets: it receives what was produced after the leave, everywhere, and nothing committed before it
  assert.deepEqual(report.afterLeave, ALL);
  assert.deepEqual(report.afterLeaveReceived, Object.fromEntries(ALL.map((p) => [String(p), produced('after', p)])));
}

test('with librdkafka, a second member joining splits 4 partitions, and after it leaves the first takes them all over and consumes on from the commits', async () => {
  checkRebalance(await runRebalance('confluent_kafka', 'install it with `apt-get install python3-confluent-kafka`', 'confluent'));
});

test('with kafka-python, a second member joining splits 4 partitions, and after it leaves the first takes them all over and consumes on from the commits', async () => {
  checkRebalance(await runRebalance('kafka', 'install it with `apt-get install python3-kafka`', 'kafka-python'));
});

test('with librdkafka, a static member (group.instance.id) restarted within its session gets its partitions back and resumes at its commits, with no rebalance for the others', async () => {
  const python = await findPython('confluent_kafka', 'install it with `apt-get install python3-confluent-kafka`');
  const broker = await startTestBroker();
  try {
    const { code, stdout, stderr } = await run(python, [findRepoFile('test/compat/kafka_static_member.py'), String(broker.kafkaPort)]);
    assert.equal(code, 0, `kafka_static_member.py failed (exit ${String(code)}):\n${stdout}\n${stderr}`);
    const lines = stdout.trim().split('\n');
    const report = JSON.parse(lines[lines.length - 1]!) as {
      a: number[];
      b: number[];
      b2: number[];
      aEventsAfterRestart: unknown[];
      b2Received: Array<[number, string]>;
    };
    assert.ok(report.a.length > 0 && report.b.length > 0);
    assert.deepEqual([...report.a, ...report.b].sort(), ALL);
    assert.deepEqual(report.b2, report.b, 'the restarted member owns what it owned before');
    assert.deepEqual(report.aEventsAfterRestart, [], 'the other member saw no revoke and no new assignment');
    // it resumed at the commits: only the second round, from its own partitions
    assert.deepEqual(
      report.b2Received,
      report.b.map((p) => [p, `second-p${p}`]),
    );
    // closed static members send no LeaveGroup: both instances stay members until their sessions time out
    const group = broker.groups.describeGroup('static-group')!;
    assert.equal(group.state, 'Stable');
    assert.deepEqual(group.members.map((m) => m.groupInstanceId).sort(), ['member-a', 'member-b']);
  } finally {
    await broker.stop();
  }
});
