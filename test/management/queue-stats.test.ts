/**
 * Queue counts and message rates through the management API while real AMQP traffic (amqplib) flows:
 * depths, message_stats counters, rates after a sampling tick, dead-letter counts and the latency histogram.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { startTestBroker, waitFor, type TestBroker } from '../helpers/broker.js';
import { api, get, seg } from './helpers.js';

/** A short sampling interval so rates appear within a test (the default is RabbitMQ's 5 s). */
const STATS_INTERVAL_MS = 50;

describe('management API: queue counts and message rates', () => {
  let broker: TestBroker;
  let conn: ChannelModel;
  let ch: ConfirmChannel;

  before(async () => {
    broker = await startTestBroker({ statsIntervalMs: STATS_INTERVAL_MS });
    conn = await amqp.connect(broker.url);
    ch = await conn.createConfirmChannel();
  });
  after(async () => {
    await conn.close();
    await broker.stop();
  });

  async function publish(queue: string, n: number, options: Record<string, unknown> = {}): Promise<void> {
    for (let i = 0; i < n; i++) ch.sendToQueue(queue, Buffer.from(`message ${i}`), options);
    await ch.waitForConfirms();
  }

  test('100 messages published with amqplib show as messages=100 and publish=100 on the queue', async () => {
    await ch.assertQueue('stats.depth', { durable: true });
    await publish('stats.depth', 100, { persistent: true });
    const q = await get(broker, '/api/queues/%2F/stats.depth');
    assert.equal(q.name, 'stats.depth');
    assert.equal(q.vhost, '/');
    assert.equal(q.durable, true);
    assert.equal(q.auto_delete, false);
    assert.equal(q.exclusive, false);
    assert.equal(q.type, 'classic');
    assert.equal(q.state, 'running');
    assert.equal(q.messages, 100);
    assert.equal(q.messages_ready, 100);
    assert.equal(q.messages_unacknowledged, 0);
    assert.equal(q.consumers, 0);
    assert.ok(q.message_bytes >= 100 * 'message 0'.length, `message_bytes ${q.message_bytes}`);
    assert.equal(q.message_stats.publish, 100);
    assert.equal(typeof q.message_stats.publish_details.rate, 'number');
    const overview = await get(broker, '/api/overview');
    assert.ok(overview.queue_totals.messages >= 100);
    assert.ok(overview.object_totals.queues >= 1);
    assert.ok(overview.object_totals.connections >= 1);
    assert.ok(overview.object_totals.channels >= 1);
    assert.ok(overview.message_stats.publish >= 100);
  });

  test('consuming with manual acks shows unacknowledged messages, then ack=100 and deliver_get=100', async () => {
    await ch.assertQueue('stats.ack', { durable: false });
    await publish('stats.ack', 100);
    const consumer = await conn.createChannel();
    await consumer.prefetch(10);
    const held: amqp.ConsumeMessage[] = [];
    await consumer.consume('stats.ack', (m) => m !== null && held.push(m), { consumerTag: 'stats-consumer' });
    await waitFor(() => held.length === 10, 10_000, 'a prefetch window of deliveries');
    const holding = await get(broker, '/api/queues/%2F/stats.ack');
    assert.equal(holding.messages_unacknowledged, 10);
    assert.equal(holding.messages_ready, 90);
    assert.equal(holding.messages, 100);
    assert.equal(holding.consumers, 1);
    assert.equal(holding.consumer_details[0].consumer_tag, 'stats-consumer');
    assert.equal(holding.consumer_details[0].prefetch_count, 10);
    let acked = 0;
    while (acked < 100) {
      await waitFor(() => held.length > 0, 10_000, 'a delivery');
      consumer.ack(held.shift()!);
      acked++;
    }
    const done = await waitForQueue(broker, 'stats.ack', (q) => q.message_stats.ack === 100);
    assert.equal(done.messages, 0);
    assert.equal(done.message_stats.deliver, 100);
    assert.equal(done.message_stats.deliver_get, 100);
    assert.equal(done.message_stats.redeliver, 0);
    const overview = await get(broker, '/api/overview');
    assert.ok(overview.latency.count >= 100, 'every ack is in the publish → ack latency histogram');
    assert.equal(overview.latency.buckets.at(-1).le, '+Inf');
    assert.equal(overview.latency.buckets.at(-1).count, overview.latency.count);
    await consumer.close();
  });

  test('publish, deliver and ack rates are above zero after a sampling tick while traffic flows', async () => {
    await ch.assertQueue('stats.rates', { durable: false });
    const consumer = await conn.createChannel();
    await consumer.consume('stats.rates', (m) => m !== null && consumer.ack(m));
    let flowing = true;
    const traffic = (async () => {
      while (flowing) await publish('stats.rates', 20);
    })();
    try {
      const q = await waitForQueue(
        broker,
        'stats.rates',
        (x) => x.message_stats.publish_details.rate > 0 && x.message_stats.deliver_get_details.rate > 0 && x.message_stats.ack_details.rate > 0,
      );
      assert.ok(q.message_stats.publish > 0);
      const overview = await waitFor200(broker, '/api/overview', (o) => o.message_stats.publish_details.rate > 0 && o.message_stats.ack_details.rate > 0);
      assert.ok(overview.message_stats.deliver_get_details.rate > 0);
      assert.equal(overview.statistics_interval_ms, STATS_INTERVAL_MS);
    } finally {
      flowing = false;
      await traffic;
      await consumer.close();
    }
  });

  test('nack with requeue counts a requeue and a redelivery; reject without requeue and TTL count as dead-lettered', async () => {
    await ch.assertQueue('stats.dlx', { durable: false, arguments: { 'x-message-ttl': 60_000 } });
    await publish('stats.dlx', 2);
    const c = await conn.createChannel();
    const first = await c.get('stats.dlx');
    assert.ok(first);
    c.nack(first, false, true);
    const again = await c.get('stats.dlx');
    assert.ok(again && again.fields.redelivered);
    c.reject(again, false);
    const expiring = await conn.createChannel();
    await expiring.assertQueue('stats.ttl', { durable: false, arguments: { 'x-message-ttl': 1 } });
    expiring.sendToQueue('stats.ttl', Buffer.from('soon gone'));
    const q = await waitForQueue(broker, 'stats.dlx', (x) => x.dead_lettered.rejected === 1);
    assert.equal(q.message_stats.requeue, 1);
    assert.equal(q.message_stats.redeliver, 1);
    assert.equal(q.message_stats.reject, 1);
    assert.equal(q.message_stats.get, 2);
    assert.equal(q.messages, 1);
    const ttl = await waitForQueue(broker, 'stats.ttl', (x) => x.dead_lettered.expired === 1 && x.messages === 0);
    assert.equal(ttl.message_stats.publish, 1);
    const overview = await get(broker, '/api/overview');
    assert.ok(overview.dead_lettered.expired >= 1);
    assert.ok(overview.dead_lettered.rejected >= 1);
    await c.close();
    await expiring.close();
  });

  test("consumer_utilisation and consumer_capacity: null without consumers, 1 while consumers keep up, 0 while every consumer's prefetch is full and messages wait", async () => {
    await ch.assertQueue('stats.capacity', { durable: false });
    const read = async () => {
      const q = await get(broker, '/api/queues/%2F/stats.capacity');
      assert.equal(q.consumer_capacity, q.consumer_utilisation, 'the two names carry one value');
      return q.consumer_utilisation;
    };
    assert.equal(await read(), null);
    const consumer = await conn.createChannel();
    await consumer.prefetch(1);
    await consumer.consume('stats.capacity', () => undefined, { consumerTag: 'capacity-1' });
    assert.equal(await read(), 1, 'nothing waits: the consumer keeps up');
    await publish('stats.capacity', 3);
    await waitFor(() => broker.core.vhosts.get('/')!.queues.get('stats.capacity')!.unackedCount === 1, 10_000, 'the consumer to hold its one prefetch');
    assert.equal(await read(), 0, 'two wait, and the only consumer has no room');
    // the listing carries it too
    const listed = (await get(broker, '/api/queues/%2F')).find((q: any) => q.name === 'stats.capacity');
    assert.equal(listed.consumer_utilisation, 0);
    // memory: the queue's index in RAM, a positive byte count
    assert.ok(Number.isInteger(listed.memory) && listed.memory > 0, `memory ${listed.memory}`);
    await consumer.close();
  });

  test('a deleted queue keeps its counts in the overview totals', async () => {
    await ch.assertQueue('stats.gone', { durable: false });
    await publish('stats.gone', 5);
    const before = (await get(broker, '/api/overview')).message_stats;
    assert.equal((await api(broker, 'DELETE', '/api/queues/%2F/stats.gone')).status, 204);
    const afterwards = (await get(broker, '/api/overview')).message_stats;
    assert.equal(afterwards.deliver_get, before.deliver_get);
    assert.ok(afterwards.publish >= before.publish);
    assert.equal((await api(broker, 'GET', '/api/queues/%2F/stats.gone')).status, 404);
  });

  test('queue lists filter by name, page and pick columns as RabbitMQ does', async () => {
    for (const name of ['list.a', 'list.b', 'list.c']) await ch.assertQueue(name, { durable: false });
    const all = await get(broker, '/api/queues');
    assert.ok(['list.a', 'list.b', 'list.c'].every((n) => all.some((q: any) => q.name === n)));
    const filtered = await get(broker, '/api/queues/%2F?name=^list\\.&use_regex=true&columns=name,messages');
    assert.deepEqual(filtered, [
      { name: 'list.a', messages: 0 },
      { name: 'list.b', messages: 0 },
      { name: 'list.c', messages: 0 },
    ]);
    const page = await get(broker, '/api/queues/%2F?name=list.&page=2&page_size=2&columns=name');
    assert.deepEqual(page.items, [{ name: 'list.c' }]);
    assert.equal(page.page, 2);
    assert.equal(page.page_count, 2);
    assert.equal(page.filtered_count, 3);
    assert.equal((await api(broker, 'GET', '/api/queues?page=0')).status, 400);
  });

  test('an exchange counts messages published in and routed out (unroutable ones only in), with rates', async () => {
    await ch.assertExchange('stats.x', 'direct', { durable: false });
    await ch.assertQueue('stats.x.q', { durable: false });
    await ch.bindQueue('stats.x.q', 'stats.x', 'bound');
    for (let i = 0; i < 30; i++) ch.publish('stats.x', i < 20 ? 'bound' : 'nowhere', Buffer.from('m'));
    await ch.waitForConfirms();
    // one through the management API's publish route as well
    const published = await api(broker, 'POST', '/api/exchanges/%2F/stats.x/publish', {
      body: { properties: {}, routing_key: 'bound', payload: 'x', payload_encoding: 'string' },
    });
    assert.equal(published.status, 200);
    const x = await get(broker, '/api/exchanges/%2F/stats.x');
    assert.equal(x.message_stats.publish_in, 31);
    assert.equal(x.message_stats.publish_out, 21);
    const listed = (await get(broker, '/api/exchanges/%2F')).find((e: any) => e.name === 'stats.x');
    assert.equal(listed.message_stats.publish_in, 31);
    // rates: above zero once a sampling tick has seen traffic flow
    let flowing = true;
    const traffic = (async () => {
      while (flowing) {
        for (let i = 0; i < 20; i++) ch.publish('stats.x', 'bound', Buffer.from('m'));
        await ch.waitForConfirms();
      }
    })();
    try {
      const rated = await waitFor200(
        broker,
        '/api/exchanges/%2F/stats.x',
        (e) => e.message_stats.publish_in_details.rate > 0 && e.message_stats.publish_out_details.rate > 0,
      );
      assert.ok(rated.message_stats.publish_in > 31);
    } finally {
      flowing = false;
      await traffic;
    }
  });
});

/** poll a queue until `predicate` holds (a guard against waiting forever, not a timing assertion) */
async function waitForQueue(broker: TestBroker, name: string, predicate: (q: any) => boolean, vhost = '/'): Promise<any> {
  return waitFor200(broker, `/api/queues/${seg(vhost)}/${seg(name)}`, predicate);
}

async function waitFor200(broker: TestBroker, path: string, predicate: (body: any) => boolean): Promise<any> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const body = await get(broker, path);
    if (predicate(body)) return body;
    if (Date.now() > deadline) throw new Error(`timed out waiting on ${path}: ${JSON.stringify(body).slice(0, 600)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
