import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { startTestBroker, tempDataDir } from '../helpers/broker.js';
import { RawKafkaClient } from '../helpers/kafka-raw.js';

/** a data directory written by the first format (message records version 1), kept as it was */
const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/data-v1', import.meta.url));

test('a data directory in the version-1 record format still opens: its persistent messages are delivered intact', async () => {
  const dir = tempDataDir('postbox-v1-');
  cpSync(FIXTURE, dir, { recursive: true });
  const broker = await startTestBroker({ dataDir: dir });
  try {
    const conn = await amqp.connect(broker.url);
    const ch = await conn.createChannel();
    const bodies: string[] = [];
    for (;;) {
      const m = await ch.get('fixture.q', { noAck: true });
      if (m === false) break;
      assert.equal(m.fields.exchange, 'fixture.x');
      assert.equal(m.fields.routingKey, 'v1.msg');
      assert.equal(m.properties.contentType, 'text/plain');
      assert.equal(m.properties.headers?.n, bodies.length + 1);
      bodies.push(m.content.toString());
    }
    assert.deepEqual(bodies, ['v1 message 1', 'v1 message 2', 'v1 message 3']);
    // the restored binding still routes
    await ch.publish('fixture.x', 'v1.new', Buffer.from('after upgrade'));
    const again = await ch.get('fixture.q', { noAck: true });
    assert.ok(again);
    assert.equal(again.content.toString(), 'after upgrade');
    await conn.close();
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * a data directory written before ack checksums: 10 confirmed messages, all fetched, 0, 2, 4, 6, 8 acked,
 * then kill -9 (its 00000001.ack holds ten version-1 delivered markers and five version-1 acks)
 */
const ACK_V1_FIXTURE = fileURLToPath(new URL('../../../test/fixtures/data-ack-v1', import.meta.url));

test('a queue whose ack file is in the version-1 format (no checksums) keeps its acks after an upgrade, and the converted file takes new ones', async () => {
  const dir = tempDataDir('postbox-ack-v1-');
  cpSync(ACK_V1_FIXTURE, dir, { recursive: true });
  const [ackFile] = readdirSync(path.join(dir, 'queues'), { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ack'));
  assert.ok(ackFile !== undefined);
  const ackPath = path.join(dir, 'queues', ackFile);
  assert.notEqual(readFileSync(ackPath).subarray(0, 4).toString(), 'PBAK', 'the fixture is in version 1');
  try {
    let broker = await startTestBroker({ dataDir: dir });
    try {
      const conn = await amqp.connect(broker.url);
      const ch = await conn.createChannel();
      const first = await ch.get('ackv1.q', { noAck: false });
      assert.ok(first);
      assert.equal(first.content.toString(), 'ack-v1 message 1');
      assert.equal(first.fields.redelivered, true, 'the version-1 delivered markers still count');
      ch.ack(first);
      await ch.checkQueue('ackv1.q');
      await conn.close();
    } finally {
      await broker.stop();
    }
    assert.equal(readFileSync(ackPath).subarray(0, 4).toString(), 'PBAK', 'converted to version 2');
    broker = await startTestBroker({ dataDir: dir });
    try {
      const conn = await amqp.connect(broker.url);
      const ch = await conn.createChannel();
      const bodies: string[] = [];
      for (;;) {
        const m = await ch.get('ackv1.q', { noAck: true });
        if (m === false) break;
        bodies.push(m.content.toString());
      }
      assert.deepEqual(
        bodies,
        [3, 5, 7, 9].map((n) => `ack-v1 message ${n}`),
      );
      await conn.close();
    } finally {
      await broker.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Kafka topics written while core/stream/topics.ts still wrote the catalogue itself (c855c0f): 'fixture.t'
 * created with 2 partitions, grown to 3, configs altered, two records in partition 2; 'fixture.plain' with one
 * record; one producer id handed out (producer-ids holds 1000). The catalogue behind the engine reads them as they are.
 */
const STREAMS_V1_FIXTURE = fileURLToPath(new URL('../../../test/fixtures/data-streams-v1', import.meta.url));

test('Kafka topics written before the topic catalogue moved behind the storage engine open with their ids, partitions, configs, records and producer ids', async () => {
  const dir = tempDataDir('postbox-streams-v1-');
  cpSync(STREAMS_V1_FIXTURE, dir, { recursive: true });
  const topicFile = path.join(dir, 'streams', 'fixture.t', 'topic.json');
  const topicText = readFileSync(topicFile, 'utf8');
  const stored = JSON.parse(topicText) as { id: string };
  const broker = await startTestBroker({ dataDir: dir });
  try {
    const topic = broker.streams.topic('fixture.t');
    assert.ok(topic !== undefined);
    assert.equal(topic.id.toString('hex'), stored.id);
    assert.equal(topic.partitions.length, 3);
    assert.deepEqual(topic.explicitConfigs, { 'retention.ms': '86400000', 'max.message.bytes': '500000' });
    assert.equal(topic.config.retentionMs, 86_400_000);
    assert.equal(topic.config.maxMessageBytes, 500_000);
    assert.deepEqual([...broker.streams.topics()].map((t) => t.name).sort(), ['fixture.plain', 'fixture.t']);
    const client = await RawKafkaClient.connect(broker.kafkaPort);
    try {
      assert.deepEqual(
        (await client.readRecords('fixture.t', 2, 0n, 2)).map((r) => r.value),
        ['written before the catalogue moved', 'second'],
      );
      assert.deepEqual(
        (await client.readRecords('fixture.plain', 0, 0n, 1)).map((r) => r.value),
        ['plain'],
      );
      const init = await client.request(22, 4, { transactionalId: null, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 });
      assert.equal(init.errorCode, 0);
      assert.equal(init.producerId, 1000n, 'the next producer id is past the block the old broker reserved');
    } finally {
      client.close();
    }
    assert.equal(readFileSync(topicFile, 'utf8'), topicText, 'opening rewrites nothing');
    assert.equal(readFileSync(path.join(dir, 'streams', 'producer-ids'), 'utf8'), '2000\n');
  } finally {
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
