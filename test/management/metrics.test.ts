import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker();
});
after(async () => {
  await broker.stop();
});

/** scrapes /metrics (no credentials, as Prometheus does) into name{labels} → value */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${broker.httpUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const values = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

/**
 * Checks a histogram's shape and unit: `le` bounds increasing, cumulative counts never falling and ending at
 * `_count`, and `_sum` in seconds: no sample can exceed `elapsedSeconds`, the time since the first of them
 * could start (an unconverted millisecond sum would be a thousand times that).
 */
function assertSecondsHistogram(m: Map<string, number>, name: string, elapsedSeconds: number): void {
  const buckets = [...m]
    .filter(([key]) => key.startsWith(`${name}_bucket{le="`) && !key.includes('+Inf'))
    .map(([key, value]) => [Number(/le="([^"]+)"/.exec(key)![1]), value] as const);
  assert.ok(buckets.length >= 5, `${name} has buckets`);
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(buckets[i]![0] > buckets[i - 1]![0], `${name} bounds increase: ${buckets[i - 1]![0]} then ${buckets[i]![0]}`);
    assert.ok(buckets[i]![1] >= buckets[i - 1]![1], `${name} counts are cumulative`);
  }
  const count = m.get(`${name}_count`)!;
  assert.ok(buckets[buckets.length - 1]![1] <= count);
  assert.equal(m.get(`${name}_bucket{le="+Inf"}`), count);
  assert.ok(buckets[0]![0] <= 0.001, `${name}: the first bound is at most a millisecond, in seconds (${buckets[0]![0]})`);
  const sum = m.get(`${name}_sum`)!;
  assert.ok(sum > 0 && sum <= count * elapsedSeconds, `${name}_sum ${sum} s for ${count} samples within ${elapsedSeconds} s`);
}

test('metrics scraped while AMQP traffic flows show depths, publishes, deliveries, acks and latency', async () => {
  const started = Date.now();
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('metered', { durable: true });
    for (let i = 0; i < 50; i++) ch.sendToQueue('metered', Buffer.from(`m${i}`), { persistent: true });
    await ch.waitForConfirms();
    const q = '{vhost="/",queue="metered"}';
    let m = await scrape();
    assert.equal(m.get(`rabbitmq_queue_messages_ready${q}`), 50);
    assert.equal(m.get(`rabbitmq_queue_messages_published_total${q}`), 50);
    assert.equal(m.get('rabbitmq_connections'), 1);
    const consumer = await conn.createChannel();
    await consumer.prefetch(10);
    let acked = 0;
    await consumer.consume('metered', (msg) => {
      if (msg !== null && acked < 20) {
        consumer.ack(msg);
        acked++;
      }
    });
    await waitFor(() => acked === 20, 10_000, '20 acks');
    await waitFor(() => broker.core.vhosts.get('/')!.queues.get('metered')!.counters.ack === 20, 10_000, 'acks to reach the queue');
    m = await scrape();
    assert.equal(m.get(`rabbitmq_queue_messages_unacked${q}`), 10);
    assert.equal(m.get(`rabbitmq_queue_messages_ready${q}`), 20);
    assert.equal(m.get(`rabbitmq_queue_consumers${q}`), 1);
    assert.equal(m.get(`postbox_queue_messages_acknowledged_total${q}`), 20);
    assert.equal(m.get(`postbox_queue_messages_delivered_total${q}`), 30);
    assert.ok((m.get('postbox_message_latency_seconds_count') ?? 0) >= 20);
    assert.equal(m.get('postbox_message_latency_seconds_bucket{le="+Inf"}'), m.get('postbox_message_latency_seconds_count'));
    assert.ok((m.get('postbox_fsync_round_seconds_count') ?? 0) > 0, 'persistent publishes with confirms took fsync rounds');
    const elapsedSeconds = (Date.now() - started) / 1000;
    assertSecondsHistogram(m, 'postbox_message_latency_seconds', elapsedSeconds);
    assertSecondsHistogram(m, 'postbox_fsync_round_seconds', elapsedSeconds);
    assert.equal(m.get('rabbitmq_alarms_free_disk_space_watermark'), 0);
    assert.equal(m.get('rabbitmq_alarms_memory_used_watermark'), 0);
  } finally {
    await conn.close();
  }
});

