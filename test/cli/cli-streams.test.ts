/** `postbox topics|groups` show the Kafka side: topics written with kafkajs, a group's committed offsets and lag. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';
import { cli, cliJson, secondTable, tableRows } from './helpers/cli-run.js';

let broker: TestBroker;
let admin: Admin;
let producer: Producer;

before(async () => {
  broker = await startTestBroker();
  const kafka = new Kafka({ clientId: 'cli-test', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
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

/** `counts[p]` records into partition p of `topic`, acknowledged by every replica (acks -1). */
async function produce(topic: string, counts: readonly number[]): Promise<void> {
  const messages = counts.flatMap((n, partition) => Array.from({ length: n }, (_, i) => ({ partition, value: `${topic}-${partition}-${i}` })));
  await producer.send({ topic, acks: -1, messages });
}

test('topics lists each topic with its partitions and message count, and --partitions each partition', async () => {
  await admin.createTopics({ topics: [{ topic: 'cli-orders', numPartitions: 3 }], waitForLeaders: true });
  await produce('cli-orders', [4, 3, 2]);

  const json = await cliJson<any[]>(broker, 'topics');
  const topic = json.find((t) => t.name === 'cli-orders');
  assert.equal(topic.partitions, 3);
  assert.equal(topic.messages, 9);
  assert.deepEqual(
    topic.partition_details.map((p: any) => [p.partition, Number(p.log_start_offset), Number(p.high_watermark)]),
    [
      [0, 0, 4],
      [1, 0, 3],
      [2, 0, 2],
    ],
  );

  const table = await cli(broker, 'topics', '--partitions');
  assert.equal(table.code, 0, table.stderr);
  const row = tableRows(table.stdout).find((r) => r.topic === 'cli-orders');
  assert.deepEqual([row?.partitions, row?.messages], ['3', '9']);
  const partitions = tableRows(secondTable(table.stdout)).filter((r) => r.topic === 'cli-orders');
  assert.deepEqual(
    partitions.map((p) => [p.partition, p.log_start_offset, p.high_watermark]),
    [
      ['0', '0', '4'],
      ['1', '0', '3'],
      ['2', '0', '2'],
    ],
  );
});

test('groups shows a consumer group with its committed offsets and lag per partition', async () => {
  await admin.createTopics({ topics: [{ topic: 'cli-lag', numPartitions: 2 }], waitForLeaders: true });
  await produce('cli-lag', [10, 5]);
  await admin.setOffsets({
    groupId: 'cli-group',
    topic: 'cli-lag',
    partitions: [
      { partition: 0, offset: '4' },
      { partition: 1, offset: '5' },
    ],
  });

  const json = await cliJson<any[]>(broker, 'groups');
  const group = json.find((g) => g.group_id === 'cli-group');
  assert.ok(group, `no cli-group in ${JSON.stringify(json)}`);
  assert.equal(Number(group.total_lag), 6);
  assert.deepEqual(
    group.offsets.map((o: any) => [o.topic, o.partition, Number(o.committed_offset), Number(o.high_watermark), Number(o.lag)]),
    [
      ['cli-lag', 0, 4, 10, 6],
      ['cli-lag', 1, 5, 5, 0],
    ],
  );

  const table = await cli(broker, 'groups');
  assert.equal(table.code, 0, table.stderr);
  const row = tableRows(table.stdout).find((r) => r.group === 'cli-group');
  assert.deepEqual([row?.members, row?.lag], ['0', '6']);
  const offsets = tableRows(secondTable(table.stdout)).filter((r) => r.group === 'cli-group');
  assert.deepEqual(
    offsets.map((o) => [o.topic, o.partition, o.committed, o.high_watermark, o.lag]),
    [
      ['cli-lag', '0', '4', '10', '6'],
      ['cli-lag', '1', '5', '5', '0'],
    ],
  );
});
