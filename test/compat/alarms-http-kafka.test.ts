/**
 * Resource alarms block every way in, not only AMQP: a Kafka producer's Produce waits unanswered (its
 * connection shows as blocked) and lands when the alarm clears; an HTTP publish is refused with 503 and
 * stores nothing. Fetches and metadata go on during the alarm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, type TestBroker } from '../helpers/broker.js';

async function http(broker: TestBroker, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(broker.httpUrl + path, {
    method,
    headers: { Authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64'), 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text.length > 0 ? JSON.parse(text) : undefined };
}

test('while the memory alarm is on a Kafka produce is held, unanswered, and lands once it clears; fetch metadata still answers', async () => {
  const broker = await startTestBroker();
  const kafka = new Kafka({ clientId: 'alarm-producer', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  try {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'alarm.topic', numPartitions: 1 }] });
    await producer.connect();
    await producer.send({ topic: 'alarm.topic', messages: [{ value: 'before' }] });

    broker.core.alarm!.memory.setLimit(1); // any process is above one byte
    assert.equal(broker.core.alarm!.reason, 'memory high watermark');
    let settled = false;
    const sent = producer.send({ topic: 'alarm.topic', acks: -1, timeout: 60_000, messages: [{ value: 'during' }] }).finally(() => (settled = true));
    sent.catch(() => {});
    // the producer's connection is blocked once its Produce has arrived
    const deadline = Date.now() + 15_000;
    for (;;) {
      assert.ok(Date.now() < deadline, 'the producer connection never showed as blocked');
      const conns = (await http(broker, 'GET', '/api/connections')).body as any[];
      if (conns.some((c) => c.protocol === 'Kafka' && c.client_properties.client_id === 'alarm-producer' && c.state === 'blocked')) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    // another connection is served meanwhile, and sees nothing of the held record
    const during = await admin.fetchTopicOffsets('alarm.topic');
    assert.equal(during[0]!.high, '1');
    assert.equal(settled, false, 'the produce is not answered during the alarm');

    broker.core.alarm!.memory.setLimit(Number.MAX_SAFE_INTEGER);
    const [result] = await sent;
    assert.equal(result!.errorCode, 0);
    assert.equal(result!.baseOffset, '1');
    const after = await admin.fetchTopicOffsets('alarm.topic');
    assert.equal(after[0]!.high, '2');
  } finally {
    await producer.disconnect();
    await admin.disconnect();
    await broker.stop();
  }
});

test('while the disk alarm is on an HTTP publish is refused with 503 naming the alarm, and nothing is stored', async () => {
  const broker = await startTestBroker();
  try {
    assert.equal((await http(broker, 'PUT', '/api/queues/%2F/alarm.http', { durable: false })).status, 201);
    broker.core.alarm!.disk.setLimit(Number.MAX_SAFE_INTEGER);
    const refused = await http(broker, 'POST', '/api/exchanges/%2F/amq.default/publish', {
      routing_key: 'alarm.http',
      payload: 'x',
      payload_encoding: 'string',
      properties: {},
    });
    assert.equal(refused.status, 503);
    assert.match(refused.body.reason, /resource alarm \(low on disk\): publishing is blocked/);
    assert.equal((await http(broker, 'GET', '/api/queues/%2F/alarm.http')).body.messages, 0);
    broker.core.alarm!.disk.setLimit(0);
    const accepted = await http(broker, 'POST', '/api/exchanges/%2F/amq.default/publish', {
      routing_key: 'alarm.http',
      payload: 'x',
      payload_encoding: 'string',
      properties: {},
    });
    assert.deepEqual([accepted.status, accepted.body], [200, { routed: true }]);
    assert.equal((await http(broker, 'GET', '/api/queues/%2F/alarm.http')).body.messages, 1);
  } finally {
    await broker.stop();
  }
});