test('nacks, rejects, requeues and redeliveries are counted per queue; the alarm gauges read 1 while an alarm is on', async () => {
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('refused', { durable: false });
    for (let i = 0; i < 3; i++) ch.sendToQueue('refused', Buffer.from(`r${i}`));
    await ch.checkQueue('refused');
    const seen: string[] = [];
    await ch.consume('refused', (msg) => {
      if (msg === null) return;
      seen.push(`${msg.content}${msg.fields.redelivered ? '*' : ''}`);
      if (msg.content.toString() === 'r0' && !msg.fields.redelivered)
        ch.nack(msg, false, true); // back, redelivered
      else if (msg.content.toString() === 'r1')
        ch.reject(msg, false); // dropped (no dead-letter exchange)
      else ch.ack(msg);
    });
    await waitFor(() => broker.core.vhosts.get('/')!.queues.get('refused')!.counters.ack === 2, 10_000, 'r2 and the redelivered r0 acked');
    const q = '{vhost="/",queue="refused"}';
    let m = await scrape();
    assert.equal(m.get(`postbox_queue_messages_nacked_total${q}`), 2);
    assert.equal(m.get(`postbox_queue_messages_requeued_total${q}`), 1);
    assert.equal(m.get(`postbox_queue_messages_redelivered_total${q}`), 1);
    assert.equal(m.get(`postbox_queue_messages_dead_lettered_total{vhost="/",queue="refused",reason="rejected"}`), 1);
    broker.core.alarm!.memory.setLimit(1);
    broker.core.alarm!.disk.setLimit(Number.MAX_SAFE_INTEGER);
    m = await scrape();
    assert.equal(m.get('rabbitmq_alarms_memory_used_watermark'), 1);
    assert.equal(m.get('rabbitmq_alarms_free_disk_space_watermark'), 1);
  } finally {
    broker.core.alarm!.memory.setLimit(Number.MAX_SAFE_INTEGER);
    broker.core.alarm!.disk.setLimit(0);
    await conn.close();
  }
});

test('dead-lettered messages are counted by reason', async () => {
  const conn = await amqp.connect(broker.url);
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue('dead-ends', { durable: false });
    await ch.assertQueue('short-lived', { durable: false, messageTtl: 1, deadLetterExchange: '', deadLetterRoutingKey: 'dead-ends' });
    for (let i = 0; i < 3; i++) ch.sendToQueue('short-lived', Buffer.from('x'));
    await waitFor(() => broker.core.vhosts.get('/')!.queues.get('dead-ends')!.messageCount === 3, 10_000, 'three expired messages dead-lettered');
    const m = await scrape();
    assert.equal(m.get('postbox_queue_messages_dead_lettered_total{vhost="/",queue="short-lived",reason="expired"}'), 3);
    assert.equal(m.get('postbox_messages_dead_lettered_total{reason="expired"}'), 3);
  } finally {
    await conn.close();
  }
});

test('Kafka partitions and consumer-group lag are exported', async () => {
  const kafka = new Kafka({ clientId: 'metrics-test', brokers: [`127.0.0.1:${broker.kafkaPort}`], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  await admin.connect();
  await producer.connect();
  try {
    await admin.createTopics({ topics: [{ topic: 'metered-topic', numPartitions: 2 }] });
    await producer.send({ topic: 'metered-topic', acks: -1, messages: Array.from({ length: 8 }, (_, i) => ({ value: `v${i}`, partition: i % 2 })) });
    await admin.setOffsets({
      groupId: 'lagging',
      topic: 'metered-topic',
      partitions: [
        { partition: 0, offset: '1' },
        { partition: 1, offset: '4' },
      ],
    });
    const m = await scrape();
    assert.equal(m.get('postbox_kafka_partition_high_watermark{topic="metered-topic",partition="0"}'), 4);
    assert.equal(m.get('postbox_kafka_partition_high_watermark{topic="metered-topic",partition="1"}'), 4);
    assert.equal(m.get('postbox_kafka_consumergroup_lag{group="lagging",topic="metered-topic",partition="0"}'), 3);
    assert.equal(m.get('postbox_kafka_consumergroup_lag{group="lagging",topic="metered-topic",partition="1"}'), 0);
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
});
